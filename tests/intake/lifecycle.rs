//! The policy's rules and clocks as intake applies them: excluded topics,
//! reopening, the team's response, the reporter waiting, credit wishes.

use crate::world::*;
use crate::{header, report};

fn labelled(kind: &str, n: &str) -> (String, String) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/exclusion")
            .join(kind)
            .join(format!("{n}.txt")),
    )
    .unwrap();
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
    let mut w = World::new();
    let (subject, body) = labelled("beg", "05");
    w.deliver(RESEARCHER, &mail("beg@example.test", &subject, &body, ""));
    let (g_subject, g_body) = labelled("genuine", "02");
    w.deliver(RESEARCHER, &mail("real@example.test", &g_subject, &g_body, ""));
    let replies = w.inbox(RESEARCHER);
    assert_eq!(replies.len(), 2);
    let oos = replies
        .iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<beg@example.test>"))
        .unwrap();
    assert!(oos.contains("out of scope") && oos.contains("reply"), "{oos}");
    let beg = w.report(&subject);
    assert_eq!(beg["state"], "excluded");
    assert_eq!(beg["excluded_topic"], "spf-dmarc");
    let real = w.report(&g_subject);
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
    w.deliver(RESEARCHER, &reply);
    let all = w.inbox(RESEARCHER);
    assert_eq!(all.len(), 3);
    let ack = all
        .iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<beg-reply@example.test>"))
        .unwrap();
    assert!(ack.contains("5 business days"), "{ack}");
    let beg = w.show(id);
    assert_eq!(beg["state"], "new");
    assert_eq!(beg["messages"], 2);
}

#[test]
fn team_reply_stops_the_response_clock_and_the_reporter_waits() {
    // The operator's MTA vouches for the senders (DMARC pass): only
    // authenticated mail moves clocks and credit (attacks.rs has the
    // forged variants).
    let mut w = World::with(&format!(
        "\n[team]\nmembers = [\"{TEAM}\"]\n\n[trust]\nauthserv_id = \"{AUTHSERV_ID}\"\n"
    ));
    let out = w.deliver(RESEARCHER, &report("clock@example.test", "IDOR in invoices", "details"));
    assert_eq!(out.kinds(), ["ack"]);
    let id = out.id().unwrap().to_owned();
    let r = w.show(&id);
    assert!(r["response_due"].is_string() && r["fix_due"].is_string(), "{r}");
    assert_eq!(r["details_due"], serde_json::Value::Null);
    assert!(r["response_business_days_left"].as_i64().unwrap() >= 4, "{r}");

    // The team answers the reporter with security@ in Cc.
    let team = format!(
        "From: Tess Team <{TEAM}>\r\nTo: researcher@example.test\r\nCc: security@example.test\r\n\
         Subject: Re: [{id}] IDOR in invoices\r\nMessage-ID: <team1@example.test>\r\nIn-Reply-To: <clock@example.test>\r\n\r\n\
         Thanks, we can reproduce it.\r\n"
    );
    w.deliver_as(DMARC_PASS, TEAM, &team);
    let r = w.show(&id);
    assert_eq!(r["state"], "triaged", "{r}");
    assert!(r["response_met_at"].is_string());
    assert_eq!(r["response_business_days_left"], serde_json::Value::Null);
    assert_eq!(r["reporter_waiting"], false);
    // The store stamps the team's and the reporter's last mail with the
    // wall clock, in seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // The reporter answers, stating how to be credited.
    let again = mail(
        "clock2@example.test",
        &format!("Re: [{id}] IDOR in invoices"),
        "Great. Credit: Rita Researcher https://rita.example.test\n",
        "In-Reply-To: <team1@example.test>\r\n",
    );
    let out = w.deliver_as(DMARC_PASS, RESEARCHER, &again);
    assert!(out.queued.is_empty(), "no ack to follow-ups: {:?}", out.kinds());
    let r = w.show(&id);
    assert_eq!(r["reporter_waiting"], true, "{r}");
    assert_eq!(r["credit"], "yes");
    assert_eq!(r["credit_name"], "Rita Researcher");
    assert_eq!(r["credit_url"], "https://rita.example.test");
    assert_eq!(w.inbox(RESEARCHER).len(), 1, "no ack to the team or to follow-ups");
}
