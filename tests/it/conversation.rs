//! The conversation through embargo, via the real servers: CLI replies and
//! notices, and replies relayed from a team member's signed mail.

use std::time::Duration;

use crate::common::*;
use crate::gpg::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const WAIT: Duration = Duration::from_secs(30);

/// A team member with a key of their own, listed in [team] keys.
fn setup() -> (Setup, Gpg, String) {
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate(TEAM, "cv25519");
    member.import(&k.team_cv_public);
    let s = setup_with_member(&member.export_public(&member_fpr));
    (s, member, member_fpr)
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
fn cli_reply_and_notices_reach_the_reporter_encrypted_and_threaded() {
    let (s, _member, _) = setup();
    let k = keys();
    let g = reporter_gpg();
    let ct = g.ok(
        &["--armor", "--encrypt", "-r", &k.team_cv_fpr],
        &entity("Auth bypass details", None, None),
    );
    let binary = g.ok(&["--export", &k.reporter_fpr], b"");
    let autocrypt = format!(
        "Autocrypt: addr={RESEARCHER}; keydata={}\r\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, binary)
    );
    s.stack.deliver(RESEARCHER, SECURITY, &pgp_mime(&format!("From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Auth bypass\r\nMessage-ID: <conv1@example.test>\r\n{autocrypt}"), &ct));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let ack_id = header(&ack, "Message-ID").unwrap();
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();

    let reply = s.dir.path().join("reply.txt");
    std::fs::write(
        &reply,
        "Thanks, we reproduced it. Could you share the exact version? REPLY-TEXT-9\n",
    )
    .unwrap();
    let out = s.embargo(&["reports", "reply", &id, "--file", reply.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mails = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    let m = mails
        .iter()
        .find(|m| header(m, "Message-ID").unwrap() != ack_id)
        .unwrap();
    assert!(header(m, "Content-Type").unwrap().starts_with("multipart/encrypted"));
    assert_eq!(
        header(m, "In-Reply-To").as_deref(),
        Some(ack_id.as_str()),
        "threaded to the latest message"
    );
    assert!(header(m, "References").unwrap().contains("<conv1@example.test>"));
    assert_eq!(header(m, "Auto-Submitted"), None, "a person's message");
    let out = g.run(&["--status-fd", "2", "--decrypt"], armored_block(m).as_bytes());
    assert!(String::from_utf8_lossy(&out.stdout).contains("REPLY-TEXT-9"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GOODSIG"));
    let r = s.reports().remove(0);
    assert_eq!(r["state"], "triaged", "the first team reply stops the clock");
    assert!(r["response_met_at"].is_string());

    // The fixed notice, and the agreed disclosure date.
    let out = s.embargo(&["reports", "fixed", &id, "--notify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mails = s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    let fixed = mails
        .iter()
        .map(|m| String::from_utf8_lossy(&g.run(&["--decrypt"], armored_block(m).as_bytes()).stdout).into_owned())
        .find(|p| p.contains("is fixed"))
        .unwrap();
    assert!(fixed.contains(&id) && fixed.contains("Hall of Fame"), "{fixed}");
    let far = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 400))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let refused = s.embargo(&["reports", "disclose-on", &id, &far]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("beyond the policy"));
    let forced = s.embargo(&["reports", "disclose-on", &id, &far, "--force", "vendor embargo"]);
    assert!(forced.status.success());
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 10))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let out = s.embargo(&["reports", "disclose-on", &id, &soon, "--notify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mails = s.stack.wait_inbox(RESEARCHER, 4, WAIT);
    // The date as people read it: a day in policy.timezone (Europe/London).
    let soon_day = soon
        .parse::<jiff::civil::Date>()
        .unwrap()
        .strftime("%a %-d %b %Y")
        .to_string();
    assert!(
        mails.iter().any(
            |m| String::from_utf8_lossy(&g.run(&["--decrypt"], armored_block(m).as_bytes()).stdout).contains(&soon_day)
        ),
        "{soon_day}"
    );
    let digest = String::from_utf8(s.embargo(&["digest", "--dry-run"]).stdout).unwrap();
    assert!(
        digest.contains("Agreed disclosure dates") && digest.contains(&id),
        "{digest}"
    );
    let show = String::from_utf8(s.embargo(&["reports", "show", &id]).stdout).unwrap();
    assert!(
        show.contains("vendor embargo") && show.contains("team-reply") && show.contains("fixed-notice"),
        "{show}"
    );
    assert!(s.embargo(&["reports", "disclosed", &id]).status.success());
    assert_eq!(s.reports()[0]["state"], "disclosed");
}

#[test]
fn signed_relays_reach_the_reporter_and_everything_else_is_refused() {
    let (s, member, fpr) = setup();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("relay1@example.test", "Path traversal", "details"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let alert = s.stack.wait_inbox(TEAM, 1, WAIT).remove(0);
    let alert_id = header(&alert, "Message-ID").unwrap();
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    let subject = format!("Re: [{id}] New report");
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 20))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();

    // A signed relay with commands.
    let text = format!(
        "state: triaged\ncomplex\ndisclose-on: {soon}\ncredit: Rita Researcher https://rita.example.test\n\nThanks, we reproduced it. RELAYED-TEXT-1\n\nOn Tue, embargo wrote:\n> New report {id}\n> details\n"
    );
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    s.stack.wait_for(SECURITY, "<relay-ok@example.test>", WAIT);
    s.once();
    let mails = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    let relayed = mails
        .iter()
        .find(|m| m.contains("RELAYED-TEXT-1"))
        .expect("relayed to the reporter");
    assert!(
        !relayed.contains("state: triaged") && !relayed.contains("New report"),
        "commands and quotes stripped: {relayed}"
    );
    assert!(header(relayed, "Subject").unwrap().starts_with(&format!("[{id}]")));
    let r = s.reports().remove(0);
    assert_eq!(r["state"], "triaged");
    assert_eq!(r["complex"], true);
    assert_eq!(r["credit_name"], "Rita Researcher");
    assert!(r["disclose_on"].as_str().unwrap().starts_with(&soon));
    let show = String::from_utf8(s.embargo(&["reports", "show", &id]).stdout).unwrap();
    assert!(
        show.contains(&format!("relay:{fpr}")),
        "events name the member's key: {show}"
    );

    let refusals = |n: usize| {
        s.stack
            .wait_inbox(TEAM, n, WAIT)
            .into_iter()
            .filter(|m| header(m, "Subject").unwrap_or_default().contains("Not relayed"))
            .count()
    };
    // Unsigned: refused, the member is told, the reporter gets nothing.
    let unsigned = format!(
        "From: {TEAM}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <relay-unsigned@example.test>\r\nIn-Reply-To: {alert_id}\r\n\r\nUNSIGNED-TEXT\r\n"
    );
    s.stack.deliver(TEAM, SECURITY, &unsigned);
    // Bad signature, a replay of the first (new Message-ID), an unknown command.
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    for id in ["relay-unsigned", "relay-bad", "relay-replay", "relay-unknown"] {
        s.stack.wait_for(SECURITY, &format!("<{id}@example.test>"), WAIT);
    }
    s.once();
    wait_until(WAIT, || refusals(1) >= 4, || "expected 4 explanations".to_owned());
    std::thread::sleep(Duration::from_secs(2));
    let reporter = s.stack.inbox(RESEARCHER);
    assert_eq!(reporter.len(), 2, "nothing more reached the reporter");
    assert!(
        !reporter
            .iter()
            .any(|m| m.contains("UNSIGNED-TEXT") || m.contains("BAD-SIG-TEXT") || m.contains("UNKNOWN-CMD-TEXT"))
    );
    // Explanations are encrypted to the member's key: read them as the member.
    let team: String = s
        .stack
        .inbox(TEAM)
        .iter()
        .map(|m| crate::attacks::readable(&member, m))
        .collect::<Vec<_>>()
        .join("\n");
    for why in ["not signed", "does not verify", "replayed", "unknown command"] {
        assert!(team.contains(why), "explanation {why:?} missing");
    }

    // Fixed and disclosed by mail.
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    s.stack.wait_for(SECURITY, "<relay-fixed@example.test>", WAIT);
    s.once();
    assert_eq!(s.reports()[0]["state"], "fixed");
    s.stack.deliver(
        TEAM,
        SECURITY,
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
    s.stack.wait_for(SECURITY, "<relay-disclosed@example.test>", WAIT);
    s.once();
    assert_eq!(s.reports()[0]["state"], "disclosed");
}
