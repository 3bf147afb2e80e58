//! OAuth 2.0 logins against servers that accept nothing else: Dovecot with
//! its oauth2 passdb and Exim asking Dovecot (SASL XOAUTH2 and
//! OAUTHBEARER), both checking tokens at a local provider
//! (`tests/data/oauth_provider.py`) that rotates refresh tokens.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

/// The provider, on a free loopback port, for one test.
struct Provider {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Provider {
    fn start() -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new("python3")
            .arg(repo().join("tests/data/oauth_provider.py"))
            .arg(&port_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 (scripts/install-deps)");
        wait_until(
            Duration::from_secs(10),
            || port_file.exists(),
            || "the provider did not start".into(),
        );
        let port = std::fs::read_to_string(&port_file).unwrap();
        Provider {
            child,
            base: format!("http://127.0.0.1:{}", port.trim()),
            _dir: dir,
        }
    }

    fn post(&self, path: &str) -> serde_json::Value {
        let r = ureq::post(&format!("{}{path}", self.base)).send_string("").unwrap();
        serde_json::from_str(&r.into_string().unwrap()).unwrap()
    }

    fn state(&self) -> serde_json::Value {
        let r = ureq::get(&format!("{}/admin/state", self.base)).call().unwrap();
        serde_json::from_str(&r.into_string().unwrap()).unwrap()
    }

    /// A refresh token for the security mailbox, as a login would store it.
    fn issue(&self) -> String {
        self.post(&format!("/admin/issue?username={SECURITY}"))["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stack that takes only OAuth, embargo configured for `mechanism` on
/// both IMAP and SMTP, and a refresh token on disk.
fn setup(mechanism: &'static str) -> (Setup, Provider, PathBuf) {
    let p = Provider::start();
    let s = Setup::with(Options {
        stack_env_owned: vec![
            ("MAILSTACK_OAUTH_INTROSPECT".into(), format!("{}/introspect", p.base)),
            ("MAILSTACK_OAUTH_ONLY".into(), "1".into()),
        ],
        imap_extra: if mechanism == "xoauth2" {
            "auth = \"xoauth2\""
        } else {
            "auth = \"oauthbearer\""
        },
        smtp_extra: if mechanism == "xoauth2" {
            "auth = \"xoauth2\""
        } else {
            "auth = \"oauthbearer\""
        },
        extra: format!(
            "\n[oauth2]\ntoken_url = \"{0}/token\"\ndevice_authorization_url = \"{0}/device\"\n\
             client_id = \"embargo-test\"\nscope = \"imap smtp offline_access\"\nrefresh_token_file = \"oauth-rt\"\n",
            p.base
        ),
        ..Options::default()
    });
    let rt = s.dir.path().join("oauth-rt");
    std::fs::write(&rt, p.issue()).unwrap();
    (s, p, rt)
}

fn deliver_report(s: &Setup, id: &str) {
    s.stack
        .deliver(RESEARCHER, SECURITY, &report(id, "XSS in the login form", "Steps: ..."));
}

/// No token the provider ever issued appears in `log`.
fn assert_no_token(p: &Provider, log: &str) {
    for t in p.state()["issued"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        assert!(!log.contains(t), "a token is in the log");
    }
}

#[test]
fn a_report_is_acknowledged_through_servers_that_take_only_xoauth2_and_oauthbearer() {
    for mechanism in ["xoauth2", "oauthbearer"] {
        let (s, p, rt) = setup(mechanism);
        let first = std::fs::read_to_string(&rt).unwrap();
        // The stack takes no password: its IMAP greeting offers OAuth only.
        let mut greeting = String::new();
        BufReader::new(std::net::TcpStream::connect(("127.0.0.1", s.stack.port("IMAP"))).unwrap())
            .read_line(&mut greeting)
            .unwrap();
        assert!(
            greeting.contains("AUTH=XOAUTH2") && greeting.contains("AUTH=OAUTHBEARER"),
            "{greeting}"
        );
        assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");
        deliver_report(&s, &format!("oauth-{mechanism}@example.test"));
        s.stack.wait_inbox(SECURITY, 1, WAIT);
        let out = s.embargo(&["run", "--once"]);
        assert!(
            out.status.success(),
            "{mechanism}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let acks = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
        assert_eq!(acks.len(), 1, "{mechanism}");
        assert!(header(&acks[0], "Subject").unwrap().contains("XSS in the login form"));
        // The provider rotated the refresh token on first use: the new one
        // is on disk, 0600, and the old one is spent.
        let now = std::fs::read_to_string(&rt).unwrap();
        assert_ne!(now.trim(), first.trim(), "{mechanism}: rotated");
        let live = p.state()["refresh_tokens"].clone();
        assert!(
            live.as_array().unwrap().iter().any(|t| t == now.trim()),
            "{mechanism}: {live}"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rt).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert_no_token(&p, &String::from_utf8_lossy(&out.stderr));

        let status: serde_json::Value =
            serde_json::from_slice(&s.embargo(&["oauth", "status", "--json"]).stdout).unwrap();
        assert_eq!(status["ok"], true, "{status}");
        assert_eq!(status["scope"], "imap smtp offline_access");
    }
    // A refresh token obtained elsewhere is imported and proven.
    let (s, p, rt) = setup("xoauth2");
    let fresh = p.issue();
    let mut import = Command::new(&*BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["oauth", "import"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut import.stdin.take().unwrap(), fresh.as_bytes()).unwrap();
    let out = import.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("it works"));
    let stored = std::fs::read_to_string(&rt).unwrap();
    assert_ne!(stored.trim(), fresh, "proven by a refresh, which rotated it");
    assert!(
        p.state()["refresh_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == stored.trim())
    );
}

#[test]
fn expired_access_tokens_renew_on_imap_and_smtp_without_losing_or_doubling_mail() {
    let (s, p, _) = setup("xoauth2");
    let mut d = s.daemon_with_env(&[("RUST_LOG", "trace")]);
    deliver_report(&s, "exp1@example.test");
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let refreshes = p.state()["refreshes"].as_u64().unwrap();
    // Every access token expires at the provider; the daemon's cached one
    // is still "valid" in its eyes. A new IMAP session (Dovecot restarted)
    // and a new SMTP connection must both notice and renew.
    p.post("/admin/expire");
    s.stack.stop_imap();
    s.stack.start_imap();
    s.stack.stop_smtp();
    s.stack.start_smtp();
    deliver_report(&s, "exp2@example.test");
    s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        s.stack.inbox(RESEARCHER).len(),
        2,
        "one acknowledgement each, none twice"
    );
    assert!(p.state()["refreshes"].as_u64().unwrap() > refreshes, "renewed");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    let log = s.daemon_log();
    assert!(log.contains("refused the access token"), "{log}");
    assert_no_token(&p, &log);
}

#[test]
fn a_kill_right_after_a_rotation_leaves_the_new_refresh_token_on_disk() {
    let (s, p, rt) = setup("xoauth2");
    let d = s.daemon();
    let before = std::fs::read_to_string(&rt).unwrap();
    // The provider answered and the rotated token is on disk (the moment
    // between its answer and the write cannot be covered by anyone: the
    // answer may as well be lost on the way).
    wait_until(
        WAIT,
        || p.state()["refreshes"].as_u64().unwrap() >= 1 && std::fs::read_to_string(&rt).is_ok_and(|now| now != before),
        || s.daemon_log(),
    );
    // It is written before it is used, so a SIGKILL now loses nothing.
    d.signal("KILL");
    drop(d);
    let on_disk = std::fs::read_to_string(&rt).unwrap();
    let live = p.state()["refresh_tokens"].clone();
    assert_eq!(live.as_array().unwrap().len(), 1, "{live}");
    assert_eq!(live[0].as_str().unwrap(), on_disk.trim());
    deliver_report(&s, "kill1@example.test");
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
}

#[test]
fn a_revoked_refresh_token_pauses_intake_until_oauth_login() {
    let (s, p, _) = setup("xoauth2");
    let mut d = s.daemon();
    deliver_report(&s, "rev1@example.test");
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);

    // Consent revoked: the refresh token is dead and so are the access
    // tokens. The next session cannot log in; intake pauses.
    p.post("/admin/revoke");
    p.post("/admin/expire");
    s.stack.stop_imap();
    s.stack.start_imap();
    let status = || -> serde_json::Value { serde_json::from_slice(&s.embargo(&["status", "--json"]).stdout).unwrap() };
    wait_until(
        WAIT,
        || status()["imap_state"] == "paused (OAuth login needed)",
        || format!("{}\n{}", status(), s.daemon_log()),
    );
    let st = status();
    assert_eq!(st["level"], 2, "critical: {st}");
    assert!(st["problems"].to_string().contains("embargo oauth login"), "{st}");
    assert!(s.daemon_log().contains("embargo oauth login"));
    deliver_report(&s, "rev2@example.test");
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        s.stack.inbox(RESEARCHER).len(),
        1,
        "paused: the mail waits on the server"
    );

    // The device flow, driven as a person would: read the code, approve it.
    let mut login = Command::new(&*BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["oauth", "login"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
    let code = loop {
        let l = lines.next().expect("the code").unwrap();
        if let Some(c) = l.split("enter the code").nth(1) {
            break c.trim().to_owned();
        }
    };
    p.post(&format!("/admin/approve?user_code={code}&username={SECURITY}"));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(login.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.starts_with("Logged in.")), "{rest:?}");

    // The daemon picks the new refresh token up on its next attempt.
    s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    wait_until(WAIT, || status()["imap_state"] == "connected", || status().to_string());
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    assert_no_token(&p, &s.daemon_log());
}
