//! The SMTP connections of the outbox: lettre's protocol client on our own
//! sockets (`TCP_NODELAY`, TLS by rustls), kept between mails, several at
//! once, and what a failure means for the mail (before or after its content
//! went out).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{AuthMethod, Security, SmtpConfig};

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
    /// Access tokens, when `smtp.auth` is OAuth.
    tokens: Option<Arc<crate::oauth::TokenSource>>,
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

pub fn transport(cfg: &SmtpConfig, tokens: Option<Arc<crate::oauth::TokenSource>>) -> super::Result<Transport> {
    let tls_err = |e: &dyn std::fmt::Display| super::Error::Tls(e.to_string());
    let starttls = match cfg.security {
        Security::StartTls => {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                for cert in crate::tls::extra_certs(ca).map_err(|e| tls_err(&format!("{e:#}")))? {
                    b = b.add_root_certificate(Certificate::from_der(cert.to_vec()).map_err(|e| tls_err(&e))?);
                }
            }
            Some(b.build_rustls().map_err(|e| tls_err(&e))?)
        }
        _ => None,
    };
    Ok(Transport {
        cfg: cfg.clone(),
        tls: crate::tls::client_config(cfg.ca_file.as_deref()).map_err(|e| tls_err(&format!("{e:#}")))?,
        starttls,
        idle: Mutex::new(Vec::new()),
        open: Arc::new(AtomicUsize::new(0)),
        limit: AtomicUsize::new(cfg.connections.max(1)),
        lowered_at: Mutex::new(None),
        tokens,
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
        // Refused as a connection: not let in (connect, greeting, TLS, AUTH)
        // or told 421 "closing"; a 4xx for one recipient is not that.
        let (failed, refused) = match connected {
            Ok(mut conn) => match self.transact(&mut conn.smtp, envelope, raw).await {
                Ok(resp) => return Ok(self.keep(conn, resp)),
                Err(Failed::Before(e) | Failed::After(e)) => {
                    let closing = matches!(e, SendError::Closing(_));
                    (e, closing)
                }
            },
            Err(e) => {
                let temporary = !matches!(e, SendError::Permanent(_));
                (e, temporary)
            }
        };
        // A new connection refused while others are open: the server takes
        // no more than those at once (hosted services cap connections per
        // account). Send over as many from now on.
        if others > 0 && refused {
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
        if self.cfg.auth.is_oauth() {
            self.oauth(&mut conn).await?;
        } else if let (Some(user), Some(pass)) = (&self.cfg.user, &self.cfg.password) {
            let creds = Credentials::new(user.clone(), pass.to_string());
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

impl Transport {
    /// SASL XOAUTH2 (lettre's) or OAUTHBEARER (RFC 7628; also when the
    /// server offers only that) with the current access token; refused, once
    /// more with a fresh one. A token the server still refuses is a
    /// temporary failure: the mail waits, nothing is lost.
    async fn oauth(&self, conn: &mut AsyncSmtpConnection) -> Result<(), SendError> {
        let tokens = self
            .tokens
            .as_deref()
            .ok_or_else(|| SendError::Temporary("smtp.auth is OAuth but there is no [oauth2] token source".into()))?;
        let user = self.cfg.user.clone().unwrap_or_default();
        let method = match self.cfg.auth {
            AuthMethod::XOAuth2 if conn.server_info().supports_auth_mechanism(Mechanism::Xoauth2) => {
                AuthMethod::XOAuth2
            }
            _ => AuthMethod::OAuthBearer,
        };
        let mut last = String::new();
        for _ in 0..2 {
            let token = tokens.token().await.map_err(|e| SendError::Temporary(e.to_string()))?;
            let result = if method == AuthMethod::XOAuth2 {
                let creds = Credentials::new(user.clone(), token.expose().to_owned());
                conn.auth(&[Mechanism::Xoauth2], &creds).await.map(|_| ())
            } else {
                let response = crate::oauth::sasl_response(method, &user, &self.cfg.host, self.cfg.port, &token);
                oauthbearer(conn, &response).await
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tokens.invalidate().await;
                    last = e.to_string();
                }
            }
        }
        Err(SendError::Temporary(format!(
            "SMTP AUTH {} refused the access token: {last}",
            method.mechanism()
        )))
    }
}

/// `AUTH OAUTHBEARER` with the initial response; a refusal comes as a 334
/// error challenge, answered with %x01 to end the exchange.
async fn oauthbearer(conn: &mut AsyncSmtpConnection, response: &str) -> Result<(), lettre::transport::smtp::Error> {
    use base64::Engine as _;
    struct Line(String);
    impl std::fmt::Display for Line {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}\r\n", self.0)
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let r = conn
        .command(Line(format!("AUTH OAUTHBEARER {}", b64.encode(response))))
        .await?;
    if r.code().to_string() == "235" {
        return Ok(());
    }
    // 334 with the server's JSON error: end the exchange; the answer is
    // the refusal (an error).
    conn.command(Line(b64.encode("\x01"))).await.map(|_| ())
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
