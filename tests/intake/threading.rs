//! Which mail is a report, which joins one, which is never answered: the
//! decisions every security mailbox takes many times a day.

use crate::world::*;
use crate::{header, report};

/// Automatic mail of every kind a mailbox sees is recorded with its reason
/// and never answered; a bounce (null return path) neither.
#[test]
fn automatic_mail_gets_no_reply() {
    let mut w = World::new();
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
        let line = w.decide(RESEARCHER, &raw);
        assert!(
            line.starts_with("automatic: ") && line.len() > "automatic: ".len(),
            "{name}: {line}"
        );
    }
    let bounce = w.decide("", &report("bounce@example.test", "Undelivered Mail", "bounce"));
    assert!(bounce.starts_with("automatic: "), "{bounce}");
    let real = w.decide(RESEARCHER, &report("sentinel@example.test", "Real report", "SQLi"));
    assert!(real.starts_with("new report SEC-2026-0001"), "{real}");
    let acks = w.inbox(RESEARCHER);
    assert_eq!(acks.len(), 1, "only the real report is answered: {acks:#?}");
    assert_eq!(
        header(&acks[0], "In-Reply-To").as_deref(),
        Some("<sentinel@example.test>")
    );
    for who in ["mailer-daemon", "postmaster", "list-request", "owner-list"] {
        assert!(w.inbox(&format!("{who}@example.test")).is_empty());
    }
    assert_eq!(w.reports().len(), 1);
}

/// A reply to the acknowledgement and a mail carrying only the tag join the
/// report without a second acknowledgement; a stranger copying the tag and
/// the thread gets a report of their own, and nothing of the other thread.
#[test]
fn follow_up_joins_its_thread_without_a_second_ack() {
    let mut w = World::new();
    let id = w
        .deliver(
            RESEARCHER,
            &report("first@example.test", "RCE in upload", "secret-steps-4711"),
        )
        .id()
        .unwrap()
        .to_owned();
    let ack = w.inbox(RESEARCHER).remove(0);
    let ack_id = header(&ack, "Message-ID").unwrap();
    let reply = format!(
        "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: Re: [{id}] RCE in upload\r\n\
         Message-ID: <second@example.test>\r\nIn-Reply-To: {ack_id}\r\nReferences: <first@example.test> {ack_id}\r\n\r\nmore\r\n"
    );
    assert_eq!(w.decide(RESEARCHER, &reply), format!("follow-up to {id} (new)"));
    let tagged = format!(
        "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: PoC for {id}\r\n\
         Message-ID: <third@example.test>\r\n\r\npoc\r\n"
    );
    assert_eq!(w.decide(RESEARCHER, &tagged), format!("follow-up to {id} (new)"));
    let stranger = format!(
        "From: other@example.test\r\nTo: security@example.test\r\nSubject: Re: [{id}] RCE in upload\r\n\
         Message-ID: <stranger@example.test>\r\nIn-Reply-To: {ack_id}\r\n\r\nlet me in\r\n"
    );
    let other = w.deliver("other@example.test", &stranger);
    assert_ne!(other.id(), Some(id.as_str()), "a report of their own");
    assert_eq!(w.inbox(RESEARCHER).len(), 1, "no second ack to the reporter");
    assert_eq!(w.show(&id)["messages"], 3);
    let theirs = w.show(other.id().unwrap());
    assert_eq!(theirs["reporter"], "other@example.test");
    assert_eq!(theirs["messages"], 1);
    let other_ack = &w.inbox("other@example.test")[0];
    assert!(
        !other_ack.contains("secret-steps-4711") && !other_ack.contains(&ack_id),
        "nothing of the other thread leaks"
    );
}

/// CR LF smuggled into an encoded subject never becomes a header of the
/// reply, and the reply goes to the sender alone.
#[test]
fn crlf_in_subject_does_not_reach_reply_headers() {
    let mut w = World::new();
    let raw = "From: researcher@example.test\r\nTo: security@example.test\r\n\
               Subject: =?UTF-8?Q?hello=0D=0ABcc:_other@example.test=0D=0A=0D=0Ainjected?=\r\n\
               Message-ID: <inject@example.test>\r\n\r\nbody\r\n";
    let out = w.deliver(RESEARCHER, raw);
    assert_eq!(out.queued.len(), 1);
    assert_eq!(out.queued[0].to, RESEARCHER, "one recipient, the sender");
    let ack = out.queued[0].raw.replace("\r\n", "\n");
    let head = ack.split("\n\n").next().unwrap();
    assert!(
        !head.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    let subject = header(&ack, "Subject").unwrap();
    assert!(subject.starts_with("[SEC-"), "{subject}");
}

/// Past `reply.max_per_sender_per_day` a sender gets no more automatic
/// replies that day (a third party cannot be mail-bombed through us); every
/// report is still recorded.
#[test]
fn per_sender_limit_stops_mail_bombing_a_third_party() {
    let mut w = World::build("", &[], 2);
    for i in 0..5 {
        w.deliver(
            RESEARCHER,
            &report(&format!("bomb{i}@example.test"), &format!("report {i}"), "x"),
        );
    }
    assert_eq!(w.inbox(RESEARCHER).len(), 2);
    assert_eq!(w.reports().len(), 5, "every report is still recorded");
}
