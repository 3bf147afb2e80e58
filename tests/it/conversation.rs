//! The conversation through embargo, via the real servers: CLI replies and
//! notices (replies relayed from a member's signed mail are decided by
//! intake alone: `tests/intake/relay.rs`).

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
