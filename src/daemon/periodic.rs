//! The daemon's periodic tasks: the watchdog and heartbeat, combined
//! acknowledgements, the daily digest, reloading on SIGHUP.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::pipeline::Pipeline;

/// Memory back once a burst of intake and sending is over
/// (`crate::memory`): looked at every second, done once per burst.
pub(super) async fn settle_memory(shared: Shared, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if crate::memory::due() {
            shared.release_memory().await;
        }
    }
}

/// Watchdog pings while both loops beat, and the status heartbeat.
pub(super) async fn keep_alive(shared: Shared, shutdown: CancellationToken) {
    let every = shared
        .notifier
        .watchdog
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let idle = idle_period(shared.notifier.watchdog, shared.cfg.imap.idle_restart_secs);
        let window = liveness_window(shared.notifier.watchdog, idle) + loop_slack(&shared);
        if shared.health.fresh(window) {
            if shared.notifier.watchdog.is_some() {
                shared.notifier.watchdog();
            }
            let _ = shared.store.call(|s| s.status_heartbeat()).await;
        } else {
            tracing::error!("a loop stopped beating; not pinging the watchdog, so systemd restarts embargo");
        }
    }
}

/// Combined acknowledgements (`crate::held_acks`) when they are due: checked
/// every minute at most, or sooner when the next one is due.
pub(super) async fn combined_acks(shared: Shared, shutdown: CancellationToken) {
    loop {
        // Templates, OpenPGP and SQLite: on a blocking thread.
        let s = shared.clone();
        let result = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<Timestamp>> {
            let p = s.pipeline();
            let mut store = s.store.blocking()?;
            if crate::held_acks::queue_due(&mut store, &p, Timestamp::now())? > 0 {
                s.outbox_wake.notify_one();
            }
            Ok(store.held_next_due()?)
        })
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the combined acknowledgements task panicked: {e}")));
        let wait = match result {
            Ok(Some(next)) => Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO),
            Ok(None) => Duration::from_secs(60),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "combined acknowledgements");
                Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait.clamp(Duration::from_secs(1), Duration::from_secs(60))) => {}
        }
    }
}

/// The daily digest at `[digest] at` (policy time zone), to `[team]
/// notify`, both as the current configuration says (a reload is seen at
/// once). A digest missed while the daemon was down goes out when it is
/// back, once.
pub(super) async fn digests(shared: Shared, shutdown: CancellationToken) {
    let mut changes = shared.pipeline.subscribe();
    loop {
        let p = changes.borrow_and_update().clone();
        let cfg = &p.config;
        let wait = if cfg.team.notify.is_empty() {
            None
        } else {
            let now = Timestamp::now();
            // Templates, OpenPGP and SQLite: on a blocking thread.
            let (s, pipeline) = (shared.clone(), p.clone());
            let result = tokio::task::spawn_blocking(move || digest_if_due(&s, &pipeline, now))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("the digest task panicked: {e}")));
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "digest");
            }
            let next = crate::digest::next_slot(cfg, Timestamp::now());
            Some(Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or(Duration::from_secs(60)))
        };
        let sleep = wait.unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(sleep.clamp(Duration::from_secs(1), Duration::from_secs(3600))) => {}
        }
    }
}

/// Queues the digest when its slot has passed since the last one.
pub(super) fn digest_if_due(shared: &Shared, p: &Pipeline, now: Timestamp) -> anyhow::Result<()> {
    let due = crate::digest::last_slot(&p.config, now);
    let mut store = shared.store.blocking()?;
    match store.digest_last_sent()? {
        // A fresh install starts counting from now.
        None => store.digest_sent(now)?,
        Some(last) if last < due => {
            let members = p.alerts.as_ref().map(|a| a.members.clone()).unwrap_or_default();
            if crate::digest::queue(&mut store, &p.config, &p.team, &members, now, false)? {
                shared.outbox_wake.notify_one();
            }
        }
        Some(_) => {}
    }
    Ok(())
}

/// How long one IMAP IDLE lasts before it is re-issued: often enough for
/// the watchdog to see the loop live.
pub(super) fn idle_period(watchdog: Option<Duration>, idle_restart_secs: u64) -> Duration {
    let idle = Duration::from_secs(idle_restart_secs);
    watchdog.map_or(idle, |w| idle.min(w))
}

/// How long the loops may go without a beat before the daemon counts as
/// stuck: two watchdog periods, and never less than one IDLE (the IMAP loop
/// beats when an IDLE ends; without a watchdog an IDLE lasts 20 minutes).
pub(super) fn liveness_window(watchdog: Option<Duration>, idle: Duration) -> Duration {
    watchdog.map(|w| w * 2).unwrap_or(Duration::from_secs(120)).max(idle)
}

/// The longest a healthy loop may legitimately go without a beat, on top.
pub(super) fn loop_slack(shared: &Shared) -> Duration {
    Duration::from_secs(shared.cfg.imap.timeout_secs.max(shared.cfg.smtp.timeout_secs) * 2)
}

/// SIGHUP: reload config, templates, keys and exclusion rules. A config
/// that does not validate is refused with a log line; the old one stays.
pub(super) async fn reload_on_hup(shared: Shared, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        shared.notifier.reloading();
        let path = shared.cfg.file.clone();
        let result = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let cfg = crate::config::load(&path)?;
            let p = Pipeline::from_config(&cfg)?;
            p.known.get(&cfg);
            Ok((p, cfg.metrics.listen))
        })
        .await;
        match result {
            Ok(Ok((p, metrics))) => {
                if metrics != shared.cfg.metrics.listen {
                    tracing::warn!("metrics.listen changed: that takes a restart; the endpoint stays as it was");
                }
                shared.pipeline.send_replace(Arc::new(p));
                tracing::info!(file = %shared.cfg.file.display(), "configuration reloaded (templates, keys, rules, policy; IMAP/SMTP endpoints need a restart)");
            }
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "reload refused: the new configuration is invalid; keeping the old one");
            }
            Err(e) => tracing::error!(error = %e, "reload failed"),
        }
        shared.notifier.ready("reload done");
    }
}

/// Sleeps, beating the IMAP heartbeat, until `d` passed or shutdown.
pub(super) async fn sleep_beating(shared: &Shared, d: Duration, shutdown: &CancellationToken) {
    let step = Duration::from_secs(10);
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        shared.health.beat_imap();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(end.min(tokio::time::Instant::now() + step)) => {}
        }
    }
}

/// `[cve] reserve_on_triage`: the reports the move to triaged queued for
/// a CVE id (the team's mail moves them too), each reserved on its own
/// database connection so that a slow CVE Services never holds up intake;
/// looked at every minute.
pub(super) async fn cve_reservations(shared: Shared, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        let cfg = shared.config();
        let s = shared.clone();
        let work = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            if s.store.blocking()?.cve_wanted_due(Timestamp::now())?.is_empty() {
                return Ok(0);
            }
            let mut store = crate::store::Store::open(&cfg.store.path)?;
            crate::publish::cve::reserve_queued(&mut store, &cfg)
        });
        tokio::select! {
            _ = shutdown.cancelled() => return,
            done = work => match done {
                Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "CVE reservations"),
                Err(e) => tracing::error!(error = %e, "the CVE reservations task panicked"),
                Ok(Ok(_)) => {}
            },
        }
    }
}
