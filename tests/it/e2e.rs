//! End to end through real Dovecot and Exim: report in, acknowledgement out.

use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn report_gets_exactly_one_ack_with_rfc3834_headers() {
    let s = Setup::new();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("r1@example.test", "XSS in the login form", "Steps: ..."),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();

    let acks = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    let reports = s.reports();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    let id = r["id"].as_str().unwrap();
    assert!(id.starts_with("SEC-") && id.ends_with("-0001"), "{id}");
    assert_eq!(r["state"], "new");
    assert_eq!(r["reporter"], RESEARCHER);
    assert_eq!(r["subject"], "XSS in the login form");
    assert_eq!(r["messages"], 1);
    assert_eq!(r["excluded_topic"], serde_json::Value::Null);
    assert_eq!(r["encrypted"], false);
    assert!(r["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(r["acknowledged_at"].is_string(), "{r}");

    assert_eq!(header(ack, "Auto-Submitted").as_deref(), Some("auto-replied"));
    assert_eq!(header(ack, "In-Reply-To").as_deref(), Some("<r1@example.test>"));
    assert!(header(ack, "References").unwrap().contains("<r1@example.test>"));
    assert_eq!(header(ack, "Subject").unwrap(), format!("[{id}] XSS in the login form"));
    assert!(header(ack, "Message-ID").unwrap().contains("@example.test>"));
    assert!(header(ack, "From").unwrap().contains(SECURITY));
    assert!(header(ack, "To").unwrap().contains(RESEARCHER));
    // Null reverse path (RFC 3834 §3.3): Dovecot records it as Return-Path.
    assert_eq!(header(ack, "Return-Path").as_deref(), Some("<>"));
    assert!(ack.contains(id), "the body names the tracking id");
    assert!(ack.contains("5 business days") && ack.contains("90 days"), "{ack}");

    // A second run, and a daemon start and stop, send nothing more.
    s.once();
    let mut d = s.daemon();
    std::thread::sleep(Duration::from_secs(2));
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0), "{}", s.daemon_log());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 1);

    let show = s.embargo(&["reports", "show", id]);
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("report-created") && text.contains("ack-sent"), "{text}");
}

#[test]
fn automatic_mail_gets_no_reply() {
    let s = Setup::new();
    let cases: &[(&str, &str)] = &[
        (
            "auto-submitted",
            "From: researcher@example.test\r\nAuto-Submitted: auto-replied\r\n",
        ),
        (
            "auto-generated",
            "From: researcher@example.test\r\nAuto-Submitted: auto-generated; type=x\r\n",
        ),
        ("mailer-daemon", "From: MAILER-DAEMON@example.test\r\n"),
        ("postmaster", "From: postmaster@example.test\r\n"),
        ("request", "From: list-request@example.test\r\n"),
        ("owner", "From: owner-list@example.test\r\n"),
        (
            "list-id",
            "From: researcher@example.test\r\nList-Id: <announce.example.test>\r\n",
        ),
        (
            "list-unsub",
            "From: researcher@example.test\r\nList-Unsubscribe: <mailto:u@example.test>\r\n",
        ),
        ("bulk", "From: researcher@example.test\r\nPrecedence: bulk\r\n"),
        ("junk", "From: researcher@example.test\r\nPrecedence: junk\r\n"),
        ("list-prec", "From: researcher@example.test\r\nPrecedence: list\r\n"),
        (
            "suppress",
            "From: researcher@example.test\r\nX-Auto-Response-Suppress: All\r\n",
        ),
        ("ourselves", "From: security@example.test\r\n"),
        (
            "loop",
            "From: researcher@example.test\r\nX-Embargo-Loop: security@example.test\r\n",
        ),
    ];
    for (name, headers) in cases {
        let raw = format!(
            "{headers}To: security@example.test\r\nSubject: {name}\r\nMessage-ID: <{name}@example.test>\r\n\r\nbody\r\n"
        );
        s.stack.deliver(RESEARCHER, SECURITY, &raw);
    }
    // Null return path: a bounce.
    s.stack.deliver(
        "",
        SECURITY,
        &report("bounce@example.test", "Undelivered Mail", "bounce"),
    );
    // A real report last, so we know when processing has finished.
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("sentinel@example.test", "Real report", "SQLi"),
    );
    s.stack.wait_inbox(SECURITY, cases.len() + 2, WAIT);
    s.once();
    let acks = s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    let acks_now = s.stack.inbox(RESEARCHER);
    assert_eq!(acks_now.len(), 1, "only the real report is answered: {acks_now:#?}");
    assert_eq!(
        header(&acks[0], "In-Reply-To").as_deref(),
        Some("<sentinel@example.test>")
    );
    for who in ["mailer-daemon", "postmaster", "list-request", "owner-list"] {
        assert!(s.stack.inbox(&format!("{who}@example.test")).is_empty());
    }

    let reports = s.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let out = s.embargo(&["messages", "--json"]);
    let msgs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msgs = msgs.as_array().unwrap();
    assert_eq!(msgs.len(), cases.len() + 1);
    for m in msgs {
        assert_eq!(m["kind"], "automatic", "{m}");
        assert!(!m["reason"].as_str().unwrap().is_empty(), "{m}");
    }
}

#[test]
fn follow_up_joins_its_thread_without_a_second_ack() {
    let s = Setup::new();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("first@example.test", "RCE in upload", "secret-steps-4711"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let ack_id = header(&ack, "Message-ID").unwrap();
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();

    // A reply to the ack (In-Reply-To), and one that only carries the tag.
    let reply = format!(
        "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: Re: [{id}] RCE in upload\r\n\
         Message-ID: <second@example.test>\r\nIn-Reply-To: {ack_id}\r\nReferences: <first@example.test> {ack_id}\r\n\r\nmore\r\n"
    );
    s.stack.deliver(RESEARCHER, SECURITY, &reply);
    let tagged = format!(
        "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: PoC for {id}\r\n\
         Message-ID: <third@example.test>\r\n\r\npoc\r\n"
    );
    s.stack.deliver(RESEARCHER, SECURITY, &tagged);
    // A stranger copying the tag gets a report of their own.
    let stranger = format!(
        "From: other@example.test\r\nTo: security@example.test\r\nSubject: Re: [{id}] RCE in upload\r\n\
         Message-ID: <stranger@example.test>\r\nIn-Reply-To: {ack_id}\r\n\r\nlet me in\r\n"
    );
    s.stack.deliver("other@example.test", SECURITY, &stranger);
    // The report, our own copy of its ack, and the three new messages.
    s.stack.wait_inbox(SECURITY, 5, WAIT);
    s.once();

    s.stack.wait_inbox("other@example.test", 1, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 1, "no second ack to the reporter");
    let reports = s.reports();
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert_eq!(reports[0]["id"], id.as_str());
    assert_eq!(reports[0]["messages"], 3);
    assert_eq!(reports[1]["reporter"], "other@example.test");
    assert_eq!(reports[1]["messages"], 1);
    let other_ack = &s.stack.inbox("other@example.test")[0];
    assert!(
        !other_ack.contains("secret-steps-4711") && !other_ack.contains(&ack_id),
        "nothing of the other thread leaks"
    );
}

#[test]
fn crlf_in_subject_does_not_reach_reply_headers() {
    let s = Setup::new();
    let raw = "From: researcher@example.test\r\nTo: security@example.test\r\n\
               Subject: =?UTF-8?Q?hello=0D=0ABcc:_other@example.test=0D=0A=0D=0Ainjected?=\r\n\
               Message-ID: <inject@example.test>\r\n\r\nbody\r\n";
    s.stack.deliver(RESEARCHER, SECURITY, raw);
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0).replace("\r\n", "\n");
    let head = ack.split("\n\n").next().unwrap();
    assert!(
        !head.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    let subject = header(&ack, "Subject").unwrap();
    assert!(subject.starts_with("[SEC-"), "{subject}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        s.stack.inbox("other@example.test").is_empty(),
        "no copy went to the injected Bcc"
    );
}

#[test]
fn per_sender_limit_stops_mail_bombing_a_third_party() {
    let s = Setup::with(Options {
        max_per_sender: 2,
        ..Options::default()
    });
    for i in 0..5 {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("bomb{i}@example.test"), &format!("report {i}"), "x"),
        );
    }
    s.stack.wait_inbox(SECURITY, 5, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 2);
    assert_eq!(s.reports().len(), 5, "every report is still recorded");
}

#[test]
fn oversize_mail_is_recorded_and_flagged_not_downloaded() {
    let s = Setup::with(Options {
        extra: String::new(),
        ..Options::default()
    });
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "timeout_secs = 20\n",
        "timeout_secs = 20\nmax_message_size = 2000\n",
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let big = report("big@example.test", "huge PoC", &"A".repeat(5000));
    s.stack.deliver(RESEARCHER, SECURITY, &big);
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("small@example.test", "small", "x"));
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let out = s.embargo(&["messages", "--json"]);
    let msgs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &msgs.as_array().unwrap()[0];
    assert_eq!(m["kind"], "failed");
    assert!(m["reason"].as_str().unwrap().starts_with("oversize"), "{m}");
    assert_eq!(m["subject"], "huge PoC");
    // \Flagged on the server: Maildir flag F in the file name.
    let flagged = std::fs::read_dir(s.stack.dir.join("mail/example.test/security/Maildir/cur"))
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .rsplit(":2,")
                .next()
                .unwrap_or("")
                .contains('F')
        });
    assert!(flagged);
}

#[test]
fn plain_imap_and_smtp_on_loopback_work() {
    let s = Setup::with(Options {
        imap_security: "none",
        smtp_security: "none",
        ..Options::default()
    });
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("plain@example.test", "over plain loopback", "x"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    assert_eq!(header(&ack, "In-Reply-To").as_deref(), Some("<plain@example.test>"));
}
