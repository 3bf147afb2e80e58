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
use crate::digest::mail::{self, TeamMail};
use crate::intake::Pipeline;
use crate::message::Inbound;
use crate::openpgp::{Protection, SigState};
use crate::store::{ReportRef, Store};

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not mail for the relay (e.g. a reply to the reporter with us in Cc).
    NotForRelay,
    Relayed {
        commands: Vec<String>,
        text: bool,
    },
    /// Relayed before, from this very message (a re-fetch after a crash).
    AlreadyDone,
    Refused(String),
}

/// Team mail to the security mailbox that the reporter did not get.
pub fn is_candidate(msg: &Inbound, p: &Pipeline, report: Option<&ReportRef>) -> bool {
    let sender = msg.from_addr.as_deref().unwrap_or_default();
    if !p.me.team.iter().any(|t| t.eq_ignore_ascii_case(sender)) {
        return false;
    }
    let to: String = msg
        .header_values("to")
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    let cc: String = msg
        .header_values("cc")
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    let ours = to.contains(&p.me.address.to_ascii_lowercase());
    let reporter_got_it = report.is_some_and(|r| {
        let r = r.reporter.to_ascii_lowercase();
        to.contains(&r) || cc.contains(&r)
    });
    ours && !reporter_got_it
}

pub fn handle(
    store: &mut Store,
    p: &Pipeline,
    msg: &Inbound,
    protection: &Protection,
    report: Option<&ReportRef>,
) -> anyhow::Result<Outcome> {
    if !is_candidate(msg, p, report) {
        return Ok(Outcome::NotForRelay);
    }
    let Some(report) = report else {
        return Ok(Outcome::Refused(
            "it is not tied to a known report: answer an alert, or keep the tracking tag in the subject".to_owned(),
        ));
    };
    let signer = match &protection.signature {
        SigState::Good { signer } => signer.clone(),
        SigState::None => return Ok(Outcome::Refused("it is not signed with your OpenPGP key".to_owned())),
        SigState::Bad => return Ok(Outcome::Refused("its signature does not verify".to_owned())),
        SigState::UnknownKey { .. } => {
            return Ok(Outcome::Refused(
                "it is signed by a key that is not in [team] keys".to_owned(),
            ));
        }
    };
    let Some(member) = p
        .members
        .iter()
        .find(|c| c.keys().any(|k| k.key().fingerprint().to_hex() == signer))
    else {
        return Ok(Outcome::Refused(
            "it is signed by a key that is not in [team] keys".to_owned(),
        ));
    };
    let hash: String = sha2::Sha256::digest(msg.body_text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(first) = store.relayed(&hash)? {
        if first == msg.message_id {
            return Ok(Outcome::AlreadyDone);
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
    let done = match conversation::apply(store, &p.config, &report.tracking_id, &cmds, &actor) {
        Ok(d) => d,
        Err(e) => return Ok(Outcome::Refused(format!("{e:#}"))),
    };
    let thread = store.thread(&report.tracking_id)?;
    if !rest.is_empty() {
        let out = conversation::to_reporter(p, store, &thread, "team-reply", rest.clone())?;
        store.record_team_message(&thread, &out, &actor)?;
    }
    store.mark_relayed(&hash, &msg.message_id, report.id)?;
    Ok(Outcome::Relayed {
        commands: done,
        text: !rest.is_empty(),
    })
}

/// The short explanation to a member whose mail was not relayed.
pub fn explain(
    store: &mut Store,
    p: &Pipeline,
    msg: &Inbound,
    report: Option<&ReportRef>,
    why: &str,
) -> anyhow::Result<()> {
    let Some(to) = msg.from_addr.as_deref() else {
        return Ok(());
    };
    let tag = report.map(|r| format!("[{}] ", r.tracking_id)).unwrap_or_default();
    let m = TeamMail {
        kind: "relay-refused",
        subject: format!("{tag}Not relayed: {}", crate::message::single_line(&msg.subject)),
        outer_subject: format!("{tag}Not relayed"),
        text: format!(
            "Your message {} was not relayed to the reporter, and no command in it was carried out:\n\n  {why}\n\n\
             Sign your reply with your OpenPGP key (one of [team] keys), send it to {}, and keep it in the report's thread.\n\n-- \nembargo\n",
            msg.message_id, p.me.address
        ),
        html: None,
        attachments: Vec::new(),
    };
    let out = mail::build(&m, &p.from, to, &p.team, &[])?;
    store.enqueue_team_mail(report.map(|r| r.id), &[out])
}
