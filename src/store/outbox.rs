//! The outbox table: mail waiting to be sent, written in the same transaction
//! as the message that caused it; drained by `crate::outbox`.

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::{Event, Outgoing, Store, ts};

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub report_id: Option<i64>,
    pub kind: super::MailKind,
    pub recipient: String,
    pub envelope_from: String,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub attempts: u32,
    /// A previous attempt was cut short by a crash; its outcome is unknown.
    pub in_doubt: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub failed: u64,
    pub sent: u64,
    pub oldest_pending: Option<String>,
}

fn item(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.get(0)?,
        report_id: r.get(1)?,
        kind: r.get(2)?,
        recipient: r.get(3)?,
        envelope_from: r.get(4)?,
        message_id: r.get(5)?,
        raw: r.get(6)?,
        attempts: r.get(7)?,
        in_doubt: r.get(8)?,
    })
}

pub(super) fn enqueue(tx: &Connection, report_id: Option<i64>, out: &Outgoing, now: Timestamp) -> Result<()> {
    // The outgoing mail is part of the thread from the moment it is queued,
    // so a reply to it threads even while it waits for the SMTP server.
    tx.prepare_cached(
        "INSERT INTO messages (report_id, direction, message_id, from_addr, to_addr, subject, received_at, size, kind)
         VALUES (?1, 'out', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        report_id,
        out.message_id,
        out.from_addr,
        out.recipient,
        out.subject,
        ts(now),
        out.raw.len() as i64,
        out.kind,
    ])?;
    let message_row = tx.last_insert_rowid();
    super::record::write_raw(tx, message_row, &out.raw)?;
    tx.prepare_cached("INSERT INTO outbox (report_id, message_row, kind, recipient, envelope_from, message_id, raw, next_attempt_at, created_at, recipient_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)")?.execute(
        params![report_id, message_row, out.kind, out.recipient, out.envelope_from, out.message_id, out.raw, ts(now),
                crate::message::address_key(&out.recipient)],
    )?;
    Ok(())
}

/// `kind IN (...)` for the kinds of mail that leave without a person (to
/// addresses anyone can forge): they count against the hourly cap.
pub(super) fn auto_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| super::MailKind::sql_in(super::MailKind::is_automatic))
}

/// The hourly cap on automatic mail, as the outbox applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyCap {
    /// How many more may go out now (None: no cap).
    pub allowance: Option<u32>,
    /// When the oldest automatic mail of the last hour leaves the window.
    pub frees_at: Option<Timestamp>,
}

impl Store {
    /// Where the hourly cap stands (`cap` 0: no cap).
    pub fn hourly_cap(&self, now: Timestamp, cap: u32) -> Result<HourlyCap> {
        if cap == 0 {
            return Ok(HourlyCap {
                allowance: None,
                frees_at: None,
            });
        }
        let since = now - SignedDuration::from_hours(1);
        let (sent, oldest): (i64, Option<String>) = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*), min(sent_at) FROM outbox WHERE sent_at >= ?1 AND state = 'sent' AND {auto}",
                auto = auto_sql()
            ))?
            .query_row([ts(since)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(HourlyCap {
            allowance: Some(cap.saturating_sub(sent as u32)),
            frees_at: oldest
                .as_deref()
                .and_then(super::parse_ts)
                .map(|t| t + SignedDuration::from_hours(1)),
        })
    }

    /// Automatic mail due now but held back by the hourly cap.
    pub fn outbox_held(&self, now: Timestamp, cap: u32) -> Result<u64> {
        let Some(allowance) = self.hourly_cap(now, cap)?.allowance else {
            return Ok(0);
        };
        let due: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 AND {auto}",
                auto = auto_sql()
            ))?
            .query_row([ts(now)], |r| r.get(0))?;
        Ok((due as u64).saturating_sub(allowance as u64))
    }

    /// Pending items whose time has come, oldest first, with automatic mail
    /// beyond the hourly cap held back (it stays pending).
    pub fn outbox_due_capped(
        &self,
        now: Timestamp,
        grace: SignedDuration,
        limit: u32,
        cap: u32,
    ) -> Result<Vec<OutboxItem>> {
        let mut due = self.outbox_due(now, grace, limit)?;
        if let Some(mut allowance) = self.hourly_cap(now, cap)?.allowance {
            due.retain(|i| {
                if !i.kind.is_automatic() {
                    return true;
                }
                let keep = allowance > 0;
                allowance = allowance.saturating_sub(1);
                keep
            });
            if due.is_empty() && allowance == 0 {
                // Everything due is held: fetch what else is due (team mail).
                due = self.outbox_due_excluding_automatic(now, grace, limit)?;
            }
        }
        Ok(due)
    }

    fn outbox_due_excluding_automatic(
        &self,
        now: Timestamp,
        grace: SignedDuration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, report_id, kind, recipient, envelope_from, message_id, raw, attempts,
                    attempt_started_at IS NOT NULL FROM outbox
             WHERE state = 'pending' AND next_attempt_at <= ?1
               AND (attempt_started_at IS NULL OR attempt_started_at <= ?2) AND NOT {auto}
             ORDER BY id LIMIT ?3",
            auto = auto_sql()
        ))?;
        let rows = stmt.query_map(params![ts(now), ts(now - grace), limit], item)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pending items whose time has come, oldest first. An item whose last
    /// attempt was cut short by a crash is due only once `grace` has passed
    /// without our own copy confirming it.
    pub fn outbox_due(&self, now: Timestamp, grace: SignedDuration, limit: u32) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, report_id, kind, recipient, envelope_from, message_id, raw, attempts,
                    attempt_started_at IS NOT NULL FROM outbox
             WHERE state = 'pending' AND next_attempt_at <= ?1
               AND (attempt_started_at IS NULL OR attempt_started_at <= ?2)
             ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![ts(now), ts(now - grace), limit], item)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the next pending item is due, if any.
    /// `held_until`: automatic mail held by the hourly cap is not due before.
    pub fn outbox_next_due(&self, grace: SignedDuration, held_until: Option<Timestamp>) -> Result<Option<Timestamp>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT next_attempt_at, attempt_started_at, {auto} FROM outbox WHERE state = 'pending'",
            auto = auto_sql()
        ))?;
        let mut rows = stmt.query([])?;
        let mut next: Option<Timestamp> = None;
        while let Some(r) = rows.next()? {
            let at = super::parse_ts(&r.get::<_, String>(0)?);
            let started = r.get::<_, Option<String>>(1)?.as_deref().and_then(super::parse_ts);
            let automatic: bool = r.get(2)?;
            let due = match (at, started) {
                (Some(a), Some(s)) => Some(a.max(s + grace)),
                (a, _) => a,
            };
            let due = match (due, held_until) {
                (Some(d), Some(h)) if automatic => Some(d.max(h)),
                (d, _) => d,
            };
            next = match (next, due) {
                (Some(n), Some(d)) => Some(n.min(d)),
                (n, d) => n.or(d),
            };
        }
        Ok(next)
    }

    /// Marks the start of an attempt (committed before the first byte goes
    /// to the SMTP server).
    pub fn outbox_begin(&mut self, item: &OutboxItem) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE outbox SET attempt_started_at = ?2 WHERE id = ?1")?
            .execute(params![item.id, ts(Timestamp::now())])?;
        Ok(())
    }

    /// The SMTP server accepted the mail.
    pub fn outbox_sent(&mut self, item: &OutboxItem, response: &str) -> Result<()> {
        let tx = self.write()?;
        let now = Timestamp::now();
        tx.prepare_cached(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = '',
                    attempt_started_at = NULL WHERE id = ?1",
        )?
        .execute(params![item.id, ts(now)])?;
        mark_acknowledged(&tx, item.kind, item.report_id, &item.message_id, now)?;
        Event::new(super::EventKind::Sent(item.kind), now)
            .report(item.report_id)
            .detail(&format!("to {}: {}", item.recipient, response))
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// A temporary failure: try again at `next`.
    pub fn outbox_retry(&mut self, item: &OutboxItem, next: Timestamp, error: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3,
                    attempt_started_at = NULL WHERE id = ?1",
            )?
            .execute(params![item.id, ts(next), error])?;
        Ok(())
    }

    /// A permanent failure: recorded and visible, never retried.
    pub fn outbox_failed(&mut self, item: &OutboxItem, error: &str) -> Result<()> {
        let tx = self.write()?;
        let now = Timestamp::now();
        tx.prepare_cached(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2,
                    attempt_started_at = NULL WHERE id = ?1",
        )?
        .execute(params![item.id, error])?;
        Event::new(super::EventKind::SendFailed(item.kind), now)
            .report(item.report_id)
            .detail(&format!("to {}: {}", item.recipient, error))
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let mut stats = OutboxStats::default();
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*), min(created_at) FROM outbox GROUP BY state")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let n = r.get::<_, i64>(1)? as u64;
            match state.as_str() {
                "pending" => {
                    stats.pending = n;
                    stats.oldest_pending = r.get(2)?;
                }
                "failed" => stats.failed = n,
                "sent" => stats.sent = n,
                // The schema allows no other state.
                _ => {}
            }
        }
        Ok(stats)
    }
}

/// Our own copy of an outgoing mail arrived: if its send was in doubt, it is
/// now known to have gone out. Returns the report it belongs to.
pub(super) fn confirm_copy(tx: &Connection, message_id: &str, now: Timestamp) -> Result<Option<i64>> {
    let row: Option<(i64, Option<i64>, String, super::MailKind, String)> = tx
        .prepare_cached("SELECT id, report_id, state, kind, recipient FROM outbox WHERE message_id = ?1")?
        .query_row([message_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, report_id, state, kind, recipient)) = row else {
        return Ok(None);
    };
    if state == "pending" {
        tx.prepare_cached(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, attempt_started_at = NULL, last_error = '' WHERE id = ?1",
        )?
        .execute(params![id, ts(now)])?;
        mark_acknowledged(tx, kind, report_id, message_id, now)?;
        Event::new(super::EventKind::Sent(kind), now)
            .report(report_id)
            .detail(&format!(
                "to {recipient}: confirmed by our own copy after an interrupted attempt"
            ))
            .insert(tx)?;
    }
    Ok(report_id)
}

impl Store {
    /// Is this one of our outgoing Message-IDs?
    pub fn outbox_has(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM outbox WHERE message_id = ?1")?
            .query_row([message_id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// The first automatic answer to a report (acknowledgement, out-of-scope
/// reply, "cannot decrypt") that went out sets `acknowledged_at`.
fn mark_acknowledged(
    tx: &Connection,
    kind: super::MailKind,
    report_id: Option<i64>,
    message_id: &str,
    now: Timestamp,
) -> Result<()> {
    if kind.acknowledges()
        && let Some(report_id) = report_id
    {
        tx.prepare_cached("UPDATE reports SET acknowledged_at = ?2 WHERE id = ?1 AND acknowledged_at IS NULL")?
            .execute(params![report_id, ts(now)])?;
    }
    if kind == super::MailKind::AckCombined {
        // Every report the combined acknowledgement carried.
        tx.prepare_cached(
            "UPDATE reports SET acknowledged_at = ?2 WHERE acknowledged_at IS NULL
             AND id IN (SELECT report_id FROM held_acks WHERE combined_message_id = ?1)",
        )?
        .execute(params![message_id, ts(now)])?;
    }
    Ok(())
}
