//! The timeline of a report: one `events` row per thing that happened.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::Result;
use super::ts;

/// One line of a report's timeline (the `events` table): what happened,
/// when, by whom (`embargo` unless said), to which report and message, the
/// old and new value of what changed, and a detail in words.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    kind: &'a str,
    at: Timestamp,
    report: Option<i64>,
    message: Option<i64>,
    actor: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
    detail: &'a str,
}

impl<'a> Event<'a> {
    pub(crate) fn new(kind: &'a str, at: Timestamp) -> Event<'a> {
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
            self.kind,
            self.old,
            self.new,
            self.detail
        ])?;
        Ok(())
    }
}
