//! The team's conversation with the reporter through embargo: replies,
//! fix and disclosure notices (from the CLI), and replies relayed from a team
//! member's signed mail, with a small command grammar.
//!
//! Commands, one per line at the very top of a relayed mail (the first line
//! that is not a command ends them; a blank line too):
//!
//! ```text
//! state: triaged            (any report state)
//! complex
//! fixed                     (or  fixed: 2026-12-01)
//! disclose-on: 2027-03-01
//! disclosed
//! credit: Jane Doe https://jane.example
//! no-credit
//! ```
//!
//! A line that looks like a command (`word:` at the top) but is not one of
//! these is reported back and nothing is done: commands are never guessed.

use jiff::Timestamp;
use jiff::civil::Date;
use sequoia_openpgp::Cert;
use sequoia_openpgp::parse::Parse as _;

use crate::config::Config;
use crate::message::Inbound;
use crate::openpgp::may_echo_to;
use crate::pipeline::Pipeline;
use crate::reply::{self, Crypto, ReplyTo};
use crate::report::ReportState;
use crate::store::{Outgoing, Store, Thread};
use crate::triage::Identity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    State(ReportState),
    Complex,
    Fixed(Option<Date>),
    DiscloseOn(Date),
    Disclosed,
    Credit { name: String, url: String },
    NoCredit,
}

/// Commands at the top of `text`, unknown command-like lines, and the rest.
pub fn parse_commands(text: &str) -> (Vec<Command>, Vec<String>, String) {
    let mut cmds = Vec::new();
    let mut unknown = Vec::new();
    let mut lines = text.lines().peekable();
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    while let Some(line) = lines.peek() {
        let l = line.trim();
        if l.is_empty() {
            break;
        }
        let (name, value) = match l.split_once(':') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), v.trim().to_owned()),
            None => (l.to_ascii_lowercase(), String::new()),
        };
        let raw_name = l.split(':').next().unwrap_or("").trim();
        let looks_like_command = !raw_name.is_empty() && raw_name.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        let cmd = match (name.as_str(), value.as_str()) {
            ("state", v) => v.to_ascii_lowercase().parse().ok().map(Command::State),
            ("complex", "") => Some(Command::Complex),
            ("fixed", "") => Some(Command::Fixed(None)),
            ("fixed", v) => v.parse().ok().map(|d| Command::Fixed(Some(d))),
            ("disclose-on", v) => v.parse().ok().map(Command::DiscloseOn),
            ("disclosed", "") => Some(Command::Disclosed),
            ("no-credit", "") => Some(Command::NoCredit),
            ("credit", v) if !v.is_empty() => {
                let (name, url): (Vec<&str>, Vec<&str>) = v
                    .split_whitespace()
                    .partition(|w| !(w.starts_with("https://") || w.starts_with("http://")));
                Some(Command::Credit {
                    name: name.join(" "),
                    url: url.first().copied().unwrap_or("").to_owned(),
                })
            }
            _ => None,
        };
        match cmd {
            Some(c) => cmds.push(c),
            // `word:` or a bare lower-case word at the top: a command we do
            // not know (or a known one with a bad value).
            None if looks_like_command && (l.contains(':') || !l.contains(' ')) && cmds.len() < 20 => {
                unknown.push(l.to_owned())
            }
            None => break,
        }
        lines.next();
    }
    let rest: Vec<&str> = lines.collect();
    (cmds, unknown, rest.join("\n").trim().to_owned())
}

/// The member's own words: without quoted text (`> ...`), without what
/// follows "On ... wrote:" or "-----Original Message-----", without the
/// signature block.
pub fn strip_quoted(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_end();
        if t.ends_with("wrote:") || t.starts_with("-----Original Message-----") || t == "--" || t == "-- " {
            break;
        }
        if t.trim_start().starts_with('>') {
            continue;
        }
        out.push(t);
    }
    out.join("\n").trim().to_owned()
}

/// The reporter's pinned key, if it can be encrypted to. An address whose
/// proof is configured (ours, a member's, a downstream recipient's) has no
/// pinned key, whatever an older database holds for it.
pub fn reporter_cert(store: &Store, me: &Identity, reporter: &str) -> crate::store::Result<Option<Cert>> {
    if me.proof_configured(reporter) {
        return Ok(None);
    }
    Ok(store
        .reporter_certs(reporter)?
        .iter()
        .find_map(|b| Cert::from_bytes(b).ok())
        .filter(crate::openpgp::pin::can_encrypt))
}

/// A team message to the reporter, threaded into the report, signed, and
/// encrypted when the reporter's key is known.
/// A store error stays typed (`Fault::Database` when it cannot be read).
pub fn to_reporter(
    p: &Pipeline,
    store: &Store,
    t: &Thread,
    kind: crate::store::MailKind,
    body: String,
) -> crate::fault::Result<Outgoing> {
    let references = t
        .references
        .iter()
        .filter(|r| Some(*r) != t.latest.as_ref())
        .cloned()
        .collect();
    let inbound = Inbound::answered(&t.reporter, &t.reporter_name, &t.subject, t.latest.clone(), references);
    let to = ReplyTo {
        inbound: &inbound,
        recipient: &t.reporter,
        from: &p.from,
        human: true,
        all_references: false,
    };
    let crypto = Crypto {
        team: Some(&p.team),
        encrypt_to: reporter_cert(store, &p.me, &t.reporter)?,
    };
    let encrypt = crypto.encrypt_to.is_some() && p.team.signer().is_some();
    // The decrypted subject of an encrypted report goes back only encrypted
    // to the key that signed the report (see `openpgp::may_echo_to`).
    let subject = if t.encrypted && !(encrypt && may_echo_to(crypto.encrypt_to.as_ref(), &t.opener_signer)) {
        format!("[{}]", t.tracking_id)
    } else {
        reply::tagged_subject(&t.tracking_id, &format!("Re: {}", t.subject))
    };
    Ok(reply::compose(kind, &to, &subject, body, &crypto)?)
}

/// The normal acknowledgement of a report, for one the team took back from
/// an excluded topic (`reports state ID new`): automatic (RFC 3834), to the
/// reporter, threaded to the report, encrypted when their pinned key can be,
/// and quoting nothing encrypted in cleartext.
pub fn acknowledgement(p: &Pipeline, store: &Store, t: &Thread) -> anyhow::Result<Outgoing> {
    let cert = reporter_cert(store, &p.me, &t.reporter)?;
    let encrypt = cert.is_some() && p.team.signer().is_some();
    let echo = !t.encrypted || (encrypt && may_echo_to(cert.as_ref(), &t.opener_signer));
    let ctx = reply::AckContext {
        tracking_id: t.tracking_id.clone(),
        subject: if !echo {
            "your encrypted report".to_owned()
        } else {
            crate::text::bounded(&t.subject)
        },
        reporter: t.reporter.clone(),
        reporter_name: crate::text::bounded(&t.reporter_name),
        team: p.from.name.clone().unwrap_or_else(|| "Security Team".to_owned()),
        received_at: p.config.policy.calendar.human_str(&t.received_at),
        response_business_days: p.promises.response_business_days,
        fix_days: p.promises.fix_days,
        complex_fix_days: p.promises.complex_fix_days,
        details_delay_days: p.promises.details_delay_days,
        fingerprint: p.team.primary_fingerprint().map(|f| f.to_hex()).unwrap_or_default(),
        problem: String::new(),
        encrypted: encrypt,
        encrypted_report: t.encrypted,
        topic: String::new(),
        missing: Vec::new(),
    };
    let body = p.templates.render_ack(&ctx)?;
    let report_message = t.references.first().cloned();
    let inbound = Inbound::answered(&t.reporter, &t.reporter_name, &t.subject, report_message, Vec::new());
    let to = ReplyTo {
        inbound: &inbound,
        recipient: &t.reporter,
        from: &p.from,
        human: false,
        all_references: false,
    };
    let subject = if !echo {
        format!("[{}]", t.tracking_id)
    } else {
        reply::tagged_subject(&t.tracking_id, &t.subject)
    };
    let crypto = Crypto {
        team: Some(&p.team),
        encrypt_to: cert,
    };
    Ok(reply::compose(
        crate::store::MailKind::Ack,
        &to,
        &subject,
        body,
        &crypto,
    )?)
}

/// A notice from a template (`fixed.txt`, `disclose-on.txt`).
pub fn notice(cfg: &Config, store: &Store, t: &Thread, template: &str, reason: &str) -> anyhow::Result<String> {
    let mut reports = store.list_reports()?;
    let r = reports
        .iter_mut()
        .find(|r| r.id == t.tracking_id)
        .ok_or_else(|| anyhow::anyhow!("no report {}", t.tracking_id))?;
    crate::policy::annotate(r, &cfg.policy.calendar, &cfg.policy.promises, Timestamp::now());
    let cert = reporter_cert(store, &crate::pipeline::identity(cfg), &t.reporter)?;
    if t.encrypted && !may_echo_to(cert.as_ref(), &t.opener_signer) {
        // No decrypted subject but to the key that signed the report.
        r.subject = "your encrypted report".to_owned();
    } else {
        r.subject = crate::text::bounded(&r.subject);
    }
    // The advisory's links, once the report is public.
    let cve = store
        .advisory(&t.tracking_id)?
        .and_then(|a| toml::from_str::<crate::advisory::Advisory>(&a.document).ok())
        .and_then(|a| a.cve);
    let public = r.state == ReportState::Disclosed;
    let ctx = notice_context(cfg, r, !t.credit.is_empty(), reason, cve.as_deref(), public);
    let dir = cfg.file.parent().unwrap_or(std::path::Path::new("."));
    Ok(crate::text::render_file(&dir.join(template), &ctx)?)
}

/// The team notices' templates (`fixed.txt`, `disclose-on.txt`,
/// `disclosed.txt`, `accepted-risk.txt`, `needs-info.txt`, `merged.txt`,
/// beside the config file).
pub const NOTICE_TEMPLATES: [&str; 6] = [
    "fixed.txt",
    "disclose-on.txt",
    "disclosed.txt",
    "accepted-risk.txt",
    "needs-info.txt",
    "merged.txt",
];

/// What a notice template sees.
pub fn notice_context(
    cfg: &Config,
    r: &crate::report::ReportSummary,
    credit_known: bool,
    reason: &str,
    cve: Option<&str>,
    public: bool,
) -> serde_json::Value {
    let mut report = serde_json::to_value(r).unwrap_or_default();
    // Times as people read them, in the policy's time zone.
    let cal = &cfg.policy.calendar;
    if let Some(fields) = report.as_object_mut() {
        for (key, value) in fields.iter_mut() {
            if let Some(t) = value.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
                *value = serde_json::Value::String(if key == "disclose_on" {
                    cal.human_day(t)
                } else {
                    cal.human(t)
                });
            }
        }
    }
    serde_json::json!({
        "report": report,
        "team": cfg.smtp.from.name.clone().unwrap_or_else(|| "Security Team".to_owned()),
        "credit_known": credit_known,
        "reason": reason,
        "close_days": cfg.policy.promises.needs_info_close_days,
        // The report a merged one joined.
        "into": r.merged_into,
        // Links only once the report is public.
        "cve": cve.filter(|_| public),
        "advisory_url": cfg.advisory.link(&r.id, cve).filter(|_| public),
    })
}

/// The latest date the policy allows for disclosure: received + the fix
/// limit (complex or not) + the details delay.
pub fn latest_disclosure(cfg: &Config, received: Timestamp, complex: bool) -> Timestamp {
    let p = &cfg.policy.promises;
    let fix = if complex { p.complex_fix_days } else { p.fix_days };
    cfg.policy.calendar.add_days(received, fix + p.details_delay_days)
}

/// Carries out commands as `actor`. Returns what was done, in words.
/// Applies a member's commands to a report. A command that does not fit the
/// report is `store::Error::Invalid` (the relay explains it to the member);
/// `store::Error::Unavailable` means the database could not be written.
pub fn apply(
    store: &mut Store,
    cfg: &Config,
    id: &str,
    cmds: &[Command],
    actor: &str,
) -> crate::store::Result<Vec<String>> {
    let mut done = Vec::new();
    for c in cmds {
        match c {
            Command::State(ReportState::AcceptedRisk) => {
                return Err(crate::store::Error::invalid(
                    "accepted-risk is set with its reason from the CLI: embargo reports state ID accepted-risk --note REASON",
                ));
            }
            Command::State(s) => {
                let step = store.set_state(id, *s, "by mail", actor)?;
                done.push(format!("state {step}"));
            }
            Command::Complex => {
                store.set_complex(id, actor)?;
                done.push("marked complex".to_owned());
            }
            Command::Fixed(date) => {
                let at = date
                    .map(|d| cfg.policy.calendar.start_of(d))
                    .unwrap_or_else(Timestamp::now);
                store.set_fixed(id, at, actor)?;
                done.push(format!("fixed at {}", crate::store::ts(at)));
            }
            Command::DiscloseOn(d) => {
                let at = cfg.policy.calendar.start_of(*d);
                let r = store
                    .show_report(id)?
                    .ok_or_else(|| crate::store::Error::NotFound(id.to_string()))?;
                let received = r.summary.received_at;
                let limit = latest_disclosure(cfg, received, r.summary.complex);
                if at > limit {
                    return Err(crate::store::Error::invalid(format!(
                        "disclose-on {d} is beyond the policy's limit ({}); use the CLI with --force",
                        crate::store::ts(limit)
                    )));
                }
                store.set_disclose_on(id, at, "agreed by mail", actor)?;
                done.push(format!("disclosure date {d}"));
            }
            Command::Disclosed => {
                store.set_state(id, ReportState::Disclosed, "by mail", actor)?;
                done.push("disclosed".to_owned());
            }
            Command::Credit { name, url } => {
                store.set_credit(id, Some((name, url)), actor)?;
                done.push(format!("credit as {name}"));
            }
            Command::NoCredit => {
                store.set_credit(id, None, actor)?;
                done.push("no credit".to_owned());
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_at_the_top_only() {
        let (c, u, rest) = parse_commands("state: triaged\ncomplex\ndisclose-on: 2027-03-01\n\nHi Rita,\nthanks.");
        assert_eq!(
            c,
            vec![
                Command::State(ReportState::Triaged),
                Command::Complex,
                Command::DiscloseOn("2027-03-01".parse().unwrap())
            ]
        );
        assert!(u.is_empty());
        assert_eq!(rest, "Hi Rita,\nthanks.");
        let (c, u, rest) = parse_commands("Hi Rita,\nstate: fixed\n");
        assert!(c.is_empty() && u.is_empty());
        assert!(rest.contains("state: fixed"), "not at the top: text");
        let (c, u, _) = parse_commands("credit: Jane Doe https://jane.example\nescalate: now\nHello");
        assert_eq!(
            c,
            vec![Command::Credit {
                name: "Jane Doe".into(),
                url: "https://jane.example".into()
            }]
        );
        assert_eq!(u, vec!["escalate: now"]);
        let (_, u, _) = parse_commands("fixed: yesterday\n");
        assert_eq!(u, vec!["fixed: yesterday"], "a bad value is reported, not guessed");
    }

    #[test]
    fn quotes_and_signatures_are_stripped() {
        let t = "Thanks, confirmed.\n\nOn Mon, 1 Dec 2026, security@example.test wrote:\n> New report SEC-2026-0001\n> secret";
        assert_eq!(strip_quoted(t), "Thanks, confirmed.");
        assert_eq!(strip_quoted("> quoted\nmine\n-- \nTess"), "mine");
    }
}
