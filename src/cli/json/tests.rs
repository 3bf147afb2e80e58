//! Every `--json` output's field names, pinned: a sample database with one
//! of everything (a report merged into another, a thread with in- and
//! outgoing mail, events, a downstream notice, a credit proposal, a similar
//! report and an advisory, a learned key, mail that is not a report), each
//! output's field paths compared with `tests/data/json/NAME.txt`.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::store::{Disposition, FollowUp, InboundRow, NewKey, NewReport, Outgoing, Store};

fn new_report(s: &mut Store, uid: u32, subject: &str, body: &str) -> String {
    let row = InboundRow {
        message_id: format!("<j{uid}@example.test>"),
        from_addr: format!("r{uid}@example.test"),
        subject: subject.to_owned(),
        body,
        terms: crate::similar::terms(subject, body, &[]),
        missing: vec!["version"],
        keys: vec![NewKey {
            address: format!("r{uid}@example.test"),
            fingerprint: format!("{uid:040X}"),
            cert: b"not a real key".to_vec(),
            source: "autocrypt".into(),
            status: "pinned",
            replaces: false,
            vouched: false,
        }],
        ..InboundRow::default()
    };
    let out = Outgoing {
        kind: crate::store::MailKind::Ack,
        recipient: row.from_addr.clone(),
        envelope_from: String::new(),
        message_id: format!("<ack{uid}@example.test>"),
        subject: format!("Re: {subject}"),
        from_addr: "security@example.test".into(),
        raw: b"x".to_vec(),
    };
    let d = Disposition::NewReport(NewReport {
        reporter: row.from_addr.clone(),
        reporter_name: "Rita".into(),
        subject: subject.to_owned(),
        compose: Box::new(move |_| Ok(Some(out))),
        no_ack_reason: None,
        notes: vec![],
        excluded_topic: None,
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    });
    match s.record(None, &row, d, "SEC").unwrap() {
        crate::store::Recorded::NewReport { tracking_id, .. } => tracking_id,
        other => panic!("{other:?}"),
    }
}

/// Every `--json` output of the sample database, by name.
fn outputs() -> Vec<(&'static str, serde_json::Value)> {
    let mut s = Store::open_in_memory().unwrap();
    let body = "GET /_matrix/media/v3/preview_url?url=https://a.example redirects to 169.254.169.254 (SSRF)";
    let first = new_report(&mut s, 1, "SSRF in URL previews", body);
    let second = new_report(&mut s, 2, "SSRF in URL previews again", body);
    // A credit wish from unauthenticated mail: a proposal.
    let row = InboundRow {
        message_id: "<credit@example.test>".into(),
        from_addr: "r1@example.test".into(),
        subject: format!("Re: [{first}]"),
        body: "Credit: Rita Researcher",
        ..InboundRow::default()
    };
    let report_id = s.thread(&first).unwrap().report_id;
    s.record(
        None,
        &row,
        Disposition::FollowUp(FollowUp {
            report_id,
            how: "tracking tag".into(),
            author: crate::store::Author::Reporter(crate::store::FromReporter {
                proven: false,
                credit: crate::triage::credit_wish("Credit: Rita Researcher"),
                reopen: None,
                reopen_held: None,
                answered: None,
            }),
        }),
        "SEC",
    )
    .unwrap();
    s.set_state(&first, "triaged".parse().unwrap(), "", "test").unwrap();
    let notice = Outgoing {
        kind: crate::store::MailKind::DownstreamNotice,
        recipient: "security@distro.example".into(),
        envelope_from: String::new(),
        message_id: "<notice@example.test>".into(),
        subject: String::new(),
        from_addr: "security@example.test".into(),
        raw: b"x".to_vec(),
    };
    s.record_downstream_notice(
        &first,
        &crate::store::NewNotice {
            name: "Distro",
            release_at: "2027-01-12T15:00:00Z".parse().unwrap(),
            encrypted: true,
            exceptions: "",
        },
        &notice,
        "test",
    )
    .unwrap();
    s.merge(&second, &first, "test").unwrap();
    let automatic = InboundRow {
        message_id: "<auto@example.test>".into(),
        from_addr: "mailer-daemon@example.test".into(),
        subject: "Undeliverable".into(),
        ..InboundRow::default()
    };
    s.record(
        None,
        &automatic,
        Disposition::Automatic {
            reason: "bounce".into(),
        },
        "SEC",
    )
    .unwrap();

    let cal = crate::policy::Calendar::default();
    let promises = crate::policy::Promises::default();
    let now = jiff::Timestamp::now();
    let mut reports = s.list_reports().unwrap();
    for r in &mut reports {
        crate::policy::annotate(r, &cal, &promises, now);
    }
    let mut detail = s.show_report(&first).unwrap().unwrap();
    crate::policy::annotate(&mut detail.summary, &cal, &promises, now);
    detail.similar = s.suggest_for(&first, 0.01, &Default::default(), 5).unwrap();
    detail.similar.push(crate::similar::Suggestion {
        id: "GHSA-aaaa-bbbb-cccc".into(),
        score: 0.5,
        evidence: vec!["same endpoint `/x`".into()],
        kind: "advisory",
        fixed: Some("1.2.3".into()),
        state: None,
        report: Some("SEC-2026-0009".into()),
    });
    let similar = detail.similar.clone();
    let cve = crate::store::CveRow {
        cve_id: "CVE-2026-1000".into(),
        tracking_id: first.clone(),
        state: "PUBLISHED".into(),
        reserved_at: Some("2026-12-01T10:00:00Z".into()),
        published_at: Some("2027-01-12T15:00:00Z".into()),
        rejected_at: None,
        checked_at: "2027-01-12T15:00:00Z".into(),
    };
    let ghsa = crate::store::GhsaRow {
        ghsa_id: "GHSA-2c8v-5q9w-j7hx".into(),
        repository: "example/server".into(),
        state: "published".into(),
        cve_id: Some("CVE-2026-1000".into()),
        cve_requested_at: None,
        html_url: Some("https://github.com/example/server/security/advisories/GHSA-2c8v-5q9w-j7hx".into()),
        checked_at: "2027-01-12T15:00:00Z".into(),
    };
    detail.cve = vec![cve.clone()];
    detail.ghsa = Some(ghsa.clone());
    let messages = s.unreported_messages(10).unwrap();
    let team = [crate::openpgp::keys::TeamKeyInfo {
        fingerprint: "0123".into(),
        algorithm: "EdDSA".into(),
        expiry: Some("2028-01-01T00:00:00Z".into()),
        user_ids: vec!["security@example.test".into()],
        file: "team.sec.asc".into(),
    }];
    let reporters = s.reporter_keys().unwrap();
    let v = |x: &dyn erased::Ser| x.value();
    vec![
        ("reports-list", v(&reports.iter().map(Report::from).collect::<Vec<_>>())),
        ("reports-show", v(&Detail::from(&detail))),
        (
            "reports-similar",
            v(&similar.iter().map(Suggestion::from).collect::<Vec<_>>()),
        ),
        ("messages", v(&messages.iter().map(Message::from).collect::<Vec<_>>())),
        (
            "cve-status",
            v(&CveStatus {
                ids: vec![CveId::from(&cve)],
                waiting: vec![CveWaiting {
                    report: "SEC-2026-0002",
                    attempts: 1,
                    last_error: Some("CVE Services failed"),
                }],
            }),
        ),
        (
            "cve-done",
            v(&CveDone {
                report: "SEC-2026-0001",
                cve_id: "CVE-2026-1000",
                state: "RESERVED",
                outcome: "reserved",
            }),
        ),
        (
            "advisory-publish",
            v(&Ghsa {
                report: Some("SEC-2026-0001"),
                ..Ghsa::from(&ghsa)
            }),
        ),
        (
            "keys-list",
            v(&Keys {
                team: team.iter().map(TeamKey::from).collect(),
                reporters: reporters.iter().map(LearnedKey::from).collect(),
            }),
        ),
    ]
}

/// `serde_json::to_value` behind a trait object.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

/// Every field path of a JSON value (`thread[].direction`), sorted.
fn paths(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_json_output_keeps_its_field_names() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/json");
    let mut differ = Vec::new();
    for (name, value) in outputs() {
        let mut found = BTreeSet::new();
        paths(&value, "", &mut found);
        let text: String = found.iter().map(|p| format!("{p}\n")).collect();
        let file = dir.join(format!("{name}.txt"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() || !file.exists() {
            std::fs::write(&file, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&file).unwrap();
        if expected != text {
            differ.push(format!("{}:\n{}", file.display(), diff(&expected, &text)));
        }
    }
    assert!(
        differ.is_empty(),
        "a --json contract changed (UPDATE_GOLDEN=1 if that is meant, and say so in CHANGELOG.md):\n{}",
        differ.join("\n")
    );
}

fn diff(expected: &str, found: &str) -> String {
    let e: BTreeSet<&str> = expected.lines().collect();
    let f: BTreeSet<&str> = found.lines().collect();
    let mut out = String::new();
    for gone in e.difference(&f) {
        out.push_str(&format!("  - {gone}\n"));
    }
    for new in f.difference(&e) {
        out.push_str(&format!("  + {new}\n"));
    }
    out
}
