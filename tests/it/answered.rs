//! Every real report is answered, through the real servers and the CLI
//! (the decisions alone, a proven sender's acknowledgements and a forged
//! flood's cost, are in `tests/intake/answered.rs`).

use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

fn setup(extra: &str) -> Setup {
    Setup::with(Options {
        max_per_sender: 5,
        extra: format!("combine_after_secs = 2\n{extra}"),
        ..Options::default()
    })
}

fn send_reports(s: &Setup, n: usize, helo: &str) -> Vec<String> {
    let ids: Vec<String> = (1..=n).map(|i| format!("audit{i}@example.test")).collect();
    for (i, id) in ids.iter().enumerate() {
        s.stack.deliver_as(
            helo,
            RESEARCHER,
            SECURITY,
            &report(id, &format!("Audit finding {}", i + 1), "details"),
        );
    }
    s.stack.wait_inbox(SECURITY, n, WAIT);
    ids
}

#[test]
fn seven_reports_from_an_unauthenticated_researcher_are_all_acknowledged() {
    let s = setup("");
    let ids = send_reports(&s, 7, "test.example");
    s.once();
    let acks = s.stack.wait_inbox(RESEARCHER, 5, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 5, "five at once: {acks:?}");
    let status: serde_json::Value = serde_json::from_slice(&s.embargo(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["acks_held"], 2, "{status}");
    // Which two are held depends on the order Dovecot numbered them (Exim
    // delivers in parallel), not on the order they were sent.
    let held_reports: Vec<serde_json::Value> = s
        .reports()
        .into_iter()
        .filter(|r| r["acknowledged_at"].is_null())
        .collect();
    let held: Vec<String> = held_reports
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let held_mail: Vec<&String> = held_reports
        .iter()
        .map(|r| {
            let n: usize = r["subject"]
                .as_str()
                .unwrap()
                .trim_start_matches("Audit finding ")
                .parse()
                .unwrap();
            &ids[n - 1]
        })
        .collect();
    assert_eq!(held.len(), 2);
    let show = String::from_utf8(s.embargo(&["reports", "show", &held[0]]).stdout).unwrap();
    assert!(show.contains("held by the per-sender limit until"), "{show}");
    let digest = String::from_utf8(s.embargo(&["digest", "--dry-run"]).stdout).unwrap();
    assert!(
        digest.contains("held by the per-sender limit, to go out combined: 2"),
        "{digest}"
    );

    // The period is up: one combined acknowledgement lists both.
    std::thread::sleep(Duration::from_secs(3));
    s.once();
    let all = s.stack.wait_inbox(RESEARCHER, 6, WAIT);
    let combined = all
        .iter()
        .find(|m| header(m, "Subject").unwrap().contains("your 2 reports"))
        .expect("one combined acknowledgement");
    for id in &held {
        assert!(combined.contains(id.as_str()), "{id} listed:\n{combined}");
    }
    let refs = header(combined, "References").unwrap();
    assert!(
        held_mail.iter().all(|id| refs.contains(&format!("<{id}>"))),
        "{refs} cites {held_mail:?}"
    );
    assert_eq!(header(combined, "Auto-Submitted").as_deref(), Some("auto-replied"));
    assert!(
        s.reports().iter().all(|r| r["acknowledged_at"].is_string()),
        "every report acknowledged"
    );
    let show = String::from_utf8(s.embargo(&["reports", "show", &held[1]]).stdout).unwrap();
    assert!(show.contains("acknowledged in a combined reply"), "{show}");
    std::thread::sleep(Duration::from_secs(3));
    s.once();
    assert_eq!(s.stack.inbox(RESEARCHER).len(), 6, "nothing twice");
}

fn labelled(kind: &str, n: &str) -> (String, String) {
    let text =
        std::fs::read_to_string(repo().join("tests/data/exclusion").join(kind).join(format!("{n}.txt"))).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    (head.trim_start_matches("Subject:").trim().to_owned(), body.to_owned())
}

fn utf8_report(id: &str, subject: &str, body: &str) -> String {
    report(id, subject, body).replace(
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
    )
}

/// A real vulnerability in software that handles mail authentication (an
/// email bridge that trusts From:, "email spoofing" and "DMARC" in the text,
/// and it says it is not about the DNS records) is a report, not a form
/// reply; the day's excluded mail is listed with what matched, and a false
/// positive is taken back with the normal acknowledgement.
#[test]
fn a_real_report_about_mail_authentication_is_never_excluded() {
    let s = Setup::with(Options {
        extra: "\n[team]\nmembers = [\"team@example.test\"]\nnotify = [\"team@example.test\"]\n".to_owned(),
        ..Options::default()
    });
    let (beg_subject, beg_body) = labelled("beg", "01");
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &utf8_report("beg@example.test", &beg_subject, &beg_body),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let (subject, body) = labelled("genuine", "23");
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &utf8_report("bridge@example.test", &subject, &body),
    );
    s.stack.wait_for(SECURITY, "<bridge@example.test>", WAIT);
    s.once();
    let reports = s.reports();
    let bridge = reports.iter().find(|r| r["subject"] == subject.as_str()).unwrap();
    assert_eq!(bridge["state"], "new", "{bridge}");
    assert_eq!(bridge["excluded_topic"], serde_json::Value::Null);
    let mails = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    let ack = mails
        .iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<bridge@example.test>"))
        .unwrap();
    assert!(
        ack.contains("thank you for your report") && ack.contains("business days"),
        "the acknowledgement, not the form reply: {ack}"
    );
    // The alert for the real report lists the excluded one with what matched.
    let beg = reports.iter().find(|r| r["subject"] == beg_subject.as_str()).unwrap();
    let beg_id = beg["id"].as_str().unwrap().to_owned();
    assert_eq!(beg["state"], "excluded");
    let alerts = s.stack.wait_inbox("team@example.test", 1, WAIT);
    let alert = alerts
        .iter()
        .find(|m| m.contains(bridge["id"].as_str().unwrap()))
        .unwrap();
    assert!(alert.contains(&beg_id) && alert.contains("matched:"), "{alert}");
    let digest = String::from_utf8(s.embargo(&["digest", "--dry-run"]).stdout).unwrap();
    assert!(digest.contains(&beg_id) && digest.contains("matched:"), "{digest}");
    // The team decides the excluded one is real after all.
    let out = s.embargo(&["reports", "state", &beg_id, "new"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("acknowledgement to"), "{said}");
    let mails = s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    let ack = mails
        .iter()
        .filter(|m| header(m, "In-Reply-To").as_deref() == Some("<beg@example.test>"))
        .find(|m| m.contains("business days") && m.contains(&beg_id))
        .expect("the normal acknowledgement");
    assert_eq!(header(ack, "Auto-Submitted").as_deref(), Some("auto-replied"));
    let r = s.reports().into_iter().find(|r| r["id"] == beg_id).unwrap();
    assert_eq!(r["state"], "new");
}
