//! Catching up with the mailbox: list what is new, fetch it in batches,
//! and walk each message through intake on a blocking thread, in UID order.

use std::panic::AssertUnwindSafe;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use super::{Interrupted, Shared};
use crate::fault::Fault;
use crate::intake::{self, Arrival};
use crate::mailbox::{Connection, Fetched, Waiting};
use crate::store::Store;
use crate::store::{Source, SyncState};
use crate::timing::{self, Stage};

/// Fetch at most this many messages, or this many bytes, per round trip.
const FETCH_BATCH: usize = 50;
const FETCH_BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Which folder a connection watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Folder {
    /// `imap.mailbox`: reports, follow-ups, everything that gets answered.
    Inbox,
    /// `imap.sent_mailbox`: the team's replies sent from the shared mailbox.
    Sent,
}

/// Processes every message above the stored position. Returns how many.
pub(super) async fn sync(
    shared: &Shared,
    conn: &mut Connection,
    shutdown: &CancellationToken,
    folder: Folder,
) -> Result<usize, Interrupted> {
    let (mailbox, uidvalidity) = (conn.mailbox.clone(), conn.uidvalidity);
    let hours = shared.cfg.imap.first_start_ack_hours;
    let (last_uid, ack_after) = shared
        .store
        .call(move |store| position(store, &mailbox, uidvalidity, hours))
        .await?;
    let waiting = conn.waiting(last_uid).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    tracing::info!(count = waiting.len(), mailbox = %conn.mailbox, "new messages");
    let max = shared.cfg.imap.max_message_size;
    let mut done = 0;
    // While one batch is taken in on a blocking thread, the next is fetched.
    let mut taking: Option<Taking> = None;
    for batch in batches(&waiting, max) {
        if shutdown.is_cancelled() {
            break;
        }
        let (big, small): (Vec<&Waiting>, Vec<&Waiting>) = batch.iter().partition(|w| w.size > max);
        let started = std::time::Instant::now();
        let fetched = fetch(conn, &small, &big).await;
        timing::add(Stage::Fetch, started);
        // The batch before is recorded (and its oversize mail flagged)
        // before anything else happens, a failed fetch included.
        if let Some(t) = taking.take() {
            done += t.finish(shared, conn).await?;
        }
        let (bodies, headers) = fetched?;
        let job = Batch {
            folder,
            waiting: batch.to_vec(),
            bodies,
            headers,
            mailbox: conn.mailbox.clone(),
            uidvalidity: conn.uidvalidity,
            ack_after,
            max,
        };
        let s = shared.clone();
        taking = Some(Taking {
            job: tokio::task::spawn_blocking(move || job.process(&s)),
            big: big.iter().map(|w| w.uid).collect(),
        });
    }
    if let Some(t) = taking.take() {
        done += t.finish(shared, conn).await?;
    }
    Ok(done)
}

/// The bodies of `small` and the headers of `big`.
async fn fetch(
    conn: &mut Connection,
    small: &[&Waiting],
    big: &[&Waiting],
) -> Result<(Vec<Fetched>, Vec<Fetched>), Interrupted> {
    let bodies = conn.fetch(&small.iter().map(|w| w.uid).collect::<Vec<_>>()).await?;
    let headers = conn
        .fetch_headers(&big.iter().map(|w| w.uid).collect::<Vec<_>>())
        .await?;
    Ok((bodies, headers))
}

/// A batch being taken in on a blocking thread.
struct Taking {
    job: tokio::task::JoinHandle<Result<usize, Interrupted>>,
    /// Its messages too large to fetch, flagged once it is recorded.
    big: Vec<u32>,
}

impl Taking {
    async fn finish(self, shared: &Shared, conn: &mut Connection) -> Result<usize, Interrupted> {
        let done = self
            .job
            .await
            .map_err(|e| Interrupted::Other(anyhow::Error::new(e).context("intake task")))??;
        for uid in self.big {
            if let Err(e) = conn.flag(uid).await {
                tracing::warn!(uid, error = %format!("{e:#}"), "could not flag oversize message");
            }
        }
        shared.outbox_wake.notify_one();
        Ok(done)
    }
}

/// The stored position, initialising it on first start or after a
/// UIDVALIDITY change.
fn position(
    store: &mut Store,
    mailbox: &str,
    uidvalidity: u32,
    first_start_ack_hours: u64,
) -> Result<(u32, Option<Timestamp>), Interrupted> {
    match store.sync_state(mailbox)? {
        Some(s) if s.uidvalidity == uidvalidity => Ok((s.last_uid, s.ack_after)),
        Some(s) => {
            tracing::warn!(
                old = s.uidvalidity,
                new = uidvalidity,
                "UIDVALIDITY changed: re-scanning, de-duplicating on Message-ID"
            );
            let state = SyncState {
                uidvalidity,
                last_uid: 0,
                ack_after: s.ack_after,
            };
            store.set_sync_state(mailbox, state, &format!("UIDVALIDITY changed from {}", s.uidvalidity))?;
            Ok((0, s.ack_after))
        }
        None => {
            let hours = first_start_ack_hours;
            let cutoff = Timestamp::now() - SignedDuration::from_hours(hours as i64);
            tracing::info!(
                ack_window_hours = hours,
                "first start on this mailbox: older mail is imported without acknowledgement"
            );
            let state = SyncState {
                uidvalidity,
                last_uid: 0,
                ack_after: Some(cutoff),
            };
            store.set_sync_state(mailbox, state, "first start")?;
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

fn find(list: &[Fetched], uid: u32) -> Option<&[u8]> {
    list.iter().find(|f| f.uid == uid).map(Fetched::bytes)
}

/// One fetched batch, processed on a blocking thread in UID order.
struct Batch {
    folder: Folder,
    waiting: Vec<Waiting>,
    bodies: Vec<Fetched>,
    headers: Vec<Fetched>,
    mailbox: String,
    uidvalidity: u32,
    ack_after: Option<Timestamp>,
    max: u64,
}

/// After this many runs of the daemon died while taking in one message,
/// the next records it as failed without looking at it again. Two, not
/// one: a SIGKILL or a power cut can land on any message once.
const DEATHS_BEFORE_GIVING_UP: u32 = 2;

/// This process, as the intake attempts table tells runs apart.
static RUN_ID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}-{:016x}", std::process::id(), rand::random::<u64>()));

/// How long one intake transaction may grow: messages are recorded in
/// groups that commit together (each commit writes the pages it changed
/// to the WAL; a backlog of single-message transactions spent a quarter
/// of its time there). A group also ends as soon as the outbox waits to
/// mark a mail (`StoreHandle::call_urgent`) once it has been open for
/// [`GROUP_MIN`], and lets that mark commit before the next group begins.
const GROUP_TIME: std::time::Duration = std::time::Duration::from_millis(10);
/// How long a group stays open however urgent the outbox's marks are: an
/// intake that committed after every message would spend its time there
/// again.
const GROUP_MIN: std::time::Duration = std::time::Duration::from_millis(2);

impl Batch {
    /// The batch in groups, each one transaction: every message's rows and
    /// the IMAP position past it commit together, so a crash loses the
    /// group's work and the next run does it again (no acknowledgement is
    /// queued twice). Each group is announced first ([`Store::start_intake`],
    /// its own commit); after a run died inside a group, the rest of the
    /// batch goes one message per group, so a second death names its
    /// message exactly.
    fn process(self, shared: &Shared) -> Result<usize, Interrupted> {
        let mut store = shared.store.blocking()?;
        let pipeline = shared.pipeline();
        let p = pipeline.as_ref();
        let (mut at, mut careful) = (0, false);
        while let Some(first) = self.waiting.get(at) {
            let deaths = store.start_intake(&self.mailbox, self.uidvalidity, first.uid, &RUN_ID)?;
            careful |= deaths > 0;
            let started = std::time::Instant::now();
            at = store.atomic(|store| -> Result<usize, Interrupted> {
                let mut next = at;
                loop {
                    self.one(store, p, next, if next == at { deaths } else { 0 })?;
                    next += 1;
                    let open = started.elapsed();
                    if careful
                        || next == self.waiting.len()
                        || open >= GROUP_TIME
                        || (open >= GROUP_MIN && shared.store.urgent_waiting())
                    {
                        return Ok(next);
                    }
                }
            })?;
            shared.outbox_wake.notify_one();
            shared.store.let_urgent_pass(GROUP_TIME);
        }
        Ok(self.waiting.len())
    }

    /// Message `i` of the batch, in the open transaction. `deaths`: how many
    /// runs died in a group that started with it.
    fn one(&self, store: &mut Store, p: &crate::pipeline::Pipeline, i: usize, deaths: u32) -> Result<(), Interrupted> {
        let w = &self.waiting[i];
        let source = Source {
            mailbox: self.mailbox.clone(),
            uidvalidity: self.uidvalidity,
            uid: w.uid,
        };
        let span = tracing::info_span!("message", uid = w.uid, message_id = tracing::field::Empty);
        let _enter = span.enter();
        let oversize = w.size > self.max;
        let Some(raw) = find(if oversize { &self.headers } else { &self.bodies }, w.uid) else {
            // Expunged between listing and fetching: nothing to record.
            store.advance(&source)?;
            return Ok(());
        };
        let arrival = Arrival {
            raw,
            source: Some(source),
            internal_date: w.internal_date,
            ack_after: self.ack_after,
        };
        if deaths >= DEATHS_BEFORE_GIVING_UP {
            let reason = format!(
                "embargo stopped {deaths} times while taking in this message (a crash, or the service's \
                 memory limit): recorded as failed without looking at it again, so the mail behind it is \
                 taken in; the raw message is kept"
            );
            tracing::error!(uid = w.uid, mailbox = %self.mailbox, "{reason}");
            intake::record_failure(store, p, &arrival, None, &reason)
                .map_err(|f| f.context(format!("cannot record UID {} ({reason})", w.uid)))?;
            return Ok(());
        }
        if self.folder == Folder::Sent {
            return sent_one(store, p, &arrival, oversize);
        }
        // Its own savepoint: a message that fails leaves none of its writes
        // behind, only the record of its failure.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            store.atomic(|store| {
                if oversize {
                    intake::intake_oversize(store, p, &arrival, w.size, self.max)
                } else {
                    intake::intake(store, p, &arrival)
                }
            })
        }));
        let failure = match outcome {
            Ok(Ok(_)) => None,
            // The database, not the message, is the problem (locked,
            // disk full): stop and leave the mail on the server; the
            // loop retries with backoff. Never a tombstone for that.
            Ok(Err(Fault::Database(e))) => {
                return Err(Interrupted::Database(
                    e,
                    format!("the database is not writable; UID {} stays on the server", w.uid),
                ));
            }
            Ok(Err(Fault::Message(e))) => Some(format!("internal error: {e:#}")),
            Err(_) => Some("internal error: the pipeline panicked on this message".to_owned()),
        };
        if let Some(reason) = failure {
            // If even the tombstone cannot be written, the store is the
            // problem: stop here and leave the message on the server.
            intake::record_failure(store, p, &arrival, None, &reason)
                .map_err(|f| f.context(format!("cannot record UID {} ({reason})", w.uid)))?;
        }
        Ok(())
    }
}

/// One message of the Sent folder. Nothing here is ever answered, so a
/// message that cannot be handled is logged and passed over (the position
/// moves); a database error stops the batch as for the inbox.
fn sent_one(
    store: &mut crate::store::Store,
    p: &crate::pipeline::Pipeline,
    a: &Arrival<'_>,
    oversize: bool,
) -> Result<(), Interrupted> {
    // A team reply is never that large: nothing to learn from a header.
    if !oversize {
        // intake_sent moves the position itself.
        let problem = match std::panic::catch_unwind(AssertUnwindSafe(|| intake::intake_sent(store, p, a))) {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(Fault::Database(e))) => {
                return Err(Interrupted::Database(
                    e,
                    "the database is not writable; the Sent folder is read again later".to_owned(),
                ));
            }
            Ok(Err(Fault::Message(e))) => format!("{e:#}"),
            Err(_) => "the pipeline panicked on this message".to_owned(),
        };
        tracing::warn!(
            uid = a.source.as_ref().map(|s| s.uid),
            problem,
            "Sent folder: message passed over"
        );
    }
    if let Some(s) = &a.source {
        store.advance(s)?;
    }
    Ok(())
}
