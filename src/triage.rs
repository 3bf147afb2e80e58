//! Triage decides what an inbound message is; it never writes.
//!
//! Order: duplicate → automatic mail (no reply, ever) → thread → new report.
//! Excluded topics will slot in between threading and "new report".
//!
//! Threading rule (a stranger must not join someone else's thread): a message
//! joins a report when its In-Reply-To/References name a message of that
//! report, or its subject carries the report's tracking tag, **and** its From
//! address is the report's reporter or a team member. Anyone else citing a
//! tag or a Message-ID gets a new report of their own; the citation is noted
//! on the new report so the team can link them by hand. Tags and Message-IDs
//! are not secrets (subjects get forwarded and quoted), so they never act as
//! a capability.

use crate::message::{Inbound, ReturnPath};
use crate::report::ReportRef;

pub mod checklist;
pub mod exclude;

/// Read access to what is already known, as triage needs it.
pub trait ThreadIndex {
    /// What a lookup can fail with (the store's error, for the store: a
    /// database that cannot be read stays that, not a fault of the message).
    type Error;
    fn inbound_seen(&self, message_id: &str) -> Result<bool, Self::Error>;
    fn by_message_ids(&self, ids: &[String]) -> Result<Option<ReportRef>, Self::Error>;
    fn by_tracking_id(&self, tracking_id: &str) -> Result<Option<ReportRef>, Self::Error>;
    /// Is this the Message-ID of a mail embargo itself sent?
    fn is_our_outgoing(&self, message_id: &str) -> Result<bool, Self::Error>;
    /// Was this downstream address sent an embargoed notice about the report?
    fn downstream_notified(&self, report: &ReportRef, address: &str) -> Result<bool, Self::Error>;
    /// The report of `reporter` merged into `into` (`reports merge`): their
    /// replies to the thread they started, which joined `into`, stay theirs.
    fn merged_report(&self, into: &ReportRef, reporter: &str) -> Result<Option<ReportRef>, Self::Error> {
        let _ = (into, reporter);
        Ok(None)
    }
}

/// Who we are, for loop detection and team membership.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Our own address (the From of everything we send).
    pub address: String,
    /// The tracking-id prefix, e.g. `SEC`.
    pub prefix: String,
    /// Team members' addresses (may join any thread).
    pub team: Vec<String>,
    /// `[[downstream]]` addresses (may join the thread of a report they
    /// were sent a notice about).
    pub downstream: Vec<String>,
}

impl Identity {
    /// Is the proof of who sends from `addr` configured: our own address, a
    /// team member's (their `[team] keys`), a downstream recipient's (their
    /// `key`)? Such an address never gets a key learned from mail, and a key
    /// pinned for it earlier is never trusted: a forger writes first.
    pub fn proof_configured(&self, addr: &str) -> bool {
        let addr = addr.trim();
        addr.eq_ignore_ascii_case(&self.address)
            || self
                .team
                .iter()
                .chain(&self.downstream)
                .any(|a| a.eq_ignore_ascii_case(addr))
    }
}

/// The loop marker header embargo puts on everything it sends.
pub const LOOP_HEADER: &str = "X-Embargo-Loop";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Duplicate,
    /// The copy of a mail we sent, delivered back to us (`smtp.copy_to_self`).
    OwnCopy,
    Automatic {
        reason: String,
    },
    FollowUp {
        report: ReportRef,
        how: String,
        sender: Sender,
    },
    NewReport {
        notes: Vec<String>,
        /// An excluded topic the mail falls under, with the phrases that matched.
        excluded: Option<(String, Vec<String>)>,
        from_team: bool,
    },
}

/// Who wrote a follow-up, by the address it names (proof is `trust`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The report's reporter (or someone writing as them).
    Reporter,
    /// A team member (`[team] members`).
    Team,
    /// A downstream recipient answering the notice they were sent.
    Downstream,
}

pub fn decide<I: ThreadIndex + ?Sized>(
    msg: &Inbound,
    me: &Identity,
    index: &I,
    topics: &[exclude::Topic],
) -> Result<Decision, I::Error> {
    if index.inbound_seen(&msg.message_id)? {
        return Ok(Decision::Duplicate);
    }
    if carries_our_loop_marker(msg, me) && index.is_our_outgoing(&msg.message_id)? {
        return Ok(Decision::OwnCopy);
    }
    if let Some(reason) = automatic_reason(msg, me) {
        return Ok(Decision::Automatic { reason });
    }
    let sender = msg.from_addr.as_deref().unwrap_or_default();
    let from_team = me.team.iter().any(|t| t.eq_ignore_ascii_case(sender));
    let downstream = me.downstream.iter().any(|d| d.eq_ignore_ascii_case(sender));
    // Who may join: a member, the reporter, or a downstream recipient told
    // about this very report.
    let may_join = |r: &ReportRef| -> Result<Option<Sender>, I::Error> {
        if from_team {
            return Ok(Some(Sender::Team));
        }
        if r.reporter.eq_ignore_ascii_case(sender) {
            return Ok(Some(Sender::Reporter));
        }
        Ok((downstream && index.downstream_notified(r, sender)?).then_some(Sender::Downstream))
    };
    let mut notes = Vec::new();
    if let Some(d) = by_references(msg, index, sender, from_team, &may_join, &mut notes)? {
        return Ok(d);
    }
    for tag in tracking_tags(&msg.subject, &me.prefix) {
        if let Some(report) = index.by_tracking_id(&tag)? {
            if let Some(sender) = may_join(&report)? {
                let how = "tracking tag".to_owned();
                return Ok(Decision::FollowUp { report, how, sender });
            }
            notes.push(format!(
                "subject cites {}, which belongs to another reporter: not joined",
                report.tracking_id
            ));
        }
    }
    notes.dedup();
    // Excluded topics are judged on new reports only: a reply in a thread
    // (even to an excluded report) is a conversation, not a new report.
    let excluded = if from_team {
        None
    } else {
        exclude::classify(topics, &msg.subject, &msg.body_text).map(|(t, hits)| (t.name.clone(), hits))
    };
    Ok(Decision::NewReport {
        notes,
        excluded,
        from_team,
    })
}

/// Whether a sender may join a report, and as whom.
type MayJoin<'a, E> = dyn Fn(&ReportRef) -> Result<Option<Sender>, E> + 'a;

/// Threading by In-Reply-To/References: the report a cited message belongs
/// to, when the sender may join it (or their own report, merged into it).
fn by_references<I: ThreadIndex + ?Sized>(
    msg: &Inbound,
    index: &I,
    sender: &str,
    from_team: bool,
    may_join: &MayJoin<'_, I::Error>,
    notes: &mut Vec<String>,
) -> Result<Option<Decision>, I::Error> {
    let ids: Vec<String> = msg.in_reply_to.iter().chain(msg.references.iter()).cloned().collect();
    let Some(report) = index.by_message_ids(&ids)? else {
        return Ok(None);
    };
    if let Some(sender) = may_join(&report)? {
        return Ok(Some(Decision::FollowUp {
            report,
            how: "In-Reply-To/References".to_owned(),
            sender,
        }));
    }
    if let Some(own) = index.merged_report(&report, sender)? {
        return Ok(Some(Decision::FollowUp {
            how: format!("In-Reply-To/References (a thread merged into {})", report.tracking_id),
            report: own,
            sender: if from_team { Sender::Team } else { Sender::Reporter },
        }));
    }
    notes.push(format!(
        "replies to a message of {}, which belongs to another reporter: not joined",
        report.tracking_id
    ));
    Ok(None)
}

/// The reporter's wish about credit, when their mail states it in a way we
/// recognise: a line `Credit: Jane Doe <https://…>`, "credit me as …",
/// "please credit …", or a refusal ("no credit", "do not credit me",
/// "anonymous").
pub fn credit_wish(text: &str) -> Option<crate::report::CreditWish> {
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('>')) {
        // ASCII lower-casing keeps every byte offset (the phrases are
        // ASCII); Unicode lower-casing does not (İ, K, ẞ), and an offset
        // from it would slice the original line in the wrong place.
        let lower = line.to_ascii_lowercase();
        let declined = [
            "no credit",
            "do not credit",
            "don't credit",
            "dont credit",
            "not be credited",
            "stay anonymous",
            "remain anonymous",
        ];
        if declined.iter().any(|d| lower.contains(d)) {
            return Some(crate::report::CreditWish {
                wanted: false,
                name: String::new(),
                url: String::new(),
            });
        }
        let rest = ["credit:", "credit me as", "please credit", "hall of fame:", "credit as"]
            .iter()
            .find_map(|p| lower.find(p).map(|i| &line[i + p.len()..]));
        if let Some(rest) = rest {
            let mut name = Vec::new();
            let mut url = String::new();
            for word in rest.split_whitespace() {
                let w = word.trim_matches(|c| c == '<' || c == '>' || c == '(' || c == ')' || c == ',');
                if w.starts_with("https://") || w.starts_with("http://") {
                    // Only a link people can follow safely is kept.
                    url = crate::text::link(w).unwrap_or_default();
                } else if url.is_empty() && !w.is_empty() {
                    name.push(w);
                }
            }
            let name = crate::message::single_line(&name.join(" "))
                .trim_end_matches('.')
                .chars()
                .take(100)
                .collect::<String>();
            if !name.is_empty() {
                return Some(crate::report::CreditWish {
                    wanted: true,
                    name,
                    url,
                });
            }
        }
    }
    None
}

/// Why this mail is automatic (RFC 3834 §2, RFC 5230 §4.6), or None.
pub fn automatic_reason(msg: &Inbound, me: &Identity) -> Option<String> {
    if let Some(v) = msg.header("auto-submitted") {
        let token = v.split(';').next().unwrap_or("").trim();
        if !token.eq_ignore_ascii_case("no") {
            return Some(format!("Auto-Submitted: {token}"));
        }
    }
    match &msg.return_path {
        ReturnPath::Null => return Some("null return path (<>)".to_owned()),
        ReturnPath::Missing => {
            return Some("no Return-Path: cannot tell where a reply may go".to_owned());
        }
        ReturnPath::Address(_) => {}
    }
    if carries_our_loop_marker(msg, me) {
        return Some(format!("carries our loop marker {LOOP_HEADER}"));
    }
    let addrs = [
        msg.from_addr.as_deref(),
        match &msg.return_path {
            ReturnPath::Address(a) => Some(a.as_str()),
            _ => None,
        },
    ];
    for addr in addrs.into_iter().flatten() {
        if addr.eq_ignore_ascii_case(&me.address) {
            return Some(format!("sent from our own address {addr}"));
        }
        if let Some(why) = robot_sender(addr) {
            return Some(why);
        }
    }
    if let Some((name, _)) = msg.headers.iter().find(|(n, _)| n.starts_with("list-")) {
        return Some(format!("mailing-list header {name}"));
    }
    if let Some(p) = msg.header("precedence") {
        let p = p.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "junk" | "list") {
            return Some(format!("Precedence: {p}"));
        }
    }
    for h in ["x-auto-response-suppress", "x-autoreply", "x-autorespond"] {
        if msg.has_header(h) {
            return Some(format!("{h} header"));
        }
    }
    if let Some(ct) = msg.header("content-type")
        && ct.to_ascii_lowercase().starts_with("multipart/report")
    {
        return Some("delivery or read report (multipart/report)".to_owned());
    }
    None
}

/// A mail found in the security address's Sent folder: the team's reply to
/// a reporter when it is from us (or a member), answers a report (In-Reply-To,
/// References or the tracking tag) and is addressed to that report's
/// reporter. A forward to a colleague, or anything embargo sent itself, is
/// not a response. `None`: nothing to record.
pub fn sent_reply<I: ThreadIndex + ?Sized>(
    msg: &Inbound,
    me: &Identity,
    index: &I,
) -> Result<Option<(ReportRef, String)>, I::Error> {
    if index.inbound_seen(&msg.message_id)? || carries_our_loop_marker(msg, me) {
        return Ok(None);
    }
    let sender = msg.from_addr.as_deref().unwrap_or_default();
    let ours = sender.eq_ignore_ascii_case(&me.address) || me.team.iter().any(|t| t.eq_ignore_ascii_case(sender));
    if !ours {
        return Ok(None);
    }
    let ids: Vec<String> = msg.in_reply_to.iter().chain(msg.references.iter()).cloned().collect();
    let mut found = index
        .by_message_ids(&ids)?
        .map(|r| (r, "In-Reply-To/References, in the Sent folder".to_owned()));
    if found.is_none() {
        for tag in tracking_tags(&msg.subject, &me.prefix) {
            if let Some(r) = index.by_tracking_id(&tag)? {
                found = Some((r, format!("tracking tag {tag}, in the Sent folder")));
                break;
            }
        }
    }
    Ok(found.filter(|(r, _)| msg.addressed_to(&r.reporter)))
}

fn carries_our_loop_marker(msg: &Inbound, me: &Identity) -> bool {
    msg.header_values(LOOP_HEADER)
        .any(|v| v.trim().eq_ignore_ascii_case(&me.address))
}

/// Local parts that RFC 5230 §4.6 (and common practice) say never to answer.
fn robot_sender(addr: &str) -> Option<String> {
    let local = addr
        .rsplit_once('@')
        .map(|(l, _)| l)
        .unwrap_or(addr)
        .to_ascii_lowercase();
    let robot = matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "listserv" | "majordomo"
    ) || local.ends_with("-request")
        || local.starts_with("owner-")
        || local.ends_with("-bounces")
        || local.ends_with("-owner");
    robot.then(|| format!("robot sender {addr}"))
}

/// Tracking ids such as `SEC-2026-0001` found in a subject, upper-cased.
pub fn tracking_tags(subject: &str, prefix: &str) -> Vec<String> {
    let upper = subject.to_ascii_uppercase();
    let prefix = prefix.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = upper.get(from..).and_then(|s| s.find(&prefix)) {
        let start = from + pos;
        from = start + prefix.len();
        let preceded_ok = upper[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let rest = &upper[from..];
        let Some(rest) = rest.strip_prefix('-') else {
            continue;
        };
        let year: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if year.len() != 4 {
            continue;
        }
        let Some(after_year) = rest[4..].strip_prefix('-') else {
            continue;
        };
        let seq: String = after_year.chars().take_while(char::is_ascii_digit).collect();
        let followed_ok = after_year[seq.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if preceded_ok && followed_ok && !seq.is_empty() && seq.len() <= 9 {
            let tag = format!("{prefix}-{year}-{seq}");
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
