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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{Security, SmtpConfig};
use crate::store::{OutboxItem, Store, lock};

/// SMTP connections, opened on demand and kept for the next mails: up to
/// `smtp.connections` of them send at once (lettre's own transport cannot
/// set `TCP_NODELAY`: with Nagle's algorithm on, the final `.` of every
/// message waited for the server's delayed ACK, ~40 ms per mail, measured
/// against Exim; with it off, ~6 ms).
pub struct Transport {
    cfg: SmtpConfig,
    tls: Arc<rustls::ClientConfig>,
    starttls: Option<TlsParameters>,
    /// Connections not in use, the most recently used last.
    idle: Mutex<Vec<Kept>>,
    /// Connections open now (in use or idle).
    open: Arc<AtomicUsize>,
    /// How many mails may be on their way at once: `smtp.connections`, or
    /// fewer for a while once the server refused a connection while others
    /// were open (`LOWERED_FOR`).
    limit: AtomicUsize,
    lowered_at: Mutex<Option<Instant>>,
}

/// How long a lowered connection limit holds before the configured one is
/// tried again (a refusal may have been a passing overload or an outage).
const LOWERED_FOR: Duration = Duration::from_secs(600);

struct Kept {
    conn: Conn,
    used: Instant,
}

/// An open connection, counted in `Transport::open` while it lives.
struct Conn {
    smtp: AsyncSmtpConnection,
    open: Arc<AtomicUsize>,
}

impl Conn {
    fn new(smtp: AsyncSmtpConnection, open: &Arc<AtomicUsize>) -> Conn {
        open.fetch_add(1, Ordering::SeqCst);
        Conn {
            smtp,
            open: open.clone(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection unused for this long is closed rather than reused.
const IDLE_REUSE: Duration = Duration::from_secs(50);

/// A connection used more recently than this is reused without a NOOP
/// first: a server that closed it meanwhile (its timeout, its limit of mails
/// per connection, a restart) fails the next MAIL FROM, before anything of
/// the mail was sent, and the mail then goes out on a new connection at once.
const NOOP_AFTER: Duration = Duration::from_secs(5);

/// Why a send did not go through.
#[derive(Debug)]
pub enum SendError {
    /// A 5xx reply: retrying will not help.
    Permanent(String),
    /// 4xx, connection, TLS or timeout: try again later.
    Temporary(String),
    /// 421: the server is closing this connection (too many connections,
    /// too many mails on this one, shutting down): try again later.
    Closing(String),
}

/// How far one mail got on one connection when it failed.
enum Failed {
    /// Before the content was sent (MAIL, RCPT, DATA): the server cannot
    /// have accepted the mail, so it may be sent again at once.
    Before(SendError),
    /// While or after the content was sent: the outcome is the server's.
    After(SendError),
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
        idle: Mutex::new(Vec::new()),
        open: Arc::new(AtomicUsize::new(0)),
        limit: AtomicUsize::new(cfg.connections.max(1)),
        lowered_at: Mutex::new(None),
    })
}

impl Transport {
    /// Sends one message on a kept connection (checked with NOOP first only
    /// when it idled for `NOOP_AFTER`) or a new one. Several sends may run
    /// at once, each on its own connection.
    pub async fn send_raw(&self, envelope: &Envelope, raw: &[u8]) -> Result<Response, SendError> {
        let timeout = Duration::from_secs(self.cfg.timeout_secs);
        let kept = match self.take_idle() {
            Some(k) if k.used.elapsed() < NOOP_AFTER => Some(k.conn),
            Some(mut k) => {
                let alive = tokio::time::timeout(timeout, k.conn.smtp.test_connected())
                    .await
                    .unwrap_or(false);
                alive.then_some(k.conn)
            }
            None => None,
        };
        if let Some(mut conn) = kept {
            match self.transact(&mut conn.smtp, envelope, raw).await {
                Ok(resp) => return Ok(self.keep(conn, resp)),
                // The kept connection was gone, or the server's per-connection
                // limit was reached: nothing of this mail went out.
                Err(Failed::Before(SendError::Temporary(e) | SendError::Closing(e))) => {
                    tracing::debug!(error = %e, "kept SMTP connection refused the mail; sending on a new one");
                }
                // A connection that failed a mail is not kept: its state is unknown.
                Err(Failed::Before(e) | Failed::After(e)) => return Err(e),
            }
        }
        let others = self.open.load(Ordering::SeqCst);
        let connected = match tokio::time::timeout(timeout, self.connect()).await {
            Ok(Ok(smtp)) => Ok(Conn::new(smtp, &self.open)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SendError::Temporary(format!(
                "connecting to {}:{} timed out",
                self.cfg.host, self.cfg.port
            ))),
        };
        let failed = match connected {
            Ok(mut conn) => match self.transact(&mut conn.smtp, envelope, raw).await {
                Ok(resp) => return Ok(self.keep(conn, resp)),
                Err(Failed::Before(e) | Failed::After(e)) => e,
            },
            Err(e) => e,
        };
        // A new connection refused while others are open: the server takes
        // no more than those at once (hosted services cap connections per
        // account). Send over as many from now on.
        if others > 0 && matches!(failed, SendError::Closing(_) | SendError::Temporary(_)) {
            let before = self.limit.fetch_min(others, Ordering::SeqCst);
            if before > others {
                *self.lowered_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                tracing::warn!(
                    error = %match &failed { SendError::Closing(e) | SendError::Temporary(e) | SendError::Permanent(e) => e },
                    connections = others,
                    "the SMTP server refused another connection; sending over {others} at once from now on"
                );
            }
        }
        Err(failed)
    }

    /// How many mails may be on their way at once.
    pub fn concurrency(&self) -> usize {
        let mut lowered = self.lowered_at.lock().unwrap_or_else(|p| p.into_inner());
        if lowered.is_some_and(|t| t.elapsed() >= LOWERED_FOR) {
            *lowered = None;
            self.limit.store(self.cfg.connections.max(1), Ordering::SeqCst);
        }
        self.limit.load(Ordering::SeqCst)
    }

    /// The most recently used idle connection; older ones past
    /// `IDLE_REUSE` are dropped (the server has likely closed them).
    fn take_idle(&self) -> Option<Kept> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|k| k.used.elapsed() < IDLE_REUSE);
        idle.pop()
    }

    fn keep(&self, conn: Conn, resp: Response) -> Response {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(Kept {
            conn,
            used: Instant::now(),
        });
        resp
    }

    /// MAIL, RCPT, DATA and the content on `conn`, within `smtp.timeout_secs`.
    async fn transact(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<Response, Failed> {
        let timeout = Duration::from_secs(self.cfg.timeout_secs);
        let mut content_sent = false;
        let result = tokio::time::timeout(timeout, transact(conn, envelope, raw, &mut content_sent)).await;
        let (e, content_sent) = match result {
            Ok(Ok(resp)) => return Ok(resp),
            Ok(Err(e)) => (e, content_sent),
            Err(_) => (
                SendError::Temporary(format!(
                    "no answer from {}:{} within {} s",
                    self.cfg.host,
                    self.cfg.port,
                    timeout.as_secs()
                )),
                // The content may have been on its way when time ran out.
                content_sent,
            ),
        };
        Err(if content_sent {
            Failed::After(e)
        } else {
            Failed::Before(e)
        })
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

/// One mail on `conn`: MAIL FROM (with SMTPUTF8 / BODY=8BITMIME where the
/// envelope or content needs them), RCPT TO for each recipient, DATA, the
/// content. `content_sent` turns true just before the content goes out.
async fn transact(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    raw: &[u8],
    content_sent: &mut bool,
) -> Result<Response, SendError> {
    let smtp_err = |e: lettre::transport::smtp::Error| {
        if e.is_permanent() {
            SendError::Permanent(e.to_string())
        } else if e.status().is_some_and(|c| c.to_string() == "421") {
            SendError::Closing(e.to_string())
        } else {
            SendError::Temporary(e.to_string())
        }
    };
    let mut params = Vec::new();
    let ascii = |a: &Address| AsRef::<str>::as_ref(a).is_ascii();
    let non_ascii = envelope.from().is_some_and(|a| !ascii(a)) || !envelope.to().iter().all(ascii);
    if non_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Permanent(
                "the envelope has non-ASCII addresses and the server does not offer SMTPUTF8".into(),
            ));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(SendError::Permanent(
                "the message is not ASCII and the server does not offer 8BITMIME".into(),
            ));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(envelope.from().cloned(), params))
        .await
        .map_err(smtp_err)?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![])).await.map_err(smtp_err)?;
    }
    conn.command(Data).await.map_err(smtp_err)?;
    *content_sent = true;
    conn.message(raw).await.map_err(smtp_err)
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
pub async fn drain(
    store: &Arc<Mutex<Store>>,
    transport: &Transport,
    cfg: &SmtpConfig,
    hourly_cap: u32,
) -> anyhow::Result<usize> {
    use futures::StreamExt as _;
    let cap = Duration::from_secs(cfg.retry_max_secs);
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    let copy_to: Option<Address> = cfg.copy_to_self.then(|| cfg.from.email.clone());
    let batch = 32 * cfg.connections.max(1) as u32;
    // (The batch stays sized for the configured connections; the
    // concurrency is read per batch and may have been lowered.)
    let mut retrying = 0;
    loop {
        let due = lock(store)?.outbox_due_capped(Timestamp::now(), grace, batch, hourly_cap)?;
        if due.is_empty() {
            return Ok(retrying);
        }
        let outcomes: Vec<anyhow::Result<(usize, usize)>> = futures::stream::iter(by_recipient(due))
            .map(|queue| {
                let copy_to = copy_to.as_ref();
                async move {
                    let (mut done, mut retry) = (0, 0);
                    for item in &queue {
                        let span =
                            tracing::info_span!("send", outbox = item.id, kind = %item.kind, to = %item.recipient);
                        match attempt(store, transport, item, copy_to, grace, cap)
                            .instrument(span)
                            .await?
                        {
                            Attempt::Done => done += 1,
                            Attempt::Retrying => retry += 1,
                        }
                    }
                    Ok((done, retry))
                }
            })
            .buffer_unordered(transport.concurrency())
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
    health: Arc<crate::heartbeat::Heartbeat>,
    hourly_cap: impl Fn() -> u32,
) -> anyhow::Result<()> {
    let transport = transport(&cfg)?;
    let grace = SignedDuration::from_secs(cfg.in_doubt_grace_secs as i64);
    loop {
        health.beat_outbox();
        let hourly_cap = hourly_cap();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpListener;

    use super::*;
    use crate::config::Security;

    /// What the scripted server does with the n-th mail of a connection.
    #[derive(Clone, Copy)]
    enum Script {
        /// Accept `per_connection` mails, then answer the next MAIL with 421
        /// and close (Exim's smtp_accept_max_per_connection).
        Limit { per_connection: usize },
        /// Read the content of the first mail, then close without an answer.
        DropAfterContent,
        /// At most this many connections at once (another gets a 421
        /// greeting); each mail takes 100 ms to accept.
        MaxConnections(usize),
    }

    /// A scripted SMTP server on loopback: counts connections and accepted mails.
    async fn server(script: Script) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (conns, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, a) = (conns.clone(), accepted.clone());
        let live = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                if let Script::MaxConnections(max) = script
                    && live.load(Ordering::SeqCst) >= max
                {
                    let _ = sock.write_all(b"421 too many connections\r\n").await;
                    continue;
                }
                let a = a.clone();
                let live = live.clone();
                live.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
                    let _live = scopeguard(live);
                    let mut mails = 0;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let cmd = line.to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-scripted\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("MAIL") {
                            if let Script::Limit { per_connection } = script
                                && mails == per_connection
                            {
                                let _ = w.write_all(b"421 too many messages in one connection\r\n").await;
                                return;
                            }
                            b"250 OK\r\n"
                        } else if cmd.starts_with("RCPT") || cmd.starts_with("NOOP") || cmd.starts_with("RSET") {
                            b"250 OK\r\n"
                        } else if cmd == "DATA" {
                            w.write_all(b"354 go ahead\r\n").await.unwrap();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                            }
                            match script {
                                Script::DropAfterContent => return,
                                Script::MaxConnections(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                                Script::Limit { .. } => {}
                            }
                            mails += 1;
                            a.fetch_add(1, Ordering::SeqCst);
                            b"250 OK queued\r\n"
                        } else if cmd == "QUIT" {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"500 what\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, conns, accepted)
    }

    /// Counts a connection down when its task ends.
    struct Live(Arc<AtomicUsize>);
    impl Drop for Live {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    fn scopeguard(live: Arc<AtomicUsize>) -> Live {
        Live(live)
    }

    fn cfg(port: u16) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: Security::None,
            ca_file: None,
            user: None,
            password: None,
            from: "Team <security@example.test>".parse().unwrap(),
            timeout_secs: 5,
            retry_max_secs: 2,
            copy_to_self: false,
            in_doubt_grace_secs: 600,
            connections: 2,
        }
    }

    fn envelope() -> Envelope {
        Envelope::new(None, vec!["r@example.test".parse().unwrap()]).unwrap()
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_costs_no_retry() {
        let (port, conns, accepted) = server(Script::Limit { per_connection: 2 }).await;
        let t = transport(&cfg(port)).unwrap();
        for i in 0..5 {
            let r = t
                .send_raw(&envelope(), format!("Subject: {i}\r\n\r\nack\r\n").as_bytes())
                .await;
            assert!(r.is_ok(), "mail {i}: {r:?}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
        assert_eq!(
            conns.load(Ordering::SeqCst),
            3,
            "a new connection after every two mails"
        );
    }

    #[tokio::test]
    async fn a_failure_after_the_content_is_not_sent_again_at_once() {
        let (port, conns, _) = server(Script::DropAfterContent).await;
        let t = transport(&cfg(port)).unwrap();
        for raw in [&b"Subject: x\r\n\r\nack\r\n"[..], b"Subject: y\r\n\r\nack\r\n"] {
            let r = t.send_raw(&envelope(), raw).await;
            assert!(matches!(r, Err(SendError::Temporary(_))), "{r:?}");
        }
        // Two sends, two connections: neither was repeated on a new one (the
        // server may have taken it; the outbox leaves it in doubt).
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_server_that_takes_fewer_connections_lowers_the_concurrency() {
        let (port, _, accepted) = server(Script::MaxConnections(2)).await;
        let mut c = cfg(port);
        c.connections = 4;
        let t = transport(&c).unwrap();
        assert_eq!(t.concurrency(), 4);
        let env = envelope();
        let send = |delay: u64, raw: &'static [u8]| {
            let (t, env) = (&t, &env);
            async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                t.send_raw(env, raw).await
            }
        };
        let (a, b, d) = tokio::join!(
            send(0, b"Subject: a\r\n\r\nack\r\n"),
            send(20, b"Subject: b\r\n\r\nack\r\n"),
            send(40, b"Subject: c\r\n\r\nack\r\n"),
        );
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        assert!(matches!(d, Err(SendError::Temporary(_))), "{d:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(
            t.concurrency(),
            2,
            "two connections were open when the third was refused"
        );
    }

    #[test]
    fn mails_to_one_address_stay_in_order_in_one_queue() {
        let item = |id: i64, to: &str| OutboxItem {
            id,
            report_id: None,
            kind: "ack".into(),
            recipient: to.into(),
            envelope_from: String::new(),
            message_id: format!("<{id}@x>"),
            raw: vec![],
            attempts: 0,
            in_doubt: false,
        };
        let groups = by_recipient(vec![
            item(1, "a@x.test"),
            item(2, "b@x.test"),
            item(3, "A+tag@x.test"),
            item(4, "c@x.test"),
            item(5, "b@x.test"),
        ]);
        let ids: Vec<Vec<i64>> = groups.iter().map(|g| g.iter().map(|i| i.id).collect()).collect();
        assert_eq!(ids, vec![vec![1, 3], vec![2, 5], vec![4]]);
    }
}
