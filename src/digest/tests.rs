//! The digest for a fixture database with reports in every state, against
//! golden files (`UPDATE_GOLDEN=1 cargo test digest` rewrites them).

use std::path::Path;

use jiff::Timestamp;

use super::*;
use crate::policy::Calendar;
use crate::store::{Disposition, InboundRow, NewReport, Outgoing, Source};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn add(store: &mut Store, uid: u32, subject: &str, received: &str, excluded: Option<&str>) -> String {
    let row = InboundRow {
        message_id: format!("<m{uid}@example.test>"),
        from_addr: format!("r{uid}@example.test"),
        subject: subject.to_owned(),
        received_at: Some(ts(received)),
        ..InboundRow::default()
    };
    let out = Outgoing {
        kind: crate::store::MailKind::Ack,
        recipient: format!("r{uid}@example.test"),
        envelope_from: String::new(),
        message_id: format!("<ack{uid}@example.test>"),
        subject: String::new(),
        from_addr: "security@example.test".into(),
        raw: b"x".to_vec(),
    };
    let d = Disposition::NewReport(NewReport {
        reporter: format!("r{uid}@example.test"),
        reporter_name: String::new(),
        subject: subject.to_owned(),
        compose: Box::new(move |_| Ok(Some(out))),
        no_ack_reason: None,
        notes: vec![],
        excluded_topic: excluded.map(str::to_owned),
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    });
    let src = Source {
        mailbox: "INBOX".into(),
        uidvalidity: 1,
        uid,
    };
    match store.record(Some(&src), &row, d, "SEC").unwrap() {
        crate::store::Recorded::NewReport { tracking_id, .. } => tracking_id,
        other => panic!("{other:?}"),
    }
}

fn fixture() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    let now = "2026-12-10T09:00:00Z";
    let _ = now;
    // new, received today: awaiting, 5 business days left
    add(&mut s, 1, "XSS in search", "2026-12-10T08:00:00Z", None);
    // new, received 9 days ago: response overdue
    add(&mut s, 2, "SQL injection in login", "2026-12-01T10:00:00Z", None);
    // triaged, fix due in 10 days (received ~80 days ago)
    let t = add(&mut s, 3, "CSRF on settings", "2026-09-21T10:00:00Z", None);
    s.set_state(&t, "triaged".parse().unwrap(), "", "test").unwrap();
    // fixing, fix overdue (received 100 days ago)
    let f = add(&mut s, 4, "RCE in importer", "2026-09-01T10:00:00Z", None);
    s.set_state(&f, "fixing".parse().unwrap(), "", "test").unwrap();
    // fixed, details due in 5 days
    let x = add(&mut s, 5, "SSRF in webhooks", "2026-10-01T10:00:00Z", None);
    s.set_fixed(&x, ts("2026-11-15T00:00:00Z"), "test").unwrap();
    s.set_credit(&x, Some(("Rita Researcher", "https://rita.example.test")), "test")
        .unwrap();
    // disclosed, excluded, duplicate, invalid, withdrawn: not in the lists
    let d = add(&mut s, 6, "Old bug", "2026-06-01T10:00:00Z", None);
    s.set_fixed(&d, ts("2026-07-01T00:00:00Z"), "test").unwrap();
    s.set_state(&d, "disclosed".parse().unwrap(), "", "test").unwrap();
    add(
        &mut s,
        7,
        "Missing DMARC record",
        "2026-12-09T10:00:00Z",
        Some("spf-dmarc"),
    );
    let dup = add(&mut s, 8, "SQL injection again", "2026-12-02T10:00:00Z", None);
    s.merge(&dup, "SEC-2026-0002", "test").unwrap();
    let inv = add(&mut s, 9, "Not a bug", "2026-12-03T10:00:00Z", None);
    s.set_state(&inv, "invalid".parse().unwrap(), "", "test").unwrap();
    let w = add(&mut s, 10, "Withdrawn", "2026-12-04T10:00:00Z", None);
    s.set_state(&w, "withdrawn".parse().unwrap(), "", "test").unwrap();
    // needs-info: asked 7 days ago (waiting), and 51 days ago (close?)
    for (uid, subject, received, asked) in [
        (11, "Open redirect", "2026-11-30T10:00:00Z", "2026-12-03T10:00:00Z"),
        (12, "Crash on login", "2026-10-01T10:00:00Z", "2026-10-20T10:00:00Z"),
    ] {
        let id = add(&mut s, uid, subject, received, None);
        s.set_state(&id, "needs-info".parse().unwrap(), "which version?", "test")
            .unwrap();
        s.conn()
            .execute(
                "UPDATE reports SET waiting_since = ?2 WHERE tracking_id = ?1",
                [&id, asked],
            )
            .unwrap();
    }
    s
}

fn calendar() -> Calendar {
    Calendar {
        tz: jiff::tz::TimeZone::get("Europe/London").unwrap(),
        ..Calendar::default()
    }
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/digest")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() || !path.exists() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual,
        expected,
        "differs from {} (UPDATE_GOLDEN=1 to accept)",
        path.display()
    );
}

#[test]
fn digest_for_every_state_matches_the_golden_files() {
    let s = fixture();
    let d = build(
        &s,
        &calendar(),
        &Promises::default(),
        "Example Security Team",
        None,
        ts("2026-12-10T09:00:00Z"),
    )
    .unwrap();
    let ids = |rows: &[Row]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&d.overdue), ["SEC-2026-0002", "SEC-2026-0004"]);
    assert_eq!(ids(&d.awaiting), ["SEC-2026-0001"]);
    assert_eq!(ids(&d.fix_soon), ["SEC-2026-0003"]);
    assert_eq!(ids(&d.details_soon), ["SEC-2026-0005"]);
    assert_eq!(ids(&d.waiting_for_reporter), ["SEC-2026-0011"]);
    assert_eq!(ids(&d.close_proposals), ["SEC-2026-0012"]);
    assert!(
        d.waiting_for_reporter[0]
            .note
            .starts_with("waiting for 6 days (asked Thu 3 Dec 2026)"),
        "{}",
        d.waiting_for_reporter[0].note
    );
    assert!(
        d.close_proposals[0].note.starts_with("no answer for 50 days"),
        "{}",
        d.close_proposals[0].note
    );
    assert_eq!(d.excluded_count, 1);
    assert!(!d.is_empty());
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let text = crate::text::render_file(&config.join("digest.txt"), &d).unwrap();
    let html = crate::text::render_file(&config.join("digest.html"), &d).unwrap();
    assert!(html.contains("SEC-2026-0002") && html.contains("#cf222e") && !html.contains("<script"));
    check_golden("digest.txt", &text);
    check_golden("digest.html", &html);
}

#[test]
fn an_empty_mailbox_has_nothing_to_say() {
    let s = Store::open_in_memory().unwrap();
    let d = build(
        &s,
        &calendar(),
        &Promises::default(),
        "T",
        None,
        ts("2026-12-10T09:00:00Z"),
    )
    .unwrap();
    assert!(d.is_empty());
}

#[test]
fn hall_of_fame_lists_only_credited_fixed_reports() {
    let mut s = fixture();
    // Declined, and credited but not fixed: neither appears.
    s.set_credit("SEC-2026-0004", Some(("Not Fixed Yet", "")), "test")
        .unwrap();
    s.set_credit("SEC-2026-0006", None, "test").unwrap();
    let people = s.hall_of_fame().unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].name, "Rita Researcher");
    assert_eq!(people[0].month, "2026-11");
    // A later report of the same issue, merged into the fixed one: its
    // reporter's credit wish counts with the report it joined.
    let dup = add(&mut s, 13, "SSRF via webhooks again", "2026-10-05T10:00:00Z", None);
    s.set_credit(&dup, Some(("Dana Duplicate", "")), "test").unwrap();
    s.merge(&dup, "SEC-2026-0005", "test").unwrap();
    let people = s.hall_of_fame().unwrap();
    let names: Vec<(&str, &str)> = people
        .iter()
        .map(|p| (p.name.as_str(), p.tracking_id.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Rita Researcher", "SEC-2026-0005"),
            ("Dana Duplicate", "SEC-2026-0005")
        ]
    );
}

#[test]
fn new_reports_in_the_digest_carry_their_similar_reports_and_the_redacted_digest_no_evidence() {
    let mut s = Store::open_in_memory().unwrap();
    let text = "GET /_matrix/media/v3/preview_url?url=https://a.example redirects to 169.254.169.254: SSRF";
    for uid in [1, 2] {
        let row = InboundRow {
            message_id: format!("<s{uid}@example.test>"),
            from_addr: format!("r{uid}@example.test"),
            subject: "SSRF in URL previews".into(),
            received_at: Some(ts("2026-12-09T10:00:00Z")),
            body: text,
            terms: crate::similar::terms("SSRF in URL previews", text, &[]),
            ..InboundRow::default()
        };
        let d = Disposition::NewReport(NewReport {
            reporter: row.from_addr.clone(),
            reporter_name: String::new(),
            subject: row.subject.clone(),
            compose: Box::new(|_| Ok(None)),
            no_ack_reason: Some("test".into()),
            notes: vec![],
            excluded_topic: None,
            alerts: Box::new(|_| Ok(vec![])),
            held_ack: None,
            channels: Vec::new(),
        });
        s.record(None, &row, d, "SEC").unwrap();
    }
    let mut d = build(
        &s,
        &calendar(),
        &Promises::default(),
        "T",
        None,
        ts("2026-12-10T09:00:00Z"),
    )
    .unwrap();
    d.suggest(&s, crate::similar::THRESHOLD, &Default::default()).unwrap();
    let second = d.new_reports.iter().find(|r| r.id == "SEC-2026-0002").unwrap();
    assert_eq!(second.similar[0].id, "SEC-2026-0001");
    assert!(second.similar[0].evidence.iter().any(|e| e.contains("preview_url")));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let text = crate::text::render_file(&config.join("digest.txt"), &d).unwrap();
    assert!(text.contains("similar: SEC-2026-0001"), "{text}");
    d.redact_encrypted();
    assert!(
        d.new_reports
            .iter()
            .all(|r| r.similar.iter().all(|s| s.evidence.is_empty()))
    );
}
