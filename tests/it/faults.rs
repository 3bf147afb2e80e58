//! Fault injection: SMTP 4xx and 5xx, a long SIGKILL storm, a locked
//! database, a full disk, an IMAP outage. Bounded in time; part of the
//! normal suite.

use std::time::{Duration, Instant};

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const OTHER: &str = "other@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

fn status(s: &Setup) -> (i32, serde_json::Value) {
    let out = s.embargo(&["status", "--json"]);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn smtp_4xx_is_retried_and_5xx_is_a_visible_permanent_failure() {
    let s = Setup::new();
    std::fs::write(s.stack.dir.join("etc/defer"), format!("{RESEARCHER}\n")).unwrap();
    std::fs::write(s.stack.dir.join("etc/reject"), format!("{OTHER}\n")).unwrap();
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("defer@example.test", "deferred ack", "x"));
    let other = "From: other@example.test\r\nTo: security@example.test\r\nSubject: rejected ack\r\nMessage-ID: <reject@example.test>\r\n\r\nx\r\n";
    s.stack.deliver(OTHER, SECURITY, other);
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    let mut d = s.daemon();
    let start = Instant::now();
    loop {
        let (_, v) = status(&s);
        if v["outbox_failed"] == 1 && v["outbox_pending"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(start.elapsed() < WAIT, "{v}\n{}", s.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(s.daemon_log().contains("temporary SMTP failure"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(s.stack.inbox(RESEARCHER).is_empty(), "still deferred");

    // The 4xx goes away: the retry delivers the ack.
    std::fs::write(s.stack.dir.join("etc/defer"), "").unwrap();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);

    // The 5xx stays visible: status warns, the digest lists it, the report's
    // timeline has it.
    let (code, v) = status(&s);
    assert_eq!(code, 1, "{v}");
    assert!(v["problems"].to_string().contains("failed permanently"), "{v}");
    let digest = String::from_utf8(s.embargo(&["digest", "--dry-run"]).stdout).unwrap();
    assert!(
        digest.contains("failed permanently") && digest.contains(OTHER),
        "{digest}"
    );
    let id = s.reports().into_iter().find(|r| r["reporter"] == OTHER).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let show = String::from_utf8(s.embargo(&["reports", "show", &id]).stdout).unwrap();
    assert!(show.contains("ack-failed") && show.contains("550"), "{show}");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

#[test]
fn fifty_kills_in_a_500_message_backlog() {
    // A mail cut off mid-send is sent again once its own copy has not come
    // back within the grace: long enough here for a loaded machine (the
    // suite runs several mail stacks at once), short enough for the test.
    let s = Setup::with(Options {
        in_doubt_grace_secs: 20,
        ..Options::default()
    });
    const N: usize = 500;
    for i in 0..N {
        // Every tenth message is automatic mail: it must never be answered.
        let raw = if i % 10 == 9 {
            format!(
                "From: researcher@example.test\r\nAuto-Submitted: auto-replied\r\nSubject: ooo {i}\r\nMessage-ID: <k{i}@example.test>\r\n\r\naway\r\n"
            )
        } else {
            report(&format!("k{i}@example.test"), &format!("bug {i}"), "x")
        };
        s.stack.deliver(RESEARCHER, SECURITY, &raw);
    }
    s.stack.wait_inbox(SECURITY, N, Duration::from_secs(120));
    s.stack.wait_delivered(Duration::from_secs(30));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..50 {
        // A fixed pseudo-random schedule: the runs differ in where they
        // land, not from run to run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let d = s.daemon();
        std::thread::sleep(Duration::from_millis(50 + seed % 500));
        d.signal("KILL");
        drop(d);
    }
    let mut d = s.daemon();
    let wanted = N - N / 10;
    wait_until(
        Duration::from_secs(120),
        || s.reports().iter().filter(|r| r["acknowledged_at"].is_string()).count() >= wanted,
        || s.daemon_log(),
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    s.stack.wait_delivered(Duration::from_secs(30));
    s.stack.wait_inbox(RESEARCHER, wanted, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    let reports = s.reports();
    assert_eq!(
        reports.len(),
        wanted,
        "every report once, no automatic mail as a report"
    );
    let mut answered = std::collections::HashMap::new();
    for m in s.stack.inbox(RESEARCHER) {
        *answered
            .entry(header(&m, "In-Reply-To").unwrap_or_default())
            .or_insert(0) += 1;
    }
    assert_eq!(answered.len(), wanted, "every report acknowledged");
    assert!(answered.values().all(|n| *n == 1), "no doubles");
    for i in (9..N).step_by(10) {
        assert!(
            !answered.contains_key(&format!("<k{i}@example.test>")),
            "automatic mail was answered"
        );
    }
}

#[test]
fn a_locked_database_pauses_intake_and_loses_nothing() {
    let s = Setup::new();
    let mut d = s.daemon();
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("before-lock@example.test", "before", "x"));
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    // Another process holds the write lock for 15 s.
    let db = s.dir.path().join("embargo.sqlite3");
    let mut locker = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(15); c.execute('ROLLBACK')")
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(locker.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("during-lock@example.test", "during", "x"));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        s.stack.inbox(RESEARCHER).len(),
        1,
        "nothing is answered while the database is locked"
    );
    locker.wait().unwrap();
    s.stack.wait_inbox(RESEARCHER, 2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 2);
    assert_eq!(s.reports().len(), 2);
    assert!(
        s.daemon_log().contains("locked") || s.daemon_log().contains("busy"),
        "the log says why: {}",
        s.daemon_log()
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
}

/// A small tmpfs, unmounted on drop (the tests run as root, as CI does).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the file system says ENOSPC.
fn fill(path: &std::path::Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
}

/// The database's file system fills up: intake stops taking mail (it
/// stays on the server), says so, does not spin, and resumes once there is
/// room; every report is then answered once and nothing is half-written.
#[test]
fn a_full_disk_pauses_intake_and_loses_nothing() {
    let s = Setup::with(Options {
        store_path: "db/embargo.sqlite3",
        ..Options::default()
    });
    let db_dir = s.dir.path().join("db");
    let _fs = Tmpfs::mount(&db_dir, "16m");
    // What systemd would show in `systemctl status`.
    let sock_path = s.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut d = s.daemon_with_env(&[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("before-full@example.test", "before", "x"));
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);

    fill(&db_dir.join("filler"));
    // Reports of ~200 KB each: the WAL must grow to take them.
    let body: String = (0..2500)
        .map(|i| format!("line {i:05} of the crash log: heap-buffer-overflow in parse_frame\r\n"))
        .collect();
    for i in 0..4 {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("full-{i}@example.test"), &format!("while full {i}"), &body),
        );
    }
    s.stack.wait_inbox(SECURITY, 5, WAIT);
    wait_until(
        WAIT,
        || s.daemon_log().contains("intake paused"),
        || format!("the daemon says so: {}", s.daemon_log()),
    );
    let paused = |log: &str| log.matches("intake paused").count();
    let before = paused(&s.daemon_log());
    std::thread::sleep(Duration::from_secs(10));
    let log = s.daemon_log();
    assert!(log.contains("database or disk is full"), "{log}");
    // Backoff, not a spin: reconnect_max_secs is 2 here.
    assert!(paused(&log) - before <= 10, "{} retries in 10 s", paused(&log) - before);
    assert!(d.child.try_wait().unwrap().is_none(), "still running: {log}");
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 1, "nothing answered while full");
    let mut notes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        notes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        notes
            .iter()
            .any(|m| m.contains("STATUS=paused (database not writable)") && m.contains("full")),
        "sd_notify status: {notes:?}"
    );

    std::fs::remove_file(db_dir.join("filler")).unwrap();
    s.stack.wait_inbox(RESEARCHER, 5, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 5, "one ack per report");
    assert_eq!(s.reports().len(), 5);
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    let db = rusqlite::Connection::open(db_dir.join("embargo.sqlite3")).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        q("SELECT count(*) FROM messages WHERE direction = 'in' AND message_id LIKE '<full-%'"),
        4,
        "each recorded once"
    );
    assert_eq!(
        q("SELECT count(*) FROM messages m LEFT JOIN message_raw r ON r.message_id = m.id WHERE r.message_id IS NULL"),
        0,
        "every message has its raw copy"
    );
    assert_eq!(
        q("SELECT count(*) FROM message_raw r LEFT JOIN messages m ON m.id = r.message_id WHERE m.id IS NULL"),
        0,
        "no raw copy without its message"
    );
    assert_eq!(
        q(
            "SELECT min(length(r.raw)) FROM message_raw r JOIN messages m ON m.id = r.message_id WHERE m.subject LIKE 'while full%'"
        ),
        q("SELECT min(size) FROM messages WHERE subject LIKE 'while full%'"),
    );
}

#[test]
fn an_imap_outage_is_retried_at_a_bounded_rate() {
    let s = Setup::new();
    // Each attempt is logged at debug (the same failure is said at warn once).
    let mut d = s.daemon_with_env(&[("RUST_LOG", "info,embargo::daemon=debug")]);
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("o1@example.test", "before", "x"));
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    s.stack.stop_imap();
    std::thread::sleep(Duration::from_secs(10));
    let log = s.daemon_log();
    let attempts = log.matches("; reconnecting").count();
    assert!(
        log.contains("WARN") && log.contains("refused the connection"),
        "said at warn, in plain words: {log}"
    );
    // reconnect_max_secs = 2 in the tests: about one attempt per 2 s.
    assert!((2..=12).contains(&attempts), "{attempts} reconnect attempts in 10 s");
    s.stack.start_imap();
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("o2@example.test", "after", "x"));
    let start = std::time::Instant::now();
    while s.stack.inbox(RESEARCHER).len() < 2 {
        let log = s.daemon_log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        assert!(
            start.elapsed() < WAIT,
            "no ack after the outage; daemon log, newest first:\n{}",
            tail.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

/// The outbox sends over several connections at once and reuses
/// a connection without a NOOP while it is fresh, so a server that closes
/// it (here Exim's limit of 3 mails per connection) must cost no retry
/// backoff and no double: every report gets exactly one acknowledgement,
/// also across SIGKILLs while the acknowledgements go out.
#[test]
fn a_backlog_to_many_researchers_goes_out_once_over_several_connections() {
    const N: usize = 60;
    const PEOPLE: usize = 20;
    let mut users = String::from(
        "security@example.test:security-pw researcher@example.test:researcher-pw team@example.test:team-pw",
    );
    for p in 0..PEOPLE {
        users.push_str(&format!(" r{p}@example.test:pw"));
    }
    let users: &'static str = Box::leak(users.into_boxed_str());
    let env: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
        ("MAILSTACK_USERS", users),
        ("MAILSTACK_EXIM_MAX_PER_CONNECTION", "3"),
    ]));
    let s = Setup::with(Options {
        stack_env: env,
        smtp_extra: "connections = 4",
        ..Options::default()
    });
    for i in 0..N {
        let p = i % PEOPLE;
        let raw = format!(
            "From: r{p}@example.test\r\nTo: {SECURITY}\r\nSubject: finding {i}\r\nMessage-ID: <f{i}@example.test>\r\n\r\nfinding {i}\r\n"
        );
        s.stack.deliver(&format!("r{p}@example.test"), SECURITY, &raw);
    }
    s.stack.wait_inbox(SECURITY, N, Duration::from_secs(60));
    s.stack.wait_delivered(Duration::from_secs(30));
    // Two daemons killed while they send, then one left to finish.
    for pause in [900, 1300] {
        let d = s.daemon();
        std::thread::sleep(Duration::from_millis(pause));
        d.signal("KILL");
        drop(d);
    }
    let mut d = s.daemon();
    wait_until(
        Duration::from_secs(60),
        || s.reports().iter().filter(|r| r["acknowledged_at"].is_string()).count() >= N,
        || s.daemon_log(),
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    s.stack.wait_delivered(Duration::from_secs(30));
    let mut answered = std::collections::HashMap::new();
    for p in 0..PEOPLE {
        for m in s.stack.wait_inbox(&format!("r{p}@example.test"), N / PEOPLE, WAIT) {
            let to = header(&m, "To").unwrap_or_default();
            assert!(to.contains(&format!("r{p}@")), "{to}");
            *answered
                .entry(header(&m, "In-Reply-To").unwrap_or_default())
                .or_insert(0) += 1;
        }
    }
    assert_eq!(answered.len(), N, "every report acknowledged: {answered:?}");
    assert!(answered.values().all(|n| *n == 1), "no doubles: {answered:?}");
    let log = s.daemon_log();
    assert!(
        !log.contains("temporary SMTP failure"),
        "the server closing a kept connection cost a retry:\n{log}"
    );
    let exim = std::fs::read_to_string(s.stack.dir.join("log/exim.out")).unwrap();
    assert!(
        exim.contains("too many messages in one connection"),
        "the limit was never reached"
    );
}

/// SIGTERM while a mail is on its way (the server takes 3 s to answer its
/// content): the daemon waits for that answer and marks the mail sent,
/// starts no other, and exits; what it did not start stays queued, never
/// begun, and goes out once on the next run. No mail is marked sent that
/// the server did not take.
#[test]
fn sigterm_mid_send_finishes_that_mail_and_leaves_the_rest_queued() {
    let s = Setup::new();
    for i in 0..3 {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("term{i}@example.test"), &format!("bug {i}"), "x"),
        );
    }
    s.stack.wait_inbox(SECURITY, 3, WAIT);
    std::fs::write(s.stack.dir.join("etc/slow-data"), "3s").unwrap();
    let db = s.dir.path().join("embargo.sqlite3");
    let mut d = s.daemon();
    // The first acknowledgement is on its way once its attempt is marked.
    let begun = || -> i64 {
        rusqlite::Connection::open(&db)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM outbox WHERE attempt_started_at IS NOT NULL OR state = 'sent'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0)
    };
    wait_until(WAIT, || begun() >= 1, || s.daemon_log());
    std::thread::sleep(Duration::from_millis(500));
    let term = Instant::now();
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(30)), Some(0), "{}", s.daemon_log());
    let stopped = term.elapsed();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, bool)> = conn
        .prepare("SELECT state, message_id, attempt_started_at IS NOT NULL FROM outbox WHERE kind = 'ack' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    let sent: Vec<&(String, String, bool)> = rows.iter().filter(|r| r.0 == "sent").collect();
    assert_eq!(
        sent.len(),
        1,
        "the mail on its way is finished and marked, no other started: {rows:?}"
    );
    assert!(
        rows.iter().filter(|r| r.0 != "sent").all(|r| r.0 == "pending" && !r.2),
        "the rest is queued and was never begun: {rows:?}"
    );
    assert!(stopped < Duration::from_secs(8), "stopped {stopped:?} after SIGTERM");
    // What is marked sent, the server took.
    let delivered = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    for (_, id, _) in &sent {
        assert!(
            delivered.iter().any(|m| m.contains(id.as_str())),
            "{id} marked sent but not delivered"
        );
    }
    // The next run sends the rest, once each.
    std::fs::remove_file(s.stack.dir.join("etc/slow-data")).unwrap();
    s.once();
    s.stack.wait_delivered(WAIT);
    let acks = s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 3, "{acks:?}");
}
