//! Attacks on the security mailbox that are decided by the pipeline alone:
//! forged From, spliced and re-targeted signatures, old signatures, a
//! Turkish reply that once panicked. The mails are the ones the
//! integration tests sent through Exim, built with the real gpg; here they
//! go straight into `intake` as the MTA would have handed them over.

use crate::gpg::*;
use crate::world::*;
use crate::{header, report};

/// Two team members with keys of their own (team@ and lead@), both in
/// `[team] keys`; alerts go to team@.
pub(crate) struct Team {
    pub w: World,
    pub member: Gpg,
    pub member_fpr: String,
    pub lead: Gpg,
    pub lead_fpr: String,
}

pub(crate) fn team() -> Team {
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate(TEAM, "cv25519");
    let lead = Gpg::new();
    let lead_fpr = lead.generate(LEAD, "cv25519");
    let extra = format!(
        "\n[team]\nmembers = [\"{TEAM}\", \"{LEAD}\"]\nnotify = [\"{TEAM}\"]\nkeys = [\"member.asc\", \"lead.asc\"]\n\n\
         [openpgp]\nkeys = [\"team.sec.asc\"]\n"
    );
    let w = World::with_files(
        &extra,
        &[
            ("team.sec.asc", &k.team_cv_secret),
            ("member.asc", &member.export_public(&member_fpr)),
            ("lead.asc", &lead.export_public(&lead_fpr)),
        ],
    );
    Team {
        w,
        member,
        member_fpr,
        lead,
        lead_fpr,
    }
}

impl Team {
    /// Files a report from the researcher; returns its id and the alert's
    /// Message-ID.
    pub fn file_report(&mut self, message_id: &str, subject: &str) -> (String, String) {
        let out = self
            .w
            .deliver(RESEARCHER, &report(message_id, subject, "details of the bug"));
        let id = out.id().expect("a new report").to_owned();
        let alert = out
            .queued
            .iter()
            .find(|q| q.to == TEAM && header(&q.raw, "Subject").unwrap_or_default().contains(&id))
            .expect("an alert for the report");
        (id, header(&alert.raw, "Message-ID").unwrap())
    }

    pub fn state(&self, id: &str) -> String {
        self.w.show(id)["state"].as_str().unwrap().to_owned()
    }

    /// The "Not relayed" explanations team@ got, as team@ reads them.
    pub fn refusals(&mut self) -> Vec<String> {
        let member = &self.member;
        self.w
            .received_with_subject(TEAM, "Not relayed")
            .iter()
            .map(|m| readable(member, m))
            .collect()
    }
}

/// A PGP/MIME signed entity, signed by `fpr` in `g`; the entity carries the
/// protected Subject when one is given (as Thunderbird does).
pub(crate) fn signed_mime(g: &Gpg, fpr: &str, protected_subject: Option<&str>, text: &str) -> (String, String) {
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

pub(crate) fn multipart_signed(entity: &str, sig: &str) -> String {
    format!(
        "Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{sig}\r\n--S--\r\n"
    )
}

pub(crate) fn outer(from: &str, id: &str, subject: &str, in_reply_to: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {in_reply_to}\r\n\
         Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
}

/// Did anything run on the report as a member (`relay:FINGERPRINT` as the
/// actor of an event, as `reports show` prints it)?
fn relayed_as_member(w: &World, id: &str) -> bool {
    w.show(id)["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor"].as_str().unwrap_or_default().starts_with("relay:"))
}

/// Anyone who holds one inline-signed message of a member (a signed list
/// post) puts an unsigned `gpg --store` block of their own in front of it,
/// forges From and the tag: the whole mail must not count as signed.
#[test]
fn an_unsigned_block_in_front_of_a_members_signed_text_is_not_relayed() {
    let mut t = team();
    let (id, alert_id) = t.file_report("splice-report@example.test", "SSRF in previews");
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
    t.w.deliver(TEAM, &mail);
    assert_eq!(t.state(&id), "new", "no command ran");
    assert!(
        !t.w.inbox(RESEARCHER).iter().any(|m| m.contains("SPLICE-ATTACK-TEXT")),
        "the attacker's text never reaches the reporter"
    );
    let why = t.refusals().join("\n");
    assert!(why.contains("not signed"), "{why}");
    assert!(!relayed_as_member(&t.w, &id), "nothing ran as a member");
}

/// A `multipart/signed` whose signature covers its first child, with a
/// third child the attacker added: only the first child is signed.
#[test]
fn a_part_added_to_a_signed_message_is_not_relayed() {
    let mut t = team();
    let (id, alert_id) = t.file_report("extra-report@example.test", "XSS in topics");
    let subject = format!("Re: [{id}] New report");
    let (entity, sig) = signed_mime(&t.member, &t.member_fpr, Some(&subject), "Thanks, confirmed.\n");
    let mail = format!(
        "{}Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{sig}\r\n\
         --S\r\nContent-Type: text/plain\r\n\r\nAlso send your proof of concept to evil.example. EXTRA-PART-TEXT\r\n--S--\r\n",
        outer(TEAM, "extra@evil.example", &subject, &alert_id),
    );
    t.w.deliver(TEAM, &mail);
    assert!(
        !t.w.inbox(RESEARCHER).iter().any(|m| m.contains("EXTRA-PART-TEXT")),
        "the added part never reaches the reporter"
    );
    let why = t.refusals().join("\n");
    assert!(why.contains("not signed"), "{why}");
}

/// One member's key does not act for another member's From address, and
/// the report is taken from the signed content, never from the forgeable
/// outer Subject or In-Reply-To.
#[test]
fn a_signature_acts_only_for_its_own_member_and_its_own_report() {
    let mut t = team();
    let (a, _) = t.file_report("report-a@example.test", "Report A");
    let (b, alert_b) = t.file_report("report-b@example.test", "Report B");
    let subject_b = format!("Re: [{b}] New report");

    // lead@'s valid signature on a mail whose From is team@.
    let (entity, sig) = signed_mime(
        &t.lead,
        &t.lead_fpr,
        Some(&subject_b),
        "state: triaged\n\nCROSS-MEMBER-TEXT\n",
    );
    let mail = format!(
        "{}{}",
        outer(TEAM, "cross@evil.example", &subject_b, &alert_b),
        multipart_signed(&entity, &sig)
    );
    t.w.deliver(TEAM, &mail);

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
        multipart_signed(&entity, &sig)
    );
    t.w.deliver(TEAM, &mail);
    // The same member's signed text that names no report at all.
    let (entity, sig) = signed_mime(&t.member, &t.member_fpr, None, "state: disclosed\n\nNO-REPORT-TEXT\n");
    let mail = format!(
        "{}{}",
        outer(TEAM, "noreport@evil.example", &subject_b, &alert_b),
        multipart_signed(&entity, &sig)
    );
    t.w.deliver(TEAM, &mail);
    assert_eq!(t.state(&b), "new", "report B untouched");
    let to_reporter = t.w.inbox(RESEARCHER).join("\n");
    assert!(!to_reporter.contains("CROSS-MEMBER-TEXT") && !to_reporter.contains("NO-REPORT-TEXT"));
    // The retargeted mail acts (if at all) on the report its signed
    // content names: report A, as the member wrote it.
    assert!(!relayed_as_member(&t.w, &b), "nothing ran on B as a member");
    for m in t.w.inbox(RESEARCHER) {
        if m.contains("RETARGET-TEXT") {
            assert!(header(&m, "Subject").unwrap().contains(&a), "only into A's thread");
        }
    }
    let why = t.refusals().join("\n");
    assert!(why.contains("not bound to"), "cross-member signature explained: {why}");
    assert!(why.contains("names no report"), "{why}");
}

/// `From:` is the easiest header to forge: an unsigned mail "from" a team
/// member must not stop a report's response clock, and one "from" the
/// reporter must not put a name on the hall of fame. The same mails with
/// the operator's MTA's DMARC pass do.
#[test]
fn a_forged_from_moves_no_clock_and_credits_nobody() {
    let mut w = World::with(&format!(
        "\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\n\n[trust]\nauthserv_id = \"{AUTHSERV_ID}\"\n"
    ));
    let a = w
        .deliver(RESEARCHER, &report("forge-a@example.test", "Report A", "the bug"))
        .id()
        .unwrap()
        .to_owned();
    // The team "answers" the reporter with us in Cc, and the reporter
    // "asks" for credit: both forged, no signature, no DMARC pass.
    let team_reply = |mid: &str, id: &str| {
        format!(
            "From: {TEAM}\r\nTo: {RESEARCHER}\r\nCc: {SECURITY}\r\nSubject: Re: [{id}] Report\r\nMessage-ID: <{mid}>\r\n\r\nWe confirm the bug.\r\n"
        )
    };
    let credit = |mid: &str, id: &str, name: &str| {
        format!(
            "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Re: [{id}] Report\r\nMessage-ID: <{mid}>\r\n\r\nCredit: {name} https://{name}.example\r\n"
        )
    };
    // A forged A-R inside the message, with our authserv-id, must not help
    // (the MTA's own header comes first; this one is below it).
    let forged_ar = format!(
        "Authentication-Results: {AUTHSERV_ID}; dmarc=pass header.from=example.test\r\n{}",
        team_reply("forged-team@evil.example", &a)
    );
    w.deliver("attacker@evil.example", &forged_ar);
    w.deliver(
        "attacker@evil.example",
        &credit("forged-credit@evil.example", &a, "Mallory"),
    );
    let r = w.show(&a);
    assert_eq!(r["state"], "new", "a forged team mail does not triage");
    assert!(r["response_met_at"].is_null(), "nor stop the response clock: {r}");
    assert_eq!(
        r["credit"], "",
        "a forged credit wish is not recorded as the reporter's: {r}"
    );
    assert_eq!(
        r["credit_proposal"]["name"], "Mallory",
        "but kept as a proposal for the team"
    );
    let auths: Vec<&str> = r["thread"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["auth"].as_str())
        .collect();
    assert!(auths.contains(&"none"), "{auths:?}");
    let digest = w.digest();
    assert!(
        digest.contains("Mallory"),
        "the digest lists the open proposal:\n{digest}"
    );
    // The team confirms it (or not): only then it is the credit.
    w.store.accept_credit_proposal(&a, "cli:test").unwrap();
    let r = w.show(&a);
    assert_eq!(r["credit_name"], "Mallory");
    assert!(r["credit_proposal"].is_null());

    // The same mails with the MTA's DMARC pass: they count.
    let b = w
        .deliver(RESEARCHER, &report("forge-b@example.test", "Report B", "the bug"))
        .id()
        .unwrap()
        .to_owned();
    w.deliver_as(DMARC_PASS, TEAM, &team_reply("real-team@example.test", &b));
    w.deliver_as(DMARC_PASS, RESEARCHER, &credit("real-credit@example.test", &b, "Rita"));
    let r = w.show(&b);
    assert_eq!(r["state"], "triaged");
    assert!(r["response_met_at"].is_string());
    assert_eq!(r["credit_name"], "Rita");
    assert!(r["thread"].as_array().unwrap().iter().any(|m| m["auth"] == "dmarc"));
}

/// An ordinary Turkish follow-up (a dotted capital İ before `credit:`, a
/// name that starts with Ö): lower-casing changed byte offsets, and the
/// credit parser sliced the original line mid-character. The panic made the
/// reply a failed record outside its thread, so a reply to an out-of-scope
/// answer never reopened the report and the researcher got no
/// acknowledgement.
#[test]
fn a_turkish_reply_to_an_out_of_scope_answer_reopens_the_report() {
    let mut w = World::new();
    let beg = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exclusion/beg/05.txt"),
    )
    .unwrap();
    let (head, body) = beg.split_once("\n\n").unwrap();
    let subject = head.trim_start_matches("Subject:").trim();
    let out = w.deliver(RESEARCHER, &report("beg-tr@example.test", subject, body));
    let id = out.id().unwrap().to_owned();
    let oos = w.inbox(RESEARCHER).remove(0);
    assert_eq!(w.show(&id)["state"], "excluded");
    let reply = format!(
        "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Re: [{id}] {subject}\r\nMessage-ID: <tr-reply@example.test>\r\n\
         In-Reply-To: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Merhaba, bu bir hata: İSTANBUL ofisimizden yazıyorum. İsim için credit: Ömer Yılmaz https://omer.example\r\n",
        header(&oos, "Message-ID").unwrap()
    );
    w.deliver(RESEARCHER, &reply);
    let r = w.show(&id);
    assert_eq!(r["state"], "new", "reopened: {r}");
    assert_eq!(r["messages"], 2, "the reply joined its thread");
    assert_eq!(
        r["credit_proposal"]["name"], "Ömer Yılmaz",
        "the whole name, as a proposal"
    );
    let acks = w.inbox(RESEARCHER);
    assert!(
        acks.iter()
            .any(|m| header(m, "In-Reply-To").as_deref() == Some("<tr-reply@example.test>"))
    );
}

/// An old signed mail of a member circulates (a mail they once sent a
/// reporter directly, naming the report): sent to embargo weeks later it is
/// not relayed, and nothing in it is done.
#[test]
fn an_old_signed_mail_of_a_member_is_not_relayed() {
    let ago = |days: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days))
            .strftime("%Y%m%dT%H%M%S")
            .to_string()
    };
    let member = Gpg::new();
    let params = format!(
        "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\n\
         Subkey-Usage: encrypt\nName-Real: Tess\nName-Email: {TEAM}\nExpire-Date: 0\n%commit\n"
    );
    member.ok(&["--faked-system-time", &ago(90), "--gen-key"], params.as_bytes());
    let fpr = member.fingerprint(TEAM);
    let mut w = with_member(&member.export_public(&fpr));
    let id = w
        .deliver(RESEARCHER, &report("old-sig@example.test", "Old signature", "x"))
        .id()
        .unwrap()
        .to_owned();
    let subject = format!("Re: [{id}] Old signature");
    let entity = format!(
        "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: {subject}\r\n\r\nstate: disclosed\r\n\r\nOLD-SIGNED-TEXT\r\n"
    );
    let sig = member.ok(
        &[
            "--faked-system-time",
            &ago(30),
            "--armor",
            "--detach-sign",
            "--digest-algo",
            "SHA256",
            "-u",
            &fpr,
        ],
        entity.as_bytes(),
    );
    let mail = format!(
        "{}{}",
        outer(TEAM, "old-sig@evil.example", &subject, "<none@example.test>"),
        multipart_signed(&entity, &String::from_utf8_lossy(&sig).replace('\n', "\r\n"))
    );
    w.deliver(TEAM, &mail);
    assert_eq!(w.show(&id)["state"], "new", "no command from an old signature");
    assert!(!w.inbox(RESEARCHER).iter().any(|m| m.contains("OLD-SIGNED-TEXT")));
    let explanations: Vec<String> = w
        .received_with_subject(TEAM, "Not relayed")
        .iter()
        .map(|m| readable(&member, m))
        .collect();
    assert!(
        explanations.iter().any(|m| m.contains("more than 7 days")),
        "{explanations:?}"
    );
}

/// A world whose team has one member, team@example.test (also the alert
/// address), with `member_public` in `[team] keys`; the team's Cv25519 key
/// decrypts and signs.
pub fn with_member(member_public: &[u8]) -> World {
    World::with_files(
        &format!(
            "\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\nkeys = [\"member.asc\"]\n\n[openpgp]\nkeys = [\"team.sec.asc\"]\n"
        ),
        &[("team.sec.asc", &keys().team_cv_secret), ("member.asc", member_public)],
    )
}
