//! One mail, one decision: what intake makes of the mail that reaches a
//! security mailbox every day (auto-replies, bounces, lists, duplicates,
//! follow-ups, excluded topics), each case a mail and the line it must
//! produce.

use crate::world::*;

fn mail(headers: &str, body: &str) -> String {
    format!("To: {SECURITY}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}\r\n{body}\r\n")
}

#[test]
fn a_new_report_is_acknowledged_and_the_team_alerted() {
    check(
        "carol@example.org",
        &mail(
            "From: Carol <carol@example.org>\r\nSubject: XSS in the room list\r\nMessage-ID: <c1@example.org>\r\n",
            "Steps: open a room named <img src=x onerror=alert(1)>.",
        ),
        "new report SEC-2026-0002 (new); queued ack to carol@example.org, alert to team@example.test",
    );
}

#[test]
fn an_out_of_office_reply_is_never_answered() {
    check(
        RESEARCHER,
        &mail(
            "From: researcher@example.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.test>\r\n",
            "I am away until Monday.",
        ),
        "automatic: Auto-Submitted: auto-replied",
    );
}

#[test]
fn a_bounce_to_the_null_sender_is_never_answered() {
    check(
        "",
        &mail(
            "From: Mail Delivery System <MAILER-DAEMON@example.org>\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce@example.org>\r\n",
            "This is the mail system at host example.org.",
        ),
        "automatic: null return path (<>)",
    );
}

#[test]
fn list_mail_is_never_answered() {
    check(
        "announce@lists.example.org",
        &mail(
            "From: announce@lists.example.org\r\nSubject: [announce] Release 2.0\r\nList-Id: <announce.lists.example.org>\r\nPrecedence: list\r\nMessage-ID: <list@example.org>\r\n",
            "We released 2.0.",
        ),
        "automatic: mailing-list header list-id",
    );
}

#[test]
fn the_same_message_twice_is_recorded_once() {
    check(
        RESEARCHER,
        &crate::report("seed@example.test", "Seed report", "The seed."),
        "duplicate: same Message-ID as <seed@example.test>",
    );
}

#[test]
fn a_reply_with_the_tag_joins_its_report_without_an_acknowledgement() {
    check(
        RESEARCHER,
        &mail(
            "From: researcher@example.test\r\nSubject: Re: [SEC-2026-0001] Seed report\r\nMessage-ID: <more@example.test>\r\n",
            "One more detail: it also works on mobile.",
        ),
        "follow-up to SEC-2026-0001 (new)",
    );
}

#[test]
fn a_reply_by_in_reply_to_alone_joins_its_report() {
    check(
        RESEARCHER,
        &mail(
            "From: researcher@example.test\r\nSubject: Re: my report\r\nIn-Reply-To: <seed@example.test>\r\nMessage-ID: <more2@example.test>\r\n",
            "And a screenshot.",
        ),
        "follow-up to SEC-2026-0001 (new)",
    );
}

#[test]
fn a_report_about_spf_records_gets_the_out_of_scope_answer() {
    check(
        "bounty@example.net",
        &mail(
            "From: bounty@example.net\r\nSubject: Critical vulnerability: missing SPF record\r\nMessage-ID: <spf@example.net>\r\n",
            "Hello team, your domain has no SPF record and DMARC policy is p=none, so anyone can spoof your email. \
             This is a critical vulnerability. Please let me know about the bounty.",
        ),
        "new report SEC-2026-0002 (excluded); queued out-of-scope to bounty@example.net",
    );
}
