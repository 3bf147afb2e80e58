//! Keys learned from mail: what they may speak for. Each attack here was
//! first an integration test through Exim that succeeded against the code
//! before its fix (`tests/it` history); the decision is the pipeline's, so
//! it is tested here.

use crate::attacks::{multipart_signed, outer, signed_mime, team};
use crate::gpg::Gpg;
use crate::gpg::autocrypt;
use crate::report;
use crate::world::*;

fn learned_for(w: &World, address: &str) -> Vec<embargo::store::ReporterKey> {
    w.store
        .reporter_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.address.eq_ignore_ascii_case(address))
        .collect()
}

fn no_signature_in_thread(show: &serde_json::Value) -> bool {
    show["thread"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["auth"] != "signature")
}

/// A forged mail from a member's address brings the attacker's key for
/// that address (Autocrypt); a second forged mail is signed with it. Before
/// the fix the key was pinned as if team@ were a reporter, and the signed
/// mail counted as the team's: the response clock stopped and the report
/// went to `triaged`. Keys for addresses whose proof is configured are
/// never learned from mail.
#[test]
fn a_key_brought_by_mail_never_speaks_for_a_team_member() {
    let mut t = team();
    let (id, alert_id) = t.file_report("pin-report@example.test", "Open redirect in login");
    let attacker = Gpg::new();
    let attacker_fpr = attacker.generate(TEAM, "cv25519");
    let subject = format!("Re: [{id}] New report");
    let first = format!(
        "{}{}Content-Type: text/plain\r\n\r\nHere is my new key.\r\n",
        outer(TEAM, "pin1@evil.example", &subject, &alert_id),
        autocrypt(&attacker, &attacker_fpr, TEAM)
    );
    t.w.deliver("attacker@evil.example", &first);
    // The team's "answer" to the reporter with us in Cc, signed as a whole
    // with the attacker's key: not for the relay; its signature alone
    // would prove the member.
    let (entity, sig) = signed_mime(
        &attacker,
        &attacker_fpr,
        Some(&subject),
        "We confirm the bug; triaging.\n",
    );
    let head = format!(
        "From: {TEAM}\r\nTo: {RESEARCHER}\r\nCc: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <pin2@evil.example>\r\n\
         In-Reply-To: {alert_id}\r\nMIME-Version: 1.0\r\n"
    );
    t.w.deliver(
        "attacker@evil.example",
        &format!("{head}{}", multipart_signed(&entity, &sig)),
    );
    let r = t.w.show(&id);
    assert_eq!(r["state"], "new", "the forged signed mail does not triage: {r}");
    assert!(r["response_met_at"].is_null(), "nor stop the response clock: {r}");
    let learned = learned_for(&t.w, TEAM);
    assert!(learned.is_empty(), "no key learned for a member's address: {learned:?}");
    assert!(no_signature_in_thread(&r), "{r}");
    // The member's own key still speaks for them.
    let (entity, sig) = signed_mime(&t.member, &t.member_fpr, Some(&subject), "Confirmed.\n");
    let real = format!(
        "{}{}",
        head.replace("pin2@evil.example", "real-member@example.test"),
        multipart_signed(&entity, &sig)
    );
    t.w.deliver(TEAM, &real);
    let r = t.w.show(&id);
    assert!(r["response_met_at"].is_string(), "{r}");
}

/// Trust on first use, bounded: the attacker writes first from the
/// researcher's address with a key of their own, which is pinned. The
/// researcher's own report comes later; the attacker's follow-up to it,
/// signed with that key, would count as the researcher's (the credit wish
/// becoming the credit) if a first-sight key spoke for every report of
/// the address. It speaks only for the report it came with.
#[test]
fn a_key_pinned_on_first_sight_speaks_only_for_the_report_it_came_with() {
    let mut w = World::new();
    let attacker = Gpg::new();
    let attacker_fpr = attacker.generate(RESEARCHER, "cv25519");
    let first = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Early bird\r\nMessage-ID: <early@evil.example>\r\n{}\r\nA report.\r\n",
        autocrypt(&attacker, &attacker_fpr, RESEARCHER)
    );
    let early = w.deliver("attacker@evil.example", &first).id().unwrap().to_owned();
    let genuine = w
        .deliver(RESEARCHER, &report("genuine@example.test", "The real report", "steps"))
        .id()
        .unwrap()
        .to_owned();
    let signed_credit = |mid: &str, report: &str, text: &str| {
        let subject = format!("Re: [{report}] report");
        let (entity, sig) = signed_mime(&attacker, &attacker_fpr, None, text);
        format!(
            "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\nMIME-Version: 1.0\r\n{}",
            multipart_signed(&entity, &sig)
        )
    };
    let mallory = "Credit: Mallory https://mallory.example\n";
    w.deliver(
        "attacker@evil.example",
        &signed_credit("credit-genuine@evil.example", &genuine, mallory),
    );
    w.deliver(
        "attacker@evil.example",
        &signed_credit("credit-early@evil.example", &early, mallory),
    );
    let g = w.show(&genuine);
    assert_eq!(
        g["credit_name"], "",
        "the researcher's credit is not the attacker's to set: {g}"
    );
    assert_eq!(g["credit_proposal"]["name"], "Mallory", "kept as a proposal: {g}");
    assert!(no_signature_in_thread(&g), "{g}");
    // On the report the key came with, its signature speaks.
    assert_eq!(w.show(&early)["credit_name"], "Mallory");
    // The team vouches for the key (after a call with its holder): then it
    // speaks for the address.
    let learned = learned_for(&w, RESEARCHER);
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert!(!learned[0].vouched, "{learned:?}");
    w.store.accept_key(RESEARCHER, &attacker_fpr, "cli:test").unwrap();
    w.deliver(
        "attacker@evil.example",
        &signed_credit("vouched@evil.example", &genuine, "Credit: Vouched Holder\n"),
    );
    assert_eq!(w.show(&genuine)["credit_name"], "Vouched Holder");
}

/// A captured ciphertext (the researcher's encrypted report, not signed)
/// resent by an attacker with their own From, Return-Path and key: before
/// the fix the key was pinned at once and the acknowledgement, encrypted to
/// it, quoted the decrypted subject. The same through the combined
/// acknowledgement: the researcher's From forged, the attacker's
/// Return-Path. What arrived encrypted goes back only to the key that
/// signed it inside.
#[test]
fn a_resent_ciphertext_is_not_decrypted_for_the_attacker() {
    use crate::gpg::readable;
    use crate::gpg::{keys, pgp_mime, reporter_gpg};
    let k = keys();
    let attacker_addr = "other@example.test";
    let mut w = World::build(
        "combine_after_secs = 1\n\n[openpgp]\nkeys = [\"team.sec.asc\"]\n",
        &[("team.sec.asc", &k.team_cv_secret)],
        1,
    );
    let victim = reporter_gpg();
    let inner = "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\
        Subject: ORACLE-SUBJECT-9c1e\r\n\r\nThe admin API leaks tokens. ORACLE-BODY-9c1e\r\n";
    let captured = victim.ok(&["--armor", "--encrypt", "-r", &k.team_cv_fpr], inner.as_bytes());
    let attacker = Gpg::new();
    let attacker_fpr = attacker.generate(attacker_addr, "cv25519");
    let resent = pgp_mime(
        &format!(
            "From: {attacker_addr}\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <resent@evil.example>\r\n{}",
            autocrypt(&attacker, &attacker_fpr, attacker_addr)
        ),
        &captured,
    );
    w.deliver(attacker_addr, &resent);
    let ack = w.inbox(attacker_addr).remove(0);
    let read = readable(&attacker, &ack);
    assert!(
        ack.contains("-----BEGIN PGP MESSAGE-----"),
        "encrypted to the key it brought: {ack}"
    );
    assert!(
        !read.contains("ORACLE-"),
        "nothing decrypted goes back to the attacker:\n{read}"
    );
    // The researcher's From forged, the attacker's Return-Path, past the
    // per-sender limit: held, then one combined acknowledgement.
    for i in 0..2 {
        let forged = pgp_mime(
            &format!("From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <held{i}@evil.example>\r\n"),
            &captured,
        );
        w.deliver(attacker_addr, &forged);
    }
    assert_eq!(
        w.combine_at(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2)),
        1
    );
    let mails = w.inbox(attacker_addr);
    assert_eq!(mails.len(), 2, "the first acknowledgement and the combined one");
    for m in &mails {
        let read = readable(&attacker, m);
        assert!(!read.contains("ORACLE-"), "nothing decrypted in any reply:\n{read}");
    }
    assert!(
        mails.iter().any(|m| readable(&attacker, m).contains("2 reports")),
        "the combined acknowledgement went out: {mails:?}"
    );
    // The researcher's own signed and encrypted report is quoted to them.
    let signed = victim.ok(
        &[
            "--armor",
            "--sign",
            "--encrypt",
            "-u",
            &k.reporter_fpr,
            "-r",
            &k.team_cv_fpr,
        ],
        inner.replace("ORACLE-SUBJECT-9c1e", "OWN-SUBJECT-9c1e").as_bytes(),
    );
    let own = pgp_mime(
        &format!(
            "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <own@example.test>\r\n{}",
            autocrypt(&victim, &k.reporter_fpr, RESEARCHER)
        ),
        &signed,
    );
    w.deliver(RESEARCHER, &own);
    let acks = w.inbox(RESEARCHER);
    let ack = acks
        .iter()
        .find(|m| m.contains("<own@example.test>"))
        .expect("an acknowledgement of the researcher's own report");
    assert!(
        readable(&victim, ack).contains("OWN-SUBJECT-9c1e"),
        "{}",
        readable(&victim, ack)
    );
}
