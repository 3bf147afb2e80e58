//! The attacker's view, round two: mail that tries to stop the mailbox,
//! make embargo spend memory and disk, pin keys for proven addresses, echo
//! decrypted text back, or smuggle markup and terminal escapes into what
//! people read. Each attack is built with real tools (Python's email
//! package, gpg) and sent through Exim; each failed on the build before its
//! fix.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(60);

/// Runs `tests/data/attacks.py` and returns what it wrote.
pub fn attack(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(repo().join("tests/data/attacks.py"))
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "attacks.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn messages(s: &Setup) -> Vec<serde_json::Value> {
    let out = s.embargo(&["messages", "--json", "--limit", "100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_deeply_nested_mail_is_recorded_as_failed_and_the_report_behind_it_is_answered() {
    let s = Setup::new();
    let nested = attack(&["nested", "50000", "Eve <eve@example.test>", "<nested@example.test>"]);
    assert!(nested.len() < 3 * 1024 * 1024, "the attack fits under 3 MB");
    s.stack
        .deliver("eve@example.test", SECURITY, &String::from_utf8(nested).unwrap());
    s.stack.wait_for(SECURITY, "<nested@example.test>", WAIT);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after@example.test", "XSS behind the well", "steps"),
    );
    s.stack.wait_for(SECURITY, "<after@example.test>", WAIT);
    let mut d = s.daemon();
    s.stack.wait_for(RESEARCHER, "<after@example.test>", WAIT);
    assert_eq!(
        d.child.try_wait().unwrap(),
        None,
        "the daemon is alive: {}",
        s.daemon_log()
    );
    let reports = s.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["subject"], "XSS behind the well");
    let failed: Vec<_> = messages(&s).into_iter().filter(|m| m["kind"] == "failed").collect();
    assert_eq!(failed.len(), 1, "the nested mail is recorded as failed: {failed:?}");
    let reason = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("nested"), "the reason says why: {reason}");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

/// A message that kills the process outright (no panic: an abort, as a
/// stack overflow or the OOM killer does) is met again by every restart.
/// After two runs died on it, the next records it as failed unread and
/// takes in the mail behind it. The abort is injected (debug builds only,
/// `EMBARGO_FAULT_ABORT`) because no mail is known to crash embargo now.
#[test]
fn a_message_that_kills_the_daemon_is_given_up_after_two_deaths() {
    let s = Setup::new();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("poison@example.test", "Poison POISON-7f3a", "x"),
    );
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("behind@example.test", "The report behind it", "steps"),
    );
    s.stack.wait_for(SECURITY, "<behind@example.test>", WAIT);
    s.stack.wait_for(SECURITY, "<poison@example.test>", WAIT);
    let env = [("EMBARGO_FAULT_ABORT", "POISON-7f3a")];
    let mut deaths = 0;
    // systemd's Restart=on-failure, by hand.
    for _ in 0..4 {
        let mut d = s.daemon_with_env(&env);
        let start = std::time::Instant::now();
        let died = loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                break Some(status);
            }
            let answered = s
                .stack
                .inbox(RESEARCHER)
                .iter()
                .any(|m| m.contains("<behind@example.test>"));
            if answered || start.elapsed() > Duration::from_secs(30) {
                break None; // still running: it got past the message
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        match died {
            Some(status) => {
                assert!(status.code().is_none(), "killed by a signal, not an exit: {status:?}");
                deaths += 1;
            }
            None => break,
        }
    }
    assert_eq!(
        deaths,
        2,
        "two runs died on the message, the third went on: {}",
        s.daemon_log()
    );
    s.stack.wait_for(RESEARCHER, "<behind@example.test>", WAIT);
    let reports = s.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["subject"], "The report behind it");
    let failed: Vec<_> = messages(&s).into_iter().filter(|m| m["kind"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("stopped 2 times"),
        "{failed:?}"
    );
}
