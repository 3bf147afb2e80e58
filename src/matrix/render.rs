//! What a post says. In an encrypted room a report's post carries its
//! reporter, subject and similar reports; out of one (only with
//! `matrix.require_encryption = false`) it carries the tracking id and the
//! deadlines and nothing else. Times are in `policy.timezone`.

use jiff::Timestamp;

use crate::policy::Calendar;
use crate::report::ReportSummary;
use crate::similar::Suggestion;

/// Whether the room may see report text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Encrypted,
    /// Not encrypted, and `require_encryption = false`.
    Plain,
}

fn due_line(cal: &Calendar, r: &ReportSummary, now: Timestamp) -> String {
    match (r.response_due, r.response_met_at, r.fix_due) {
        (Some(due), None, _) if r.state == crate::report::ReportState::New => {
            format!("First response due {} ({})", cal.human(due), cal.due_in(now, due))
        }
        (_, _, Some(fix)) => format!("Fix due {}", cal.human(fix)),
        _ => String::new(),
    }
}

/// The post about a new report.
pub fn new_report(cal: &Calendar, r: &ReportSummary, similar: &[Suggestion], room: Room, now: Timestamp) -> String {
    let mut out = format!("New report {}", r.id);
    if room == Room::Plain {
        out.push_str(&format!("\n{}", due_line(cal, r, now)));
        return out;
    }
    let who = if r.reporter_name.is_empty() {
        r.reporter.clone()
    } else {
        format!("{} <{}>", one_line(&r.reporter_name), one_line(&r.reporter))
    };
    out.push_str(&format!(" from {who}\n"));
    out.push_str(&format!("Subject: {}\n", one_line(&r.subject)));
    out.push_str(&format!(
        "{} · signature: {}\n",
        if r.encrypted { "encrypted" } else { "not encrypted" },
        r.signature
    ));
    out.push_str(&due_line(cal, r, now));
    if !similar.is_empty() {
        out.push_str("\nSimilar:");
        for s in similar {
            out.push_str(&format!("\n  {}", one_line(&s.line())));
        }
    }
    out
}

/// One business day before the response deadline.
pub fn reminder(cal: &Calendar, r: &ReportSummary, room: Room, now: Timestamp) -> String {
    let mut out = format!("Reminder: {} has no response yet. {}", r.id, due_line(cal, r, now));
    if room == Room::Encrypted {
        out.push_str(&format!("\nSubject: {}", one_line(&r.subject)));
    }
    out
}

/// A clock ran out.
pub fn overdue(cal: &Calendar, r: &ReportSummary, clock: &str, room: Room) -> String {
    let due = match clock {
        "response" => r.response_due,
        "details" => r.details_due,
        _ => r.fix_due,
    };
    let what = match clock {
        "response" => "the first response",
        "details" => "publishing the technical details",
        _ => "the fix",
    };
    let mut out = format!(
        "Overdue: {} for {what} (due {})",
        r.id,
        due.map(|d| cal.human(d)).unwrap_or_default()
    );
    if room == Room::Encrypted {
        out.push_str(&format!("\nSubject: {}", one_line(&r.subject)));
    }
    out
}

/// Subjects and names come from strangers: one line, control and bidi
/// characters shown as escapes (`text::printable`), at most 200 characters.
pub fn one_line(s: &str) -> String {
    let flat = crate::text::printable(&s.split_whitespace().collect::<Vec<_>>().join(" "));
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ReportSummary {
        let mut r = crate::advisory::tests::summary(crate::report::ReportState::New, None);
        r.id = "SEC-2026-0007".into();
        r.reporter = "eve@example.net".into();
        r.subject = "XSS in\r\nthe login page".into();
        r.received_at = Timestamp::now();
        r.fixed_at = None;
        let p = crate::policy::Promises::default();
        crate::policy::annotate(&mut r, &Calendar::default(), &p, Timestamp::now());
        r
    }

    #[test]
    fn a_plain_room_sees_the_tracking_id_and_deadlines_only() {
        let cfg = Calendar::default();
        let r = report();
        let now = Timestamp::now();
        let full = new_report(&cfg, &r, &[], Room::Encrypted, now);
        assert!(full.contains("eve@example.net") && full.contains("Subject: XSS in the login page"));
        assert!(full.contains("First response due"), "{full}");
        let plain = new_report(&cfg, &r, &[], Room::Plain, now);
        assert!(plain.contains("SEC-2026-0007") && plain.contains("First response due"));
        assert!(!plain.contains("eve@") && !plain.contains("XSS"), "{plain}");
        assert!(!reminder(&cfg, &r, Room::Plain, now).contains("XSS"));
        assert!(!overdue(&cfg, &r, "response", Room::Plain).contains("XSS"));
        assert_eq!(one_line("a\u{1b}[2J\r\n\u{202e}b"), "a\\x1b[2J \\u{202e}b");
    }
}
