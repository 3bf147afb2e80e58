//! Draining the outbox over SMTP (lettre, pooled connections).
//!
//! A row is marked sent in the same instant the server's `250` arrives; 4xx
//! replies and connection errors are retried with jittered, capped backoff;
//! 5xx replies are recorded as permanent failures. The one window left is a
//! crash between the server's `250` and our commit (a fraction of a
//! millisecond): the mail would go out a second time after restart, with the
//! same Message-ID, so the reporter's client shows it once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{Address, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{Security, SmtpConfig};
use crate::store::{OutboxItem, Store};

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

pub fn transport(cfg: &SmtpConfig) -> anyhow::Result<Transport> {
    let tls_params = || -> anyhow::Result<TlsParameters> {
        let mut b = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca_file {
            for cert in crate::tls::extra_certs(ca)? {
                b = b.add_root_certificate(Certificate::from_der(cert.to_vec()).context("smtp.ca_file")?);
            }
        }
        Ok(b.build_rustls()?)
    };
    let tls = match cfg.security {
        Security::Tls => Tls::Wrapper(tls_params()?),
        Security::StartTls => Tls::Required(tls_params()?),
        Security::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)))
        .pool_config(PoolConfig::new().max_size(2).idle_timeout(Duration::from_secs(60)));
    if let (Some(user), Some(pass)) = (&cfg.user, &cfg.password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(builder.build())
}

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
        Err(e) if e.is_permanent() => SendResult::Permanent(format!("{e}")),
        Err(e) => SendResult::Retry(format!("{e}")),
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
pub async fn drain(store: &Arc<Mutex<Store>>, transport: &Transport, cfg: &SmtpConfig) -> anyhow::Result<usize> {
    let cap = Duration::from_secs(cfg.retry_max_secs);
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    let copy_to: Option<Address> = cfg.copy_to_self.then(|| cfg.from.email.clone());
    let mut retrying = 0;
    loop {
        let due = lock(store)?.outbox_due(Timestamp::now(), grace, 20)?;
        if due.is_empty() {
            return Ok(retrying);
        }
        let mut progressed = false;
        for item in &due {
            let span = tracing::info_span!("send", outbox = item.id, kind = %item.kind, to = %item.recipient);
            match attempt(store, transport, item, copy_to.as_ref(), grace, cap)
                .instrument(span)
                .await?
            {
                Attempt::Done => progressed = true,
                Attempt::Retrying => retrying += 1,
            }
        }
        if !progressed {
            return Ok(retrying);
        }
    }
}

enum Attempt {
    Done,
    Retrying,
}

/// One attempt at one item, its outcome recorded.
async fn attempt(
    store: &Arc<Mutex<Store>>,
    transport: &Transport,
    item: &OutboxItem,
    copy_to: Option<&Address>,
    grace: SignedDuration,
    cap: Duration,
) -> anyhow::Result<Attempt> {
    if item.in_doubt {
        tracing::warn!(
            "an earlier attempt was cut short and no copy of it arrived within {} s: sending again",
            grace.as_secs()
        );
    }
    lock(store)?.outbox_begin(item)?;
    match send_one(transport, item, copy_to).await {
        SendResult::Sent(resp) => {
            lock(store)?.outbox_sent(item, &resp)?;
            tracing::info!(message_id = %item.message_id, "sent");
            Ok(Attempt::Done)
        }
        SendResult::Retry(err) => {
            let wait = backoff(item.attempts, cap);
            let next = Timestamp::now() + SignedDuration::try_from(wait).unwrap_or_default();
            lock(store)?.outbox_retry(item, next, &err)?;
            tracing::warn!(error = %err, retry_in_s = wait.as_secs(), "temporary SMTP failure");
            Ok(Attempt::Retrying)
        }
        SendResult::Permanent(err) => {
            lock(store)?.outbox_failed(item, &err)?;
            tracing::error!(error = %err, "permanent SMTP failure; not retried");
            Ok(Attempt::Done)
        }
    }
}

/// The outbox task: drains whenever woken, and when the next retry is due.
pub async fn run(
    store: Arc<Mutex<Store>>,
    cfg: SmtpConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    health: Arc<crate::daemon::Health>,
) -> anyhow::Result<()> {
    let transport = transport(&cfg)?;
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    loop {
        health.beat_outbox();
        if let Err(e) = drain(&store, &transport, &cfg).await {
            tracing::error!(error = %format!("{e:#}"), "outbox");
        }
        health.beat_outbox();
        let next = lock(&store)?.outbox_next_due(grace)?;
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

pub fn lock(store: &Arc<Mutex<Store>>) -> anyhow::Result<std::sync::MutexGuard<'_, Store>> {
    store.lock().map_err(|_| anyhow::anyhow!("the store lock is poisoned"))
}
