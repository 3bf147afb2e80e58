//! The disclosure policy's numbers and clocks: a business-day calendar (an
//! IANA time zone, weekend days, holidays) and the three deadlines of a
//! report. All calendar and time-zone arithmetic is jiff's.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};
use serde::Serialize;

/// The promises the acknowledgement states and the clocks enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Promises {
    /// A human confirms or asks for more within this many business days.
    pub response_business_days: u32,
    /// A fix is aimed for within this many days...
    pub fix_days: u32,
    /// ...or this many for especially complex issues.
    pub complex_fix_days: u32,
    /// Technical details may be held back this long after the fix.
    pub details_delay_days: u32,
    /// A report waiting for its reporter (needs-info) this many days is
    /// proposed for closing in the digest (never closed by itself).
    pub needs_info_close_days: u32,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            response_business_days: 5,
            fix_days: 90,
            complex_fix_days: 120,
            needs_info_close_days: 30,
            details_delay_days: 30,
        }
    }
}

/// Which days count as business days, where.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: TimeZone,
    pub weekend: Vec<Weekday>,
    /// Sorted.
    pub holidays: Vec<Date>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            tz: TimeZone::UTC,
            weekend: vec![Weekday::Saturday, Weekday::Sunday],
            holidays: Vec::new(),
        }
    }
}

impl Calendar {
    pub fn is_business_day(&self, d: Date) -> bool {
        !self.weekend.contains(&d.weekday()) && self.holidays.binary_search(&d).is_err()
    }

    /// The end (23:59:59 local) of the `n`th business day after the local
    /// day of `from`. A report that arrives on a Saturday, or late on a
    /// Friday, has the same deadline as one that arrives early on Monday
    /// minus a day: the day of arrival itself never counts.
    pub fn add_business_days(&self, from: Timestamp, n: u32) -> Timestamp {
        let mut day = from.to_zoned(self.tz.clone()).date();
        let mut left = n;
        // Bounded: even a calendar of holidays ends somewhere.
        let mut guard = 0u32;
        while left > 0 && guard < 10_000 {
            day = day.tomorrow().unwrap_or(day);
            if self.is_business_day(day) {
                left -= 1;
            }
            guard += 1;
        }
        self.end_of_day(day)
    }

    /// Business days from `now` until `due` (negative when overdue).
    pub fn business_days_left(&self, now: Timestamp, due: Timestamp) -> i64 {
        let (a, b) = (
            now.to_zoned(self.tz.clone()).date(),
            due.to_zoned(self.tz.clone()).date(),
        );
        let (mut d, end, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut n = 0i64;
        let mut guard = 0;
        while d < end && guard < 100_000 {
            d = d.tomorrow().unwrap_or(end);
            if self.is_business_day(d) {
                n += 1;
            }
            guard += 1;
        }
        sign * n
    }

    /// `from` plus `days` calendar days, same local time of day (jiff
    /// resolves DST gaps and folds).
    pub fn add_days(&self, from: Timestamp, days: u32) -> Timestamp {
        let z = from.to_zoned(self.tz.clone());
        z.checked_add(i64::from(days).days())
            .map(|z| z.timestamp())
            .unwrap_or(from)
    }

    fn end_of_day(&self, d: Date) -> Timestamp {
        d.at(23, 59, 59, 0)
            .to_zoned(self.tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// A time as people read it, in the policy's time zone with its
    /// abbreviation and the weekday: `Mon 14 Dec 2026 23:59 CET`. The one
    /// format for every time a person reads (the CLI, the digest, alerts,
    /// the variables of mail templates); JSON keeps RFC 3339 UTC.
    pub fn human(&self, at: Timestamp) -> String {
        at.to_zoned(self.tz.clone())
            .strftime("%a %-d %b %Y %H:%M %Z")
            .to_string()
    }

    /// [`Calendar::human`] of an RFC 3339 time as stored; anything else as it is.
    pub fn human_str(&self, at: &str) -> String {
        at.parse::<Timestamp>()
            .map(|t| self.human(t))
            .unwrap_or_else(|_| at.to_owned())
    }

    /// A local day: `Mon 14 Dec 2026`.
    pub fn human_day(&self, at: Timestamp) -> String {
        at.to_zoned(self.tz.clone()).strftime("%a %-d %b %Y").to_string()
    }

    /// How far off a deadline is, in the words the policy counts in:
    /// `in 5 business days`, `today`, `overdue by 2 business days`.
    pub fn due_in(&self, now: Timestamp, due: Timestamp) -> String {
        let days = self.business_days_left(now, due);
        let plural = |n: i64| if n == 1 { "" } else { "s" };
        match days {
            _ if due < now && days == 0 => "overdue since today".to_owned(),
            d if d < 0 => format!("overdue by {} business day{}", -d, plural(-d)),
            0 => "due today".to_owned(),
            d => format!("in {d} business day{}", plural(d)),
        }
    }

    /// How long ago `then` was, in whole days ("for 3 days", "since today").
    pub fn ago(&self, now: Timestamp, then: Timestamp) -> String {
        match waited_days(now, then) {
            0 => "since today".to_owned(),
            1 => "for 1 day".to_owned(),
            d => format!("for {d} days"),
        }
    }

    /// A local date at the start of the day, for `--date` arguments.
    pub fn start_of(&self, d: Date) -> Timestamp {
        d.to_zoned(self.tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MIN)
    }
}

/// Whole days from `then` to `now`.
pub fn waited_days(now: Timestamp, then: Timestamp) -> i64 {
    now.duration_since(then).as_secs().max(0) / 86_400
}

/// The three clocks of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// received + N business days; met when the team first responds.
    pub response_due: Timestamp,
    /// received + 90 days (120 once marked complex).
    pub fix_due: Timestamp,
    /// fix released + 30 days.
    pub details_due: Option<Timestamp>,
}

pub fn deadlines(
    cal: &Calendar,
    p: &Promises,
    received: Timestamp,
    complex: bool,
    fixed: Option<Timestamp>,
) -> Deadlines {
    Deadlines {
        response_due: cal.add_business_days(received, p.response_business_days),
        fix_due: cal.add_days(received, if complex { p.complex_fix_days } else { p.fix_days }),
        details_due: fixed.map(|f| cal.add_days(f, p.details_delay_days)),
    }
}

/// Fills in a report's clocks: the three deadlines, business days left on
/// the response clock, and whether the reporter is waiting for the team.
pub fn annotate(r: &mut crate::report::ReportSummary, cal: &Calendar, p: &Promises, now: Timestamp) {
    let received = r.received_at;
    let mut d = deadlines(cal, p, received, r.complex, r.fixed_at);
    // The fix clock does not run while the team waits for the reporter.
    let waiting = r.waiting_since.map_or(0, |w| now.duration_since(w).as_secs().max(0));
    let paused = jiff::SignedDuration::from_secs((r.waited_secs as i64).saturating_add(waiting));
    d.fix_due = d.fix_due.checked_add(paused).unwrap_or(d.fix_due);
    let fmt = crate::report::ts;
    r.response_due = Some(d.response_due);
    r.fix_due = Some(d.fix_due);
    r.details_due = d.details_due;
    r.response_business_days_left = (r.response_met_at.is_none() && r.state == crate::report::ReportState::New)
        .then(|| cal.business_days_left(now, d.response_due));
    r.reporter_waiting = match (r.last_team_at, r.last_reporter_at) {
        (Some(team), Some(reporter)) => reporter > team && !r.state.is_closed(),
        _ => false,
    };
    r.next_due = next_due(r, &d).map(|(clock, due)| crate::report::NextDue {
        clock,
        due: fmt(due),
        overdue: due < now,
    });
}

/// The clock that runs out next: the response while the team has not
/// answered, the fix while it is not out, the details once it is.
fn next_due(r: &crate::report::ReportSummary, d: &Deadlines) -> Option<(&'static str, Timestamp)> {
    use crate::report::ReportState::*;
    match r.state {
        New if r.response_met_at.is_none() => Some(("response", d.response_due)),
        New | Triaged | Fixing if r.fixed_at.is_none() => Some(("fix", d.fix_due)),
        Fixed => d.details_due.map(|t| ("details", t)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> Calendar {
        Calendar {
            tz: TimeZone::get("Europe/London").unwrap(),
            holidays: vec![jiff::civil::date(2026, 12, 25), jiff::civil::date(2026, 12, 28)],
            ..Calendar::default()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn five_business_days_skip_the_weekend() {
        let c = london();
        // Monday 2026-11-23 10:00 → Monday 2026-11-30 end of day (GMT).
        assert_eq!(
            c.add_business_days(ts("2026-11-23T10:00:00Z"), 5),
            ts("2026-11-30T23:59:59Z")
        );
        // Friday → the next Friday.
        assert_eq!(
            c.add_business_days(ts("2026-11-27T16:00:00Z"), 5),
            ts("2026-12-04T23:59:59Z")
        );
        // Saturday and Sunday count like the Friday before.
        assert_eq!(
            c.add_business_days(ts("2026-11-28T09:00:00Z"), 5),
            ts("2026-12-04T23:59:59Z")
        );
        assert_eq!(
            c.add_business_days(ts("2026-11-29T23:30:00Z"), 5),
            ts("2026-12-04T23:59:59Z")
        );
    }

    #[test]
    fn holidays_and_the_year_end() {
        let c = london();
        // Tue 2026-12-22: Wed 23, Thu 24, (Fri 25 holiday), (Mon 28 holiday),
        // Tue 29, Wed 30, Thu 31.
        assert_eq!(
            c.add_business_days(ts("2026-12-22T12:00:00Z"), 5),
            ts("2026-12-31T23:59:59Z")
        );
        // Across the year: Thu 2026-12-31 → Fri 1, Mon 4, Tue 5, Wed 6, Thu 7.
        assert_eq!(
            c.add_business_days(ts("2026-12-31T08:00:00Z"), 5),
            ts("2027-01-07T23:59:59Z")
        );
    }

    #[test]
    fn local_time_zone_decides_the_day_and_dst() {
        let c = london();
        // 23:30 UTC on Sunday 2026-06-28 is already Monday 00:30 in London
        // (BST): the day of arrival is Monday.
        assert_eq!(
            c.add_business_days(ts("2026-06-28T23:30:00Z"), 1),
            ts("2026-06-30T22:59:59Z")
        );
        // 90 days across the end of BST keep the local time of day.
        assert_eq!(c.add_days(ts("2026-09-01T09:00:00Z"), 90), ts("2026-11-30T10:00:00Z"));
        // Into BST.
        assert_eq!(c.add_days(ts("2026-03-01T12:00:00Z"), 30), ts("2026-03-31T11:00:00Z"));
        let tokyo = Calendar {
            tz: TimeZone::get("Asia/Tokyo").unwrap(),
            ..Calendar::default()
        };
        assert_eq!(
            tokyo.add_business_days(ts("2026-11-27T16:00:00Z"), 1),
            ts("2026-11-30T14:59:59Z")
        );
    }

    #[test]
    fn other_weekends() {
        let c = Calendar {
            weekend: vec![Weekday::Friday, Weekday::Saturday],
            ..Calendar::default()
        };
        // Thursday → Sun, Mon.
        assert_eq!(
            c.add_business_days(ts("2026-11-26T10:00:00Z"), 2),
            ts("2026-11-30T23:59:59Z")
        );
    }

    #[test]
    fn business_days_left_counts_both_ways() {
        let c = london();
        let due = ts("2026-11-30T23:59:59Z");
        assert_eq!(c.business_days_left(ts("2026-11-23T10:00:00Z"), due), 5);
        assert_eq!(c.business_days_left(ts("2026-11-30T10:00:00Z"), due), 0);
        assert_eq!(c.business_days_left(ts("2026-12-02T10:00:00Z"), due), -2);
    }

    #[test]
    fn deadlines_follow_complexity_and_fix() {
        let c = london();
        let p = Promises::default();
        let r = ts("2026-01-05T10:00:00Z");
        let d = deadlines(&c, &p, r, false, None);
        assert_eq!(d.fix_due, ts("2026-04-05T09:00:00Z"), "90 days, 10:00 local in BST");
        assert_eq!(d.details_due, None);
        let d = deadlines(&c, &p, r, true, Some(ts("2026-02-01T12:00:00Z")));
        assert_eq!(d.fix_due, ts("2026-05-05T09:00:00Z"));
        assert_eq!(d.details_due, Some(ts("2026-03-03T12:00:00Z")));
    }
}
