//! Draining the outbox over SMTP (lettre's protocol client on our own
//! connection, kept between mails).
//!
//! A row is marked sent in the same instant the server's `250` arrives; 4xx
//! replies and connection errors are retried with jittered, capped backoff;
//! 5xx replies are recorded as permanent failures. The one window left is a
//! crash between the server's `250` and our commit (a fraction of a
//! millisecond): the mail would go out a second time after restart, with the
//! same Message-ID, so the reporter's client shows it once.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{Security, SmtpConfig};
use crate::store::{OutboxItem, Store};

/// One SMTP connection, opened on demand and kept for the next mail (lettre's
/// own transport cannot set `TCP_NODELAY`: with Nagle's algorithm on, the
/// final `.` of every message waited for the server's delayed ACK, ~40 ms
/// per mail, measured against Exim; with it off, ~6 ms).
pub struct Transport {
    cfg: SmtpConfig,
    tls: Arc<rustls::ClientConfig>,
    starttls: Option<TlsParameters>,
    conn: tokio::sync::Mutex<Option<(AsyncSmtpConnection, Instant)>>,
}

/// A connection unused for this long is closed rather than reused.
const IDLE_REUSE: Duration = Duration::from_secs(50);

/// Why a send did not go through.
#[derive(Debug)]
pub enum SendError {
    /// A 5xx reply: retrying will not help.
    Permanent(String),
    /// 4xx, connection, TLS or timeout: try again later.
    Temporary(String),
}

pub fn transport(cfg: &SmtpConfig) -> anyhow::Result<Transport> {
    let starttls = match cfg.security {
        Security::StartTls => {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                for cert in crate::tls::extra_certs(ca)? {
                    b = b.add_root_certificate(Certificate::from_der(cert.to_vec()).context("smtp.ca_file")?);
                }
            }
            Some(b.build_rustls()?)
        }
        _ => None,
    };
    Ok(Transport {
        cfg: cfg.clone(),
        tls: crate::tls::client_config(cfg.ca_file.as_deref()).context("smtp.ca_file")?,
        starttls,
        conn: tokio::sync::Mutex::new(None),
    })
}

impl Transport {
    /// Sends one message; a connection kept from an earlier send is reused
    /// when it still answers NOOP.
    pub async fn send_raw(&self, envelope: &Envelope, raw: &[u8]) -> Result<Response, SendError> {
        let timeout = Duration::from_secs(self.cfg.timeout_secs);
        let mut slot = self.conn.lock().await;
        let kept = match slot.take() {
            Some((mut c, used)) if used.elapsed() < IDLE_REUSE => {
                let alive = tokio::time::timeout(timeout, c.test_connected()).await.unwrap_or(false);
                alive.then_some(c)
            }
            Some((mut c, _)) => {
                let _ = tokio::time::timeout(timeout, c.quit()).await;
                None
            }
            None => None,
        };
        let mut conn = match kept {
            Some(c) => c,
            None => tokio::time::timeout(timeout, self.connect()).await.map_err(|_| {
                SendError::Temporary(format!("connecting to {}:{} timed out", self.cfg.host, self.cfg.port))
            })??,
        };
        match tokio::time::timeout(timeout, conn.send(envelope, raw)).await {
            Ok(Ok(resp)) => {
                *slot = Some((conn, Instant::now()));
                Ok(resp)
            }
            // lettre closes the connection on an error reply.
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Ok(Err(e)) => Err(SendError::Temporary(e.to_string())),
            Err(_) => Err(SendError::Temporary(format!(
                "no answer from {}:{} within {} s",
                self.cfg.host,
                self.cfg.port,
                timeout.as_secs()
            ))),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let temp = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Temporary(format!("{what} {}:{}: {e}", self.cfg.host, self.cfg.port))
        };
        let tcp = TcpStream::connect((self.cfg.host.as_str(), self.cfg.port))
            .await
            .map_err(|e| temp("cannot connect to", &e))?;
        tcp.set_nodelay(true).map_err(|e| temp("TCP_NODELAY on", &e))?;
        let hello = ClientId::default();
        let mut conn = match self.cfg.security {
            Security::Tls => {
                let name = rustls_pki_types::ServerName::try_from(self.cfg.host.clone())
                    .map_err(|e| temp("bad TLS name for", &e))?;
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| temp("TLS with", &e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsStream(tls)), &hello).await
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await,
        }
        .map_err(|e| temp("SMTP greeting from", &e))?;
        if let Some(params) = &self.starttls {
            conn.starttls(params.clone(), &hello)
                .await
                .map_err(|e| temp("STARTTLS with", &e))?;
        }
        if let (Some(user), Some(pass)) = (&self.cfg.user, &self.cfg.password) {
            let creds = Credentials::new(user.clone(), pass.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| match e.is_permanent() {
                    // Wrong credentials stay wrong until the operator acts,
                    // but the mail must not be lost meanwhile: retried.
                    true => SendError::Temporary(format!("SMTP authentication refused: {e}")),
                    false => temp("SMTP authentication with", &e),
                })?;
        }
        Ok(conn)
    }
}

/// rustls over TCP, as lettre's stream trait wants it.
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
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
        Err(SendError::Permanent(e)) => SendResult::Permanent(e),
        Err(SendError::Temporary(e)) => SendResult::Retry(e),
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
pub async fn drain(
    store: &Arc<Mutex<Store>>,
    transport: &Transport,
    cfg: &SmtpConfig,
    hourly_cap: u32,
) -> anyhow::Result<usize> {
    let cap = Duration::from_secs(cfg.retry_max_secs);
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    let copy_to: Option<Address> = cfg.copy_to_self.then(|| cfg.from.email.clone());
    let mut retrying = 0;
    loop {
        let due = lock(store)?.outbox_due_capped(Timestamp::now(), grace, 20, hourly_cap)?;
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
    hourly_cap: u32,
) -> anyhow::Result<()> {
    let transport = transport(&cfg)?;
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    loop {
        health.beat_outbox();
        if let Err(e) = drain(&store, &transport, &cfg, hourly_cap).await {
            tracing::error!(error = %format!("{e:#}"), "outbox");
        }
        health.beat_outbox();
        let next = {
            let store = lock(&store)?;
            let cap = store.hourly_cap(Timestamp::now(), hourly_cap)?;
            // Held automatic mail is due when the hour's window frees up.
            let held_until = cap.allowance.filter(|a| *a == 0).and(cap.frees_at);
            store.outbox_next_due(grace, held_until)?
        };
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
