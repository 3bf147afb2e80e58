use std::cell::RefCell;

use super::*;
use crate::message::parse;

#[derive(Default)]
struct Fake {
    seen: Vec<String>,
    by_id: Vec<(String, ReportRef)>,
    by_tag: Vec<(String, ReportRef)>,
    outgoing: Vec<String>,
    asked: RefCell<Vec<String>>,
    /// (report id, address) pairs sent a downstream notice.
    notified: Vec<(i64, String)>,
}

impl ThreadIndex for Fake {
    type Error = anyhow::Error;
    fn inbound_seen(&self, message_id: &str) -> anyhow::Result<bool> {
        Ok(self.seen.iter().any(|s| s == message_id))
    }
    fn by_message_ids(&self, ids: &[String]) -> anyhow::Result<Option<ReportRef>> {
        self.asked.borrow_mut().extend(ids.iter().cloned());
        Ok(ids
            .iter()
            .find_map(|id| self.by_id.iter().find(|(k, _)| k == id).map(|(_, r)| r.clone())))
    }
    fn by_tracking_id(&self, tag: &str) -> anyhow::Result<Option<ReportRef>> {
        Ok(self.by_tag.iter().find(|(k, _)| k == tag).map(|(_, r)| r.clone()))
    }
    fn is_our_outgoing(&self, message_id: &str) -> anyhow::Result<bool> {
        Ok(self.outgoing.iter().any(|s| s == message_id))
    }
    fn downstream_notified(&self, report: &ReportRef, address: &str) -> anyhow::Result<bool> {
        Ok(self.notified.iter().any(|(id, a)| *id == report.id && a == address))
    }
}

fn me() -> Identity {
    Identity {
        address: "security@example.test".into(),
        prefix: "SEC".into(),
        team: vec!["lead@example.test".into()],
        downstream: vec!["security@distro.example".into()],
    }
}

fn msg(headers: &str) -> Inbound {
    parse(format!("{headers}Message-ID: <m@example.test>\r\n\r\nbody\r\n").as_bytes()).unwrap()
}

fn report_ref() -> ReportRef {
    ReportRef {
        id: 7,
        tracking_id: "SEC-2026-0007".into(),
        reporter: "r@example.test".into(),
    }
}

const PLAIN: &str = "Return-Path: <r@example.test>\r\nFrom: r@example.test\r\nSubject: bug\r\n";

#[test]
fn plain_mail_is_a_new_report() {
    assert_eq!(
        decide(&msg(PLAIN), &me(), &Fake::default(), &[]).unwrap(),
        Decision::NewReport {
            notes: vec![],
            excluded: None,
            from_team: false
        }
    );
}

#[test]
fn automatic_mail_is_recognised() {
    let cases = [
        "Return-Path: <r@x>\r\nFrom: r@x\r\nAuto-Submitted: auto-generated\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nAUTO-SUBMITTED: Auto-Replied; owner-email=\"a@b\"\r\n",
        "Return-Path: <>\r\nFrom: r@x\r\n",
        "From: r@x\r\n",
        "Return-Path: <MAILER-DAEMON@x>\r\nFrom: r@x\r\n",
        "Return-Path: <r@x>\r\nFrom: Mail Delivery System <mailer-daemon@x>\r\n",
        "Return-Path: <r@x>\r\nFrom: postmaster@x\r\n",
        "Return-Path: <foo-request@x>\r\nFrom: r@x\r\n",
        "Return-Path: <owner-foo@x>\r\nFrom: r@x\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nList-Id: <l.x>\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nList-Unsubscribe: <mailto:u@x>\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nPrecedence: Bulk\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nPrecedence: junk\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nPrecedence: list\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nX-Auto-Response-Suppress: OOF\r\n",
        "Return-Path: <security@example.test>\r\nFrom: r@x\r\n",
        "Return-Path: <r@x>\r\nFrom: Security@Example.test\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nX-Embargo-Loop: security@example.test\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
    ];
    for h in cases {
        match decide(&msg(h), &me(), &Fake::default(), &[]).unwrap() {
            Decision::Automatic { reason } => assert!(!reason.is_empty()),
            other => panic!("{h:?} gave {other:?}"),
        }
    }
}

#[test]
fn auto_submitted_no_and_normal_precedence_are_human() {
    for h in [
        "Return-Path: <r@x>\r\nFrom: r@x\r\nAuto-Submitted: no\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nPrecedence: first-class\r\n",
        "Return-Path: <r@x>\r\nFrom: requester@x\r\n",
        "Return-Path: <r@x>\r\nFrom: r@x\r\nX-Loop: somebody-else@x\r\n",
    ] {
        assert!(
            matches!(
                decide(&msg(h), &me(), &Fake::default(), &[]).unwrap(),
                Decision::NewReport { .. }
            ),
            "{h}"
        );
    }
}

#[test]
fn duplicates_and_own_copies() {
    let fake = Fake {
        seen: vec!["<m@example.test>".into()],
        ..Fake::default()
    };
    assert_eq!(decide(&msg(PLAIN), &me(), &fake, &[]).unwrap(), Decision::Duplicate);
    let fake = Fake {
        outgoing: vec!["<m@example.test>".into()],
        ..Fake::default()
    };
    let own = "Return-Path: <>\r\nFrom: security@example.test\r\nX-Embargo-Loop: security@example.test\r\n";
    assert_eq!(decide(&msg(own), &me(), &fake, &[]).unwrap(), Decision::OwnCopy);
}

#[test]
fn reporter_joins_by_references_and_by_tag() {
    let fake = Fake {
        by_id: vec![("<ack@example.test>".into(), report_ref())],
        ..Fake::default()
    };
    let h = format!("{PLAIN}In-Reply-To: <ack@example.test>\r\n");
    assert!(matches!(
        decide(&msg(&h), &me(), &fake, &[]).unwrap(),
        Decision::FollowUp { .. }
    ));
    let fake = Fake {
        by_tag: vec![("SEC-2026-0007".into(), report_ref())],
        ..Fake::default()
    };
    let h = "Return-Path: <r@example.test>\r\nFrom: R@Example.test\r\nSubject: Re: [sec-2026-0007] bug\r\n";
    match decide(&msg(h), &me(), &fake, &[]).unwrap() {
        Decision::FollowUp { report, how, .. } => {
            assert_eq!(report.id, 7);
            assert_eq!(how, "tracking tag");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn team_members_join_any_thread() {
    let fake = Fake {
        by_tag: vec![("SEC-2026-0007".into(), report_ref())],
        ..Fake::default()
    };
    let h = "Return-Path: <lead@example.test>\r\nFrom: lead@example.test\r\nSubject: Re: [SEC-2026-0007] bug\r\n";
    assert!(matches!(
        decide(&msg(h), &me(), &fake, &[]).unwrap(),
        Decision::FollowUp { .. }
    ));
}

#[test]
fn strangers_citing_a_thread_get_their_own_report() {
    let fake = Fake {
        by_id: vec![("<ack@example.test>".into(), report_ref())],
        by_tag: vec![("SEC-2026-0007".into(), report_ref())],
        ..Fake::default()
    };
    let h = "Return-Path: <evil@example.test>\r\nFrom: evil@example.test\r\nSubject: Re: [SEC-2026-0007] bug\r\n\
             In-Reply-To: <ack@example.test>\r\n";
    match decide(&msg(h), &me(), &fake, &[]).unwrap() {
        Decision::NewReport { notes, .. } => {
            assert_eq!(notes.len(), 2, "{notes:?}");
            assert!(notes.iter().all(|n| n.contains("SEC-2026-0007")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tags_are_found_only_as_whole_tokens() {
    assert_eq!(tracking_tags("[SEC-2026-0001] x", "SEC"), vec!["SEC-2026-0001"]);
    assert_eq!(
        tracking_tags("re: sec-2026-12 and SEC-2027-0003", "SEC"),
        vec!["SEC-2026-12", "SEC-2027-0003"]
    );
    assert!(tracking_tags("XSEC-2026-0001", "SEC").is_empty());
    assert!(tracking_tags("SEC-2026-0001X", "SEC").is_empty());
    assert!(tracking_tags("SEC-26-0001", "SEC").is_empty());
    assert!(tracking_tags("SEC-2026-", "SEC").is_empty());
    assert!(tracking_tags("SEC", "SEC").is_empty());
    assert!(tracking_tags("ünïcödé SEC-2026-0001 ü", "SEC").len() == 1);
}

#[test]
fn credit_wishes_are_recognised() {
    let w = credit_wish("Thanks!\nCredit: Jane Doe https://jane.example\n").unwrap();
    assert!(w.wanted);
    assert_eq!((w.name.as_str(), w.url.as_str()), ("Jane Doe", "https://jane.example"));
    let w = credit_wish("Please credit me as Jane D. (https://j.example).").unwrap();
    assert_eq!(w.name, "Jane D");
    assert!(!credit_wish("No credit needed, thanks.").unwrap().wanted);
    assert!(!credit_wish("I'd like to stay anonymous").unwrap().wanted);
    assert_eq!(credit_wish("> Credit: quoted from the ack\nok"), None);
    assert_eq!(credit_wish("Here are more details."), None);
}

#[test]
fn excluded_topics_apply_to_new_reports_from_outsiders_only() {
    let topics = [exclude::spf_dmarc("out-of-scope.txt".into())];
    let beg = "Return-Path: <r@example.test>\r\nFrom: r@example.test\r\nSubject: Missing DMARC record\r\n";
    let m = parse(
        format!("{beg}Message-ID: <b@x>\r\n\r\nNo DMARC record, email spoofing is possible. Bounty?\r\n").as_bytes(),
    )
    .unwrap();
    match decide(&m, &me(), &Fake::default(), &topics).unwrap() {
        Decision::NewReport {
            excluded: Some((topic, hits)),
            ..
        } => {
            assert_eq!(topic, "spf-dmarc");
            assert!(hits.len() >= 2);
        }
        other => panic!("{other:?}"),
    }
    // The same text in a thread is a conversation, not a new report.
    let fake = Fake {
        by_id: vec![("<ack@example.test>".into(), report_ref())],
        ..Fake::default()
    };
    let m = parse(format!("{beg}In-Reply-To: <ack@example.test>\r\nMessage-ID: <c@x>\r\n\r\nNo DMARC record, email spoofing is possible.\r\n").as_bytes()).unwrap();
    assert!(matches!(
        decide(&m, &me(), &fake, &topics).unwrap(),
        Decision::FollowUp {
            sender: crate::triage::Sender::Reporter,
            ..
        }
    ));
    // A team member's new mail is never excluded.
    let team = "Return-Path: <lead@example.test>\r\nFrom: lead@example.test\r\nSubject: fwd: Missing DMARC record\r\n";
    let m =
        parse(format!("{team}Message-ID: <d@x>\r\n\r\nNo DMARC record, email spoofing is possible.\r\n").as_bytes())
            .unwrap();
    assert!(matches!(
        decide(&m, &me(), &Fake::default(), &topics).unwrap(),
        Decision::NewReport {
            excluded: None,
            from_team: true,
            ..
        }
    ));
}

/// The Sent folder: only our replies to a report's own reporter count.
#[test]
fn sent_folder_replies_to_the_reporter_are_team_responses() {
    let index = Fake {
        by_id: vec![("<report@x>".into(), report_ref())],
        by_tag: vec![("SEC-2026-0007".into(), report_ref())],
        ..Fake::default()
    };
    let reply = "From: Security <security@example.test>\r\nTo: Rita <r@example.test>\r\nSubject: Re: bug\r\nIn-Reply-To: <report@x>\r\n";
    let (r, how) = sent_reply(&msg(reply), &me(), &index).unwrap().unwrap();
    assert_eq!(r.id, 7);
    assert!(how.contains("Sent folder"), "{how}");
    // By tag, from a member, reporter in Cc.
    let tagged =
        "From: lead@example.test\r\nTo: x@example.test\r\nCc: r@example.test\r\nSubject: Re: [SEC-2026-0007] bug\r\n";
    assert!(sent_reply(&msg(tagged), &me(), &index).unwrap().is_some());
    // A forward to a colleague is not a response to the reporter.
    let forward =
        "From: security@example.test\r\nTo: colleague@example.test\r\nSubject: Fwd: bug\r\nIn-Reply-To: <report@x>\r\n";
    assert!(sent_reply(&msg(forward), &me(), &index).unwrap().is_none());
    // A longer address that merely contains the reporter's does not count.
    let near = "From: security@example.test\r\nTo: bar@example.test\r\nSubject: Re: bug\r\nIn-Reply-To: <report@x>\r\n";
    assert!(
        sent_reply(&msg(&near.replace("bar@", "xr@")), &me(), &index)
            .unwrap()
            .is_none()
    );
    // Not from us; or embargo's own mail (loop marker); or already recorded.
    let stranger = reply.replace("security@example.test", "other@example.test");
    assert!(sent_reply(&msg(&stranger), &me(), &index).unwrap().is_none());
    let ours = format!("{reply}X-Embargo-Loop: security@example.test\r\n");
    assert!(sent_reply(&msg(&ours), &me(), &index).unwrap().is_none());
    let seen = Fake {
        seen: vec!["<m@example.test>".into()],
        by_id: vec![("<report@x>".into(), report_ref())],
        ..Fake::default()
    };
    assert!(sent_reply(&msg(reply), &me(), &seen).unwrap().is_none());
}

#[test]
fn credit_wishes_in_any_script_keep_the_name_whole() {
    // Lower-casing changes byte lengths (İ → i̇, K → k, ẞ → ß): an offset
    // found in the lower-cased line must never slice the original.
    let cases = [
        (
            "İİİİ İstanbul'dan: credit: Ali Yılmaz https://ali.example",
            "Ali Yılmaz",
        ),
        ("KKKK Credit: Kelvin Søren", "Kelvin Søren"),
        ("ẞẞẞ GROẞE Credit me as Jürgen Groß", "Jürgen Groß"),
        ("ΣΟΦΟΣ ΟΔΥΣΣΕΥΣ credit: Οδυσσέας Σωκράτους", "Οδυσσέας Σωκράτους"),
        ("İ credit: İlkay Ünal", "İlkay Ünal"),
    ];
    for (line, name) in cases {
        let w = credit_wish(line).unwrap_or_else(|| panic!("no wish in {line:?}"));
        assert!(w.wanted);
        assert_eq!(w.name, name, "{line:?}");
    }
    // Nothing that lower-cases oddly may panic, wherever it stands.
    for prefix in ["İ", "K", "ẞ", "Σ", "ﬃ", "\u{130}\u{130}\u{130}"] {
        for n in 0..8 {
            let line = format!("{}please credit {}", prefix.repeat(n), "Ab Cd");
            let _ = credit_wish(&line);
        }
    }
}

#[test]
fn a_downstream_recipient_joins_only_a_report_it_was_told_about() {
    let reply = "Return-Path: <security@distro.example>\r\nFrom: security@distro.example\r\n\
                 Subject: Re: [SEC-2026-0007] Embargoed security notice\r\nIn-Reply-To: <notice@example.test>\r\n";
    let mut index = Fake {
        by_id: vec![("<notice@example.test>".into(), report_ref())],
        ..Fake::default()
    };
    // Not (yet) sent a notice about SEC-2026-0007: a report of its own.
    assert!(matches!(
        decide(&msg(reply), &me(), &index, &[]).unwrap(),
        Decision::NewReport { .. }
    ));
    index.notified.push((7, "security@distro.example".into()));
    assert!(matches!(
        decide(&msg(reply), &me(), &index, &[]).unwrap(),
        Decision::FollowUp {
            sender: crate::triage::Sender::Downstream,
            ..
        }
    ));
    // Someone else citing the notice is still a stranger.
    let other = reply.replace("security@distro.example", "x@other.example");
    assert!(matches!(
        decide(&msg(&other), &me(), &index, &[]).unwrap(),
        Decision::NewReport { .. }
    ));
}
