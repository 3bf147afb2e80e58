//! Replies relayed from a team member's signed mail, and the commands in
//! them: what reaches the reporter, what is refused and explained.

use crate::gpg::*;
use crate::world::*;
use crate::{header, report};

/// A team member with a key of their own, listed in [team] keys.
fn setup() -> (World, Gpg, String) {
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate(TEAM, "cv25519");
    member.import(&k.team_cv_public);
    let w = crate::attacks::with_member(&member.export_public(&member_fpr));
    (w, member, member_fpr)
}

/// A PGP/MIME signed mail from the member to the security mailbox.
fn signed_relay(
    member: &Gpg,
    fpr: &str,
    id: &str,
    in_reply_to: &str,
    subject: &str,
    text: &str,
    tamper: bool,
) -> String {
    // Protected headers (as Thunderbird writes them): the signed Subject
    // names the report.
    let entity = format!(
        "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: {subject}\r\n\r\n{}",
        text.replace('\n', "\r\n")
    );
    let sig = member.ok(
        &["--armor", "--detach-sign", "--digest-algo", "SHA256", "-u", fpr],
        entity.as_bytes(),
    );
    let entity = if tamper {
        entity.replace("Thanks", "Thunks")
    } else {
        entity
    };
    format!(
        "From: Tess Team <{TEAM}>\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {in_reply_to}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--S--\r\n",
        String::from_utf8_lossy(&sig).replace('\n', "\r\n")
    )
}

#[test]
fn signed_relays_reach_the_reporter_and_everything_else_is_refused() {
    let (mut w, member, fpr) = setup();
    let id = w
        .deliver(RESEARCHER, &report("relay1@example.test", "Path traversal", "details"))
        .id()
        .unwrap()
        .to_owned();
    assert_eq!(w.inbox(RESEARCHER).len(), 1);
    let alert = w.inbox(TEAM).remove(0);
    let alert_id = header(&alert, "Message-ID").unwrap();
    let subject = format!("Re: [{id}] New report");
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 20))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();

    // A signed relay with commands.
    let text = format!(
        "state: triaged\ncomplex\ndisclose-on: {soon}\ncredit: Rita Researcher https://rita.example.test\n\nThanks, we reproduced it. RELAYED-TEXT-1\n\nOn Tue, embargo wrote:\n> New report {id}\n> details\n"
    );
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-ok@example.test",
            &alert_id,
            &subject,
            &text,
            false,
        ),
    );
    let mails = w.inbox(RESEARCHER);
    assert_eq!(mails.len(), 2);
    let relayed = mails
        .iter()
        .find(|m| m.contains("RELAYED-TEXT-1"))
        .expect("relayed to the reporter");
    assert!(
        !relayed.contains("state: triaged") && !relayed.contains("New report"),
        "commands and quotes stripped: {relayed}"
    );
    assert!(header(relayed, "Subject").unwrap().starts_with(&format!("[{id}]")));
    let r = w.show(&id);
    assert_eq!(r["state"], "triaged");
    assert_eq!(r["complex"], true);
    assert_eq!(r["credit_name"], "Rita Researcher");
    assert!(r["disclose_on"].as_str().unwrap().starts_with(&soon));
    let show = w.show(&id);
    assert!(
        show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == format!("relay:{fpr}")),
        "events name the member's key: {show}"
    );

    // Unsigned: refused, the member is told, the reporter gets nothing.
    let unsigned = format!(
        "From: {TEAM}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <relay-unsigned@example.test>\r\nIn-Reply-To: {alert_id}\r\n\r\nUNSIGNED-TEXT\r\n"
    );
    w.deliver(TEAM, &unsigned);
    // Bad signature, a replay of the first (new Message-ID), an unknown command.
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-bad@example.test",
            &alert_id,
            &subject,
            "Thanks, BAD-SIG-TEXT\n",
            true,
        ),
    );
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-replay@example.test",
            &alert_id,
            &subject,
            &text,
            false,
        ),
    );
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-unknown@example.test",
            &alert_id,
            &subject,
            "escalate: now\n\nUNKNOWN-CMD-TEXT\n",
            false,
        ),
    );
    assert_eq!(
        w.received_with_subject(TEAM, "Not relayed").len(),
        4,
        "four explanations"
    );
    let reporter = w.inbox(RESEARCHER);
    assert_eq!(reporter.len(), 2, "nothing more reached the reporter");
    assert!(
        !reporter
            .iter()
            .any(|m| m.contains("UNSIGNED-TEXT") || m.contains("BAD-SIG-TEXT") || m.contains("UNKNOWN-CMD-TEXT"))
    );
    // Explanations are encrypted to the member's key: read them as the member.
    let team: String = w
        .inbox(TEAM)
        .iter()
        .map(|m| crate::gpg::readable(&member, m))
        .collect::<Vec<_>>()
        .join("\n");
    for why in ["not signed", "does not verify", "replayed", "unknown command"] {
        assert!(team.contains(why), "explanation {why:?} missing");
    }

    // Fixed and disclosed by mail.
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-fixed@example.test",
            &alert_id,
            &subject,
            "fixed\n",
            false,
        ),
    );
    assert_eq!(w.show(&id)["state"], "fixed");
    w.deliver(
        TEAM,
        &signed_relay(
            &member,
            &fpr,
            "relay-disclosed@example.test",
            &alert_id,
            &subject,
            "disclosed\n",
            false,
        ),
    );
    assert_eq!(w.show(&id)["state"], "disclosed");
}
