//! The conversation with the reporter: what a team message needs to know
//! about the thread, and recording what the team sends.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::Result;
use super::record::team_responded;
use super::{Event, Outgoing, Store, outbox, ts};

/// A report's thread, as a team message to the reporter needs it.
#[derive(Debug, Clone)]
pub struct Thread {
    pub report_id: i64,
    pub tracking_id: String,
    pub state: crate::report::ReportState,
    pub reporter: String,
    pub reporter_name: String,
    pub subject: String,
    pub received_at: String,
    pub credit: String,
    /// The report (or a message in it) arrived encrypted.
    pub encrypted: bool,
    /// Who signed the report's first message (a key fingerprint; "" when
    /// unsigned): what it says goes back encrypted only to that key.
    pub opener_signer: String,
    /// The latest message of the thread (in or out), for In-Reply-To.
    pub latest: Option<String>,
    /// Message-IDs of the thread, oldest first (bounded), for References.
    pub references: Vec<String>,
}

impl Store {
    pub fn thread(&self, tracking_id: &str) -> Result<Thread> {
        let mut t = self
            .conn
            .query_row(
                "SELECT id, tracking_id, state, reporter, reporter_name, subject, received_at, credit, encrypted FROM reports
                 WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| {
                    Ok(Thread {
                        report_id: r.get(0)?,
                        tracking_id: r.get(1)?,
                        state: r.get(2)?,
                        reporter: r.get(3)?,
                        reporter_name: r.get(4)?,
                        subject: r.get(5)?,
                        received_at: r.get(6)?,
                        credit: r.get(7)?,
                        encrypted: r.get::<_, i64>(8)? != 0,
                        opener_signer: String::new(),
                        latest: None,
                        references: Vec::new(),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| super::Error::NotFound(tracking_id.to_owned()))?;
        let mut stmt = self.conn.prepare(
            "SELECT message_id FROM messages WHERE report_id = ?1 AND kind NOT IN ('alert', 'own-copy')
             AND message_id NOT LIKE '<failed-%' AND message_id NOT LIKE '<sha256-%' ORDER BY received_at, id",
        )?;
        let ids: Vec<String> = stmt
            .query_map([t.report_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        t.latest = ids.last().cloned();
        t.opener_signer = self.report_opened_by(t.report_id)?;
        let skip = ids.len().saturating_sub(20);
        t.references = ids.into_iter().skip(skip).collect();
        Ok(t)
    }

    /// A message from the team to the reporter (reply, notice): queued, on
    /// the thread, with an event naming who sent it; it is the team's
    /// response for the clocks.
    pub fn record_team_message(&mut self, t: &Thread, out: &Outgoing, actor: &str) -> Result<()> {
        let tx = self.write()?;
        let now = Timestamp::now();
        outbox::enqueue(&tx, Some(t.report_id), out, now)?;
        Event::new(super::EventKind::Mail(out.kind), now)
            .report(Some(t.report_id))
            .by(actor)
            .detail(&format!("to {}", out.recipient))
            .insert(&tx)?;
        team_responded(&tx, t.report_id, None, t.state, now, actor)?;
        tx.commit()?;
        Ok(())
    }

    /// `reports disclose-on ID DATE`: the agreed disclosure date.
    pub fn set_disclose_on(&mut self, tracking_id: &str, at: Timestamp, note: &str, actor: &str) -> Result<()> {
        let t = self.thread(tracking_id)?;
        let tx = self.write()?;
        let old: Option<String> =
            tx.query_row("SELECT disclose_on FROM reports WHERE id = ?1", [t.report_id], |r| {
                r.get(0)
            })?;
        tx.execute(
            "UPDATE reports SET disclose_on = ?2 WHERE id = ?1",
            params![t.report_id, ts(at)],
        )?;
        Event::new(super::EventKind::DiscloseOn, Timestamp::now())
            .report(Some(t.report_id))
            .by(actor)
            .change(old.as_deref(), Some(&ts(at)))
            .detail(note)
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The Message-ID a signed team text was already relayed from, if any.
    pub fn relayed(&self, hash: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT message_id FROM relayed WHERE hash = ?1", [hash], |r| r.get(0))
            .optional()?)
    }

    pub fn mark_relayed(&mut self, hash: &str, message_id: &str, report_id: i64) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO relayed (hash, message_id, report_id, at) VALUES (?1, ?2, ?3, ?4)",
            params![hash, message_id, report_id, ts(Timestamp::now())],
        )?;
        Ok(())
    }
}
