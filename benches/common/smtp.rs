//! A minimal SMTP client: the limit the outbox is measured against. Plain
//! TCP with `TCP_NODELAY`, AUTH PLAIN, then MAIL/RCPT/DATA per message,
//! either one command at a time or pipelined (RFC 2920: the envelope and
//! DATA in one write, the content after the 354), on one or several
//! connections. Nothing else: no retries, no bookkeeping.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One message: envelope sender, recipients, content (CRLF line ends).
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(port: u16, auth: Option<(&str, &str)>) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut c = Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        c.expect("220");
        c.send(b"EHLO bench.example\r\n");
        c.expect("250");
        if let Some((user, pass)) = auth {
            let token = super::base64(format!("\0{user}\0{pass}").as_bytes());
            c.send(format!("AUTH PLAIN {token}\r\n").as_bytes());
            c.expect("235");
        }
        c
    }
    fn send(&mut self, b: &[u8]) {
        self.w.write_all(b).unwrap();
    }
    /// Reads one (possibly multi-line) reply and checks its code.
    fn expect(&mut self, code: &str) {
        loop {
            let mut l = String::new();
            self.r.read_line(&mut l).unwrap();
            assert!(l.starts_with(code), "expected {code}, got {l:?}");
            if l.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    fn mail(&mut self, m: &Mail, pipelined: bool) {
        let mut envelope = vec![format!("MAIL FROM:<{}>\r\n", m.from)];
        envelope.extend(m.to.iter().map(|t| format!("RCPT TO:<{t}>\r\n")));
        envelope.push("DATA\r\n".into());
        if pipelined {
            self.send(envelope.concat().as_bytes());
            for _ in 0..envelope.len() - 1 {
                self.expect("250");
            }
            self.expect("354");
        } else {
            for (i, cmd) in envelope.iter().enumerate() {
                self.send(cmd.as_bytes());
                self.expect(if i + 1 == envelope.len() { "354" } else { "250" });
            }
        }
        let mut body = stuffed(&m.raw);
        body.extend_from_slice(b".\r\n");
        self.send(&body);
        self.expect("250");
    }
}

/// Dot-stuffing, and a CRLF at the end.
fn stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends every mail over `conns` connections (mail i on connection
/// i % conns), opening a new connection after `per_connection` mails (the
/// server's limit; Exim's default is 1000). Returns the wall time.
pub fn send_all(
    port: u16,
    auth: Option<(&str, &str)>,
    mails: &[Mail],
    conns: usize,
    pipelined: bool,
    per_connection: usize,
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for k in 0..conns {
            s.spawn(move || {
                let mut c = Conn::open(port, auth);
                for (n, m) in mails.iter().skip(k).step_by(conns).enumerate() {
                    if n > 0 && n % per_connection == 0 {
                        c.send(b"QUIT\r\n");
                        c = Conn::open(port, auth);
                    }
                    c.mail(m, pipelined);
                }
                c.send(b"QUIT\r\n");
            });
        }
    });
    start.elapsed()
}
