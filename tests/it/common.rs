//! Test harness: an embargo config pointing at a real mail stack
//! (`tests/shared/stack.rs`: Dovecot + Exim on loopback), the binary run
//! against it, the daemon in the background.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::mail::{copy_templates, header, report};
pub use crate::stack::{Stack, wait_until};

/// The binary under test. `EMBARGO_TEST_BIN` points the suite at another
/// build (to watch an attack test succeed against the code before its fix).
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("EMBARGO_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_embargo").to_owned())
});

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
    /// `[smtp] in_doubt_grace_secs`: how long a mail cut off mid-send waits
    /// for its own copy before it is sent again.
    pub in_doubt_grace_secs: u64,
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
            in_doubt_grace_secs: 3,
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
             from = \"Example Security Team <security@example.test>\"\nretry_max_secs = {}\ntimeout_secs = 20\nin_doubt_grace_secs = {}\n{}\n\
             [store]\npath = \"{}\"\n\n[policy]\ntracking_prefix = \"SEC\"\ntimezone = \"Europe/London\"\nholidays = [\"2026-12-25\", \"2026-12-28\"]\n\n\
             [reply]\nack_template = \"ack.txt\"\nmax_per_sender_per_day = {}\n{}",
            opts.imap_security,
            opts.imap_extra,
            opts.smtp_security,
            opts.retry_max_secs,
            opts.in_doubt_grace_secs,
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

    /// The same with extra environment (fault injection).
    pub fn embargo_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(&*BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
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
        cmd.arg("--config").arg(&self.config).arg("run").env(
            "RUST_LOG",
            std::env::var("EMBARGO_TEST_RUST_LOG").unwrap_or("info".into()),
        );
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

/// The effective user id of the test process.
pub fn uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
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
