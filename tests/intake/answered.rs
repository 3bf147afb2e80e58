//! Every real report is answered: past the per-sender limit,
//! acknowledgements are merged into one combined acknowledgement per
//! address and period, never dropped; a proven sender gets one for each.
//! The periods pass by calling the daemon's periodic step at a later time.

use jiff::{SignedDuration, Timestamp};

use crate::report;
use crate::world::*;

fn world(extra: &str) -> World {
    World::build(&format!("combine_after_secs = 2\n{extra}"), &[], 5)
}

#[test]
fn an_authenticated_researcher_gets_an_acknowledgement_for_every_report() {
    let mut w = world(&format!("\n[trust]\nauthserv_id = \"{AUTHSERV_ID}\"\n"));
    for i in 1..=7 {
        let out = w.deliver_as(
            DMARC_PASS,
            RESEARCHER,
            &report(
                &format!("audit{i}@example.test"),
                &format!("Audit finding {i}"),
                "details",
            ),
        );
        assert_eq!(out.kinds(), ["ack"], "report {i}");
    }
    assert_eq!(w.inbox(RESEARCHER).len(), 7);
    w.reports()
        .iter()
        .for_each(|r| assert!(r["acknowledged_at"].is_string(), "{r}"));
}

/// 200 forged reports, all with the victim's address as Return-Path: the
/// victim gets the limit plus one combined acknowledgement per period.
#[test]
fn a_forged_flood_costs_its_victim_the_limit_plus_one_mail_per_period() {
    let mut w = world("");
    let victim = "other@example.test";
    for i in 0..200 {
        w.deliver(
            victim,
            &format!(
                "From: stranger{i}@evil.example\r\nTo: {SECURITY}\r\nSubject: Finding {i}\r\nMessage-ID: <flood{i}@evil.example>\r\n\r\nx\r\n"
            ),
        );
    }
    assert_eq!(w.inbox(victim).len(), 5, "the limit at once");
    let mut periods = 0;
    for p in 1..=2 {
        w.combine_at(Timestamp::now() + SignedDuration::from_secs(3 * p));
        periods += 1;
    }
    let got = w.inbox(victim);
    assert!(got.len() <= 5 + periods, "{} mails for {periods} periods", got.len());
    // One combined acknowledgement carries every report held in the
    // period (100 with their subjects, the rest by tracking id): every
    // report is acknowledged after one period, the second sends nothing.
    assert_eq!(got.len(), 6);
    assert!(w.reports().iter().all(|r| r["acknowledged_at"].is_string()));
    assert!(got.iter().all(|m| m.len() < 64 * 1024), "bounded");
}
