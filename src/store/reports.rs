//! Read side of reports: the list and the timeline of one report.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::Store;
pub use crate::report::{CreditProposal, ReportSummary};

#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub direction: String,
    pub kind: String,
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: Option<String>,
    pub received_at: String,
    pub size: i64,
    pub reason: String,
    pub uid: Option<u32>,
    pub encrypted: bool,
    pub signature: String,
    /// How the sender was authenticated: signature, dmarc or none.
    pub auth: String,
    pub decryption: String,
    /// The readable (decrypted) text; empty for outgoing mail.
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub detail: String,
}

impl EventRow {
    /// Is this event of `kind`? (The stored name is kept as it is for the
    /// JSON view; this reads it as the type.)
    pub fn is(&self, kind: super::EventKind) -> bool {
        super::EventKind::parse(&self.kind) == Some(kind)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDetail {
    #[serde(flatten)]
    pub summary: ReportSummary,
    pub thread: Vec<MessageRow>,
    pub events: Vec<EventRow>,
    /// Embargoed notices to downstream recipients, and who acknowledged.
    pub downstream: Vec<super::DownstreamNotice>,
    /// Similar reports and matching advisories, best first (filled in by
    /// `reports show`; suggestions, never decisions).
    pub similar: Vec<crate::similar::Suggestion>,
    /// The reports merged into this one, with their reporters' credit.
    pub merged: Vec<MergedReport>,
    /// Its CVE ids and their state at CVE Services.
    pub cve: Vec<super::CveRow>,
    /// Its GitHub security advisory.
    pub ghsa: Option<super::GhsaRow>,
}

/// A report merged into another (`reports merge`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergedReport {
    pub id: String,
    pub reporter: String,
    pub credit: crate::report::Credit,
    pub credit_name: String,
}

const MESSAGE_COLS: &str =
    "direction, kind, message_id, from_addr, to_addr, subject, date, received_at, size, reason, uid,
     encrypted, signature, decryption, body, auth";

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        direction: r.get(0)?,
        kind: r.get(1)?,
        message_id: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        subject: r.get(5)?,
        date: r.get(6)?,
        received_at: r.get(7)?,
        size: r.get(8)?,
        reason: r.get(9)?,
        uid: r.get(10)?,
        encrypted: r.get::<_, i64>(11)? != 0,
        signature: r.get(12)?,
        decryption: r.get(13)?,
        body: r.get(14)?,
        auth: r.get(15)?,
    })
}

const SUMMARY_SQL: &str = "SELECT r.tracking_id, r.state, r.reporter, r.reporter_name, r.subject, r.received_at,
        r.acknowledged_at, r.excluded_topic, r.encrypted,
        (SELECT count(*) FROM messages m WHERE m.report_id = r.id AND m.direction = 'in'),
        (SELECT count(*) FROM messages m WHERE m.report_id = r.id AND m.direction = 'out'),
        r.id, r.signature, r.complex, r.first_response_at, r.fixed_at, r.disclosed_at, r.credit,
        r.credit_name, r.credit_url, r.merged_into, r.last_reporter_at, r.last_team_at, r.disclose_on,
        r.credit_proposal, r.credit_proposal_name, r.credit_proposal_url, r.waiting_since, r.waited_secs,
        r.missing
    FROM reports r";

/// A stored time (RFC 3339 text; NULL or unreadable: none).
fn opt_ts(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<jiff::Timestamp>> {
    Ok(r.get::<_, Option<String>>(i)?.as_deref().and_then(super::parse_ts))
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ReportSummary, i64)> {
    Ok((
        ReportSummary {
            id: r.get(0)?,
            state: r.get(1)?,
            reporter: r.get(2)?,
            reporter_name: r.get(3)?,
            subject: r.get(4)?,
            received_at: opt_ts(r, 5)?.unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            acknowledged_at: opt_ts(r, 6)?,
            excluded_topic: r.get(7)?,
            encrypted: r.get::<_, i64>(8)? != 0,
            messages: r.get::<_, i64>(9)? as u64,
            messages_out: r.get::<_, i64>(10)? as u64,
            signature: r.get(12)?,
            complex: r.get::<_, i64>(13)? != 0,
            response_met_at: opt_ts(r, 14)?,
            fixed_at: opt_ts(r, 15)?,
            disclosed_at: opt_ts(r, 16)?,
            credit: crate::report::Credit::from_stored(&r.get::<_, String>(17)?),
            credit_name: r.get(18)?,
            credit_url: r.get(19)?,
            merged_into: r.get(20)?,
            last_reporter_at: opt_ts(r, 21)?,
            last_team_at: opt_ts(r, 22)?,
            disclose_on: r.get(23)?,
            next_due: None,
            waiting_since: opt_ts(r, 27)?,
            waited_secs: r.get::<_, i64>(28)?.max(0) as u64,
            missing: r
                .get::<_, String>(29)?
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            credit_proposal: {
                let credit: String = r.get(24)?;
                (!credit.is_empty())
                    .then(|| -> rusqlite::Result<CreditProposal> {
                        Ok(CreditProposal {
                            credit: crate::report::Credit::from_stored(&credit),
                            name: r.get(25)?,
                            url: r.get(26)?,
                        })
                    })
                    .transpose()?
            },
            response_due: None,
            fix_due: None,
            details_due: None,
            response_business_days_left: None,
            reporter_waiting: false,
        },
        r.get(11)?,
    ))
}

impl Store {
    /// All reports, oldest first.
    pub fn list_reports(&self) -> Result<Vec<ReportSummary>> {
        let mut stmt = self.conn().prepare(&format!("{SUMMARY_SQL} ORDER BY r.id"))?;
        let rows = stmt.query_map([], summary)?;
        Ok(rows.map(|r| r.map(|(s, _)| s)).collect::<rusqlite::Result<_>>()?)
    }

    /// One report with its whole thread and every event, in time order.
    pub fn show_report(&self, tracking_id: &str) -> Result<Option<ReportDetail>> {
        let found = self
            .conn()
            .query_row(
                &format!("{SUMMARY_SQL} WHERE r.tracking_id = ?1 COLLATE NOCASE"),
                [tracking_id],
                summary,
            )
            .optional()?;
        let Some((summary, id)) = found else {
            return Ok(None);
        };
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE report_id = ?1 ORDER BY received_at, id"
        ))?;
        let thread = stmt
            .query_map(params![id], message_row)?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn().prepare(
            "SELECT at, actor, kind, old_value, new_value, detail FROM events WHERE report_id = ?1 ORDER BY at, id",
        )?;
        let events = stmt
            .query_map(params![id], |r| {
                Ok(EventRow {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    kind: r.get(2)?,
                    old: r.get(3)?,
                    new: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let downstream = self.downstream_notices(&summary.id)?;
        let merged = self
            .conn()
            .prepare(
                "SELECT tracking_id, reporter, credit, credit_name FROM reports WHERE merged_into = ?1 ORDER BY id",
            )?
            .query_map([&summary.id], |r| {
                Ok(MergedReport {
                    id: r.get(0)?,
                    reporter: r.get(1)?,
                    credit: crate::report::Credit::from_stored(&r.get::<_, String>(2)?),
                    credit_name: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let cve = self.cve_ids(Some(&summary.id))?;
        let ghsa = self.ghsa(&summary.id)?;
        Ok(Some(ReportDetail {
            summary,
            thread,
            events,
            downstream,
            similar: Vec::new(),
            merged,
            cve,
            ghsa,
        }))
    }

    /// Inbound messages that were not reports: automatic, failed, duplicate.
    pub fn unreported_messages(&self, limit: u32) -> Result<Vec<MessageRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE report_id IS NULL AND kind != 'own-copy' ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit], message_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
