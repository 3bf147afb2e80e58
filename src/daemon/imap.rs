//! The IMAP loops: the inbox (connect, catch up, IDLE or poll, reconnect
//! with backoff) and the Sent folder.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::periodic::{idle_period, sleep_beating};
use super::sync::{self, Folder};
use super::{Interrupted, Shared};
use crate::mailbox::{self, Connection, IdleEnd};

/// The IMAP loop: connect, catch up, IDLE (or poll), reconnect with backoff.
pub(super) async fn watch(shared: &Shared, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let cfg = &shared.cfg.imap;
    let tls = crate::tls::client_config(cfg.ca_file.as_deref())?;
    let mut failures: u32 = 0;
    let mut ready = false;
    let endpoint = crate::probe::Endpoint {
        section: "imap",
        host: cfg.host.clone(),
        port: cfg.port,
        security: cfg.security,
    };
    // A failure is said at warn once; the same again only at debug.
    let mut last_said = String::new();
    while !shutdown.is_cancelled() {
        shared.health.beat_imap();
        let result: Result<Connection, Interrupted> = async {
            let conn = mailbox::connect(cfg, tls.clone(), shared.tokens.as_deref()).await?;
            tracing::info!(host = %cfg.host, mailbox = %cfg.mailbox, idle = conn.has_idle, "connected");
            failures = 0;
            shared.imap_state("connected", None).await;
            if !ready {
                shared
                    .notifier
                    .ready(&format!("connected to {}:{} {}", cfg.host, cfg.port, cfg.mailbox));
                ready = true;
            }
            session(shared, conn, shutdown).await
        }
        .await;
        match result {
            Ok(conn) => {
                conn.logout().await;
                tracing::info!("IMAP session closed");
                last_said.clear();
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = reconnect_delay(failures, Duration::from_secs(cfg.reconnect_max_secs));
                let error = e.to_string();
                if let Interrupted::Database(..) = e {
                    // Disk full, database locked, I/O error: nothing was
                    // half-written (one transaction per message) and the
                    // mail stays on the server until the store takes it.
                    tracing::error!(error = %error, retry_in_ms = wait.as_millis() as u64,
                        "intake paused: the database cannot be written; new mail stays on the server");
                    shared.imap_state("paused (database not writable)", Some(&error)).await;
                } else if let Interrupted::LoginNeeded(_) = e {
                    tracing::error!(error = %error, retry_in_ms = wait.as_millis() as u64,
                        "intake paused: the OAuth login must be renewed (`embargo oauth login`); new mail stays on the server");
                    shared.imap_state(crate::status::OAUTH_PAUSED, Some(&error)).await;
                } else {
                    let error = match &e {
                        Interrupted::Other(err) => crate::probe::explain(err, &endpoint),
                        _ => error,
                    };
                    if error != last_said {
                        tracing::warn!(retry_in_ms = wait.as_millis() as u64, "IMAP: {error}; reconnecting");
                        last_said = error.clone();
                    } else {
                        tracing::debug!(retry_in_ms = wait.as_millis() as u64, "IMAP: {error}; reconnecting");
                    }
                    shared.imap_state("reconnecting", Some(&error)).await;
                }
                sleep_beating(shared, wait, shutdown).await;
            }
        }
    }
    Ok(())
}

/// The Sent folder (`imap.sent_mailbox`), on a connection of its own, looked
/// at every `imap.sent_poll_secs`: the team's replies sent from the shared
/// mailbox stop the response clock. A missing folder or an outage is logged
/// and retried with backoff; the inbox never waits for it.
pub(super) async fn watch_sent(shared: Shared, shutdown: CancellationToken) {
    let Some(cfg) = sent_config(&shared.cfg.imap) else {
        return;
    };
    let tls = match crate::tls::client_config(cfg.ca_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "Sent folder: no TLS configuration");
            return;
        }
    };
    let poll = Duration::from_secs(cfg.sent_poll_secs);
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let result = async {
            let mut conn = mailbox::connect(&cfg, tls.clone(), shared.tokens.as_deref()).await?;
            failures = 0;
            loop {
                sync::sync(&shared, &mut conn, &shutdown, Folder::Sent).await?;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            conn.logout().await;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            failures = failures.saturating_add(1);
            let wait = reconnect_delay(failures, Duration::from_secs(cfg.reconnect_max_secs).max(poll));
            tracing::warn!(mailbox = %cfg.mailbox, error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64,
                "Sent folder: cannot read it; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The IMAP settings for the Sent folder: the same account, another mailbox.
pub(super) fn sent_config(imap: &crate::config::ImapConfig) -> Option<crate::config::ImapConfig> {
    let sent = imap.sent_mailbox.clone()?;
    Some(crate::config::ImapConfig {
        mailbox: sent,
        ..imap.clone()
    })
}

/// One connected session: sync, then wait for more, until shutdown or error.
pub(super) async fn session(
    shared: &Shared,
    mut conn: Connection,
    shutdown: &CancellationToken,
) -> Result<Connection, Interrupted> {
    let cfg = &shared.cfg.imap;
    // IDLE is re-issued often enough for the watchdog to see the loop live.
    let idle_for = idle_period(shared.notifier.watchdog, cfg.idle_restart_secs);
    loop {
        shared.health.beat_imap();
        if sync::sync(shared, &mut conn, shutdown, Folder::Inbox).await? > 0 {
            crate::memory::worked();
        }
        let _ = shared.store.call(|s| s.status_fetched()).await;
        if shutdown.is_cancelled() {
            return Ok(conn);
        }
        shared.health.beat_imap();
        if conn.has_idle {
            let (back, end) = conn.idle(idle_for, shutdown).await?;
            conn = back;
            if end == IdleEnd::Shutdown {
                return Ok(conn);
            }
        } else {
            sleep_beating(shared, Duration::from_secs(cfg.poll_interval_secs), shutdown).await;
            if shutdown.is_cancelled() {
                return Ok(conn);
            }
        }
    }
}

/// Jittered exponential backoff: 1 s, 2 s, 4 s ... capped, ±25 %.
pub fn reconnect_delay(failures: u32, cap: Duration) -> Duration {
    use rand::Rng as _;
    let base = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    base.min(cap).mul_f64(rand::rng().random_range(0.75..1.25))
}
