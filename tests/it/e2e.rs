//! End to end through real Dovecot and Exim: report in, acknowledgement out.
//! (Which mail is a report, joins one or is never answered is decided by
//! intake alone: `tests/intake/threading.rs`.)

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
