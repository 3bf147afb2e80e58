//! The room's commands: `!embargo help`, `list [--overdue]`, `show ID`,
//! `state ID STATE [--note TEXT]`, `complex ID`, `fixed ID [DATE]`,
//! `credit ID --name NAME [--url URL] | --no-credit`, `disclose-on ID
//! DATE`, `reply ID` (the lines after the first go to the reporter). They
//! do what the CLI's verbs of the same names do, through the same store
//! calls, with `matrix:@user:server` as the actor on the timeline. Whether
//! a command counts is [`super::trust`]'s decision, made before.

use jiff::Timestamp;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::report::ReportState;
use crate::store::{MailKind, Store};

/// The prefix that makes a room message a command.
pub const PREFIX: &str = "!embargo";

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    List {
        overdue: bool,
    },
    Show(String),
    State {
        id: String,
        state: String,
        note: String,
    },
    Complex(String),
    Fixed {
        id: String,
        date: Option<String>,
    },
    Credit {
        id: String,
        name: Option<String>,
        url: Option<String>,
        no_credit: bool,
    },
    DiscloseOn {
        id: String,
        date: String,
    },
    Reply {
        id: String,
        body: String,
    },
}

impl Command {
    /// The report it is about.
    pub fn report(&self) -> Option<&str> {
        match self {
            Command::Help | Command::List { .. } => None,
            Command::Show(id) | Command::Complex(id) => Some(id),
            Command::State { id, .. }
            | Command::Fixed { id, .. }
            | Command::Credit { id, .. }
            | Command::DiscloseOn { id, .. }
            | Command::Reply { id, .. } => Some(id),
        }
    }

    /// Its verb.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::List { .. } => "list",
            Command::Show(_) => "show",
            Command::State { .. } => "state",
            Command::Complex(_) => "complex",
            Command::Fixed { .. } => "fixed",
            Command::Credit { .. } => "credit",
            Command::DiscloseOn { .. } => "disclose-on",
            Command::Reply { .. } => "reply",
        }
    }
}

pub const HELP: &str = "embargo's commands (operators, from a verified device, in this room):
!embargo list [--overdue]
!embargo show ID
!embargo state ID STATE [--note TEXT]
!embargo complex ID
!embargo fixed ID [DATE]
!embargo credit ID --name NAME [--url URL] | --no-credit
!embargo disclose-on ID DATE
!embargo reply ID  (the lines after the first go to the reporter, signed and encrypted)
!embargo help";

/// None: not a command. Some(Err): a command that does not parse (why).
pub fn parse(text: &str) -> Option<Result<Command, String>> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = first.trim();
    let args = first.strip_prefix(PREFIX)?;
    if !(args.is_empty() || args.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(words(args).and_then(|w| command(&w, rest)))
}

fn command(w: &[String], rest: &str) -> Result<Command, String> {
    let verb = w.first().map(String::as_str).unwrap_or("help");
    let id = || {
        w.get(1)
            .filter(|a| !a.starts_with("--"))
            .cloned()
            .ok_or_else(|| format!("`{verb}` needs a report id, like `!embargo {verb} SEC-2026-0001`"))
    };
    let flag = |name: &str| -> Result<Option<String>, String> {
        match w.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => w
                .get(i + 1)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("{name} needs a value")),
        }
    };
    let cmd = match verb {
        "help" => Command::Help,
        "list" => Command::List {
            overdue: w.iter().any(|a| a == "--overdue"),
        },
        "show" => Command::Show(id()?),
        "state" => Command::State {
            id: id()?,
            state: w
                .get(2)
                .filter(|a| !a.starts_with("--"))
                .cloned()
                .ok_or("`state` needs a state, like `!embargo state SEC-2026-0001 triaged`")?,
            note: flag("--note")?.unwrap_or_default(),
        },
        "complex" => Command::Complex(id()?),
        "fixed" => Command::Fixed {
            id: id()?,
            date: w.get(2).cloned(),
        },
        "credit" => Command::Credit {
            id: id()?,
            name: flag("--name")?,
            url: flag("--url")?,
            no_credit: w.iter().any(|a| a == "--no-credit"),
        },
        "disclose-on" => Command::DiscloseOn {
            id: id()?,
            date: w.get(2).cloned().ok_or("`disclose-on` needs a date, like 2027-03-01")?,
        },
        "reply" => {
            let body = rest.trim_matches('\n').to_owned();
            if body.trim().is_empty() {
                return Err("`reply ID` sends the lines after the first to the reporter: there are none".into());
            }
            Command::Reply { id: id()?, body }
        }
        other => return Err(format!("unknown command {other:?}; `!embargo help` lists them")),
    };
    Ok(cmd)
}

/// Words, with "double" or 'single' quotes around words with spaces.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'' | '“' | '”') => {
                quote = Some(if c == '“' { '”' } else { c });
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// What a command did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub answer: String,
    /// Mail to the reporter was queued (the outbox should look now).
    pub mail: bool,
}

/// Carries out an accepted command. Call it inside the transaction that
/// marks the event handled: an error rolls its writes back.
pub fn execute(s: &mut Store, p: &Pipeline, cmd: &Command, actor: &str) -> anyhow::Result<Outcome> {
    let cfg = &*p.config;
    let answer = |a: String| Ok(Outcome { answer: a, mail: false });
    match cmd {
        Command::Help => answer(HELP.to_owned()),
        Command::List { overdue } => answer(list(s, cfg, *overdue)?),
        Command::Show(id) => answer(show(s, cfg, id)?),
        Command::State { id, state, note } => set_state(s, p, id, state, note, actor),
        Command::Complex(id) => {
            s.set_complex(id, actor)?;
            let d = s
                .show_report(id)?
                .ok_or_else(|| crate::store::Error::NotFound(id.clone()))?;
            let due = cfg
                .policy
                .calendar
                .add_days(d.summary.received_at, cfg.policy.promises.complex_fix_days);
            answer(format!(
                "{id}: complex; the fix is due {}",
                cfg.policy.calendar.human(due)
            ))
        }
        Command::Fixed { id, date } => fixed(s, cfg, id, date.as_deref(), actor).and_then(answer),
        Command::Credit {
            id,
            name,
            url,
            no_credit,
        } => credit(s, id, name.as_deref(), url.as_deref(), *no_credit, actor).and_then(answer),
        Command::DiscloseOn { id, date } => disclose_on(s, cfg, id, date, actor).and_then(answer),
        Command::Reply { id, body } => reply(s, p, id, body, actor),
    }
}

fn set_state(s: &mut Store, p: &Pipeline, id: &str, state: &str, note: &str, actor: &str) -> anyhow::Result<Outcome> {
    let to: ReportState = state.parse()?;
    let step = s.set_state(id, to, note, actor)?;
    let mut mail = false;
    if step.sends_acknowledgement() {
        // Taken back from an excluded topic: the normal acknowledgement.
        let t = s.thread(id)?;
        let out = crate::conversation::acknowledgement(p, s, &t)?;
        s.enqueue_team_mail(Some(t.report_id), &[out])?;
        mail = true;
    }
    Ok(Outcome {
        answer: format!(
            "{id}: {step}{}",
            if mail { "; the reporter is acknowledged" } else { "" }
        ),
        mail,
    })
}

fn fixed(s: &mut Store, cfg: &Config, id: &str, date: Option<&str>, actor: &str) -> anyhow::Result<String> {
    let cal = &cfg.policy.calendar;
    let at = match date {
        None => Timestamp::now(),
        Some(d) => cal.start_of(
            d.parse()
                .map_err(|_| anyhow::anyhow!("{d:?} is not a date like 2026-12-01"))?,
        ),
    };
    s.set_fixed(id, at, actor)?;
    Ok(format!(
        "{id}: fixed {}; technical details may be published from {}",
        cal.human(at),
        cal.human(cal.add_days(at, cfg.policy.promises.details_delay_days))
    ))
}

fn credit(
    s: &mut Store,
    id: &str,
    name: Option<&str>,
    url: Option<&str>,
    no_credit: bool,
    actor: &str,
) -> anyhow::Result<String> {
    if let Some(u) = url.filter(|u| crate::text::link(u).is_none()) {
        anyhow::bail!("--url {u:?} is not a link people can follow safely: use an https:, http: or mailto: address");
    }
    if name.is_none() && !no_credit {
        anyhow::bail!("`credit` needs --name NAME (and --url URL) or --no-credit");
    }
    let credit = if no_credit {
        None
    } else {
        name.map(|n| (n, url.unwrap_or("")))
    };
    s.set_credit(id, credit, actor)?;
    Ok(format!("{id}: credit recorded"))
}

/// The rest of the message to the reporter, as `reports reply` sends it.
fn reply(s: &mut Store, p: &Pipeline, id: &str, body: &str, actor: &str) -> anyhow::Result<Outcome> {
    let t = s.thread(id)?;
    let out = crate::conversation::to_reporter(p, s, &t, MailKind::TeamReply, body.to_owned())?;
    let encrypted = String::from_utf8_lossy(&out.raw).contains("multipart/encrypted");
    s.record_team_message(&t, &out, actor)?;
    Ok(Outcome {
        answer: format!(
            "{id}: reply to {} queued ({})",
            t.reporter,
            if encrypted { "signed and encrypted" } else { "signed" }
        ),
        mail: true,
    })
}

fn disclose_on(s: &mut Store, cfg: &Config, id: &str, date: &str, actor: &str) -> anyhow::Result<String> {
    let d: jiff::civil::Date = date
        .parse()
        .map_err(|_| anyhow::anyhow!("{date:?} is not a date like 2027-03-01"))?;
    let cal = &cfg.policy.calendar;
    let at = cal.start_of(d);
    let r = s
        .show_report(id)?
        .ok_or_else(|| crate::store::Error::NotFound(id.to_owned()))?;
    let limit = crate::conversation::latest_disclosure(cfg, r.summary.received_at, r.summary.complex);
    if at > limit {
        anyhow::bail!(
            "{date} is beyond the policy's limit for {id} ({}); only the CLI can record it anyway (--force REASON)",
            cal.human(limit)
        );
    }
    s.set_disclose_on(id, at, "", actor)?;
    Ok(format!("{id}: disclosure date {}", cal.human_day(at)))
}

fn list(s: &Store, cfg: &Config, overdue_only: bool) -> anyhow::Result<String> {
    let cal = &cfg.policy.calendar;
    let now = Timestamp::now();
    let mut lines = Vec::new();
    for mut r in s.list_reports()? {
        crate::policy::annotate(&mut r, cal, &cfg.policy.promises, now);
        let overdue = r.next_due.as_ref().is_some_and(|d| d.overdue && d.clock != "details");
        if r.state.is_closed() || (overdue_only && !overdue) {
            continue;
        }
        let due = r
            .next_due
            .as_ref()
            .and_then(|d| d.due.parse().ok().map(|t| format!("{} due {}", d.clock, cal.human(t))))
            .unwrap_or_default();
        lines.push(format!(
            "{} {} {}{} · {}",
            r.id,
            r.state,
            if overdue { "OVERDUE " } else { "" },
            due,
            super::render::one_line(&r.subject)
        ));
    }
    if lines.is_empty() {
        return Ok(if overdue_only {
            "No report is overdue."
        } else {
            "No open report."
        }
        .to_owned());
    }
    let n = lines.len();
    lines.truncate(30);
    let mut out = lines.join("\n");
    if n > 30 {
        out.push_str(&format!(
            "\n… and {} more (`embargo reports list` on the server)",
            n - 30
        ));
    }
    Ok(out)
}

fn show(s: &Store, cfg: &Config, id: &str) -> anyhow::Result<String> {
    let cal = &cfg.policy.calendar;
    let mut d = s
        .show_report(id)?
        .ok_or_else(|| crate::store::Error::NotFound(id.to_owned()))?;
    crate::policy::annotate(&mut d.summary, cal, &cfg.policy.promises, Timestamp::now());
    let r = &d.summary;
    let opt = |t: Option<Timestamp>| t.map(|t| cal.human(t)).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{} ({}) from {}\nSubject: {}\nReceived: {}\nResponse due: {} (met: {})\nFix due: {}{}\nDetails from: {}",
        r.id,
        r.state,
        r.reporter,
        super::render::one_line(&r.subject),
        cal.human(r.received_at),
        opt(r.response_due),
        opt(r.response_met_at),
        opt(r.fix_due),
        if r.complex { " (complex)" } else { "" },
        opt(r.details_due),
    );
    out.push_str("\nLast events:");
    for e in d.events.iter().rev().take(5) {
        out.push_str(&format!(
            "\n  {} {} {} {}",
            cal.human_str(&e.at),
            e.kind,
            e.actor,
            super::render::one_line(&e.detail)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_the_rest_of_a_reply_is_its_body() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("!embargoes list"), None);
        assert_eq!(parse("!embargo").unwrap(), Ok(Command::Help));
        assert_eq!(
            parse("!embargo list --overdue").unwrap(),
            Ok(Command::List { overdue: true })
        );
        assert_eq!(
            parse("!embargo state SEC-2026-0001 triaged --note \"looks real\"").unwrap(),
            Ok(Command::State {
                id: "SEC-2026-0001".into(),
                state: "triaged".into(),
                note: "looks real".into()
            })
        );
        assert_eq!(
            parse("!embargo reply SEC-2026-0001\nThanks, we reproduced it.\n").unwrap(),
            Ok(Command::Reply {
                id: "SEC-2026-0001".into(),
                body: "Thanks, we reproduced it.".into()
            })
        );
        assert!(
            parse("!embargo reply SEC-2026-0001")
                .unwrap()
                .unwrap_err()
                .contains("lines after")
        );
        assert!(parse("!embargo state").unwrap().unwrap_err().contains("report id"));
        assert!(
            parse("!embargo frobnicate")
                .unwrap()
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(parse("!embargo show \"SEC").unwrap().unwrap_err().contains("quote"));
    }
}
