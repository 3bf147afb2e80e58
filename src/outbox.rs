//! Draining the outbox over SMTP: which mails are due, how many go out at
//! once, how each attempt is marked and retried (the connections themselves
//! are in `smtp`).
//!
//! A row is marked sent in the same instant the server's `250` arrives; 4xx
//! replies and connection errors are retried with jittered, capped backoff;
//! 5xx replies are recorded as permanent failures. The one window left is a
//! crash between the server's `250` and our commit (a fraction of a
//! millisecond): the mail would go out a second time after restart, with the
//! same Message-ID, so the reporter's client shows it once. Marks that
//! several connections make at once commit together (`marks`).

mod marks;
mod smtp;

pub use smtp::{SendError, Transport, transport};

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::Address;
use lettre::address::Envelope;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::SmtpConfig;
use crate::store::{OutboxItem, Store, StoreHandle};

/// Why the outbox could not go on. A refused or failed send is never one
/// of these: it is recorded on its row (`SendResult`) and retried or not.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be read or written now: every mail stays pending
    /// and the next drain tries again.
    #[error("{0}")]
    Store(#[from] crate::store::Error),
    /// `smtp.ca_file` or the TLS set-up cannot be used.
    #[error("smtp.ca_file: {0}")]
    Tls(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What happened to one attempt.
#[derive(Debug)]
pub enum SendResult {
    Sent(String),
    Retry(String),
    Permanent(String),
}

pub async fn send_one(transport: &Transport, item: &OutboxItem, copy_to: Option<&Address>) -> SendResult {
    let to: Address = match item.recipient.parse() {
        Ok(a) => a,
        Err(e) => return SendResult::Permanent(format!("bad recipient {}: {e}", item.recipient)),
    };
    let from: Option<Address> = match item.envelope_from.as_str() {
        "" => None,
        s => match s.parse() {
            Ok(a) => Some(a),
            Err(e) => return SendResult::Permanent(format!("bad envelope sender {s}: {e}")),
        },
    };
    let mut rcpts = vec![to];
    rcpts.extend(copy_to.cloned());
    let envelope = match Envelope::new(from, rcpts) {
        Ok(e) => e,
        Err(e) => return SendResult::Permanent(format!("bad envelope: {e}")),
    };
    match transport.send_raw(&envelope, &item.raw).await {
        Ok(resp) => SendResult::Sent(format!(
            "{} {}",
            resp.code(),
            resp.message().collect::<Vec<_>>().join(" ")
        )),
        Err(SendError::Permanent(e)) => SendResult::Permanent(e),
        Err(SendError::Temporary(e) | SendError::Closing(e)) => SendResult::Retry(e),
    }
}

/// Delay before attempt `attempts + 1`: 5 s doubling, capped, ±20 % jitter.
pub fn backoff(attempts: u32, cap: Duration) -> Duration {
    use rand::Rng as _;
    let base = Duration::from_secs(5).saturating_mul(1u32 << attempts.min(16));
    let capped = base.min(cap);
    let jitter = rand::rng().random_range(0.8..1.2);
    capped.mul_f64(jitter).max(Duration::from_millis(500))
}

/// Sends everything due now. Returns how many are still pending afterwards
/// because of temporary failures.
/// Automatic mail beyond `hourly_cap` per hour (0: no cap) stays pending.
///
/// Up to `smtp.connections` mails are on their way at once, each marked in
/// the store before and after its own send; mails to one address go one
/// after the other, in the order they were queued.
///
/// Once `stop` is cancelled no mail is begun: the ones on their way finish
/// (the server's answer is awaited and recorded) and the drain returns.
pub async fn drain(
    store: &StoreHandle,
    transport: &Transport,
    cfg: &SmtpConfig,
    hourly_cap: u32,
    stop: &CancellationToken,
) -> Result<usize> {
    use futures::StreamExt as _;
    let cap = Duration::from_secs(cfg.retry_max_secs);
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    let copy_to: Option<Address> = cfg.copy_to_self.then(|| cfg.from.email.clone());
    let batch = 32 * cfg.connections.max(1) as u32;
    let marks = marks::Marks::new(store);
    // (The batch stays sized for the configured connections; the
    // concurrency is read per batch and may have been lowered.)
    let mut retrying = 0;
    loop {
        if stop.is_cancelled() {
            return Ok(retrying);
        }
        let due = store
            .call(move |s| s.outbox_due_capped(Timestamp::now(), grace, batch, hourly_cap))
            .await?;
        if due.is_empty() {
            return Ok(retrying);
        }
        crate::memory::worked();
        // One SMTP transaction per connection at a time, and twice as many
        // attempts on their way: a connection does not wait while the mail
        // it has just sent is marked.
        let width = transport.concurrency();
        let slots = Semaphore::new(width);
        let outcomes: Vec<Result<(usize, usize)>> = futures::stream::iter(by_recipient(due))
            .map(|queue| {
                let (copy_to, marks, slots) = (copy_to.as_ref(), &marks, &slots);
                async move {
                    let (mut done, mut retry) = (0, 0);
                    for item in &queue {
                        if stop.is_cancelled() {
                            break;
                        }
                        let span =
                            tracing::info_span!("send", outbox = item.id, kind = %item.kind, to = %item.recipient);
                        let on = Sending {
                            marks,
                            slots,
                            transport,
                            stop,
                        };
                        match attempt(&on, item, copy_to, grace, cap).instrument(span).await? {
                            Attempt::Done => done += 1,
                            Attempt::Retrying => retry += 1,
                            Attempt::NotBegun => break,
                        }
                    }
                    Ok((done, retry))
                }
            })
            .buffer_unordered(2 * width)
            .collect()
            .await;
        let mut progressed = false;
        for outcome in outcomes {
            let (done, retry) = outcome?;
            progressed |= done > 0;
            retrying += retry;
        }
        if !progressed {
            return Ok(retrying);
        }
    }
}

/// The items grouped by recipient (as `message::address_key` sees it),
/// each group in queue order, the groups in the order of their first item.
fn by_recipient(items: Vec<OutboxItem>) -> Vec<Vec<OutboxItem>> {
    let mut groups: Vec<Vec<OutboxItem>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in items {
        let key = crate::message::address_key(&item.recipient);
        match index.get(&key) {
            Some(&g) => groups[g].push(item),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![item]);
            }
        }
    }
    groups
}

enum Attempt {
    Done,
    Retrying,
    /// The drain was stopped before this mail was begun.
    NotBegun,
}

/// What the attempts of one drain batch share.
struct Sending<'a> {
    marks: &'a marks::Marks,
    /// As many as mails may be handed to the server at once.
    slots: &'a Semaphore,
    transport: &'a Transport,
    stop: &'a CancellationToken,
}

/// One attempt at one item, its outcome recorded.
async fn attempt(
    on: &Sending<'_>,
    item: &OutboxItem,
    copy_to: Option<&Address>,
    grace: SignedDuration,
    cap: Duration,
) -> Result<Attempt> {
    use marks::Mark;
    let marks = on.marks;
    // A connection's turn first, then the begin mark: a mail is never
    // marked begun while it waits.
    let Ok(slot) = on.slots.acquire().await else {
        return Ok(Attempt::NotBegun);
    };
    if on.stop.is_cancelled() {
        return Ok(Attempt::NotBegun);
    }
    if item.in_doubt {
        tracing::warn!(
            "an earlier attempt was cut short and no copy of it arrived within {} s: sending again",
            grace.as_secs()
        );
    }
    marks.mark(item, Mark::Begin).await?;
    let sent = send_one(on.transport, item, copy_to).await;
    drop(slot);
    match sent {
        SendResult::Sent(resp) => {
            marks.mark(item, Mark::Sent(resp)).await?;
            tracing::info!(message_id = %item.message_id, "sent");
            Ok(Attempt::Done)
        }
        SendResult::Retry(err) => {
            let wait = backoff(item.attempts, cap);
            let next = Timestamp::now() + SignedDuration::try_from(wait).unwrap_or_default();
            marks.mark(item, Mark::Retry(next, err.clone())).await?;
            tracing::warn!(error = %err, retry_in_s = wait.as_secs(), "temporary SMTP failure");
            Ok(Attempt::Retrying)
        }
        SendResult::Permanent(err) => {
            marks.mark(item, Mark::Failed(err.clone())).await?;
            tracing::error!(error = %err, "permanent SMTP failure; not retried");
            Ok(Attempt::Done)
        }
    }
}

/// Says once, at warn, that `reply.max_automatic_per_hour` holds mail back:
/// how many wait and when the next goes. Whether it said so.
pub fn warn_if_capped(store: &Store, hourly_cap: u32) -> Result<bool> {
    let now = Timestamp::now();
    let cap = store.hourly_cap(now, hourly_cap)?;
    let (Some(0), Some(frees)) = (cap.allowance, cap.frees_at) else {
        return Ok(false);
    };
    let waiting = store.outbox_held(now, hourly_cap)?;
    if waiting == 0 {
        return Ok(false);
    }
    tracing::warn!(
        "reply.max_automatic_per_hour ({hourly_cap}) reached: {waiting} automatic mail(s) wait; the next goes \
         out at {} and the rest as the hour's window frees up (`embargo status` shows how many still wait)",
        crate::report::utc(frees)
    );
    Ok(true)
}

/// The outbox task: drains whenever woken, and when the next retry is due.
pub async fn run(
    store: StoreHandle,
    cfg: SmtpConfig,
    tokens: Option<Arc<crate::oauth::TokenSource>>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    health: Arc<crate::heartbeat::Heartbeat>,
    hourly_cap: impl Fn() -> u32,
) -> Result<()> {
    let transport = transport(&cfg, tokens)?;
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    // The hourly cap is said once each time it is reached, not per drain.
    let mut cap_reported = false;
    loop {
        health.beat_outbox();
        let hourly_cap = hourly_cap();
        if let Err(e) = drain(&store, &transport, &cfg, hourly_cap, &shutdown).await {
            tracing::error!(error = %format!("{e:#}"), "outbox");
        }
        health.beat_outbox();
        let reported = cap_reported;
        let (next, reported) = store
            .call(move |store| -> Result<_> {
                let cap = store.hourly_cap(Timestamp::now(), hourly_cap)?;
                // Held automatic mail is due when the hour's window frees up.
                let held_until = cap.allowance.filter(|a| *a == 0).and(cap.frees_at);
                let reported = match held_until {
                    Some(_) if !reported => warn_if_capped(store, hourly_cap)?,
                    None => false,
                    Some(_) => reported,
                };
                Ok((store.outbox_next_due(grace, held_until)?, reported))
            })
            .await?;
        cap_reported = reported;
        // Wake at least every 10 s so the watchdog sees this loop alive.
        let sleep = match next {
            Some(t) => Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO),
            None => Duration::from_secs(10),
        }
        .clamp(Duration::from_millis(200), Duration::from_secs(10));
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests;
