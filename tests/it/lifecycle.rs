//! The policy's clocks and every CLI verb through the real servers (the
//! decisions intake takes alone, excluded topics, reopening, the team's
//! response, are in `tests/intake/lifecycle.rs`).

use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn every_cli_verb_works_and_leaves_an_event() {
    let s = Setup::new();
    for (id, subject) in [
        ("v1@example.test", "RCE in importer"),
        ("v2@example.test", "Same RCE again"),
    ] {
        s.stack.deliver(RESEARCHER, SECURITY, &report(id, subject, "x"));
    }
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    s.once();
    let reports = s.reports();
    let a = reports[0]["id"].as_str().unwrap().to_owned();
    let b = reports[1]["id"].as_str().unwrap().to_owned();
    let fix_due_before = reports[0]["fix_due"].as_str().unwrap().to_owned();
    let ok = |args: &[&str]| {
        let out = s.embargo(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["reports", "state", &a, "triaged", "--note", "reproduced"]);
    ok(&["reports", "complex", &a]);
    ok(&["reports", "state", &a, "fixing"]);
    ok(&["reports", "fixed", &a, "--date", "2026-12-01"]);
    ok(&[
        "reports",
        "credit",
        &a,
        "--name",
        "Rita Researcher",
        "--url",
        "https://rita.example.test",
    ]);
    ok(&["reports", "merge", &b, &a]);
    ok(&["reports", "credit", &b, "--no-credit"]);
    let bad = s.embargo(&["reports", "state", &a, "sleeping"]);
    assert!(!bad.status.success());

    let reports = s.reports();
    let ra = reports.iter().find(|r| r["id"] == a.as_str()).unwrap();
    let rb = reports.iter().find(|r| r["id"] == b.as_str()).unwrap();
    assert_eq!(ra["state"], "fixed");
    assert_eq!(ra["complex"], true);
    assert_ne!(
        ra["fix_due"].as_str().unwrap(),
        fix_due_before,
        "complex moves the fix clock"
    );
    assert_eq!(ra["fixed_at"], "2026-12-01T00:00:00Z");
    assert_eq!(ra["details_due"], "2026-12-31T00:00:00Z");
    assert!(ra["response_met_at"].is_string());
    assert_eq!(ra["credit"], "yes");
    assert_eq!(ra["messages"], 2, "the merged report's message joined");
    assert_eq!(rb["state"], "duplicate");
    assert_eq!(rb["merged_into"], a.as_str());
    assert_eq!(rb["credit"], "no");

    let show = s.embargo(&["reports", "show", &a]);
    let text = String::from_utf8_lossy(&show.stdout);
    for needle in [
        "new -> triaged",
        "reproduced",
        "complex",
        "fixing -> fixed",
        "fixed",
        "credit",
        "merged",
        "Details due:  Thu 31 Dec 2026 00:00 GMT",
        "cli:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// The team answers from a mail client set up with the security address:
/// the reply lands in that account's Sent folder, not in the inbox. With
/// `imap.sent_mailbox` it still counts as the team's response; a forward to
/// a colleague from the same folder does not.
#[test]
fn a_reply_in_the_sent_folder_is_the_teams_response() {
    let s = Setup::with(Options {
        imap_extra: "sent_mailbox = \"Sent\"\nsent_poll_secs = 1\n",
        ..Options::default()
    });
    // The folder exists (Maildir++ layout), as the mail client made it.
    let maildir = s.stack.dir.join("mail/example.test/security/Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(".Sent").join(d)).unwrap();
    }
    let chown = || {
        std::process::Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(s.stack.dir.join("mail"))
            .status()
            .unwrap();
    };
    chown();
    let mut d = s.daemon();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("sent-1@example.test", "XSS in search", "details"),
    );
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.reports()[0]["state"], "new");

    let filed = |name: &str, text: &str| {
        std::fs::write(maildir.join(".Sent/new").join(name), text).unwrap();
        chown();
    };
    filed(
        "1800000001.M1P1.client",
        "From: Example Security Team <security@example.test>\n\
         To: colleague@example.test\nSubject: Fwd: XSS in search\nMessage-ID: <forward-1@example.test>\n\
         In-Reply-To: <sent-1@example.test>\n\nCan you look at this?\n",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        s.reports()[0]["state"],
        "new",
        "a forward to a colleague is not a response"
    );
    filed(
        "1800000002.M2P1.client",
        &format!(
            "From: Example Security Team <security@example.test>\nTo: Rita Researcher <researcher@example.test>\n\
             Subject: Re: [{id}] XSS in search\nMessage-ID: <sent-reply-1@example.test>\n\
             In-Reply-To: <sent-1@example.test>\n\nThanks, we can reproduce it.\n"
        ),
    );
    wait_until(
        WAIT,
        || s.reports()[0]["state"] == "triaged",
        || format!("{}\n{}", s.reports()[0], s.daemon_log()),
    );
    let r = s.reports().remove(0);
    assert!(r["response_met_at"].is_string(), "{r}");
    let shown = s.embargo(&["reports", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let ids: Vec<&str> = shown["thread"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert!(ids.contains(&"<sent-reply-1@example.test>"), "{ids:?}");
    assert!(!ids.contains(&"<forward-1@example.test>"), "{ids:?}");
    assert_eq!(
        s.stack.inbox(RESEARCHER).len(),
        1,
        "nothing sent to the reporter for it"
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}
