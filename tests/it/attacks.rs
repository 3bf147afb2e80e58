//! Attacks on the security mailbox, each built with gpg and sent through
//! Exim as the attacker would (issue 13). Every test here failed against
//! the code before its fix; the README's threat model names each one.

use std::time::Duration;

use crate::common::*;
use crate::gpg::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const LEAD: &str = "lead@example.test";
const WAIT: Duration = Duration::from_secs(30);

/// Two team members with keys of their own (team@ and lead@), both in
/// `[team] keys`; alerts go to team@.
struct Team {
    s: Setup,
    member: Gpg,
    member_fpr: String,
    lead: Gpg,
    lead_fpr: String,
}

fn team() -> Team {
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate(TEAM, "cv25519");
    let lead = Gpg::new();
    let lead_fpr = lead.generate(LEAD, "cv25519");
    let extra = format!(
        "\n[team]\nmembers = [\"{TEAM}\", \"{LEAD}\"]\nnotify = [\"{TEAM}\"]\nkeys = [\"member.asc\", \"lead.asc\"]\n\n\
         [openpgp]\nkeys = [\"team.sec.asc\"]\n"
    );
    let s = Setup::with(Options {
        extra,
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    std::fs::write(s.dir.path().join("member.asc"), member.export_public(&member_fpr)).unwrap();
    std::fs::write(s.dir.path().join("lead.asc"), lead.export_public(&lead_fpr)).unwrap();
    Team {
        s,
        member,
        member_fpr,
        lead,
        lead_fpr,
    }
}

impl Team {
    /// Files a report from the researcher; returns its id and the alert's
    /// Message-ID.
    fn file_report(&self, n: usize, message_id: &str, subject: &str) -> (String, String) {
        let s = &self.s;
        s.stack
            .deliver(RESEARCHER, SECURITY, &report(message_id, subject, "details of the bug"));
        s.stack.wait_for(SECURITY, &format!("<{message_id}>"), WAIT);
        s.once();
        let id = s.reports().iter().find(|r| r["subject"] == subject).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let alerts = s.stack.wait_inbox(TEAM, n, WAIT);
        let alert = alerts
            .iter()
            .find(|m| header(m, "Subject").unwrap_or_default().contains(&id))
            .expect("an alert for the report");
        (id, header(alert, "Message-ID").unwrap())
    }

    fn state(&self, id: &str) -> String {
        let r = self.s.reports();
        r.iter().find(|r| r["id"] == id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for `n` "Not relayed" explanations in team@'s inbox.
    fn wait_refusals(&self, n: usize) -> String {
        let start = std::time::Instant::now();
        loop {
            let refusals: Vec<String> = self
                .s
                .stack
                .inbox(TEAM)
                .into_iter()
                .filter(|m| header(m, "Subject").unwrap_or_default().contains("Not relayed"))
                .collect();
            if refusals.len() >= n {
                return refusals.join("\n");
            }
            assert!(
                start.elapsed() < WAIT,
                "expected {n} explanations, have {}",
                refusals.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A PGP/MIME signed entity, signed by `fpr` in `g`; the entity carries the
/// protected Subject when one is given (as Thunderbird does).
fn signed_mime(g: &Gpg, fpr: &str, protected_subject: Option<&str>, text: &str) -> (String, String) {
    let headers = match protected_subject {
        Some(s) => format!("Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: {s}\r\n"),
        None => "Content-Type: text/plain; charset=utf-8\r\n".to_owned(),
    };
    let entity = format!("{headers}\r\n{}", text.replace('\n', "\r\n"));
    let sig = g.ok(
        &["--armor", "--detach-sign", "--digest-algo", "SHA256", "-u", fpr],
        entity.as_bytes(),
    );
    (entity, String::from_utf8_lossy(&sig).replace('\n', "\r\n"))
}

fn outer(from: &str, id: &str, subject: &str, in_reply_to: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {in_reply_to}\r\n\
         Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
}

/// Anyone who holds one inline-signed message of a member (a signed list
/// post) puts an unsigned `gpg --store` block of their own in front of it,
/// forges From and the tag: the whole mail must not count as signed.
#[test]
fn an_unsigned_block_in_front_of_a_members_signed_text_is_not_relayed() {
    let t = team();
    let s = &t.s;
    let (id, alert_id) = t.file_report(1, "splice-report@example.test", "SSRF in previews");
    let old_post = t.member.ok(
        &["--armor", "--sign", "-u", &t.member_fpr],
        b"Looks good to me, ship it.\n",
    );
    let attacker = Gpg::new();
    let stored = attacker.ok(
        &["--armor", "--store"],
        b"state: disclosed\n\nPlease send the full exploit to evil.example. SPLICE-ATTACK-TEXT\n-- \n",
    );
    let mail = format!(
        "{}Content-Type: text/plain; charset=us-ascii\r\n\r\n{}\r\n{}\r\n",
        outer(
            TEAM,
            "splice@evil.example",
            &format!("Re: [{id}] New report"),
            &alert_id
        ),
        String::from_utf8_lossy(&stored).replace('\n', "\r\n"),
        String::from_utf8_lossy(&old_post).replace('\n', "\r\n"),
    );
    s.stack.deliver(TEAM, SECURITY, &mail);
    s.stack.wait_for(SECURITY, "<splice@evil.example>", WAIT);
    s.once();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(t.state(&id), "new", "no command ran");
    assert!(
        !s.stack
            .inbox(RESEARCHER)
            .iter()
            .any(|m| m.contains("SPLICE-ATTACK-TEXT")),
        "the attacker's text never reaches the reporter"
    );
    let why = t.wait_refusals(1);
    assert!(why.contains("not signed"), "{why}");
    let show = String::from_utf8(s.embargo(&["reports", "show", &id]).stdout).unwrap();
    assert!(!show.contains("relay:"), "nothing ran as a member: {show}");
}

/// A `multipart/signed` whose signature covers its first child, with a
/// third child the attacker added: only the first child is signed.
#[test]
fn a_part_added_to_a_signed_message_is_not_relayed() {
    let t = team();
    let s = &t.s;
    let (id, alert_id) = t.file_report(1, "extra-report@example.test", "XSS in topics");
    let subject = format!("Re: [{id}] New report");
    let (entity, sig) = signed_mime(&t.member, &t.member_fpr, Some(&subject), "Thanks, confirmed.\n");
    let mail = format!(
        "{}Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{sig}\r\n\
         --S\r\nContent-Type: text/plain\r\n\r\nAlso send your proof of concept to evil.example. EXTRA-PART-TEXT\r\n--S--\r\n",
        outer(TEAM, "extra@evil.example", &subject, &alert_id),
    );
    s.stack.deliver(TEAM, SECURITY, &mail);
    s.stack.wait_for(SECURITY, "<extra@evil.example>", WAIT);
    s.once();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !s.stack.inbox(RESEARCHER).iter().any(|m| m.contains("EXTRA-PART-TEXT")),
        "the added part never reaches the reporter"
    );
    let why = t.wait_refusals(1);
    assert!(why.contains("not signed"), "{why}");
}

/// One member's key does not act for another member's From address, and
/// the report is taken from the signed content, never from the forgeable
/// outer Subject or In-Reply-To.
#[test]
fn a_signature_acts_only_for_its_own_member_and_its_own_report() {
    let t = team();
    let s = &t.s;
    let (a, _) = t.file_report(1, "report-a@example.test", "Report A");
    let (b, alert_b) = t.file_report(2, "report-b@example.test", "Report B");
    let subject_b = format!("Re: [{b}] New report");

    // lead@'s valid signature on a mail whose From is team@.
    let (entity, sig) = signed_mime(
        &t.lead,
        &t.lead_fpr,
        Some(&subject_b),
        "state: triaged\n\nCROSS-MEMBER-TEXT\n",
    );
    let signed = |entity: &str, sig: &str| {
        format!(
            "Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
             --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{sig}\r\n--S--\r\n"
        )
    };
    let mail = format!(
        "{}{}",
        outer(TEAM, "cross@evil.example", &subject_b, &alert_b),
        signed(&entity, &sig)
    );
    s.stack.deliver(TEAM, SECURITY, &mail);

    // team@'s signed "fixed" for report A (sent to the reporter directly,
    // never through embargo), re-sent with report B's tag and thread.
    let subject_a = format!("Re: [{a}] Report A");
    let (entity, sig) = signed_mime(
        &t.member,
        &t.member_fpr,
        Some(&subject_a),
        "state: fixing\n\nRETARGET-TEXT\n",
    );
    let mail = format!(
        "{}{}",
        outer(TEAM, "retarget@evil.example", &subject_b, &alert_b),
        signed(&entity, &sig)
    );
    s.stack.deliver(TEAM, SECURITY, &mail);
    // The same member's signed text that names no report at all.
    let (entity, sig) = signed_mime(&t.member, &t.member_fpr, None, "state: disclosed\n\nNO-REPORT-TEXT\n");
    let mail = format!(
        "{}{}",
        outer(TEAM, "noreport@evil.example", &subject_b, &alert_b),
        signed(&entity, &sig)
    );
    s.stack.deliver(TEAM, SECURITY, &mail);
    for m in ["cross", "retarget", "noreport"] {
        s.stack.wait_for(SECURITY, &format!("<{m}@evil.example>"), WAIT);
    }
    s.once();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(t.state(&b), "new", "report B untouched");
    let to_reporter = s.stack.inbox(RESEARCHER).join("\n");
    assert!(!to_reporter.contains("CROSS-MEMBER-TEXT") && !to_reporter.contains("NO-REPORT-TEXT"));
    // The retargeted mail acts (if at all) on the report its signed
    // content names: report A, as the member wrote it.
    let show_b = String::from_utf8(s.embargo(&["reports", "show", &b]).stdout).unwrap();
    assert!(!show_b.contains("relay:"), "nothing ran on B as a member: {show_b}");
    for m in s.stack.inbox(RESEARCHER) {
        if m.contains("RETARGET-TEXT") {
            assert!(header(&m, "Subject").unwrap().contains(&a), "only into A's thread");
        }
    }
    let why = t.wait_refusals(2);
    assert!(why.contains("not bound to"), "cross-member signature explained: {why}");
    assert!(why.contains("names no report"), "{why}");
}

/// One small mail whose many `application/pgp-encrypted` control parts all
/// point at the same bzip2 block (4 MB of plaintext each time, 1.2 GB in all): the block
/// is decrypted once, the message is recorded and answered, and the report
/// after it is not held up.
#[test]
fn control_parts_that_repeat_one_ciphertext_do_not_pause_intake() {
    let k = keys();
    let s = Setup::with(Options {
        extra: "\n[openpgp]\nkeys = [\"team.sec.asc\"]\nmax_decrypted_size = \"4MiB\"\n".to_owned(),
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    let g = reporter_gpg();
    let ct = g.ok(
        &[
            "--armor",
            "--encrypt",
            "-r",
            &k.team_cv_fpr,
            "--compress-algo",
            "bzip2",
            "-z",
            "9",
        ],
        &[
            &b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"[..],
            &vec![b'A'; 4_150_000],
        ]
        .concat(),
    );
    assert!(ct.len() < 10_000, "a bomb: {} bytes", ct.len());
    let mut mail = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: bomb\r\nMessage-ID: <bomb@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_bomb_7f3a\"\r\n\r\n"
    );
    for _ in 0..300 {
        mail.push_str("--=_bomb_7f3a\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n");
    }
    mail.push_str(&format!(
        "--=_bomb_7f3a\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
         Content-Disposition: attachment; filename=\"encrypted.asc\"\r\n\r\n{}\r\n--=_bomb_7f3a--\r\n",
        String::from_utf8_lossy(&ct).replace('\n', "\r\n")
    ));
    assert!(mail.len() < 40_000);
    s.stack.deliver(RESEARCHER, SECURITY, &mail);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after-bomb@example.test", "After the bomb", "a real report"),
    );
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    let out = s.embargo(&["run", "--once"]);
    assert!(
        out.status.success(),
        "intake must not pause: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Decrypted once: 4 MB stored, not 300 copies (1.2 GB in the database).
    let stored: u64 = ["embargo.sqlite3", "embargo.sqlite3-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(s.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    assert!(stored < 64 << 20, "{stored} bytes stored for one 40 KB mail");
    let reports = s.reports();
    assert_eq!(reports.len(), 2, "both recorded: {reports:?}");
    let acks = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    assert!(
        acks.iter()
            .any(|m| header(m, "Subject").unwrap().contains("After the bomb"))
    );
}
/// Anyone can resend a captured ciphertext with their own Return-Path: an
/// encrypted report from a sender whose key embargo does not know must not
/// come back (ack, alert, digest, relay explanation, log) in cleartext.
#[test]
fn nothing_that_arrived_encrypted_leaves_in_cleartext() {
    let k = keys();
    // Team keys for decryption, alerts and digest to team@ without member
    // keys (so they go out unencrypted), team@ a member without a key.
    let s = Setup::with(Options {
        extra: format!(
            "\n[openpgp]\nkeys = [\"team.sec.asc\"]\n\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\n"
        ),
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    let g = reporter_gpg();
    let inner = "Content-Type: multipart/mixed; boundary=\"IN\"; protected-headers=\"v1\"\r\n\
        Subject: CANARY-SUBJECT-7f3a\r\n\r\n--IN\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
        The admin API leaks tokens. CANARY-BODY-7f3a\r\n\
        --IN\r\nContent-Type: text/x-python; name=\"CANARY-FILE-7f3a.py\"\r\n\
        Content-Disposition: attachment; filename=\"CANARY-FILE-7f3a.py\"\r\n\r\nprint(1)\r\n--IN--\r\n";
    let ct = g.ok(&["--armor", "--encrypt", "-r", &k.team_cv_fpr], inner.as_bytes());
    // Sent by someone whose key embargo does not know (no Autocrypt, no key
    // attached): the "resent capture" case.
    s.stack.deliver(
        "other@example.test",
        SECURITY,
        &pgp_mime(
            &format!(
                "From: other@example.test\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <canary@example.test>\r\n"
            ),
            &ct,
        ),
    );
    // A member without a key in [team] keys sends an encrypted mail with an
    // unknown command quoting a canary: the explanation cannot be encrypted.
    let member_inner = "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\
        Subject: Re: [SEC-2026-0001] CANARY-MEMBER-SUBJECT-7f3a\r\n\r\nescalate: CANARY-MEMBER-LINE-7f3a\r\n";
    let ct = g.ok(&["--armor", "--encrypt", "-r", &k.team_cv_fpr], member_inner.as_bytes());
    s.stack.deliver(
        TEAM,
        SECURITY,
        &pgp_mime(
            &format!("From: {TEAM}\r\nTo: {SECURITY}\r\nSubject: Re: [SEC-2026-0001] ...\r\nMessage-ID: <member-canary@example.test>\r\n"),
            &ct,
        ),
    );
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    let run = s.once();
    let log = String::from_utf8_lossy(&run.stderr).into_owned();
    let digest = s.embargo(&["digest", "--send"]);
    assert!(digest.status.success(), "{}", String::from_utf8_lossy(&digest.stderr));
    let reports = s.reports();
    let id = reports[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reports[0]["subject"], "CANARY-SUBJECT-7f3a",
        "the team's store keeps it"
    );
    // A team notice to that sender (their key is unknown): cleartext too.
    let fixed = s.embargo(&["reports", "fixed", &id, "--notify"]);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    s.stack.wait_inbox("other@example.test", 2, WAIT);
    // Alert + explanation + digest to team@.
    s.stack.wait_inbox(TEAM, 3, WAIT);
    s.stack.wait_delivered(WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let mut sent = s.stack.inbox("other@example.test");
    sent.extend(s.stack.inbox(TEAM));
    let ack = sent
        .iter()
        .find(|m| m.contains("Auto-Submitted: auto-replied"))
        .unwrap();
    assert_eq!(header(ack, "Subject").unwrap(), format!("[{id}]"), "only the tag");
    for m in &sent {
        for canary in ["CANARY-SUBJECT", "CANARY-BODY", "CANARY-FILE", "CANARY-MEMBER"] {
            assert!(!m.contains(canary), "{canary} left in cleartext:\n{m}");
        }
    }
    let show_log = String::from_utf8_lossy(&digest.stderr);
    for canary in ["CANARY-SUBJECT", "CANARY-BODY", "CANARY-FILE", "CANARY-MEMBER"] {
        assert!(
            !log.contains(canary) && !show_log.contains(canary),
            "{canary} in the log:\n{log}"
        );
    }
}

/// One hostile mail must not make embargo send large mail to a forgeable
/// Return-Path (or to the team): a 400 KB one-line Subject, a References
/// header of 12,000 ids and a 50 KB display name are quoted cut short.
#[test]
fn a_huge_subject_or_references_header_is_not_echoed() {
    let s = Setup::with(Options {
        extra: format!("\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\n"),
        ..Options::default()
    });
    let subject = format!("XSS {}", "A".repeat(400_000));
    let refs: Vec<String> = (0..12_000).map(|i| format!("<ref{i}@victim.example>")).collect();
    let name = "N".repeat(50_000);
    let mail = format!(
        "From: \"{name}\" <{RESEARCHER}>\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <huge@example.test>\r\n\
         References: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nThe bug.\r\n",
        refs.join("\r\n ")
    );
    s.stack.deliver(RESEARCHER, SECURITY, &mail);
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    assert!(s.embargo(&["digest", "--send"]).status.success());
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let team = s.stack.wait_inbox(TEAM, 2, WAIT);
    for m in std::iter::once(&ack).chain(&team) {
        assert!(
            m.len() < 32 * 1024,
            "{} bytes sent for one inbound mail:\n{}",
            m.len(),
            &m[..2000]
        );
    }
    assert!(
        header(&ack, "References").unwrap().contains("<ref0@victim.example>"),
        "the thread root stays"
    );
    let list = s.embargo(&["reports", "list"]);
    assert!(list.stdout.len() < 4096);
    let show = s.embargo(&["reports", "show", "SEC-2026-0001"]);
    assert!(show.stdout.len() < 32 * 1024, "{} bytes", show.stdout.len());
    let r = s.reports();
    assert_eq!(r[0]["subject"].as_str().unwrap().len(), subject.len(), "stored whole");
}
