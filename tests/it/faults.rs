//! Fault injection: SMTP 4xx and 5xx, a long SIGKILL storm, a locked
//! database, an IMAP outage. Bounded in time; part of the normal suite.

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
    let s = Setup::new();
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
    let start = Instant::now();
    let wanted = N - N / 10;
    while s.reports().iter().filter(|r| r["acknowledged_at"].is_string()).count() < wanted {
        assert!(start.elapsed() < Duration::from_secs(120), "{}", s.daemon_log());
        std::thread::sleep(Duration::from_millis(500));
    }
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

#[test]
fn an_imap_outage_is_retried_at_a_bounded_rate() {
    let s = Setup::new();
    let mut d = s.daemon();
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("o1@example.test", "before", "x"));
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    s.stack.stop_imap();
    std::thread::sleep(Duration::from_secs(10));
    let attempts = s.daemon_log().matches("IMAP problem; reconnecting").count();
    // reconnect_max_secs = 2 in the tests: about one attempt per 2 s.
    assert!((2..=12).contains(&attempts), "{attempts} reconnect attempts in 10 s");
    s.stack.start_imap();
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("o2@example.test", "after", "x"));
    s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}
