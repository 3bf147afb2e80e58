//! `embargo reports list`: what the team looks at first every morning.
//! Aligned columns sized to the terminal, the next deadline in local time
//! (or how overdue it is), soonest first; filters; colour only on a
//! terminal (`--color`, `NO_COLOR`). `--json` keeps its order (oldest
//! first) and fields, with `next_due` added.

use std::io::Write as _;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::{ColorChoice, ListArgs};
use crate::config::Config;
use crate::report::{ReportState, ReportSummary};
use crate::store::Store;

pub(super) fn list(store: &Store, cfg: &Config, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let now = Timestamp::now();
    let cal = &cfg.policy.calendar;
    let states = args
        .states
        .iter()
        .map(|s| s.parse::<ReportState>().map_err(|e| anyhow::anyhow!("--state: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let since =
        match &args.since {
            Some(d) => Some(cal.start_of(d.parse().map_err(|_| {
                anyhow::anyhow!("--since {d:?} is not a date like 2026-12-01 (a day in policy.timezone)")
            })?)),
            None => None,
        };
    let mut reports: Vec<ReportSummary> = super::annotated(store, cfg)?
        .into_iter()
        .filter(|r| states.is_empty() || states.contains(&r.state))
        .filter(|r| !args.open || is_open(r.state))
        .filter(|r| !args.overdue || r.next_due.as_ref().is_some_and(|d| d.overdue))
        .filter(|r| since.is_none_or(|s| r.received_at >= s))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let view: Vec<super::json::Report<'_>> = reports.iter().map(super::json::Report::from).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if reports.is_empty() {
        let filtered = !states.is_empty() || args.open || args.overdue || since.is_some();
        writeln!(out, "{}", if filtered { "no reports match" } else { "no reports yet" })?;
        return Ok(ExitCode::SUCCESS);
    }
    // Soonest deadline first; reports with no running clock last, newest
    // of them first.
    reports.sort_by(|a, b| {
        let key = |r: &ReportSummary| r.next_due.as_ref().map(|d| d.due.clone());
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.received_at.cmp(&a.received_at),
        }
    });
    table(&mut out, &reports, cal, now, colour(args.color))?;
    Ok(ExitCode::SUCCESS)
}

/// The aligned table: widths from the contents, the subject fitted to the
/// terminal (whole in a pipe), the deadline coloured when asked.
fn table(
    out: &mut impl std::io::Write,
    reports: &[ReportSummary],
    cal: &crate::policy::Calendar,
    now: Timestamp,
    colour: bool,
) -> std::io::Result<()> {
    let rows: Vec<Row> = reports.iter().map(|r| Row::of(r, cal, now)).collect();
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let w = [
        width(|r| &r.id, "ID"),
        width(|r| &r.state, "STATE"),
        width(|r| &r.age, "AGE"),
        width(|r| &r.next, "NEXT DEADLINE"),
        width(|r| &r.reporter, "REPORTER").min(32),
    ];
    let fixed: usize = w.iter().sum::<usize>() + 2 * w.len();
    // On a terminal the subject gets what is left of the line; in a pipe,
    // all of it.
    let subject_room = terminal_width().map(|cols| cols.saturating_sub(fixed).max(10));
    writeln!(
        out,
        "{:<a$}  {:<b$}  {:<c$}  {:<d$}  {:<e$}  SUBJECT",
        "ID",
        "STATE",
        "AGE",
        "NEXT DEADLINE",
        "REPORTER",
        a = w[0],
        b = w[1],
        c = w[2],
        d = w[3],
        e = w[4]
    )?;
    for r in &rows {
        let next = format!("{:<d$}", r.next, d = w[3]);
        let next = match (colour, r.urgency) {
            (true, Urgency::Overdue) => format!("\x1b[31m{next}\x1b[0m"),
            (true, Urgency::Soon) => format!("\x1b[33m{next}\x1b[0m"),
            _ => next,
        };
        let line = format!(
            "{:<a$}  {:<b$}  {:<c$}  {next}  {:<e$}  {}",
            r.id,
            r.state,
            r.age,
            cut(&crate::text::printable(&r.reporter), w[4]),
            // Fitted to the terminal; in a pipe, bounded as every quote.
            cut(
                &crate::text::printable(&r.subject),
                subject_room.unwrap_or(crate::text::QUOTE_CHARS)
            ),
            a = w[0],
            b = w[1],
            c = w[2],
            e = w[4]
        );
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// New, triaged, fixing, or fixed and waiting to be disclosed.
fn is_open(s: ReportState) -> bool {
    !s.is_closed() || s == ReportState::Fixed
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Urgency {
    Overdue,
    /// Due within a business day.
    Soon,
    Later,
}

struct Row {
    id: String,
    state: String,
    age: String,
    next: String,
    urgency: Urgency,
    reporter: String,
    subject: String,
}

impl Row {
    fn of(r: &ReportSummary, cal: &crate::policy::Calendar, now: Timestamp) -> Row {
        let (next, urgency) = match &r.next_due {
            Some(d) => match d.due.parse::<Timestamp>() {
                Ok(due) if d.overdue => (format!("{} {}", d.clock, cal.due_in(now, due)), Urgency::Overdue),
                Ok(due) => {
                    let soon = cal.business_days_left(now, due) <= 1;
                    (
                        format!("{} {}", d.clock, cal.human(due)),
                        if soon { Urgency::Soon } else { Urgency::Later },
                    )
                }
                Err(_) => (String::new(), Urgency::Later),
            },
            None => ("-".to_owned(), Urgency::Later),
        };
        Row {
            id: r.id.clone(),
            state: r.state.as_str().to_owned(),
            age: age(now, r.received_at),
            next,
            urgency,
            reporter: crate::text::bounded(&r.reporter),
            subject: crate::text::bounded(&r.subject),
        }
    }
}

/// How long ago: `35m`, `5h`, `3d`, `6w`.
fn age(now: Timestamp, then: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 14 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}w", s / (7 * 86_400)),
    }
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Colour: `always`, `never`, or on a terminal unless `NO_COLOR` is set.
pub(super) fn colour(choice: ColorChoice) -> bool {
    use std::io::IsTerminal as _;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// The terminal's width, when standard output is one.
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(std::io::stdout())
        .map(|(w, _)| w.0 as usize)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
}
