//! The daemon: owns the tasks (IMAP watcher, outbox sender), the shutdown
//! token and the reconnect policy.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::intake::{self, Arrival, Pipeline};
use crate::mailbox::{self, Connection, IdleEnd, Waiting};
use crate::outbox::{self, lock};
use crate::store::{Source, Store, SyncState};

/// Fetch at most this many messages, or this many bytes, per round trip.
const FETCH_BATCH: usize = 50;
const FETCH_BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Shared by the tasks.
#[derive(Clone)]
struct Shared {
    cfg: Arc<Config>,
    /// The intake's connection (held for a whole fetched batch).
    store: Arc<Mutex<Store>>,
    /// The outbox's own connection, so marking a mail sent never waits for
    /// an intake batch: that wait would widen the window in which a crash
    /// after the server's `250` leads to a second copy.
    outbox_store: Arc<Mutex<Store>>,
    pipeline: Arc<Pipeline>,
    outbox_wake: Arc<Notify>,
}

impl Shared {
    fn new(cfg: Config) -> anyhow::Result<Shared> {
        let store = Store::open(&cfg.store.path)?;
        let outbox_store = Store::open(&cfg.store.path)?;
        let pipeline = Pipeline::from_config(&cfg)?;
        Ok(Shared {
            cfg: Arc::new(cfg),
            store: Arc::new(Mutex::new(store)),
            outbox_store: Arc::new(Mutex::new(outbox_store)),
            pipeline: Arc::new(pipeline),
            outbox_wake: Arc::new(Notify::new()),
        })
    }
}

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
    let mut conn = mailbox::connect(&shared.cfg.imap, tls).await?;
    let processed = sync(&shared, &mut conn, &never).await?;
    conn.logout().await;
    let transport = outbox::transport(&shared.cfg.smtp)?;
    let outbox_retrying = outbox::drain(&shared.outbox_store, &transport, &shared.cfg.smtp).await?;
    Ok(OnceSummary {
        processed,
        outbox_retrying,
    })
}

/// `embargo run`: until `shutdown` is cancelled.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let shared = Shared::new(cfg)?;
    let outbox_task = {
        let s = shared.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            // If the sender dies, the daemon must not run on half-alive.
            let _guard = token.clone().drop_guard();
            outbox::run(s.outbox_store.clone(), s.cfg.smtp.clone(), s.outbox_wake.clone(), token).await
        })
    };
    let imap_result = watch(&shared, &shutdown).await;
    shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(10), outbox_task).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %format!("{e:#}"), "outbox task failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "outbox task panicked"),
        Err(_) => tracing::warn!("outbox task did not stop within 10 s"),
        Ok(Ok(Ok(()))) => {}
    }
    imap_result
}

/// The IMAP loop: connect, catch up, IDLE (or poll), reconnect with backoff.
async fn watch(shared: &Shared, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let cfg = &shared.cfg.imap;
    let tls = crate::tls::client_config(cfg.ca_file.as_deref())?;
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let result = async {
            let conn = mailbox::connect(cfg, tls.clone()).await?;
            tracing::info!(host = %cfg.host, mailbox = %cfg.mailbox, idle = conn.has_idle, "connected");
            failures = 0;
            session(shared, conn, shutdown).await
        }
        .await;
        match result {
            Ok(conn) => {
                conn.logout().await;
                tracing::info!("IMAP session closed");
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = reconnect_delay(failures, Duration::from_secs(cfg.reconnect_max_secs));
                tracing::warn!(error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64, "IMAP problem; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    Ok(())
}

/// One connected session: sync, then wait for more, until shutdown or error.
async fn session(shared: &Shared, mut conn: Connection, shutdown: &CancellationToken) -> anyhow::Result<Connection> {
    let cfg = &shared.cfg.imap;
    loop {
        sync(shared, &mut conn, shutdown).await?;
        if shutdown.is_cancelled() {
            return Ok(conn);
        }
        if conn.has_idle {
            let (back, end) = conn.idle(Duration::from_secs(cfg.idle_restart_secs), shutdown).await?;
            conn = back;
            if end == IdleEnd::Shutdown {
                return Ok(conn);
            }
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(conn),
                _ = tokio::time::sleep(Duration::from_secs(cfg.poll_interval_secs)) => {}
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

/// Processes every message above the stored position. Returns how many.
async fn sync(shared: &Shared, conn: &mut Connection, shutdown: &CancellationToken) -> anyhow::Result<usize> {
    let (last_uid, ack_after) = position(shared, conn)?;
    let waiting = conn.waiting(last_uid).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    tracing::info!(count = waiting.len(), "new messages");
    let max = shared.cfg.imap.max_message_size;
    let mut done = 0;
    for batch in batches(&waiting, max) {
        if shutdown.is_cancelled() {
            break;
        }
        let (big, small): (Vec<&Waiting>, Vec<&Waiting>) = batch.iter().partition(|w| w.size > max);
        let bodies = conn.fetch(&small.iter().map(|w| w.uid).collect::<Vec<_>>()).await?;
        let headers = conn
            .fetch_headers(&big.iter().map(|w| w.uid).collect::<Vec<_>>())
            .await?;
        let job = Batch {
            waiting: batch.to_vec(),
            bodies,
            headers,
            mailbox: conn.mailbox.clone(),
            uidvalidity: conn.uidvalidity,
            ack_after,
            max,
        };
        let s = shared.clone();
        done += tokio::task::spawn_blocking(move || job.process(&s))
            .await
            .context("intake task")??;
        for w in &big {
            if let Err(e) = conn.flag(w.uid).await {
                tracing::warn!(uid = w.uid, error = %format!("{e:#}"), "could not flag oversize message");
            }
        }
        shared.outbox_wake.notify_one();
    }
    Ok(done)
}

/// The stored position, initialising it on first start or after a
/// UIDVALIDITY change.
fn position(shared: &Shared, conn: &Connection) -> anyhow::Result<(u32, Option<Timestamp>)> {
    let mut store = lock(&shared.store)?;
    match store.sync_state(&conn.mailbox)? {
        Some(s) if s.uidvalidity == conn.uidvalidity => Ok((s.last_uid, s.ack_after)),
        Some(s) => {
            tracing::warn!(
                old = s.uidvalidity,
                new = conn.uidvalidity,
                "UIDVALIDITY changed: re-scanning, de-duplicating on Message-ID"
            );
            let state = SyncState {
                uidvalidity: conn.uidvalidity,
                last_uid: 0,
                ack_after: s.ack_after,
            };
            store.set_sync_state(
                &conn.mailbox,
                state,
                &format!("UIDVALIDITY changed from {}", s.uidvalidity),
            )?;
            Ok((0, s.ack_after))
        }
        None => {
            let hours = shared.cfg.imap.first_start_ack_hours;
            let cutoff = Timestamp::now() - SignedDuration::from_hours(hours as i64);
            tracing::info!(
                ack_window_hours = hours,
                "first start on this mailbox: older mail is imported without acknowledgement"
            );
            let state = SyncState {
                uidvalidity: conn.uidvalidity,
                last_uid: 0,
                ack_after: Some(cutoff),
            };
            store.set_sync_state(&conn.mailbox, state, "first start")?;
            Ok((0, Some(cutoff)))
        }
    }
}

fn batches(waiting: &[Waiting], max: u64) -> Vec<&[Waiting]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, w) in waiting.iter().enumerate() {
        let size = if w.size > max { 0 } else { w.size };
        if i > start && (i - start >= FETCH_BATCH || bytes + size > FETCH_BATCH_BYTES) {
            out.push(&waiting[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < waiting.len() {
        out.push(&waiting[start..]);
    }
    out
}

fn find(list: &[(u32, Vec<u8>)], uid: u32) -> Option<&[u8]> {
    list.iter().find(|(u, _)| *u == uid).map(|(_, b)| b.as_slice())
}

/// One fetched batch, processed on a blocking thread in UID order.
struct Batch {
    waiting: Vec<Waiting>,
    bodies: Vec<(u32, Vec<u8>)>,
    headers: Vec<(u32, Vec<u8>)>,
    mailbox: String,
    uidvalidity: u32,
    ack_after: Option<Timestamp>,
    max: u64,
}

impl Batch {
    fn process(self, shared: &Shared) -> anyhow::Result<usize> {
        let mut store = lock(&shared.store)?;
        let p = &shared.pipeline;
        let mut done = 0;
        for w in &self.waiting {
            let source = Source {
                mailbox: self.mailbox.clone(),
                uidvalidity: self.uidvalidity,
                uid: w.uid,
            };
            let span = tracing::info_span!("message", uid = w.uid);
            let _enter = span.enter();
            let oversize = w.size > self.max;
            let Some(raw) = find(if oversize { &self.headers } else { &self.bodies }, w.uid) else {
                // Expunged between listing and fetching: nothing to record.
                store.advance(&source)?;
                continue;
            };
            let arrival = Arrival {
                raw,
                source: Some(source),
                internal_date: w.internal_date,
                ack_after: self.ack_after,
            };
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if oversize {
                    intake::intake_oversize(&mut store, p, &arrival, w.size, self.max)
                } else {
                    intake::intake(&mut store, p, &arrival)
                }
            }));
            let failure = match outcome {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(format!("internal error: {e:#}")),
                Err(_) => Some("internal error: the pipeline panicked on this message".to_owned()),
            };
            if let Some(reason) = failure {
                // If even the tombstone cannot be written, the store is the
                // problem: stop here and leave the message on the server.
                intake::record_failure(&mut store, p, &arrival, None, &reason)
                    .with_context(|| format!("cannot record UID {} ({reason})", w.uid))?;
            }
            done += 1;
        }
        Ok(done)
    }
}
