//! The policy's rules and clocks through the real servers: excluded topics,
//! reopening, the team's response, deadlines, and every CLI verb.

use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const WAIT: Duration = Duration::from_secs(20);

fn labelled(kind: &str, n: &str) -> (String, String) {
    let text =
        std::fs::read_to_string(repo().join("tests/data/exclusion").join(kind).join(format!("{n}.txt"))).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    (head.trim_start_matches("Subject:").trim().to_owned(), body.to_owned())
}

fn mail(id: &str, subject: &str, body: &str, extra: &str) -> String {
    format!(
        "From: Rita Researcher <researcher@example.test>\r\nTo: security@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n{extra}\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
}

#[test]
fn beg_bounty_mail_is_excluded_and_a_reply_reopens_it() {
    let s = Setup::new();
    let (subject, body) = labelled("beg", "05");
    s.stack
        .deliver(RESEARCHER, SECURITY, &mail("beg@example.test", &subject, &body, ""));
    let (g_subject, g_body) = labelled("genuine", "02");
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &mail("real@example.test", &g_subject, &g_body, ""),
    );
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    s.once();
    let replies = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    let oos = replies
        .iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<beg@example.test>"))
        .unwrap();
    assert!(oos.contains("out of scope") && oos.contains("reply"), "{oos}");
    let reports = s.reports();
    let beg = reports.iter().find(|r| r["subject"] == subject.as_str()).unwrap();
    assert_eq!(beg["state"], "excluded");
    assert_eq!(beg["excluded_topic"], "spf-dmarc");
    let real = reports.iter().find(|r| r["subject"] == g_subject.as_str()).unwrap();
    assert_eq!(
        real["state"], "new",
        "a genuine report about a DMARC parser is not excluded"
    );
    assert_eq!(real["excluded_topic"], serde_json::Value::Null);

    // "This is a mistake": a reply reopens it and acknowledges it.
    let id = beg["id"].as_str().unwrap();
    let oos_id = header(oos, "Message-ID").unwrap();
    let reply = mail(
        "beg-reply@example.test",
        &format!("Re: [{id}] {subject}"),
        "I think this is in scope, please look again.",
        &format!("In-Reply-To: {oos_id}\r\n"),
    );
    s.stack.deliver(RESEARCHER, SECURITY, &reply);
    s.stack.wait_inbox(SECURITY, 5, WAIT); // 2 reports, 2 own copies, the reply
    s.once();
    let all = s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    let ack = all
        .iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<beg-reply@example.test>"))
        .unwrap();
    assert!(ack.contains("5 business days"), "{ack}");
    let beg = s.reports().into_iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(beg["state"], "new");
    assert_eq!(beg["messages"], 2);
}

#[test]
fn team_reply_stops_the_response_clock_and_the_reporter_waits() {
    // The operator's MTA vouches for the senders (DMARC pass): only
    // authenticated mail moves clocks and credit (tests/it/attacks.rs has
    // the forged variants).
    let s = Setup::with(Options {
        extra: format!("\n[team]\nmembers = [\"{TEAM}\"]\n\n[trust]\nauthserv_id = \"mail.example.test\"\n"),
        ..Options::default()
    });
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("clock@example.test", "IDOR in invoices", "details"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let r = &s.reports()[0];
    let id = r["id"].as_str().unwrap().to_owned();
    assert!(r["response_due"].is_string() && r["fix_due"].is_string(), "{r}");
    assert_eq!(r["details_due"], serde_json::Value::Null);
    assert!(r["response_business_days_left"].as_i64().unwrap() >= 4, "{r}");

    // The team answers the reporter with security@ in Cc.
    let team = format!(
        "From: Tess Team <{TEAM}>\r\nTo: researcher@example.test\r\nCc: security@example.test\r\n\
         Subject: Re: [{id}] IDOR in invoices\r\nMessage-ID: <team1@example.test>\r\nIn-Reply-To: <clock@example.test>\r\n\r\n\
         Thanks, we can reproduce it.\r\n"
    );
    s.stack.deliver_as("dmarc-pass.example", TEAM, SECURITY, &team);
    s.stack.wait_inbox(SECURITY, 3, WAIT);
    s.once();
    let r = s.reports().remove(0);
    assert_eq!(r["state"], "triaged", "{r}");
    assert!(r["response_met_at"].is_string());
    assert_eq!(r["response_business_days_left"], serde_json::Value::Null);
    assert_eq!(r["reporter_waiting"], false);
    std::thread::sleep(Duration::from_secs(1));

    // The reporter answers, stating how to be credited.
    let again = mail(
        "clock2@example.test",
        &format!("Re: [{id}] IDOR in invoices"),
        "Great. Credit: Rita Researcher https://rita.example.test\n",
        "In-Reply-To: <team1@example.test>\r\n",
    );
    s.stack.deliver_as("dmarc-pass.example", RESEARCHER, SECURITY, &again);
    s.stack.wait_inbox(SECURITY, 4, WAIT);
    s.once();
    let r = s.reports().remove(0);
    assert_eq!(r["reporter_waiting"], true, "{r}");
    assert_eq!(r["credit"], "yes");
    assert_eq!(r["credit_name"], "Rita Researcher");
    assert_eq!(r["credit_url"], "https://rita.example.test");
    assert_eq!(
        s.stack.inbox(RESEARCHER).len(),
        1,
        "no ack to the team or to follow-ups"
    );
}

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
