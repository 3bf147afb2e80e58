//! The timeline of a report: one `events` row per thing that happened.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::MailKind;
use super::Result;
use super::ts;

/// What an event records: the `kind` column of the timeline, as a type.
/// Stored (and printed, `reports show --json` `events[].kind`) as the
/// kebab-case names below; mail events as `KIND-queued`, `KIND-sent`,
/// `KIND-failed` after the outbox's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    ReportCreated,
    Excluded,
    /// A message that could not be handled (recorded with the reason).
    Failed,
    Note,
    /// A state change (`old` and `new` are the states).
    State,
    TeamResponded,
    Fixed,
    Complex,
    Merged,
    DiscloseOn,
    Credit,
    CreditProposed,
    KeyCandidate,
    KeyReplaced,
    KeyAccepted,
    Advisory,
    DownstreamAck,
    AlertSkipped,
    AckHeld,
    AckSkipped,
    /// Text past the storage bounds, not kept.
    NotKept,
    /// A message joined the thread: the team's, a downstream recipient's,
    /// the reporter's.
    FromTeam,
    FromDownstream,
    FollowUp,
    /// Mail of this kind was queued by the team (`reports reply`, notices,
    /// a downstream notice).
    Mail(MailKind),
    Queued(MailKind),
    Sent(MailKind),
    SendFailed(MailKind),
    /// A request to CVE Services, or a CVE id's new state.
    Cve,
    /// A request to GitHub, or the GitHub advisory's new state.
    Github,
    /// A command about the report from the team's Matrix room, counted or
    /// refused (the detail says which and why).
    RoomCommand,
}

impl EventKind {
    const FIXED: [(EventKind, &'static str); 27] = [
        (EventKind::ReportCreated, "report-created"),
        (EventKind::Excluded, "excluded"),
        (EventKind::Failed, "failed"),
        (EventKind::Note, "note"),
        (EventKind::State, "state"),
        (EventKind::TeamResponded, "team-responded"),
        (EventKind::Fixed, "fixed"),
        (EventKind::Complex, "complex"),
        (EventKind::Merged, "merged"),
        (EventKind::DiscloseOn, "disclose-on"),
        (EventKind::Credit, "credit"),
        (EventKind::CreditProposed, "credit-proposed"),
        (EventKind::KeyCandidate, "key-candidate"),
        (EventKind::KeyReplaced, "key-replaced"),
        (EventKind::KeyAccepted, "key-accepted"),
        (EventKind::Advisory, "advisory"),
        (EventKind::DownstreamAck, "downstream-ack"),
        (EventKind::AlertSkipped, "alert-skipped"),
        (EventKind::AckHeld, "ack-held"),
        (EventKind::AckSkipped, "ack-skipped"),
        (EventKind::NotKept, "not-kept"),
        (EventKind::FromTeam, "team"),
        (EventKind::FromDownstream, "downstream"),
        (EventKind::FollowUp, "follow-up"),
        (EventKind::Cve, "cve"),
        (EventKind::Github, "github"),
        (EventKind::RoomCommand, "room-command"),
    ];

    /// The name stored in the `kind` column.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            EventKind::Mail(k) => k.as_str().into(),
            EventKind::Queued(k) => format!("{k}-queued").into(),
            EventKind::Sent(k) => format!("{k}-sent").into(),
            EventKind::SendFailed(k) => format!("{k}-failed").into(),
            fixed => Self::FIXED
                .iter()
                .find(|(k, _)| *k == fixed)
                .map(|(_, n)| *n)
                .unwrap_or("unknown")
                .into(),
        }
    }

    /// The kind a stored name stands for (None: a name this version does
    /// not write).
    pub fn parse(name: &str) -> Option<EventKind> {
        if let Some((k, _)) = Self::FIXED.iter().find(|(_, n)| *n == name) {
            return Some(*k);
        }
        let mail = |suffix: &str| name.strip_suffix(suffix).and_then(|k| k.parse::<MailKind>().ok());
        mail("-queued")
            .map(EventKind::Queued)
            .or_else(|| mail("-sent").map(EventKind::Sent))
            .or_else(|| mail("-failed").map(EventKind::SendFailed))
            .or_else(|| name.parse::<MailKind>().ok().map(EventKind::Mail))
    }
}

/// One line of a report's timeline (the `events` table): what happened,
/// when, by whom (`embargo` unless said), to which report and message, the
/// old and new value of what changed, and a detail in words.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    kind: EventKind,
    at: Timestamp,
    report: Option<i64>,
    message: Option<i64>,
    actor: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
    detail: &'a str,
}

impl<'a> Event<'a> {
    pub(crate) fn new(kind: EventKind, at: Timestamp) -> Event<'a> {
        Event {
            kind,
            at,
            report: None,
            message: None,
            actor: "embargo",
            old: None,
            new: None,
            detail: "",
        }
    }
    pub(crate) fn report(mut self, report: Option<i64>) -> Self {
        self.report = report;
        self
    }
    pub(crate) fn message(mut self, row: Option<i64>) -> Self {
        self.message = row;
        self
    }
    pub(crate) fn by(mut self, actor: &'a str) -> Self {
        self.actor = actor;
        self
    }
    pub(crate) fn change(mut self, old: Option<&'a str>, new: Option<&'a str>) -> Self {
        self.old = old;
        self.new = new;
        self
    }
    pub(crate) fn detail(mut self, detail: &'a str) -> Self {
        self.detail = detail;
        self
    }
    pub(crate) fn insert(&self, conn: &Connection) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO events (report_id, message_id, at, actor, kind, old_value, new_value, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            self.report,
            self.message,
            ts(self.at),
            self.actor,
            self.kind.name(),
            self.old,
            self.new,
            self.detail
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_stored_name() {
        let mut kinds: Vec<EventKind> = EventKind::FIXED.iter().map(|(k, _)| *k).collect();
        for m in MailKind::ALL {
            kinds.extend([
                EventKind::Mail(m),
                EventKind::Queued(m),
                EventKind::Sent(m),
                EventKind::SendFailed(m),
            ]);
        }
        for k in kinds {
            assert_eq!(EventKind::parse(&k.name()), Some(k), "{}", k.name());
        }
        assert_eq!(EventKind::parse("no-such-event"), None);
        assert_eq!(EventKind::Queued(MailKind::AckCombined).name(), "ack-combined-queued");
    }
}
