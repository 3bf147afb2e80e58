//! Relaying a team member's signed mail to the reporter.
//!
//! A team member answers the alert (or any team mail about a report) with a
//! message addressed to the security mailbox and signed by a key listed in
//! `[team] keys`. embargo checks the signature, strips the quoted text and
//! anything outside the signed part, carries out the commands at its top
//! (see `conversation`), and sends the rest to the reporter exactly as
//! `reports reply` would. Anything unsigned, signed by an unknown key,
//! replayed (the same signed text again) or not tied to a known report is
//! not relayed; the sender gets a short explanation.

use sha2::Digest as _;

use crate::conversation;
use crate::message::Inbound;
use crate::openpgp::{Protection, SigState, bound_to};
use crate::pipeline::Pipeline;
use crate::store::{ReportRef, Store};
use crate::teammail::{self as mail, TeamMail};
use crate::triage::tracking_tags;
use sequoia_openpgp::Cert;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not mail for the relay (e.g. a reply to the reporter with us in Cc).
    NotForRelay,
    Relayed {
        /// The report the signed content names.
        report: ReportRef,
        commands: Vec<String>,
        text: bool,
    },
    /// Relayed before, from this very message (a re-fetch after a crash).
    AlreadyDone {
        report: ReportRef,
    },
    Refused(String),
}

/// Team mail to the security mailbox that the reporter did not get.
/// Addresses are compared parsed and whole, never as substrings.
pub fn is_candidate(msg: &Inbound, p: &Pipeline, report: Option<&ReportRef>) -> bool {
    let sender = msg.from_addr.as_deref().unwrap_or_default();
    if !p.me.team.iter().any(|t| t.eq_ignore_ascii_case(sender)) {
        return false;
    }
    let ours = msg.to.iter().any(|a| a.eq_ignore_ascii_case(&p.me.address));
    let reporter_got_it = report.is_some_and(|r| msg.addressed_to(&r.reporter));
    ours && !reporter_got_it
}

/// The report a relay acts on: named by the signed content alone (the
/// protected Subject, or the signed text, quotes included), never by the
/// outer Subject or References, which anyone can forge around an old
/// signed mail.
fn signed_report(
    store: &Store,
    p: &Pipeline,
    msg: &Inbound,
    protection: &Protection,
) -> crate::fault::Result<Result<ReportRef, String>> {
    let mut tags = protection
        .signed_subject
        .as_deref()
        .map(|s| tracking_tags(s, &p.me.prefix))
        .unwrap_or_default();
    for t in tracking_tags(&msg.body_text, &p.me.prefix) {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let mut found: Vec<ReportRef> = Vec::new();
    for t in tags.iter().take(20) {
        if let Some(r) = store.report_by_tracking_id(t)?
            && !found.iter().any(|f| f.id == r.id)
        {
            found.push(r);
        }
    }
    Ok(match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(
            "its signed content names no report: keep the tracking tag in the subject (with protected headers) \
                  or quote the alert"
                .to_owned(),
        ),
        _ => Err(format!(
            "its signed content names several reports ({}): write one mail per report",
            found
                .iter()
                .map(|r| r.tracking_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    })
}

/// A relayed mail's signature must be fresh: an old signed mail of a member
/// circulates (a list post, a mail they once sent a reporter) and is no
/// consent to act now.
pub const MAX_SIGNATURE_AGE_DAYS: i64 = 7;

/// Why a signature made at `created` is too old (or from the future) to
/// relay, if it is.
fn stale(created: Option<i64>, now: jiff::Timestamp) -> Option<String> {
    let Some(created) = created else {
        return Some("its signature carries no creation time".to_owned());
    };
    let age = now.as_second() - created;
    let when = jiff::Timestamp::from_second(created)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    if age > MAX_SIGNATURE_AGE_DAYS * 86400 {
        return Some(format!(
            "it was signed on {when}, more than {MAX_SIGNATURE_AGE_DAYS} days ago: an old signed mail is not relayed; \
             sign a new one"
        ));
    }
    if age < -86400 {
        return Some(format!(
            "its signature is dated {when}, in the future: check your clock"
        ));
    }
    None
}

/// Relays `msg` when it is a member's signed mail for the relay. Runs inside
/// intake's transaction: the commands, the outgoing mail, the replay mark
/// and the inbound message commit together or not at all.
pub fn handle(
    store: &mut Store,
    p: &Pipeline,
    msg: &Inbound,
    protection: &Protection,
    report: Option<&ReportRef>,
) -> crate::fault::Result<Outcome> {
    if !is_candidate(msg, p, report) {
        return Ok(Outcome::NotForRelay);
    }
    let member = match signing_member(p, msg, protection) {
        Ok(m) => m,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let report = match signed_report(store, p, msg, protection)? {
        Ok(r) => r,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let hash = replay_key(&report, &msg.body_text);
    if let Some(first) = store.relayed(&hash)? {
        if first == msg.message_id {
            return Ok(Outcome::AlreadyDone { report });
        }
        return Ok(Outcome::Refused(format!(
            "replayed: this signed text was already relayed (from {first})"
        )));
    }
    let text = conversation::strip_quoted(&msg.body_text);
    let (cmds, unknown, rest) = conversation::parse_commands(&text);
    if !unknown.is_empty() {
        return Ok(Outcome::Refused(format!(
            "unknown command(s) {}; nothing was done (commands: state, complex, fixed, disclose-on, disclosed, credit, no-credit)",
            unknown.join(", ")
        )));
    }
    let actor = format!("relay:{}", member.fingerprint().to_hex());
    // All commands or none: a refused one rolls back those before it.
    let done = match store.atomic(|store| conversation::apply(store, &p.config, &report.tracking_id, &cmds, &actor)) {
        Ok(d) => d,
        Err(e) if e.is_unavailable() => return Err(e.into()),
        Err(e) => return Ok(Outcome::Refused(e.to_string())),
    };
    let thread = store.thread(&report.tracking_id)?;
    if !rest.is_empty() {
        let out = conversation::to_reporter(p, store, &thread, crate::store::MailKind::TeamReply, rest.clone())?;
        store.record_team_message(&thread, &out, &actor)?;
    }
    store.mark_relayed(&hash, &msg.message_id, report.id)?;
    Ok(Outcome::Relayed {
        report,
        commands: done,
        text: !rest.is_empty(),
    })
}

/// The team member whose key signed the whole mail, bound to its From
/// address, within the signature-age window; or why not (said to the member).
fn signing_member<'p>(
    p: &'p Pipeline,
    msg: &Inbound,
    protection: &Protection,
) -> std::result::Result<&'p sequoia_openpgp::Cert, String> {
    let (signer, created) = match &protection.signature {
        SigState::Good { signer, created } => (signer.clone(), *created),
        SigState::None => return Err("it is not signed with your OpenPGP key (as one whole: a signed part next to unsigned parts does not count)".to_owned()),
        SigState::Bad => return Err("its signature does not verify".to_owned()),
        SigState::UnknownKey { .. } => {
            return Err("it is signed by a key that is not in [team] keys".to_owned());
        }
    };
    let Some(member) = p
        .members
        .iter()
        .find(|c| c.keys().any(|k| k.key().fingerprint().to_hex() == signer))
    else {
        return Err("it is signed by a key that is not in [team] keys".to_owned());
    };
    let from = msg.from_addr.as_deref().unwrap_or_default();
    if !bound_to(member, from) {
        return Err(format!(
            "the signing key {} is not bound to {from} (a member's key acts only for that member's address)",
            member.fingerprint().to_hex()
        ));
    }
    if let Some(why) = stale(created, jiff::Timestamp::now()) {
        return Err(why);
    }
    Ok(member)
}

/// What makes a relay a replay: the report and the signed text.
fn replay_key(report: &ReportRef, text: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(report.tracking_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(text.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The short explanation to a member whose mail was not relayed. Encrypted
/// to the member's key (from `[team] keys`, bound to their address); without
/// one, an explanation of encrypted mail quotes nothing of it.
pub fn explain(
    store: &mut Store,
    p: &Pipeline,
    msg: &Inbound,
    protection: &Protection,
    report: Option<&ReportRef>,
    why: &str,
) -> crate::fault::Result<()> {
    let Some(to) = msg.from_addr.as_deref() else {
        return Ok(());
    };
    // Anyone can forge a member's From: explanations count against the same
    // per-address limit as acknowledgements (and the hourly cap, in the
    // outbox), so a forged flood cannot turn them into backscatter.
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    if store.replies_to_since(to, since)? >= p.max_per_sender_per_day {
        tracing::info!("no explanation: the per-address limit (reply.max_per_sender_per_day) is reached");
        return Ok(());
    }
    let member: Vec<Cert> = p.members.iter().filter(|c| bound_to(c, to)).cloned().collect();
    let private = mail::encrypts(&p.team, &member);
    let quote = private || !protection.encrypted;
    let tag = report.map(|r| format!("[{}] ", r.tracking_id)).unwrap_or_default();
    let why = if quote {
        why.to_owned()
    } else {
        "(the reason quotes your encrypted mail; add your key to [team] keys to receive it encrypted)".to_owned()
    };
    let m = TeamMail {
        kind: crate::store::MailKind::RelayRefused,
        subject: if quote {
            format!("{tag}Not relayed: {}", crate::text::bounded(&msg.subject))
        } else {
            format!("{tag}Not relayed")
        },
        outer_subject: format!("{tag}Not relayed"),
        text: format!(
            "Your message {} was not relayed to the reporter, and no command in it was carried out:\n\n  {why}\n\n\
             Sign your reply with your OpenPGP key (one of [team] keys), send it to {}, and keep it in the report's thread.\n\n-- \nembargo\n",
            msg.message_id, p.me.address
        ),
        html: None,
        attachments: Vec::new(),
        automatic: true,
    };
    let out = mail::build(&m, &p.from, to, &p.team, &member)?;
    Ok(store.enqueue_team_mail(report.map(|r| r.id), &[out])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fresh_signatures_are_relayed() {
        let now = jiff::Timestamp::from_second(2_000_000_000).unwrap();
        let day = 86400;
        assert_eq!(stale(Some(2_000_000_000 - day), now), None);
        assert!(
            stale(Some(2_000_000_000 - 8 * day), now)
                .unwrap()
                .contains("more than 7 days")
        );
        assert!(stale(Some(2_000_000_000 + 2 * day), now).unwrap().contains("future"));
        assert!(stale(None, now).is_some());
    }
}
