//! `embargo reports show`: one report, its clocks and its whole thread,
//! every time in policy.timezone.

use std::io::Write as _;
use std::process::ExitCode;

use super::terminal_safe;
use crate::config;
use crate::report::Credit;
use crate::store::{ReportDetail, ReportSummary, Store};

pub(super) fn show(store: &Store, cfg: &config::Config, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(mut d) = store.show_report(id)? else {
        eprintln!("embargo: no report {id}");
        return Ok(ExitCode::FAILURE);
    };
    crate::policy::annotate(
        &mut d.summary,
        &cfg.policy.calendar,
        &cfg.policy.promises,
        jiff::Timestamp::now(),
    );
    let known = crate::similar::known::Known::load(&cfg.triage.known_advisories, &cfg.triage.products).known;
    d.similar = store.suggest_for(id, cfg.triage.similar_threshold, &known, 5)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&super::json::Detail::from(&d))?)?;
    } else {
        write!(out, "{}", terminal_safe(&render_timeline(&d, &cfg.policy.calendar)))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `reports similar ID [--json] [--limit N]`.
pub(super) fn similar(
    store: &Store,
    cfg: &config::Config,
    id: &str,
    json: bool,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let known = crate::similar::known::Known::load(&cfg.triage.known_advisories, &cfg.triage.products).known;
    let found = store.suggest_for(id, cfg.triage.similar_threshold, &known, limit)?;
    if json {
        let view: Vec<super::json::Suggestion<'_>> = found.iter().map(super::json::Suggestion::from).collect();
        outln!("{}", serde_json::to_string_pretty(&view)?);
    } else if found.is_empty() {
        outln!(
            "{id}: nothing similar at or above {:.2} ([triage] similar_threshold)",
            cfg.triage.similar_threshold
        );
    } else {
        for s in &found {
            outln!("{}", terminal_safe(&s.line()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Its CVE ids (as CVE Services last said) and its GitHub advisory.
fn published_lines(d: &crate::store::ReportDetail, cal: &crate::policy::Calendar) -> String {
    let mut text = String::new();
    for c in &d.cve {
        let since = match c.state.as_str() {
            "PUBLISHED" => &c.published_at,
            "REJECTED" => &c.rejected_at,
            _ => &c.reserved_at,
        };
        text.push_str(&format!(
            "  CVE:          {} {}{}\n",
            c.cve_id,
            c.state,
            since
                .as_deref()
                .map(|t| format!(" since {}", cal.human_str(t)))
                .unwrap_or_default()
        ));
    }
    if let Some(g) = &d.ghsa {
        text.push_str(&format!(
            "  GitHub:       {} {} in {}{}\n",
            g.ghsa_id,
            g.state,
            g.repository,
            match (&g.cve_id, &g.cve_requested_at) {
                (Some(c), _) => format!(", {c}"),
                (None, Some(_)) => ", CVE requested".to_owned(),
                _ => String::new(),
            }
        ));
    }
    text
}

/// Who was sent an embargoed notice, and who acknowledged it.
fn downstream_lines(notices: &[crate::store::DownstreamNotice]) -> String {
    if notices.is_empty() {
        return String::new();
    }
    let mut text = "\nDownstream\n".to_owned();
    for n in notices {
        let ack = match (&n.acknowledged_at, &n.ack_auth) {
            (Some(at), Some(how)) => format!("acknowledged {at} ({how})"),
            _ => "NOT acknowledged".to_owned(),
        };
        text.push_str(&format!(
            "  {} <{}>: notified {}{}, release {}; {ack}\n",
            crate::text::bounded(&n.name),
            n.address,
            n.notified_at,
            if n.encrypted { "" } else { " (cleartext)" },
            n.release_at
        ));
    }
    text
}

/// The report as a person reads it: a header, then messages and events
/// merged in time order.
/// `reports show`: every time in policy.timezone (`Mon 14 Dec 2026 09:12 CET`).
pub fn render_timeline(d: &ReportDetail, cal: &crate::policy::Calendar) -> String {
    let s = &d.summary;
    let mut text = format!(
        "{}  [{}]\n  Subject:      {}\n  Reporter:     {}{}\n  Received:     {}\n  Acknowledged: {}\n  Messages:     {} in, {} out\n\nTimeline\n",
        s.id,
        s.state,
        crate::text::bounded(&s.subject),
        if s.reporter_name.is_empty() {
            String::new()
        } else {
            format!("{} ", crate::text::bounded(&s.reporter_name))
        },
        if s.reporter_name.is_empty() {
            s.reporter.clone()
        } else {
            format!("<{}>", s.reporter)
        },
        cal.human(s.received_at),
        s.acknowledged_at
            .map(|a| cal.human(a))
            .unwrap_or_else(|| "not yet".to_owned()),
        s.messages,
        s.messages_out,
    );
    text.truncate(text.len() - "\nTimeline\n".len());
    text.push_str(&clocks(s, cal));
    text.push_str(&similar_lines(&d.similar));
    text.push_str(&merged_lines(&d.merged));
    text.push_str(&downstream_lines(&d.downstream));
    text.push_str(&published_lines(d, cal));
    text.push_str("\nTimeline\n");
    let mut lines: Vec<(String, String)> = Vec::new();
    for m in &d.thread {
        let arrow = if m.direction == "in" { "<-" } else { "->" };
        let who = crate::text::bounded(if m.direction == "in" { &m.from } else { &m.to });
        let mut body = String::new();
        for l in m.body.lines().take(40) {
            let l: String = l.chars().take(500).collect();
            body.push_str(&format!("\n                            | {l}"));
        }
        lines.push((
            m.received_at.clone(),
            format!(
                "{arrow} {:<9} {who}  \"{}\"  {}{}{body}",
                m.kind,
                crate::text::bounded(&m.subject),
                crate::text::bounded(&m.message_id),
                protection(m)
            ),
        ));
    }
    for e in &d.events {
        let change = match (&e.old, &e.new) {
            (Some(o), Some(n)) => format!(" {o} -> {n}"),
            (None, Some(n)) => format!(" -> {n}"),
            _ => String::new(),
        };
        lines.push((
            e.at.clone(),
            format!(
                "   {}{change} by {}: {}",
                e.kind,
                e.actor,
                crate::text::bounded_to(&e.detail, 1000)
            ),
        ));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (at, line) in lines {
        text.push_str(&format!("  {}  {line}\n", cal.human_str(&at)));
    }
    text
}

fn protection(m: &crate::store::MessageRow) -> String {
    let mut flags = Vec::new();
    if m.encrypted {
        flags.push("encrypted".to_owned());
    }
    if m.signature != "none" && !m.signature.is_empty() {
        flags.push(format!("signature {}", m.signature));
    }
    if !m.decryption.is_empty() {
        flags.push(m.decryption.clone());
    }
    if m.direction == "in" {
        flags.push(match m.auth.as_str() {
            "none" | "" => "sender not authenticated".to_owned(),
            a => format!("sender authenticated by {a}"),
        });
    }
    if flags.is_empty() {
        String::new()
    } else {
        format!("  [{}]", flags.join("; "))
    }
}

/// The clock lines of `reports show`.
fn clocks(s: &ReportSummary, cal: &crate::policy::Calendar) -> String {
    let or = |v: &Option<jiff::Timestamp>, d: &str| v.map(|t| cal.human(t)).unwrap_or_else(|| d.to_owned());
    let mut t = String::new();
    let now = jiff::Timestamp::now();
    let response = match (&s.response_met_at, &s.response_due) {
        (Some(met), _) => format!("met {}", cal.human(*met)),
        (None, Some(due)) if s.response_business_days_left.is_some() => cal.due_in(now, *due),
        _ => "not running".to_owned(),
    };
    t.push_str(&format!("  Response due: {} ({response})\n", or(&s.response_due, "-")));
    let paused = match &s.waiting_since {
        Some(since) => format!(
            " (paused: waiting for the reporter since {}, {})",
            cal.human(*since),
            cal.ago(now, *since)
        ),
        None => String::new(),
    };
    t.push_str(&format!(
        "  Fix due:      {}{}{paused}\n",
        or(&s.fix_due, "-"),
        if s.complex { " (complex)" } else { "" }
    ));
    t.push_str(&format!("  Details due:  {}\n", or(&s.details_due, "after the fix")));
    if let Some(topic) = &s.excluded_topic {
        t.push_str(&format!("  Excluded:     {topic}\n"));
    }
    if let Some(into) = &s.merged_into {
        t.push_str(&format!("  Merged into:  {into}\n"));
    }
    let credit = match s.credit {
        Credit::Wanted => format!("as {} {}", s.credit_name, s.credit_url),
        Credit::Declined => "declined".to_owned(),
        Credit::Unknown => "not known yet".to_owned(),
    };
    t.push_str(&format!("  Credit:       {credit}\n"));
    if let Some(p) = &s.credit_proposal {
        let what = p.describe();
        t.push_str(&format!(
            "  Credit proposed (unauthenticated mail; `reports credit {} --accept`): {what}\n",
            s.id
        ));
    }
    if s.reporter_waiting {
        t.push_str("  Reporter waiting: the reporter wrote after the team's last response\n");
    }
    if !s.missing.is_empty() {
        t.push_str(&format!("  Missing:      {}\n", s.missing.join(", ")));
    }
    t
}

/// The reports merged into this one, with their reporters' credit.
fn merged_lines(merged: &[crate::store::MergedReport]) -> String {
    let mut t = String::new();
    for (i, m) in merged.iter().enumerate() {
        let label = if i == 0 { "  Merged here:  " } else { "                " };
        let credit = match m.credit {
            Credit::Wanted => format!(", credit as {}", crate::text::bounded(&m.credit_name)),
            Credit::Declined => ", no credit".to_owned(),
            Credit::Unknown => String::new(),
        };
        t.push_str(&format!("{label}{} from {}{credit}\n", m.id, m.reporter));
    }
    t
}

/// The similar reports and advisories of `reports show`.
fn similar_lines(similar: &[crate::similar::Suggestion]) -> String {
    let mut t = String::new();
    for (i, s) in similar.iter().enumerate() {
        let label = if i == 0 { "  Similar:      " } else { "                " };
        t.push_str(&format!("{label}{}\n", s.line()));
    }
    t
}
