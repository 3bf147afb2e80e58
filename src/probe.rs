//! Why a connection to the mail servers failed, in plain words: the one
//! place that turns refused connections, DNS failures, TLS alerts, a
//! greeting in the wrong protocol and a refused login into a sentence that
//! names the config key to fix. `check-config --connect` probes with it;
//! the daemon explains its own connection failures with [`explain`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{AuthMethod, Security};

/// Where a connection goes, as the config says.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `imap`, `smtp` or `oauth2`: the config section to fix.
    pub section: &'static str,
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// What went wrong with a connection, by what the operator must change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Dns(String),
    Refused,
    Timeout,
    /// We spoke TLS and the server answered in clear text.
    NotTls,
    /// We waited for a clear-text greeting and the server waited for TLS.
    WantsTls,
    /// The greeting was another protocol's.
    WrongProtocol(&'static str),
    UnknownIssuer,
    NameMismatch,
    Expired,
    OtherTls(String),
    /// The server has no STARTTLS (security = "starttls").
    NoStartTls,
    AuthRefused(String),
    Other(String),
}

impl Failure {
    /// The explanation, naming `e`'s config keys and the fix.
    pub fn explain(&self, e: &Endpoint) -> String {
        let (s, at) = (e.section, format!("{}:{}", e.host, e.port));
        match self {
            Failure::Dns(why) => format!("cannot find the host {:?} ({why}): check {s}.host", e.host),
            Failure::Refused => format!(
                "{at} refused the connection: nothing listens there; check {s}.port and that the server is running"
            ),
            Failure::Timeout => {
                format!("{at} did not answer in time: a firewall drops the connection, or {s}.host is not the server")
            }
            Failure::NotTls => format!(
                "{at} answered in clear text, not TLS: that port wants STARTTLS (set {s}.security = \"starttls\") \
                 or is a plain port (the TLS port is usually {})",
                if s == "imap" { 993 } else { 465 }
            ),
            Failure::WantsTls => {
                format!("{at} sent no greeting: it expects TLS from the first byte; set {s}.security = \"tls\"")
            }
            Failure::WrongProtocol(proto) => format!(
                "{at} speaks {proto}, not {}: check {s}.port",
                if s == "imap" { "IMAP" } else { "SMTP" }
            ),
            Failure::UnknownIssuer => format!(
                "the certificate of {at} is signed by an issuer embargo does not trust: set {s}.ca_file to the PEM \
                 file of the CA that signed it (a private CA), or use the server's public name"
            ),
            Failure::NameMismatch => format!(
                "the certificate of {at} is not for {:?}: set {s}.host to a name the certificate carries",
                e.host
            ),
            Failure::Expired => format!("the certificate of {at} has expired (or is not valid yet): renew it"),
            Failure::OtherTls(why) => format!("TLS with {at} failed: {why}"),
            Failure::NoStartTls => {
                format!("{at} does not offer STARTTLS: set {s}.security = \"tls\" with the TLS port, or fix the server")
            }
            Failure::AuthRefused(said) => format!(
                "{at} refused the login{}: check {s}.user and {}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", crate::text::bounded(said))
                },
                if s == "oauth2" {
                    "run `embargo oauth login`".to_owned()
                } else {
                    format!("{s}.password_file (or the OAuth setup with {s}.auth)")
                }
            ),
            Failure::Other(why) => format!("{at}: {why}"),
        }
    }
}

/// Finds the cause of a failed connection in an error chain (io errors,
/// rustls errors inside io errors), when it is one of [`Failure`]'s.
pub fn classify(e: &anyhow::Error) -> Option<Failure> {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return Some(f.clone());
        }
        if let Some(t) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls(t));
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls(t));
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(Failure::Refused),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => return Some(Failure::Timeout),
                _ => {}
            }
        }
    }
    None
}

/// The daemon's explanation of a connection failure: plain words when the
/// cause is known, else the error's own text (never a Debug dump).
pub fn explain(e: &anyhow::Error, at: &Endpoint) -> String {
    match classify(e) {
        Some(f) => f.explain(at),
        None => format!("{e:#}"),
    }
}

fn tls(e: &rustls::Error) -> Failure {
    use rustls::{CertificateError, Error, InvalidMessage};
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => Failure::UnknownIssuer,
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => Failure::NameMismatch,
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        | Error::InvalidCertificate(CertificateError::NotValidYet)
        | Error::InvalidCertificate(CertificateError::NotValidYetContext { .. }) => Failure::Expired,
        Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | Error::InvalidMessage(InvalidMessage::InvalidEmptyPayload)
        | Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => Failure::NotTls,
        other => Failure::OtherTls(other.to_string()),
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Failure {}

/// What the first line of a server says about its protocol.
pub fn greeting_protocol(line: &str) -> Option<&'static str> {
    let l = line.trim_start();
    if l.starts_with("* OK") || l.starts_with("* PREAUTH") || l.starts_with("* BYE") {
        Some("IMAP")
    } else if l.starts_with("220") || l.starts_with("554") || l.starts_with("421") {
        Some("SMTP")
    } else if l.starts_with("+OK") {
        Some("POP3")
    } else if l.starts_with("HTTP/") || l.starts_with("SSH-") {
        Some(if l.starts_with("SSH-") { "SSH" } else { "HTTP" })
    } else {
        None
    }
}

/// A login to try, after the connection.
pub enum Login<'a> {
    Password {
        user: &'a str,
        password: &'a str,
    },
    OAuth {
        mechanism: AuthMethod,
        user: &'a str,
        token: &'a crate::oauth::Secret,
    },
    /// Connect and greet only (SMTP without AUTH).
    None,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Connects, secures and logs in as embargo would, blocking, within
/// `timeout` per step. `Ok` when the server took the login.
pub fn probe(
    at: &Endpoint,
    tls: Arc<rustls::ClientConfig>,
    login: Login<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let addrs: Vec<_> = (at.host.as_str(), at.port)
        .to_socket_addrs()
        .map_err(|e| Failure::Dns(e.to_string()))?
        .collect();
    let first = addrs.first().ok_or_else(|| Failure::Dns("no address".into()))?;
    let tcp = TcpStream::connect_timeout(first, timeout).map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::Refused,
        std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Other(e.to_string()),
    })?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let imap = at.section == "imap";
    let mut tcp = tcp;
    match at.security {
        Security::Tls => {
            let mut s = match wrap(tcp, &at.host, tls) {
                // Clear text where TLS was expected: which protocol is it?
                Err(Failure::NotTls) => return Err(plain_protocol(first, timeout, imap)),
                other => other?,
            };
            check_greeting(&read_line(&mut s)?, imap)?;
            log_in(&mut s, imap, login, at.security)
        }
        Security::None => {
            check_greeting(&greeting(&mut tcp, timeout)?, imap)?;
            log_in(&mut tcp, imap, login, at.security)
        }
        Security::StartTls => {
            check_greeting(&greeting(&mut tcp, timeout)?, imap)?;
            starttls(&mut tcp, imap)?;
            let mut s = wrap(tcp, &at.host, tls)?;
            if !imap {
                ehlo(&mut s)?;
            }
            log_in(&mut s, imap, login, at.security)
        }
    }
}

/// What a port that answered TLS with clear text speaks: another protocol,
/// or ours without TLS (it wants STARTTLS).
fn plain_protocol(addr: &std::net::SocketAddr, timeout: Duration, imap: bool) -> Failure {
    let Ok(mut tcp) = TcpStream::connect_timeout(addr, timeout) else {
        return Failure::NotTls;
    };
    let _ = tcp.set_read_timeout(Some(timeout));
    match read_line(&mut tcp).ok().as_deref().and_then(greeting_protocol) {
        Some("IMAP") if imap => Failure::NotTls,
        Some("SMTP") if !imap => Failure::NotTls,
        Some(other) => Failure::WrongProtocol(other),
        None => Failure::NotTls,
    }
}

/// A clear-text greeting: servers send one at once, so a few seconds of
/// silence means the port waits for TLS.
fn greeting(tcp: &mut TcpStream, timeout: Duration) -> Result<String, Failure> {
    let _ = tcp.set_read_timeout(Some(timeout.min(Duration::from_secs(5))));
    let line = read_line(tcp);
    let _ = tcp.set_read_timeout(Some(timeout));
    line
}

fn log_in(conn: &mut dyn Stream, imap: bool, login: Login<'_>, security: Security) -> Result<(), Failure> {
    if imap {
        imap_login(conn, login)
    } else {
        smtp_login(conn, login, security)
    }
}

/// STARTTLS on the plain connection, after the greeting.
fn starttls(conn: &mut dyn Stream, imap: bool) -> Result<(), Failure> {
    if imap {
        send(conn, "a0 STARTTLS\r\n")?;
        if !read_tagged(conn, "a0")?.starts_with("a0 OK") {
            return Err(Failure::NoStartTls);
        }
    } else {
        ehlo(conn)?;
        send(conn, "STARTTLS\r\n")?;
        if !read_smtp(conn)?.starts_with("220") {
            return Err(Failure::NoStartTls);
        }
    }
    Ok(())
}

fn check_greeting(line: &str, imap: bool) -> Result<(), Failure> {
    match greeting_protocol(line) {
        Some("IMAP") if imap => Ok(()),
        Some("SMTP") if !imap => Ok(()),
        Some(other) => Err(Failure::WrongProtocol(other)),
        None if line.is_empty() => Err(Failure::WantsTls),
        None => Err(Failure::Other(format!(
            "an unexpected greeting: {}",
            crate::text::bounded(&crate::text::printable(line))
        ))),
    }
}

fn imap_login(conn: &mut dyn Stream, login: Login<'_>) -> Result<(), Failure> {
    let command = match login {
        Login::Password { user, password } => format!("a1 LOGIN {} {}\r\n", quote(user), quote(password)),
        Login::OAuth { mechanism, user, token } => {
            let name = if mechanism == AuthMethod::OAuthBearer {
                "OAUTHBEARER"
            } else {
                "XOAUTH2"
            };
            let sasl = crate::oauth::sasl_response(mechanism, user, "", 0, token);
            format!(
                "a1 AUTHENTICATE {name} {}\r\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sasl)
            )
        }
        Login::None => return Ok(()),
    };
    send(conn, &command)?;
    let mut answer = read_line(conn)?;
    while answer.starts_with('+') {
        // An error challenge (RFC 7628 §3.2.2): answer it, then the NO.
        send(conn, "\x01\r\n")?;
        answer = read_line(conn)?;
    }
    while answer.starts_with('*') {
        answer = read_line(conn)?;
    }
    let _ = send(conn, "a2 LOGOUT\r\n");
    if answer.starts_with("a1 OK") {
        Ok(())
    } else {
        Err(Failure::AuthRefused(answer.trim_start_matches("a1 ").trim().to_owned()))
    }
}

fn smtp_login(conn: &mut dyn Stream, login: Login<'_>, security: Security) -> Result<(), Failure> {
    if security != Security::StartTls {
        ehlo(conn)?;
    }
    let command = match login {
        Login::Password { user, password } => format!(
            "AUTH PLAIN {}\r\n",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("\0{user}\0{password}")
            )
        ),
        Login::OAuth { mechanism, user, token } => {
            let name = if mechanism == AuthMethod::OAuthBearer {
                "OAUTHBEARER"
            } else {
                "XOAUTH2"
            };
            let sasl = crate::oauth::sasl_response(mechanism, user, "", 0, token);
            format!(
                "AUTH {name} {}\r\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sasl)
            )
        }
        Login::None => {
            let _ = send(conn, "QUIT\r\n");
            return Ok(());
        }
    };
    send(conn, &command)?;
    let mut answer = read_smtp(conn)?;
    if answer.starts_with("334") {
        send(conn, "\r\n")?;
        answer = read_smtp(conn)?;
    }
    let _ = send(conn, "QUIT\r\n");
    if answer.starts_with("235") {
        Ok(())
    } else if answer.starts_with("503") || answer.starts_with("502") || answer.starts_with("504") {
        Err(Failure::Other(format!(
            "the server does not take a login here ({}){}",
            answer.trim(),
            if security == Security::None {
                ": it may want STARTTLS first"
            } else {
                ""
            }
        )))
    } else {
        Err(Failure::AuthRefused(answer.trim().to_owned()))
    }
}

fn ehlo(conn: &mut dyn Stream) -> Result<(), Failure> {
    send(conn, "EHLO embargo.invalid\r\n")?;
    let line = read_smtp(conn)?;
    if line.starts_with("250") {
        Ok(())
    } else {
        Err(Failure::Other(format!("EHLO refused: {}", line.trim())))
    }
}

fn wrap(
    tcp: TcpStream,
    host: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, Failure> {
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| Failure::Other(format!("{host:?} is not a name TLS can check")))?;
    let conn = rustls::ClientConnection::new(tls, name).map_err(|e| tls_failure(&e))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // Finish the handshake now, so its failure is the TLS failure.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| io_failure(&e))?;
    }
    Ok(s)
}

fn tls_failure(e: &rustls::Error) -> Failure {
    tls(e)
}

fn io_failure(e: &std::io::Error) -> Failure {
    if let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls(t);
    }
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::Timeout,
        std::io::ErrorKind::ConnectionRefused => Failure::Refused,
        std::io::ErrorKind::InvalidData => Failure::NotTls,
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            Failure::Other("the server closed the connection".into())
        }
        _ => Failure::Other(e.to_string()),
    }
}

fn send(conn: &mut dyn Stream, s: &str) -> Result<(), Failure> {
    conn.write_all(s.as_bytes())
        .and_then(|_| conn.flush())
        .map_err(|e| io_failure(&e))
}

/// One line, byte by byte (no buffer to lose before STARTTLS); "" when the
/// server sent nothing before the timeout.
fn read_line(conn: &mut dyn Stream) -> Result<String, Failure> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match conn.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                out.push(byte[0]);
                if byte[0] == b'\n' || out.len() > 4096 {
                    break;
                }
            }
            Err(e)
                if out.is_empty()
                    && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                return Ok(String::new());
            }
            Err(e) => return Err(io_failure(&e)),
        }
    }
    Ok(String::from_utf8_lossy(&out).trim_end().to_owned())
}

fn read_tagged(conn: &mut dyn Stream, tag: &str) -> Result<String, Failure> {
    for _ in 0..100 {
        let l = read_line(conn)?;
        if l.starts_with(tag) || l.is_empty() {
            return Ok(l);
        }
    }
    Err(Failure::Other("no answer to the command".into()))
}

/// The last line of an SMTP reply (`250-...` lines continue it).
fn read_smtp(conn: &mut dyn Stream) -> Result<String, Failure> {
    for _ in 0..100 {
        let l = read_line(conn)?;
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return Ok(l);
        }
    }
    Err(Failure::Other("an endless SMTP reply".into()))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_name_their_protocol() {
        assert_eq!(
            greeting_protocol("* OK [CAPABILITY IMAP4rev1] Dovecot ready."),
            Some("IMAP")
        );
        assert_eq!(greeting_protocol("220 mail.example.org ESMTP Exim"), Some("SMTP"));
        assert_eq!(greeting_protocol("HTTP/1.1 400 Bad Request"), Some("HTTP"));
        assert_eq!(greeting_protocol("\u{16}\u{3}"), None);
        let at = Endpoint {
            section: "imap",
            host: "mail.example.org".into(),
            port: 25,
            security: Security::Tls,
        };
        let text = Failure::WrongProtocol("SMTP").explain(&at);
        assert!(
            text.contains("speaks SMTP, not IMAP") && text.contains("imap.port"),
            "{text}"
        );
        assert!(Failure::UnknownIssuer.explain(&at).contains("imap.ca_file"));
    }
}
