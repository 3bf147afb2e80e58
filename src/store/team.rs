//! What the team mail (alerts, digests, hall of fame) reads and writes.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::{Event, Outgoing, Store, outbox, ts};
use crate::report::ReportState;

#[derive(Debug, Clone, Serialize)]
pub struct FailedMail {
    pub kind: String,
    pub recipient: String,
    pub report: Option<String>,
    pub error: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Credited {
    pub name: String,
    pub url: String,
    /// YYYY-MM of the fix.
    pub month: String,
    /// The public advisory of the report, once disclosed (set by
    /// `digest::publish::link_advisories`).
    pub advisory: Option<String>,
    pub cve: Option<String>,
    #[serde(skip)]
    pub tracking_id: String,
    #[serde(skip)]
    pub disclosed: bool,
}

/// An excluded report, as the digest and alerts list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExcludedReport {
    pub id: String,
    pub reporter: String,
    pub topic: String,
    /// The phrases that matched, comma-separated.
    pub matched: String,
    /// It arrived encrypted: the matched words are decrypted text, kept out
    /// of anything sent unencrypted.
    #[serde(skip)]
    pub encrypted: bool,
}

impl ExcludedReport {
    /// For mail that goes out unencrypted.
    pub fn redacted(mut self) -> ExcludedReport {
        if self.encrypted {
            self.matched = "(encrypted report)".to_owned();
        }
        self
    }
}

impl Store {
    /// Queues team mail (alerts, digests) in one transaction.
    pub fn enqueue_team_mail(&mut self, report_id: Option<i64>, outs: &[Outgoing]) -> Result<()> {
        let tx = self.write()?;
        let now = Timestamp::now();
        for out in outs {
            outbox::enqueue(&tx, report_id, out, now)?;
            if report_id.is_some() {
                Event::new(super::EventKind::Queued(out.kind), now)
                    .report(report_id)
                    .detail(&format!("to {}", out.recipient))
                    .insert(&tx)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn report_row_id(&self, tracking_id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Inbound messages of a kind recorded since `since`.
    pub fn count_messages_since(&self, kind: &str, since: Option<Timestamp>) -> Result<u64> {
        let since = since.map(ts).unwrap_or_default();
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND kind = ?1 AND received_at >= ?2",
            params![kind, since],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Inbound messages recorded, per kind, ever.
    pub fn inbound_by_kind(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, count(*) FROM messages WHERE direction = 'in' GROUP BY kind ORDER BY kind")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn excluded_since(&self, since: Option<Timestamp>) -> Result<u64> {
        let since = since.map(ts).unwrap_or_default();
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM reports WHERE excluded_topic IS NOT NULL AND created_at >= ?1",
            [since],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Reports excluded since `since` (still excluded), newest first, with
    /// the phrases that matched: a false positive must be cheap to see.
    pub fn excluded_reports_since(&self, since: Timestamp, limit: u32) -> Result<Vec<ExcludedReport>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.tracking_id, r.reporter, r.excluded_topic,
                    coalesce((SELECT e.detail FROM events e WHERE e.report_id = r.id AND e.kind = ?4
                              AND e.detail LIKE 'excluded topic %' ORDER BY e.id LIMIT 1), ''), r.encrypted
             FROM reports r WHERE r.state = ?3 AND r.created_at >= ?1 ORDER BY r.id DESC LIMIT ?2",
        )?;
        let note = super::EventKind::Note.name();
        let rows = stmt.query_map(params![ts(since), limit, ReportState::Excluded, note], |r| {
            let detail: String = r.get(3)?;
            Ok(ExcludedReport {
                id: r.get(0)?,
                reporter: r.get(1)?,
                topic: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                matched: detail
                    .split_once("matched ")
                    .map(|(_, m)| m.to_owned())
                    .unwrap_or_default(),
                encrypted: r.get::<_, i64>(4)? != 0,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn failed_mail(&self, limit: u32) -> Result<Vec<FailedMail>> {
        let mut stmt = self.conn.prepare(
            "SELECT o.kind, o.recipient, r.tracking_id, o.last_error, o.created_at FROM outbox o
             LEFT JOIN reports r ON r.id = o.report_id WHERE o.state = 'failed' ORDER BY o.id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(FailedMail {
                kind: r.get(0)?,
                recipient: r.get(1)?,
                report: r.get(2)?,
                error: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Credited reporters of fixed or disclosed reports, newest first; the
    /// reporters of a report merged into one (`reports merge`) are
    /// credited with it, as its own reporter is.
    pub fn hall_of_fame(&self) -> Result<Vec<Credited>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.credit_name, c.credit_url, coalesce(r.fixed_at, r.disclosed_at, r.received_at) AS at,
                    r.tracking_id, r.state
             FROM reports c
             JOIN reports r ON r.id = c.id OR (c.state = 'duplicate' AND r.tracking_id = c.merged_into)
             WHERE c.credit = 'yes' AND c.credit_name != '' AND r.state IN (?1, ?2)
             ORDER BY at DESC, r.id DESC, c.id",
        )?;
        let rows = stmt.query_map([ReportState::Fixed, ReportState::Disclosed], |r| {
            let at: String = r.get(2)?;
            Ok(Credited {
                name: r.get(0)?,
                url: r.get(1)?,
                month: at.chars().take(7).collect(),
                advisory: None,
                cve: None,
                tracking_id: r.get(3)?,
                disclosed: r.get::<_, ReportState>(4)? == ReportState::Disclosed,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn digest_last_sent(&self) -> Result<Option<Timestamp>> {
        let t: Option<String> = self
            .conn
            .query_row("SELECT last_sent_at FROM digest_state WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        Ok(t.and_then(|t| t.parse().ok()))
    }

    pub fn digest_sent(&mut self, at: Timestamp) -> Result<()> {
        self.conn.execute(
            "INSERT INTO digest_state (id, last_sent_at) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET last_sent_at = ?1",
            [ts(at)],
        )?;
        Ok(())
    }

    /// When each report was created (for "new since the last digest").
    pub fn created_at(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare("SELECT tracking_id, created_at FROM reports")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
