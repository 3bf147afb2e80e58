//! The daemon: owns the tasks and the shutdown token. `shared` is what the
//! tasks share, `imap` the inbox and Sent-folder loops (`sync` one pass
//! over a folder), `periodic` the watchdog, combined acknowledgements, the
//! digest and SIGHUP, `interrupted` why a session ended.
//!
//! Blocking work: SQLite, templates and OpenPGP never run on the async
//! workers. Every store access from async code goes through
//! `store::StoreHandle::call` (a blocking thread, the connection locked);
//! intake's batches, the combined acknowledgements, the digest and the
//! heartbeat run whole in `spawn_blocking` and take the lock there. The
//! outbox marks its mails on its own connection.
//!
//! Shutdown drains: the tasks are awaited, not aborted (see `run`).

mod imap;
mod interrupted;
mod matrix;
mod periodic;
mod shared;
mod sync;

pub use imap::reconnect_delay;
use imap::{sent_config, watch, watch_sent};
pub(crate) use interrupted::Interrupted;
use periodic::{combined_acks, cve_reservations, digests, keep_alive, reload_on_hup, settle_memory};
use shared::Shared;

use sync::Folder;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::mailbox;
use crate::outbox;
use crate::store::Store;

/// Summary of `run --once`.
#[derive(Debug, Default)]
pub struct OnceSummary {
    pub processed: usize,
    pub outbox_retrying: usize,
}

/// `embargo run --once`: process everything waiting, send everything due.
/// An error means the mailbox could not be reached or the store written.
pub async fn run_once(cfg: Config) -> anyhow::Result<OnceSummary> {
    let shared = Shared::new(cfg)?;
    let tls = crate::tls::client_config(shared.cfg.imap.ca_file.as_deref())?;
    let never = CancellationToken::new();
    let mut conn = mailbox::connect(&shared.cfg.imap, tls.clone(), shared.tokens.as_deref()).await?;
    let processed = sync::sync(&shared, &mut conn, &never, Folder::Inbox).await?;
    conn.logout().await;
    if let Some(cfg) = sent_config(&shared.cfg.imap) {
        let mut conn = mailbox::connect(&cfg, tls, shared.tokens.as_deref())
            .await
            .context("imap.sent_mailbox")?;
        sync::sync(&shared, &mut conn, &never, Folder::Sent).await?;
        conn.logout().await;
    }
    let room = matrix::once_commands(&shared).await;
    {
        let p = shared.pipeline();
        shared
            .store
            .call(move |store| crate::held_acks::queue_due(store, &p, Timestamp::now()))
            .await?;
    }
    {
        // `[cve] reserve_on_triage`: ids for the reports moved to triaged.
        let cfg = shared.cfg.clone();
        let store = shared.store.clone();
        let reserved = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let mut store = store.blocking()?;
            crate::publish::cve::reserve_queued(&mut store, &cfg)
        })
        .await?;
        if let Err(e) = reserved {
            tracing::warn!(error = %format!("{e:#}"), "CVE reservations");
        }
    }
    let transport = outbox::transport(&shared.cfg.smtp, shared.tokens.clone())?;
    let started = std::time::Instant::now();
    let outbox_retrying = outbox::drain(
        &shared.outbox_store,
        &transport,
        &shared.cfg.smtp,
        shared.cfg.reply.max_automatic_per_hour,
        &never,
    )
    .await?;
    crate::timing::add(crate::timing::Stage::Send, started);
    let cap = shared.cfg.reply.max_automatic_per_hour;
    shared
        .outbox_store
        .call(move |s| outbox::warn_if_capped(s, cap))
        .await?;
    if let Some(client) = &room {
        matrix::once_posts(&shared, client).await;
    }
    Ok(OnceSummary {
        processed,
        outbox_retrying,
    })
}

/// `embargo run`: until `shutdown` is cancelled.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let shared = Shared::new(cfg)?;
    // Bound before anything else starts: a port in use stops the start.
    let metrics = match shared.cfg.metrics.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
            let store = crate::store::StoreHandle::new(Store::open(&shared.cfg.store.path)?);
            tracing::info!(%addr, "metrics endpoint at http://{addr}/metrics");
            let current = shared.clone();
            Some(tokio::spawn(crate::metrics::serve(
                listener,
                Arc::new(move || current.config()),
                store,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    shared
        .store
        .call(|s| s.status_started(std::process::id(), env!("CARGO_PKG_VERSION")))
        .await?;
    shared.health.beat_imap();
    shared.health.beat_outbox();
    let outbox_task = {
        let s = shared.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            // If the sender dies, the daemon must not run on half-alive.
            let _guard = token.clone().drop_guard();
            outbox::run(
                s.outbox_store.clone(),
                s.cfg.smtp.clone(),
                s.tokens.clone(),
                s.outbox_wake.clone(),
                token,
                s.health.clone(),
                {
                    let s = s.clone();
                    move || s.config().reply.max_automatic_per_hour
                },
            )
            .await
        })
    };
    let keeper = tokio::spawn(keep_alive(shared.clone(), shutdown.clone()));
    let reloader = tokio::spawn(reload_on_hup(shared.clone(), shutdown.clone()));
    let digester = tokio::spawn(digests(shared.clone(), shutdown.clone()));
    let combiner = tokio::spawn(combined_acks(shared.clone(), shutdown.clone()));
    let sent = tokio::spawn(watch_sent(shared.clone(), shutdown.clone()));
    let settler = tokio::spawn(settle_memory(shared.clone(), shutdown.clone()));
    let cves = tokio::spawn(cve_reservations(shared.clone(), shutdown.clone()));
    let room = matrix::start(&shared, &shutdown);
    let imap_result = watch(&shared, &shutdown).await;
    shutdown.cancel();
    shared.notifier.stopping();
    let mut tasks = vec![
        ("keep-alive", keeper),
        ("reload", reloader),
        ("digest", digester),
        ("combined acknowledgements", combiner),
        ("sent folder", sent),
        ("memory", settler),
        ("CVE reservations", cves),
    ];
    tasks.extend(room);
    if let Some(m) = metrics {
        tasks.push(("metrics", m));
    }
    let outbox_bound = Duration::from_secs(shared.cfg.smtp.timeout_secs.saturating_add(10));
    wait_for_tasks(outbox_task, outbox_bound, tasks).await;
    shared.imap_state("stopped", None).await;
    imap_result
}

/// Shutdown drains: every task stops at its next wait on the token and
/// finishes what it holds first. The outbox begins no new mail and awaits
/// the server's answer to the ones on their way (`outbox_bound`); a
/// transaction on a blocking thread commits or rolls back whole.
async fn wait_for_tasks(
    outbox_task: tokio::task::JoinHandle<Result<(), crate::outbox::Error>>,
    outbox_bound: Duration,
    tasks: Vec<(&str, tokio::task::JoinHandle<()>)>,
) {
    match tokio::time::timeout(outbox_bound, outbox_task).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %format!("{e:#}"), "outbox task failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "outbox task panicked"),
        Err(_) => tracing::warn!(
            "the outbox did not stop within {} s; a mail cut off now is in doubt and waits for its own copy",
            outbox_bound.as_secs()
        ),
        Ok(Ok(Ok(()))) => {}
    }
    for (name, task) in tasks {
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Err(e)) if e.is_panic() => tracing::error!(task = name, "task panicked"),
            Err(_) => tracing::warn!(task = name, "task did not stop within 30 s"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::periodic::{idle_period, liveness_window};
    use super::*;

    /// Found by the hour-long idle benchmark: without a systemd watchdog an
    /// IDLE lasts 20 minutes, and the daemon called itself stuck (an error
    /// every 30 s) two minutes into a quiet mailbox.
    #[test]
    fn a_quiet_mailbox_is_not_a_stuck_loop() {
        let idle = idle_period(None, 20 * 60);
        assert_eq!(idle, Duration::from_secs(1200));
        assert!(liveness_window(None, idle) >= idle);
        // Under systemd the IDLE is cut to the watchdog period, and the
        // window stays two periods, as before.
        let w = Some(Duration::from_secs(30));
        let idle = idle_period(w, 20 * 60);
        assert_eq!(idle, Duration::from_secs(30));
        assert_eq!(liveness_window(w, idle), Duration::from_secs(60));
        assert_eq!(liveness_window(None, Duration::from_secs(10)), Duration::from_secs(120));
    }
}
