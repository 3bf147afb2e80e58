//! The real mail stack (scripts/mailstack: Dovecot + Exim on loopback) as
//! the integration tests and the benchmarks drive it: start, stop, deliver
//! through Exim's SMTP port, read and fill mailboxes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mailstack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack")
}

/// A running mail stack; destroyed on drop (and by its watchdog if the test
/// process dies).
pub struct Stack {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
    /// Message-IDs sent through `deliver*` and not yet seen in their
    /// recipient's INBOX, by recipient: `wait_inbox` waits for them too.
    /// A count alone is not enough: Exim delivers in parallel, and a copy
    /// of embargo's own answer (`smtp.copy_to_self`) can make up the number
    /// before a test's last mail is in.
    pending: std::sync::Mutex<Vec<(String, String)>>,
}

impl Stack {
    pub fn start() -> Stack {
        Stack::start_with(&[])
    }

    /// With extra `MAILSTACK_*` settings (see scripts/mailstack).
    pub fn start_with(env: &[(&str, &str)]) -> Stack {
        Stack::start_args(&[], env)
    }

    /// A stack in `dir` (removed again when the stack is dropped).
    pub fn start_in(dir: PathBuf, env: &[(&str, &str)]) -> Stack {
        Stack::start_args(&[dir.as_os_str()], env)
    }

    fn start_args(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Stack {
        let out = Command::new(mailstack())
            .arg("start")
            .args(args)
            .envs(env.iter().copied())
            .env("MAILSTACK_WATCH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/mailstack");
        assert!(
            out.status.success(),
            "mailstack start failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        Stack {
            dir: PathBuf::from(&env["MAILSTACK_DIR"]),
            env,
            pending: Default::default(),
        }
    }

    pub fn port(&self, which: &str) -> u16 {
        self.env[&format!("MAILSTACK_{which}_PORT")].parse().unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(&self.env["MAILSTACK_CA"])
    }

    fn ctl(&self, verb: &str) {
        let out = Command::new(mailstack())
            .arg(verb)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mailstack {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop_imap(&self) {
        self.ctl("stop-imap")
    }
    pub fn start_imap(&self) {
        self.ctl("start-imap")
    }
    pub fn stop_smtp(&self) {
        self.ctl("stop-smtp")
    }
    pub fn start_smtp(&self) {
        self.ctl("start-smtp")
    }

    /// Sends a raw message through Exim's MX port, as a real MTA would.
    /// `mail_from` "" sends the null reverse path.
    pub fn deliver(&self, mail_from: &str, rcpt: &str, raw: &str) {
        self.deliver_as("test.example", mail_from, rcpt, raw);
    }

    /// The same from a client greeting with `helo`: the stack's Exim adds
    /// `dmarc=pass` for `EHLO dmarc-pass.example` (as an operator's MX
    /// would for a sender whose domain passes DMARC), `dmarc=none` else.
    pub fn deliver_as(&self, helo: &str, mail_from: &str, rcpt: &str, raw: &str) {
        smtp_send_as(self.port("SMTP"), helo, mail_from, rcpt, raw);
        if let Some(id) = message_id(raw) {
            self.pending.lock().unwrap().push((rcpt.to_ascii_lowercase(), id));
        }
    }

    /// Whether every mail `deliver*` sent to `user` has been seen in its
    /// INBOX (`msgs`); those seen are forgotten (embargo may move them on).
    fn delivered(&self, user: &str, msgs: &[String]) -> bool {
        let user = user.to_ascii_lowercase();
        let mut pending = self.pending.lock().unwrap();
        pending.retain(|(rcpt, id)| *rcpt != user || !msgs.iter().any(|m| m.contains(id.as_str())));
        !pending.iter().any(|(rcpt, _)| *rcpt == user)
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').unwrap();
        self.dir.join("mail").join(domain).join(local).join("Maildir")
    }

    /// Drops messages straight into security@'s INBOX (as LMTP would),
    /// for a backlog that was there before embargo started.
    pub fn backlog(&self, msgs: &[Vec<u8>]) {
        let new = self.maildir("security@example.test").join("new");
        std::fs::create_dir_all(&new).unwrap();
        for (i, m) in msgs.iter().enumerate() {
            // Maildir files hold LF line endings (Dovecot adds the CRs).
            let lf = String::from_utf8_lossy(m).replace("\r\n", "\n");
            std::fs::write(new.join(format!("{}.M{i}P1.bench", 1_700_000_000 + i)), lf).unwrap();
        }
        let _ = Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(self.dir.join("mail"))
            .status();
    }

    /// How many messages a user's INBOX holds (new and cur).
    pub fn count(&self, user: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|d| {
                std::fs::read_dir(self.maildir(user).join(d))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Every message in a user's INBOX (new and cur), as text.
    pub fn inbox(&self, user: &str) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir(user).join(sub)) {
                for e in entries.flatten() {
                    if let Ok(bytes) = std::fs::read(e.path()) {
                        out.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        }
        out
    }

    /// Waits until a user's INBOX holds at least `n` messages.
    pub fn wait_inbox(&self, user: &str, n: usize, timeout: Duration) -> Vec<String> {
        let mut msgs = Vec::new();
        wait_until(
            timeout,
            || {
                msgs = self.inbox(user);
                msgs.len() >= n && self.delivered(user, &msgs)
            },
            || {
                let log = std::fs::read_to_string(self.dir.join("log/exim.out")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let lower = user.to_ascii_lowercase();
                let missing: Vec<String> = (self.pending.lock().unwrap().iter())
                    .filter(|(rcpt, _)| *rcpt == lower)
                    .map(|(_, id)| id.clone())
                    .collect();
                format!(
                    "{user}: expected {n} messages, have {}, not yet in: {missing:?}; exim log, newest first:\n{}",
                    self.inbox(user).len(),
                    tail.join("\n")
                )
            },
        );
        msgs
    }

    /// Waits until a message containing `needle` is in a user's INBOX.
    pub fn wait_for(&self, user: &str, needle: &str, timeout: Duration) -> String {
        let mut found = None;
        wait_until(
            timeout,
            || {
                found = self.inbox(user).into_iter().find(|m| m.contains(needle));
                found.is_some()
            },
            || format!("{user}: no message with {needle:?}"),
        );
        found.unwrap()
    }

    /// Exim's queue is empty: everything accepted has been delivered.
    pub fn wait_delivered(&self, timeout: Duration) {
        let input = self.dir.join("exim/spool/input");
        wait_until(
            timeout,
            || std::fs::read_dir(&input).map(|d| d.flatten().count()).unwrap_or(0) == 0,
            || "the exim queue is not empty".to_owned(),
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new(mailstack())
            .arg("destroy")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// A minimal SMTP client: full control over the greeting, the envelope and
/// the bytes.
/// The Message-ID in a raw message's header block, if it has one.
fn message_id(raw: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next()?.split("\n\n").next()?;
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let value = value.trim();
        (name.eq_ignore_ascii_case("message-id") && value.len() > 2).then(|| value.to_owned())
    })
}

pub fn smtp_send_as(port: u16, helo: &str, mail_from: &str, rcpt: &str, raw: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to exim");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let expect = |code: &str, reader: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect("220", &mut reader);
    write!(w, "EHLO {helo}\r\n").unwrap();
    expect("250", &mut reader);
    write!(w, "MAIL FROM:<{mail_from}>\r\n").unwrap();
    expect("250", &mut reader);
    write!(w, "RCPT TO:<{rcpt}>\r\n").unwrap();
    expect("250", &mut reader);
    write!(w, "DATA\r\n").unwrap();
    expect("354", &mut reader);
    let mut data = String::new();
    for line in raw.replace("\r\n", "\n").split('\n') {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    w.write_all(data.as_bytes()).unwrap();
    expect("250", &mut reader);
    let _ = write!(w, "QUIT\r\n");
}

/// Polls `done` every 50 ms until it holds; past `timeout`, panics with
/// `why()` (which can read the daemon's log at that moment).
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool, why: impl FnOnce() -> String) {
    let start = Instant::now();
    loop {
        if done() {
            return;
        }
        assert!(start.elapsed() < timeout, "waited {timeout:?}: {}", why());
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Stack {
    /// Puts a message into `user`'s INBOX over IMAP (APPEND) with an arrival
    /// time `days_ago` days back, as mail that came in while nobody watched.
    pub fn append_old(&self, user: &str, password: &str, raw: &str, days_ago: u32) {
        let script = r#"
import imaplib, ssl, sys, time
port, ca, user, pw, days = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
m.login(user, pw)
when = imaplib.Time2Internaldate(time.time() - days * 86400)
typ, data = m.append("INBOX", None, when, sys.stdin.buffer.read())
assert typ == "OK", data
m.logout()
"#;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.port("IMAPS").to_string())
            .arg(self.ca())
            .arg(user)
            .arg(password)
            .arg(days_ago.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(raw.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "IMAP APPEND: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
