//! What embargo published where: each report's CVE ids and their state as
//! CVE Services last said it, the reports waiting for an id
//! (`[cve] reserve_on_triage`), requests in flight (so a run that died
//! between the server's answer and this write finds the server's result
//! instead of asking twice), and each report's GitHub advisory.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Event, EventKind, Result, Store, ts};

/// One CVE id a report holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CveRow {
    pub cve_id: String,
    #[serde(rename = "report")]
    pub tracking_id: String,
    /// RESERVED, PUBLISHED or REJECTED.
    pub state: String,
    pub reserved_at: Option<String>,
    pub published_at: Option<String>,
    pub rejected_at: Option<String>,
    /// When embargo last learnt the state from the API.
    pub checked_at: String,
}

/// A report's GitHub security advisory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GhsaRow {
    pub ghsa_id: String,
    pub repository: String,
    /// GitHub's state: draft, published, closed, withdrawn, triage.
    pub state: String,
    pub cve_id: Option<String>,
    pub cve_requested_at: Option<String>,
    pub html_url: Option<String>,
    pub checked_at: String,
}

/// A change to a report's CVE id, written with its event (and the
/// advisory's new text, when the id goes into it or out of it).
pub struct CveChange<'a> {
    pub tracking_id: &'a str,
    pub cve_id: &'a str,
    pub state: &'a str,
    /// When the API says the change happened (reserved, published,
    /// rejected), else now.
    pub at: Option<&'a str>,
    /// The advisory document with the id set (or removed).
    pub document: Option<&'a str>,
    /// Ends the request in flight of this name (`cve-reserve`).
    pub ends: Option<&'a str>,
    pub detail: &'a str,
    pub actor: &'a str,
}

impl Store {
    fn report_row(&self, tracking_id: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| super::Error::NotFound(tracking_id.to_owned()))
    }

    /// CVE ids, of one report or all, newest first.
    pub fn cve_ids(&self, tracking_id: Option<&str>) -> Result<Vec<CveRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.cve_id, r.tracking_id, c.state, c.reserved_at, c.published_at, c.rejected_at, c.checked_at
             FROM cve_ids c JOIN reports r ON r.id = c.report_id
             WHERE ?1 IS NULL OR r.tracking_id = ?1 COLLATE NOCASE
             ORDER BY c.reserved_at DESC, c.cve_id DESC",
        )?;
        let rows = stmt.query_map([tracking_id], |r| {
            Ok(CveRow {
                cve_id: r.get(0)?,
                tracking_id: r.get(1)?,
                state: r.get(2)?,
                reserved_at: r.get(3)?,
                published_at: r.get(4)?,
                rejected_at: r.get(5)?,
                checked_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The report holding `cve_id`, if any.
    pub fn cve_holder(&self, cve_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT r.tracking_id FROM cve_ids c JOIN reports r ON r.id = c.report_id WHERE c.cve_id = ?1",
                [cve_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records a CVE id's new state (a reservation, publication,
    /// rejection, or what the API said on a check) in one transaction
    /// with its event, the advisory's new text and the end of the request
    /// in flight.
    pub fn save_cve(&mut self, c: &CveChange<'_>) -> Result<()> {
        let report_id = self.report_row(c.tracking_id)?;
        let tx = self.write()?;
        let now = ts(Timestamp::now());
        let at = c.at.map(str::to_owned).unwrap_or_else(|| now.clone());
        let old: Option<String> = tx
            .query_row("SELECT state FROM cve_ids WHERE cve_id = ?1", [c.cve_id], |r| r.get(0))
            .optional()?;
        let column = match c.state {
            "PUBLISHED" => "published_at",
            "REJECTED" => "rejected_at",
            _ => "reserved_at",
        };
        tx.execute(
            "INSERT INTO cve_ids (cve_id, report_id, state, checked_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (cve_id) DO UPDATE SET state = ?3, checked_at = ?4",
            params![c.cve_id, report_id, c.state, now],
        )?;
        tx.execute(
            &format!("UPDATE cve_ids SET {column} = ?2 WHERE cve_id = ?1 AND {column} IS NULL"),
            params![c.cve_id, at],
        )?;
        if let Some(doc) = c.document {
            tx.execute(
                "INSERT INTO advisories (report_id, document, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (report_id) DO UPDATE SET document = ?2, updated_at = ?3, updated_by = ?4",
                params![report_id, doc, now, c.actor],
            )?;
        }
        if let Some(action) = c.ends {
            tx.execute(
                "DELETE FROM publish_intents WHERE report_id = ?1 AND action = ?2",
                params![report_id, action],
            )?;
        }
        if old.as_deref() != Some(c.state) || !c.detail.is_empty() {
            Event::new(EventKind::Cve, Timestamp::now())
                .report(Some(report_id))
                .by(c.actor)
                .change(old.as_deref(), Some(&format!("{} {}", c.cve_id, c.state)))
                .detail(c.detail)
                .insert(&tx)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Claims the right to send a creating request (`action`:
    /// `cve-reserve`, `ghsa-create`) for the report, atomically across
    /// processes (the CLI and the daemon): `Ok(since)` to send, `since`
    /// being when the first unfinished attempt began; `Err(since)` when
    /// another attempt began less than `in_flight` ago and may still be
    /// waiting for its answer (nothing may be sent now).
    pub fn claim_intent(
        &mut self,
        tracking_id: &str,
        action: &str,
        in_flight: jiff::SignedDuration,
    ) -> Result<std::result::Result<Timestamp, Timestamp>> {
        let report_id = self.report_row(tracking_id)?;
        let tx = self.write()?;
        let now = Timestamp::now();
        let existing: Option<String> = tx
            .query_row(
                "SELECT started_at FROM publish_intents WHERE report_id = ?1 AND action = ?2",
                params![report_id, action],
                |r| r.get(0),
            )
            .optional()?;
        let claim = match existing.and_then(|t| t.parse::<Timestamp>().ok()) {
            Some(since) if now.duration_since(since) < in_flight => Err(since),
            Some(since) => Ok(since),
            None => {
                // As stored (to the second), so later reads compare equal.
                let at = ts(now);
                tx.execute(
                    "INSERT INTO publish_intents (report_id, action, started_at) VALUES (?1, ?2, ?3)",
                    params![report_id, action, at],
                )?;
                Ok(at.parse().unwrap_or(now))
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    /// The request of this name in flight for the report, if any.
    pub fn intent(&self, tracking_id: &str, action: &str) -> Result<Option<Timestamp>> {
        let report_id = self.report_row(tracking_id)?;
        let t: Option<String> = self
            .conn
            .query_row(
                "SELECT started_at FROM publish_intents WHERE report_id = ?1 AND action = ?2",
                params![report_id, action],
                |r| r.get(0),
            )
            .optional()?;
        Ok(t.and_then(|t| t.parse().ok()))
    }

    /// Every request of this name in flight: (tracking id, started).
    pub fn intents(&self, action: &str) -> Result<Vec<(String, Timestamp)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.tracking_id, i.started_at FROM publish_intents i JOIN reports r ON r.id = i.report_id
             WHERE i.action = ?1 ORDER BY i.started_at",
        )?;
        let rows = stmt.query_map([action], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (t, at) = row?;
            if let Ok(at) = at.parse() {
                out.push((t, at));
            }
        }
        Ok(out)
    }

    /// The request came to nothing (a refusal: nothing was made).
    pub fn end_intent(&mut self, tracking_id: &str, action: &str) -> Result<()> {
        let report_id = self.report_row(tracking_id)?;
        self.conn.execute(
            "DELETE FROM publish_intents WHERE report_id = ?1 AND action = ?2",
            params![report_id, action],
        )?;
        Ok(())
    }

    /// A request to CVE Services or GitHub and what came of it, on the
    /// report's timeline.
    pub fn publish_event(&mut self, tracking_id: &str, kind: EventKind, detail: &str, actor: &str) -> Result<()> {
        let report_id = self.report_row(tracking_id)?;
        Event::new(kind, Timestamp::now())
            .report(Some(report_id))
            .by(actor)
            .detail(detail)
            .insert(&self.conn)
    }

    /// Reports waiting for a CVE id whose next try is due.
    pub fn cve_wanted_due(&self, now: Timestamp) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.tracking_id, w.attempts FROM cve_wanted w JOIN reports r ON r.id = w.report_id
             WHERE w.next_at <= ?1 ORDER BY w.queued_at",
        )?;
        let rows = stmt.query_map([ts(now)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every report waiting for a CVE id, with the last error.
    pub fn cve_wanted(&self) -> Result<Vec<(String, i64, Option<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.tracking_id, w.attempts, w.last_error FROM cve_wanted w
             JOIN reports r ON r.id = w.report_id ORDER BY w.queued_at",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A try failed: the next at `next`.
    pub fn cve_wanted_retry(&mut self, tracking_id: &str, error: &str, next: Timestamp) -> Result<()> {
        let report_id = self.report_row(tracking_id)?;
        self.conn.execute(
            "UPDATE cve_wanted SET attempts = attempts + 1, last_error = ?2, next_at = ?3 WHERE report_id = ?1",
            params![report_id, error, ts(next)],
        )?;
        Ok(())
    }

    /// The report has its id (or needs none any more).
    pub fn cve_wanted_done(&mut self, tracking_id: &str) -> Result<()> {
        let report_id = self.report_row(tracking_id)?;
        self.conn
            .execute("DELETE FROM cve_wanted WHERE report_id = ?1", [report_id])?;
        Ok(())
    }

    /// `reserve_on_triage` is off: nobody waits. How many were dropped.
    pub fn cve_wanted_clear(&mut self) -> Result<usize> {
        Ok(self.conn.execute("DELETE FROM cve_wanted", [])?)
    }

    pub fn ghsa(&self, tracking_id: &str) -> Result<Option<GhsaRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT g.ghsa_id, g.repository, g.state, g.cve_id, g.cve_requested_at, g.html_url, g.checked_at
                 FROM ghsa g JOIN reports r ON r.id = g.report_id WHERE r.tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| {
                    Ok(GhsaRow {
                        ghsa_id: r.get(0)?,
                        repository: r.get(1)?,
                        state: r.get(2)?,
                        cve_id: r.get(3)?,
                        cve_requested_at: r.get(4)?,
                        html_url: r.get(5)?,
                        checked_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a report's GitHub advisory as GitHub last described it, with
    /// its event and the advisory's new text, in one transaction.
    pub fn save_ghsa(
        &mut self,
        tracking_id: &str,
        g: &GhsaRow,
        document: Option<&str>,
        detail: &str,
        actor: &str,
    ) -> Result<()> {
        let report_id = self.report_row(tracking_id)?;
        let tx = self.write()?;
        let now = ts(Timestamp::now());
        let old: Option<String> = tx
            .query_row("SELECT state FROM ghsa WHERE report_id = ?1", [report_id], |r| r.get(0))
            .optional()?;
        tx.execute(
            "INSERT INTO ghsa (report_id, ghsa_id, repository, state, cve_id, cve_requested_at, html_url, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (report_id) DO UPDATE SET ghsa_id = ?2, repository = ?3, state = ?4, cve_id = ?5,
                 cve_requested_at = ?6, html_url = ?7, checked_at = ?8",
            params![
                report_id,
                g.ghsa_id,
                g.repository,
                g.state,
                g.cve_id,
                g.cve_requested_at,
                g.html_url,
                now
            ],
        )?;
        if let Some(doc) = document {
            tx.execute(
                "INSERT INTO advisories (report_id, document, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (report_id) DO UPDATE SET document = ?2, updated_at = ?3, updated_by = ?4",
                params![report_id, doc, now, actor],
            )?;
        }
        tx.execute(
            "DELETE FROM publish_intents WHERE report_id = ?1 AND action = 'ghsa-create'",
            [report_id],
        )?;
        Event::new(EventKind::Github, Timestamp::now())
            .report(Some(report_id))
            .by(actor)
            .change(old.as_deref(), Some(&format!("{} {}", g.ghsa_id, g.state)))
            .detail(detail)
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{new_report, row};
    use super::*;

    /// Two processes (the CLI and the daemon) never both send a creating
    /// request for one report: the second is told it is on its way; once
    /// the first is long past its timeout, it may be sent again.
    #[test]
    fn a_creating_request_is_claimed_once_while_it_may_be_on_its_way() {
        let mut s = Store::open_in_memory().unwrap();
        s.record(None, &row("<a@x>"), new_report("<ack@x>"), "SEC").unwrap();
        let id = s.list_reports().unwrap()[0].id.clone();
        let window = jiff::SignedDuration::from_secs(120);
        let first = s.claim_intent(&id, "cve-reserve", window).unwrap();
        assert!(first.is_ok());
        assert_eq!(s.claim_intent(&id, "cve-reserve", window).unwrap(), Err(first.unwrap()));
        assert!(
            s.claim_intent(&id, "ghsa-create", window).unwrap().is_ok(),
            "per action"
        );
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(
            s.claim_intent(&id, "cve-reserve", jiff::SignedDuration::from_secs(1))
                .unwrap(),
            Ok(first.unwrap()),
            "an old claim is taken over, keeping when the first attempt began"
        );
        s.end_intent(&id, "cve-reserve").unwrap();
        assert_eq!(s.intent(&id, "cve-reserve").unwrap(), None);
    }
}
