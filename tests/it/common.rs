//! Test harness: a real mail stack (scripts/mailstack: Dovecot + Exim on
//! loopback), an embargo config pointing at it, and helpers to send mail
//! through Exim's SMTP port and read mailboxes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::mail::{header, report};

/// The binary under test. `EMBARGO_TEST_BIN` points the suite at another
/// build (to watch an attack test succeed against the code before its fix).
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("EMBARGO_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_embargo").to_owned())
});

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running mail stack; destroyed on drop (and by its watchdog if the test
/// process dies).
pub struct Stack {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
}

impl Stack {
    pub fn start() -> Stack {
        Stack::start_with(&[])
    }

    /// With extra `MAILSTACK_*` settings (see scripts/mailstack).
    pub fn start_with(env: &[(&str, &str)]) -> Stack {
        let out = Command::new(repo().join("scripts/mailstack"))
            .arg("start")
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
        }
    }

    pub fn port(&self, which: &str) -> u16 {
        self.env[&format!("MAILSTACK_{which}_PORT")].parse().unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(&self.env["MAILSTACK_CA"])
    }

    fn ctl(&self, verb: &str) {
        let out = Command::new(repo().join("scripts/mailstack"))
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
        smtp_send_as(self.port("SMTP"), "test.example", mail_from, rcpt, raw);
    }

    /// The same from a client greeting with `helo`: the stack's Exim adds
    /// `dmarc=pass` for `EHLO dmarc-pass.example` (as an operator's MX
    /// would for a sender whose domain passes DMARC), `dmarc=none` else.
    pub fn deliver_as(&self, helo: &str, mail_from: &str, rcpt: &str, raw: &str) {
        smtp_send_as(self.port("SMTP"), helo, mail_from, rcpt, raw);
    }

    fn maildir(&self, user: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').unwrap();
        self.dir.join("mail").join(domain).join(local).join("Maildir")
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
                msgs.len() >= n
            },
            || {
                let log = std::fs::read_to_string(self.dir.join("log/exim.out")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                format!(
                    "{user}: expected {n} messages, have {}; exim log, newest first:\n{}",
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
        let _ = Command::new(repo().join("scripts/mailstack"))
            .arg("destroy")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// A minimal SMTP client: full control over the greeting, the envelope and
/// the bytes.
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

/// An embargo config (in its own temp folder) for a stack.
pub struct Setup {
    pub stack: Stack,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

#[derive(Clone)]
pub struct Options {
    pub imap_security: &'static str,
    pub smtp_security: &'static str,
    pub extra: String,
    pub max_per_sender: u32,
    pub retry_max_secs: u64,
    /// `[store] path`, relative to the config's directory.
    pub store_path: &'static str,
    /// Extra settings for scripts/mailstack.
    pub stack_env: &'static [(&'static str, &'static str)],
    /// The same, made at run time (a port, a URL).
    pub stack_env_owned: Vec<(String, String)>,
    /// Extra lines in `[imap]`.
    pub imap_extra: &'static str,
    /// Extra lines in `[smtp]`.
    pub smtp_extra: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            imap_security: "tls",
            smtp_security: "tls",
            extra: String::new(),
            max_per_sender: 10_000,
            retry_max_secs: 2,
            store_path: "embargo.sqlite3",
            stack_env: &[],
            stack_env_owned: Vec::new(),
            imap_extra: "",
            smtp_extra: "",
        }
    }
}

impl Setup {
    pub fn new() -> Setup {
        Setup::with(Options::default())
    }

    pub fn with(opts: Options) -> Setup {
        let mut env: Vec<(&str, &str)> = opts.stack_env.to_vec();
        env.extend(opts.stack_env_owned.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let stack = Stack::start_with(&env);
        let dir = tempfile::tempdir().unwrap();
        copy_templates(dir.path());
        write_secret(&dir.path().join("imap.pass"), "security-pw");
        write_secret(&dir.path().join("smtp.pass"), "security-pw");
        let imap_port = match opts.imap_security {
            "tls" => stack.port("IMAPS"),
            _ => stack.port("IMAP"),
        };
        let smtp_port = match opts.smtp_security {
            "tls" => stack.port("SMTPS"),
            "starttls" => stack.port("SUBMISSION"),
            _ => stack.port("SMTP"),
        };
        // With OAuth there is no password file (check-config refuses one).
        let oauth = |extra: &str| extra.contains("xoauth2") || extra.contains("oauthbearer");
        let smtp_auth = match (opts.smtp_security, oauth(opts.smtp_extra)) {
            ("none", _) => String::new(),
            (_, true) => "user = \"security@example.test\"\n".to_owned(),
            _ => "user = \"security@example.test\"\npassword_file = \"smtp.pass\"\n".to_owned(),
        };
        let imap_password = if oauth(opts.imap_extra) {
            ""
        } else {
            "password_file = \"imap.pass\"\n"
        };
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = {imap_port}\nsecurity = \"{}\"\nca_file = \"{ca}\"\n\
             user = \"security@example.test\"\n{imap_password}mailbox = \"INBOX\"\n\
             timeout_secs = 20\nreconnect_max_secs = 2\n{}\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"{}\"\nca_file = \"{ca}\"\n{smtp_auth}\
             from = \"Example Security Team <security@example.test>\"\nretry_max_secs = {}\ntimeout_secs = 20\nin_doubt_grace_secs = 3\n{}\n\
             [store]\npath = \"{}\"\n\n[policy]\ntracking_prefix = \"SEC\"\ntimezone = \"Europe/London\"\nholidays = [\"2026-12-25\", \"2026-12-28\"]\n\n\
             [reply]\nack_template = \"ack.txt\"\nmax_per_sender_per_day = {}\n{}",
            opts.imap_security,
            opts.imap_extra,
            opts.smtp_security,
            opts.retry_max_secs,
            opts.smtp_extra,
            opts.store_path,
            opts.max_per_sender,
            opts.extra,
            ca = stack.ca().display(),
        );
        let config = dir.path().join("embargo.toml");
        std::fs::write(&config, text).unwrap();
        Setup { stack, dir, config }
    }

    /// Runs the embargo binary with this config.
    pub fn embargo(&self, args: &[&str]) -> Output {
        Command::new(&*BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `run --once`, asserting success.
    pub fn once(&self) -> Output {
        let out = self.embargo(&["run", "--once"]);
        assert!(
            out.status.success(),
            "run --once failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if std::env::var_os("EMBARGO_TEST_LOG").is_some() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
        out
    }

    /// Every report (`reports list --json`); none while the daemon has not
    /// created the database yet.
    pub fn reports(&self) -> Vec<serde_json::Value> {
        let out = self.embargo(&["reports", "list", "--json"]);
        if out.status.code() == Some(2) && String::from_utf8_lossy(&out.stderr).contains("no database at") {
            return Vec::new();
        }
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Starts `embargo run` in the background; killed on drop.
    pub fn daemon(&self) -> Daemon {
        self.daemon_with_env(&[])
    }

    pub fn daemon_with_env(&self, env: &[(&str, &str)]) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let mut cmd = Command::new(&*BIN);
        cmd.arg("--config").arg(&self.config).arg("run").env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon { child }
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Every template under config/ (not the example config itself).
/// (`EMBARGO_TEST_TEMPLATES`: another folder, with `EMBARGO_TEST_BIN`.)
pub fn copy_templates(to: &Path) {
    let from = std::env::var_os("EMBARGO_TEST_TEMPLATES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("config"));
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name != "embargo.toml" {
            std::fs::copy(e.path(), to.join(name)).unwrap();
        }
    }
}

/// The effective user id of the test process.
pub fn uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
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

/// A setup whose team has one member, team@example.test (also the alert
/// address), with `member_public` in `[team] keys`; the team's Cv25519 key
/// decrypts and signs.
pub fn setup_with_member(member_public: &[u8]) -> Setup {
    let team = "team@example.test";
    let s = Setup::with(Options {
        extra: format!(
            "\n[team]\nmembers = [\"{team}\"]\nnotify = [\"{team}\"]\nkeys = [\"member.asc\"]\n\n[openpgp]\nkeys = [\"team.sec.asc\"]\n"
        ),
        ..Default::default()
    });
    crate::gpg::write_key(s.dir.path(), "team.sec.asc", &crate::gpg::keys().team_cv_secret);
    std::fs::write(s.dir.path().join("member.asc"), member_public).unwrap();
    s
}
