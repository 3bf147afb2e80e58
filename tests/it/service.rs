//! Running as a service: the systemd unit, the notify protocol, reload,
//! stop, status, backup, credentials, man page and completions.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn the_unit_verifies_and_scores_at_most_1_0() {
    let unit = repo().join("deploy/embargo.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .expect("a score");
    let score: f64 = line
        .split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(score <= 1.0, "exposure {score} > 1.0:\n{text}");

    // verify needs the binary where the unit says; point it at ours.
    let dir = tempfile::tempdir().unwrap();
    let body = std::fs::read_to_string(&unit)
        .unwrap()
        .replace("/usr/bin/embargo", &BIN);
    let copy = dir.path().join("embargo.service");
    std::fs::write(&copy, body).unwrap();
    // Documentation=man:embargo(1) man:embargo.toml(5): the pages as the
    // package installs them, on a MANPATH of their own.
    let man = dir.path().join("man");
    let made = Command::new(&*BIN).arg("man").arg("--out").arg(&man).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("MANPATH", &man)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
}

/// Reads every datagram that arrives within `d`.
fn collect(sock: &UnixDatagram, d: Duration, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while start.elapsed() < d && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn notify_protocol_reload_and_stop() {
    let s = Setup::new();
    let sock_path = s.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut d = s.daemon_with_env(&[
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "1000000"),
    ]);
    let got = collect(&sock, WAIT, |g| {
        g.iter().any(|m| m.contains("READY=1")) && g.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2
    });
    assert!(
        got.iter()
            .any(|m| m.contains("READY=1") && m.contains("STATUS=connected to")),
        "{got:?}"
    );
    assert!(
        got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        "watchdog pings: {got:?}"
    );

    // SIGHUP with a changed template: RELOADING, READY, and the new text.
    let ack = s.dir.path().join("ack.txt");
    let text = std::fs::read_to_string(&ack).unwrap();
    std::fs::write(&ack, format!("RELOADED-TEMPLATE {{{{ tracking_id }}}}\n{text}")).unwrap();
    d.signal("HUP");
    let got = collect(&sock, WAIT, |g| g.iter().any(|m| m.contains("READY=1")));
    assert!(got.iter().any(|m| m.contains("RELOADING=1")), "{got:?}");
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after-reload@example.test", "after reload", "x"),
    );
    let acks = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    assert!(acks[0].contains("RELOADED-TEMPLATE"), "the new template is used");

    // A broken config is refused; the daemon keeps going on the old one.
    let good = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, "[imap\nthis is not toml").unwrap();
    d.signal("HUP");
    wait_until(WAIT, || s.daemon_log().contains("reload refused"), || s.daemon_log());
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after-bad@example.test", "after a bad reload", "x"),
    );
    s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    std::fs::write(&s.config, good).unwrap();

    d.signal("TERM");
    let got = collect(&sock, Duration::from_secs(15), |g| {
        g.iter().any(|m| m.contains("STOPPING=1"))
    });
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

#[test]
fn sigterm_during_a_backlog_drains_and_loses_nothing() {
    let s = Setup::new();
    const N: usize = 40;
    for i in 0..N {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("t{i}@example.test"), &format!("bug {i}"), "x"),
        );
    }
    s.stack.wait_inbox(SECURITY, N, WAIT);
    let mut d = s.daemon();
    wait_until(
        WAIT,
        || !s.reports().is_empty(),
        || format!("no report yet; daemon log:\n{}", s.daemon_log()),
    );
    d.signal("TERM");
    let stopped = Instant::now();
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0), "{}", s.daemon_log());
    assert!(stopped.elapsed() < Duration::from_secs(15), "bounded drain");
    s.once();
    s.stack.wait_inbox(RESEARCHER, N, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.reports().len(), N);
    assert_eq!(s.stack.inbox(RESEARCHER).len(), N, "one ack each");
}

#[test]
fn status_backup_while_writing_and_credentials() {
    let s = Setup::new();
    // Secrets from $CREDENTIALS_DIRECTORY, as LoadCredential= provides them.
    let creds = s.dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    for f in ["imap.pass", "smtp.pass"] {
        std::fs::rename(s.dir.path().join(f), creds.join(f)).unwrap();
    }
    let bad = s.embargo(&["check-config"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "without the credentials directory the secrets are missing"
    );
    let out = Command::new(&*BIN)
        .arg("--config")
        .arg(&s.config)
        .arg("check-config")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let down = s.embargo(&["status", "--json"]);
    assert_eq!(down.status.code(), Some(2), "no daemon: critical");

    const N: usize = 30;
    for i in 0..N {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("s{i}@example.test"), &format!("bug {i}"), "x"),
        );
    }
    s.stack.wait_inbox(SECURITY, N, WAIT);
    let mut d = s.daemon_with_env(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    // Only the daemon creates the database.
    wait_until(
        Duration::from_secs(30),
        || s.dir.path().join("embargo.sqlite3").exists(),
        || s.daemon_log(),
    );
    // Back up repeatedly while the daemon writes.
    let mut backups = Vec::new();
    let start = Instant::now();
    while s.stack.inbox(RESEARCHER).len() < N {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", s.daemon_log());
        let path = s.dir.path().join(format!("backup-{}.sqlite3", backups.len()));
        let out = s.embargo(&["backup", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        backups.push(path);
        std::thread::sleep(Duration::from_millis(100));
    }
    for b in &backups {
        let conn = rusqlite::Connection::open(b).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM reports", [], |r| r.get(0))
            .unwrap();
        assert!(n as usize <= N);
    }
    std::thread::sleep(Duration::from_secs(2));
    let out = s.embargo(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["daemon_running"], true);
    assert_eq!(v["imap_state"], "connected");
    assert!(v["last_fetch_at"].is_string());
    assert_eq!(v["outbox_pending"], 0);
    assert_eq!(v["reports_awaiting_response"], N);
    assert_eq!(v["overdue"], 0);
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    let out = s.embargo(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

#[test]
fn man_page_and_completions() {
    let out = Command::new(&*BIN).arg("man").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(".TH embargo") && text.contains("check\\-config"),
        "{text}"
    );
    let out = Command::new(&*BIN).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("_embargo"));
}

/// One HTTP/1.1 request to the metrics endpoint: (status line, headers and
/// body as one string).
fn http(port: u16, request: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    let status = out.lines().next().unwrap_or_default().to_owned();
    (status, out)
}

#[test]
fn prometheus_endpoint_on_loopback() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = Setup::with(Options {
        extra: format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        ..Options::default()
    });
    // A port in use stops the start, naming the key.
    {
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let mut d = s.daemon();
        assert_eq!(d.wait(Duration::from_secs(15)), Some(1), "{}", s.daemon_log());
        assert!(
            s.daemon_log()
                .contains(&format!("metrics.listen: cannot listen on 127.0.0.1:{port}")),
            "{}",
            s.daemon_log()
        );
    }
    for i in 0..3 {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("m{i}@example.test"), &format!("bug {i}"), "x"),
        );
    }
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        "From: researcher@example.test\r\nAuto-Submitted: auto-replied\r\nSubject: away\r\nMessage-ID: <ooo@example.test>\r\n\r\naway\r\n",
    );
    s.stack.wait_inbox(SECURITY, 4, WAIT);
    let mut d = s.daemon();
    s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    let start = Instant::now();
    let body = loop {
        let (status, out) = http(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK", "{out}");
        if out.lines().any(|l| l == "embargo_outbox_pending 0") {
            break out;
        }
        assert!(start.elapsed() < WAIT, "{out}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("Content-Type: text/plain; version=0.0.4"), "{body}");
    for line in [
        "embargo_daemon_running 1",
        "embargo_imap_connected 1",
        "embargo_status_level 0",
        "embargo_reports{state=\"new\"} 3",
        "embargo_reports_awaiting_response 3",
        "embargo_reports_overdue{clock=\"response\"} 0",
        "embargo_messages_received_total{kind=\"report\"} 3",
        "embargo_messages_received_total{kind=\"automatic\"} 1",
        "embargo_outbox_failed 0",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in\n{body}");
    }
    assert!(
        body.lines().any(|l| l
            .strip_prefix("embargo_outbox_sent_total ")
            .is_some_and(|n| n.parse::<u32>().unwrap() >= 3)),
        "{body}"
    );
    // No report content, no addresses: only counts.
    assert!(!body.contains("researcher@") && !body.contains("bug 0"), "{body}");
    let (status, _) = http(port, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, out) = http(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(out.contains("Allow: GET, HEAD"), "{out}");
    let (status, out) = http(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(out.ends_with("\r\n\r\n"), "HEAD has no body: {out}");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

/// `scripts/deb` is run by hand (it needs a release build and cargo-deb);
/// this keeps its inputs from drifting: every file the package metadata
/// lists exists or is made by the script, and the maintainer scripts are
/// there and keep cargo-deb's `#DEBHELPER#` hook.
#[test]
fn the_debian_package_lists_files_that_exist() {
    let root = repo();
    let cargo: toml::Value = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = &cargo["package"]["metadata"]["deb"];
    let script = std::fs::read_to_string(root.join("scripts/deb")).unwrap();
    for asset in deb["assets"].as_array().unwrap() {
        let src = asset[0].as_str().unwrap();
        if src == "target/release/embargo" {
            assert!(script.contains("cargo build --release --locked"));
        } else if src.starts_with("target/deb-assets/man/") {
            assert!(
                script.contains("man --out \"$assets/man\""),
                "scripts/deb does not make {src}"
            );
        } else if let Some(name) = src.strip_prefix("target/deb-assets/") {
            assert!(
                script.contains(&format!("\"$assets/{name}\"")),
                "scripts/deb does not make {src}"
            );
        } else if let Some((dir, ext)) = src.split_once("/*") {
            let n = std::fs::read_dir(root.join(dir))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(ext))
                .count();
            assert!(n > 0, "{src} matches nothing");
        } else {
            assert!(root.join(src).is_file(), "{src} is missing");
        }
    }
    let scripts = root.join(deb["maintainer-scripts"].as_str().unwrap());
    for f in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(scripts.join(f)).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\nset -e\n") && text.contains("#DEBHELPER#"),
            "{f}"
        );
    }
    assert!(root.join(deb["changelog"].as_str().unwrap()).is_file());
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    assert!(root.join(units).join("embargo.service").is_file());
}

/// `daemon::run` takes its shutdown from the caller (as mini-redis's
/// `run(listener, shutdown)` does): here it runs inside the test process,
/// answers a report, and returns cleanly when its token is cancelled.
#[test]
fn the_daemon_runs_in_process_and_stops_when_its_token_is_cancelled() {
    let s = Setup::new();
    let cfg = embargo::config::load(&s.config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = rt.spawn(embargo::daemon::run(cfg, shutdown.clone()));
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("inproc@example.test", "Open redirect", "Steps: ..."),
    );
    let acks = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    assert!(header(&acks[0], "Subject").unwrap().contains("Open redirect"));
    shutdown.cancel();
    let stopped = rt.block_on(async { tokio::time::timeout(Duration::from_secs(15), daemon).await });
    match stopped {
        Ok(Ok(Ok(()))) => {}
        other => panic!("the daemon did not stop cleanly: {other:?}"),
    }
    let reports = s.reports();
    assert_eq!(reports.len(), 1);
    assert!(reports[0]["acknowledged_at"].is_string(), "{}", reports[0]);
}
