//! Acknowledgements held by the per-sender limit, and the combined
//! acknowledgement that carries them: merged, never dropped. A forged flood
//! costs its victim at most the limit plus one mail per period, and every
//! report held in a period is acknowledged at its end, however many there
//! are: the combined mail names [`MAX_PER_COMBINED`] of them in full
//! (authenticated senders' first, then the oldest) and the rest by their
//! tracking ids.

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::{Event, Outgoing, Store, outbox, ts};

/// At most this many reports are listed with their subjects in one
/// combined acknowledgement; the others of the period are named by their
/// tracking ids only (and never wait for a later period).
pub const MAX_PER_COMBINED: usize = 100;

/// One held acknowledgement, as the combined one lists it.
#[derive(Debug, Clone)]
pub struct HeldItem {
    pub id: i64,
    pub report_id: i64,
    pub tracking_id: String,
    pub subject: String,
    pub encrypted: bool,
    /// Who signed the report's first message ("" when unsigned).
    pub signer: String,
    /// The report's first message came from a proven sender.
    pub proven: bool,
    /// The report's first Message-ID (for References).
    pub message_id: String,
}

/// The held acknowledgements of one address that are due.
#[derive(Debug, Clone)]
pub struct HeldGroup {
    pub recipient: String,
    pub recipient_key: String,
    pub reporter_name: String,
    pub items: Vec<HeldItem>,
}

/// Holds the acknowledgement of `report_id` (inside the intake
/// transaction). All held acknowledgements of one address go out together,
/// `after` the first of them. Returns when.
pub(super) fn hold(
    tx: &Connection,
    report_id: i64,
    recipient: &str,
    after: SignedDuration,
    now: Timestamp,
) -> Result<Timestamp> {
    let key = crate::message::address_key(recipient);
    let pending: Option<String> = tx
        .prepare_cached("SELECT min(due_at) FROM held_acks WHERE recipient_key = ?1 AND combined_message_id IS NULL")?
        .query_row([&key], |r| r.get(0))?;
    let due = pending.as_deref().and_then(super::parse_ts).unwrap_or(now + after);
    tx.prepare_cached(
        "INSERT INTO held_acks (report_id, recipient, recipient_key, held_at, due_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![report_id, recipient, key, ts(now), ts(due)])?;
    Ok(due)
}

impl Store {
    /// Held acknowledgements whose time has come, by address: all of them,
    /// those of authenticated senders first, then the oldest.
    pub fn held_acks_due(&self, now: Timestamp) -> Result<Vec<HeldGroup>> {
        let mut keys = self.conn.prepare_cached(
            "SELECT DISTINCT recipient_key FROM held_acks WHERE combined_message_id IS NULL AND due_at <= ?1",
        )?;
        let keys: Vec<String> = keys
            .query_map([ts(now)], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for key in keys {
            let mut stmt = self.conn.prepare_cached(
                "SELECT h.id, h.report_id, r.tracking_id, r.subject, r.encrypted, h.recipient, r.reporter_name,
                        (SELECT m.message_id FROM messages m WHERE m.report_id = r.id AND m.direction = 'in'
                         ORDER BY m.id LIMIT 1),
                        (SELECT m.signer FROM messages m WHERE m.report_id = r.id AND m.direction = 'in'
                         ORDER BY m.id LIMIT 1),
                        (SELECT m.auth FROM messages m WHERE m.report_id = r.id AND m.direction = 'in'
                         ORDER BY m.id LIMIT 1) AS auth
                 FROM held_acks h JOIN reports r ON r.id = h.report_id
                 WHERE h.recipient_key = ?1 AND h.combined_message_id IS NULL
                 ORDER BY coalesce(auth, 'none') = 'none', h.id",
            )?;
            let mut group = HeldGroup {
                recipient: String::new(),
                recipient_key: key.clone(),
                reporter_name: String::new(),
                items: Vec::new(),
            };
            let mut rows = stmt.query(params![key])?;
            while let Some(r) = rows.next()? {
                group.recipient = r.get(5)?;
                group.reporter_name = r.get(6)?;
                group.items.push(HeldItem {
                    id: r.get(0)?,
                    report_id: r.get(1)?,
                    tracking_id: r.get(2)?,
                    subject: r.get(3)?,
                    encrypted: r.get::<_, i64>(4)? != 0,
                    message_id: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    signer: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                    proven: r.get::<_, Option<String>>(9)?.is_some_and(|a| a != "none"),
                });
            }
            if !group.items.is_empty() {
                out.push(group);
            }
        }
        Ok(out)
    }

    /// Queues the combined acknowledgement for `group`: it carries every
    /// item (an event on each report), and what is still held for the
    /// address waits a whole period more.
    pub fn record_combined(&mut self, group: &HeldGroup, out: &Outgoing, after: SignedDuration) -> Result<()> {
        let tx = self.write()?;
        let now = Timestamp::now();
        let first = group.items.first().map(|i| i.report_id);
        outbox::enqueue(&tx, first, out, now)?;
        for item in &group.items {
            tx.prepare_cached("UPDATE held_acks SET combined_message_id = ?2 WHERE id = ?1")?
                .execute(params![item.id, out.message_id])?;
            Event::new(super::EventKind::Queued(super::MailKind::AckCombined), now)
                .report(Some(item.report_id))
                .detail(&format!(
                    "to {}: acknowledged in a combined reply {} with {} report(s)",
                    out.recipient,
                    out.message_id,
                    group.items.len()
                ))
                .insert(&tx)?;
        }
        tx.prepare_cached("UPDATE held_acks SET due_at = ?2 WHERE recipient_key = ?1 AND combined_message_id IS NULL")?
            .execute(params![group.recipient_key, ts(now + after)])?;
        tx.commit()?;
        Ok(())
    }

    /// Acknowledgements held now (not yet combined).
    pub fn acks_held(&self) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM held_acks WHERE combined_message_id IS NULL")?
            .query_row([], |r| r.get::<_, i64>(0))? as u64)
    }

    /// When the next held acknowledgement is due, if any.
    pub fn held_next_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<String> = self
            .conn
            .prepare_cached("SELECT min(due_at) FROM held_acks WHERE combined_message_id IS NULL")?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(due.as_deref().and_then(super::parse_ts))
    }

    /// Does any of `ids` name an acknowledgement we sent to this address?
    /// Only its recipient knows that Message-ID, so a reply citing it proves
    /// the address (for the higher per-sender limit).
    pub fn cites_our_ack_to(&self, ids: &[String], address: &str) -> Result<bool> {
        let key = crate::message::address_key(address);
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM outbox WHERE message_id = ?1 AND recipient_key = ?2 AND kind IN ('ack', 'ack-combined')",
        )?;
        for id in ids.iter().take(50) {
            if stmt.query_row(params![id, key], |_| Ok(())).optional()?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
