//! The team's verbs on a report. Every change writes an event row (who,
//! when, old → new); nothing is updated without one.

use crate::report::Credit;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::Result;
use super::{Event, Store, ts};
use crate::report::{ReportState, Transition};

/// A report as the verbs see it.
struct Current {
    id: i64,
    state: ReportState,
}

impl Store {
    fn current(&self, tracking_id: &str) -> Result<Current> {
        self.conn
            .query_row(
                "SELECT id, state FROM reports WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| {
                    Ok(Current {
                        id: r.get(0)?,
                        state: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| super::Error::NotFound(tracking_id.to_owned()))
    }

    /// `reports state ID STATE [--note]`: the move and what follows from it
    /// (`Transition`), in one transaction. Returns the move, so the caller
    /// can do what is not the store's (send the acknowledgement).
    pub fn set_state(&mut self, tracking_id: &str, to: ReportState, note: &str, actor: &str) -> Result<Transition> {
        let cur = self.current(tracking_id)?;
        let step = Transition { from: cur.state, to };
        step.check().map_err(super::Error::Invalid)?;
        if step.needs_reason() && note.trim().is_empty() {
            return Err(super::Error::invalid(format!(
                "{to} is recorded with the reason: --note REASON"
            )));
        }
        let tx = self.write()?;
        let now = Timestamp::now();
        tx.execute("UPDATE reports SET state = ?2 WHERE id = ?1", params![cur.id, to])?;
        Event::new(super::EventKind::State, now)
            .report(Some(cur.id))
            .by(actor)
            .change(Some(cur.state.as_str()), Some(to.as_str()))
            .detail(note)
            .insert(&tx)?;
        if step.stops_response_clock() {
            stop_response_clock(&tx, cur.id, now, actor)?;
        }
        if step.pauses_fix_clock() {
            tx.execute(
                "UPDATE reports SET waiting_since = ?2 WHERE id = ?1",
                params![cur.id, ts(now)],
            )?;
        }
        if step.resumes_fix_clock() {
            resume_fix_clock(&tx, cur.id, now)?;
        }
        if step.starts_details_clock() {
            let n = tx.execute(
                "UPDATE reports SET fixed_at = ?2 WHERE id = ?1 AND fixed_at IS NULL",
                params![cur.id, ts(now)],
            )?;
            if n > 0 {
                Event::new(super::EventKind::Fixed, now)
                    .report(Some(cur.id))
                    .by(actor)
                    .change(None, Some(&ts(now)))
                    .detail("the details clock starts")
                    .insert(&tx)?;
            }
        }
        if step.marks_disclosed() {
            tx.execute(
                "UPDATE reports SET disclosed_at = ?2 WHERE id = ?1 AND disclosed_at IS NULL",
                params![cur.id, ts(now)],
            )?;
        }
        tx.commit()?;
        Ok(step)
    }

    /// `reports complex ID`: the fix clock runs to the complex limit.
    pub fn set_complex(&mut self, tracking_id: &str, actor: &str) -> Result<()> {
        let cur = self.current(tracking_id)?;
        let tx = self.write()?;
        let old: i64 = tx.query_row("SELECT complex FROM reports WHERE id = ?1", [cur.id], |r| r.get(0))?;
        tx.execute("UPDATE reports SET complex = 1 WHERE id = ?1", [cur.id])?;
        let old = if old != 0 { "complex" } else { "normal" };
        Event::new(super::EventKind::Complex, Timestamp::now())
            .report(Some(cur.id))
            .by(actor)
            .change(Some(old), Some("complex"))
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// `reports fixed ID [--date]`: the fix is out; the details clock starts.
    pub fn set_fixed(&mut self, tracking_id: &str, at: Timestamp, actor: &str) -> Result<()> {
        let cur = self.current(tracking_id)?;
        let tx = self.write()?;
        let now = Timestamp::now();
        let old: Option<String> = tx.query_row("SELECT fixed_at FROM reports WHERE id = ?1", [cur.id], |r| r.get(0))?;
        tx.execute(
            "UPDATE reports SET fixed_at = ?2 WHERE id = ?1",
            params![cur.id, ts(at)],
        )?;
        Event::new(super::EventKind::Fixed, now)
            .report(Some(cur.id))
            .by(actor)
            .change(old.as_deref(), Some(&ts(at)))
            .detail("the details clock starts")
            .insert(&tx)?;
        if let Some(to) = cur.state.on_fix_released() {
            tx.execute("UPDATE reports SET state = ?2 WHERE id = ?1", params![cur.id, to])?;
            Event::new(super::EventKind::State, now)
                .report(Some(cur.id))
                .by(actor)
                .change(Some(cur.state.as_str()), Some(to.as_str()))
                .insert(&tx)?;
        }
        stop_response_clock(&tx, cur.id, now, actor)?;
        tx.commit()?;
        Ok(())
    }

    /// `reports merge ID INTO`: ID becomes a duplicate of INTO; its messages
    /// join INTO's thread, so replies to them thread there.
    pub fn merge(&mut self, tracking_id: &str, into: &str, actor: &str) -> Result<()> {
        let cur = self.current(tracking_id)?;
        let target = self.current(into)?;
        if cur.id == target.id {
            return Err(super::Error::invalid(format!("cannot merge {tracking_id} into itself")));
        }
        let tx = self.write()?;
        let now = Timestamp::now();
        let into_tag: String = tx.query_row("SELECT tracking_id FROM reports WHERE id = ?1", [target.id], |r| {
            r.get(0)
        })?;
        let from_tag: String = tx.query_row("SELECT tracking_id FROM reports WHERE id = ?1", [cur.id], |r| r.get(0))?;
        tx.execute(
            "UPDATE messages SET report_id = ?2 WHERE report_id = ?1",
            params![cur.id, target.id],
        )?;
        tx.execute(
            "UPDATE reports SET state = ?3, merged_into = ?2 WHERE id = ?1",
            params![cur.id, into_tag, ReportState::Duplicate],
        )?;
        Event::new(super::EventKind::State, now)
            .report(Some(cur.id))
            .by(actor)
            .change(Some(cur.state.as_str()), Some(ReportState::Duplicate.as_str()))
            .detail(&format!("merged into {into_tag}"))
            .insert(&tx)?;
        Event::new(super::EventKind::Merged, now)
            .report(Some(target.id))
            .by(actor)
            .change(None, Some(&from_tag))
            .detail(&format!("{from_tag} merged into this report"))
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The tracking ids of the reports merged into `tracking_id`.
    pub fn merged_into(&self, tracking_id: &str) -> Result<Vec<String>> {
        let cur = self.current(tracking_id)?;
        let into: String = self
            .conn
            .query_row("SELECT tracking_id FROM reports WHERE id = ?1", [cur.id], |r| r.get(0))?;
        let mut stmt = self
            .conn
            .prepare("SELECT tracking_id FROM reports WHERE merged_into = ?1 ORDER BY id")?;
        let rows = stmt.query_map([into], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `reports credit ID --name NAME [--url URL]` or `--no-credit`.
    pub fn set_credit(&mut self, tracking_id: &str, credit: Option<(&str, &str)>, actor: &str) -> Result<()> {
        let cur = self.current(tracking_id)?;
        let tx = self.write()?;
        let old: String = tx.query_row("SELECT credit FROM reports WHERE id = ?1", [cur.id], |r| r.get(0))?;
        if let Some((_, url)) = credit
            && !url.is_empty()
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(super::Error::invalid(
                "--url must be an http(s) URL (it is published in the hall of fame)",
            ));
        }
        let (new, name, url) = match credit {
            Some((n, u)) => (Credit::Wanted, n, u),
            None => (Credit::Declined, "", ""),
        };
        tx.execute(
            "UPDATE reports SET credit = ?2, credit_name = ?3, credit_url = ?4, credit_proposal = '' WHERE id = ?1",
            params![cur.id, new.as_str(), name, url],
        )?;
        let detail = if new == Credit::Wanted {
            format!("credit as {name:?} {url}")
        } else {
            "no credit".to_owned()
        };
        Event::new(super::EventKind::Credit, Timestamp::now())
            .report(Some(cur.id))
            .by(actor)
            .change(Some(&old), Some(new.as_str()))
            .detail(&detail)
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    /// `reports credit ID --accept`: the team confirms the credit wish that
    /// came in unauthenticated mail.
    pub fn accept_credit_proposal(&mut self, tracking_id: &str, actor: &str) -> Result<()> {
        let cur = self.current(tracking_id)?;
        let (wanted, name, url): (String, String, String) = self.conn.query_row(
            "SELECT credit_proposal, credit_proposal_name, credit_proposal_url FROM reports WHERE id = ?1",
            [cur.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        match Credit::from_stored(&wanted) {
            Credit::Wanted => self.set_credit(tracking_id, Some((&name, &url)), actor),
            Credit::Declined => self.set_credit(tracking_id, None, actor),
            Credit::Unknown => Err(super::Error::invalid(format!(
                "{tracking_id} has no credit proposal to accept"
            ))),
        }
    }
}

/// The reporter answered (or the team moved on): the time the report
/// waited is added to the fix deadline.
pub(super) fn resume_fix_clock(tx: &rusqlite::Connection, id: i64, now: Timestamp) -> Result<()> {
    let since: Option<String> = tx.query_row("SELECT waiting_since FROM reports WHERE id = ?1", [id], |r| r.get(0))?;
    let waited = since
        .and_then(|s| s.parse::<Timestamp>().ok())
        .map_or(0, |s| now.duration_since(s).as_secs().max(0));
    tx.execute(
        "UPDATE reports SET waiting_since = NULL, waited_secs = waited_secs + ?2 WHERE id = ?1",
        params![id, waited],
    )?;
    Ok(())
}

/// The team's first response (by any verb) stops the response clock, once,
/// with an event.
fn stop_response_clock(tx: &rusqlite::Connection, id: i64, now: Timestamp, actor: &str) -> Result<()> {
    let n = tx.execute(
        "UPDATE reports SET first_response_at = ?2 WHERE id = ?1 AND first_response_at IS NULL",
        params![id, ts(now)],
    )?;
    if n > 0 {
        Event::new(super::EventKind::TeamResponded, now)
            .report(Some(id))
            .by(actor)
            .detail("the response clock stops")
            .insert(tx)?;
    }
    Ok(())
}
