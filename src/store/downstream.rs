//! Embargoed notices to downstream recipients (`advisory notify-downstream`)
//! and their acknowledgements.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::{Event, Outgoing, Store, outbox, ts};

/// One notice as `reports show` and the digest list it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DownstreamNotice {
    pub name: String,
    pub address: String,
    pub release_at: String,
    pub encrypted: bool,
    /// Why it went out anyway (cleartext allowed, a release beyond the limit).
    pub exceptions: String,
    pub notified_at: String,
    pub notified_by: String,
    /// Their authenticated reply; null while pending.
    pub acknowledged_at: Option<String>,
    /// How that reply was authenticated (signature, dmarc).
    pub ack_auth: Option<String>,
}

/// A notice about to be queued.
pub struct NewNotice<'a> {
    pub name: &'a str,
    pub release_at: Timestamp,
    pub encrypted: bool,
    pub exceptions: &'a str,
}

impl Store {
    /// Queues a notice and records it on the report, in one transaction.
    pub fn record_downstream_notice(
        &mut self,
        tracking_id: &str,
        n: &NewNotice<'_>,
        out: &Outgoing,
        actor: &str,
    ) -> Result<()> {
        let t = self.thread(tracking_id)?;
        let tx = self.write()?;
        let now = Timestamp::now();
        outbox::enqueue(&tx, Some(t.report_id), out, now)?;
        tx.execute(
            "INSERT INTO downstream_notices (report_id, name, address, message_id, release_at, encrypted, exceptions,
                                             notified_at, notified_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                t.report_id,
                n.name,
                out.recipient,
                out.message_id,
                ts(n.release_at),
                n.encrypted,
                n.exceptions,
                ts(now),
                actor
            ],
        )?;
        let how = if n.encrypted { "encrypted" } else { "CLEARTEXT" };
        let mut detail = format!("{} <{}>, {how}, release {}", n.name, out.recipient, ts(n.release_at));
        if !n.exceptions.is_empty() {
            detail.push_str(&format!("; {}", n.exceptions));
        }
        Event::new(super::EventKind::Mail(super::MailKind::DownstreamNotice), now)
            .report(Some(t.report_id))
            .by(actor)
            .detail(&detail)
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The notices of a report, in the order they were sent.
    pub fn downstream_notices(&self, tracking_id: &str) -> Result<Vec<DownstreamNotice>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.name, d.address, d.release_at, d.encrypted, d.exceptions, d.notified_at, d.notified_by,
                    d.acknowledged_at, d.ack_auth
             FROM downstream_notices d JOIN reports r ON r.id = d.report_id
             WHERE r.tracking_id = ?1 COLLATE NOCASE ORDER BY d.id",
        )?;
        let rows = stmt.query_map([tracking_id], notice)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Notices of undisclosed reports: (tracking id, notice), for the digest.
    pub fn open_downstream_notices(&self) -> Result<Vec<(String, DownstreamNotice)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.name, d.address, d.release_at, d.encrypted, d.exceptions, d.notified_at, d.notified_by,
                    d.acknowledged_at, d.ack_auth, r.tracking_id
             FROM downstream_notices d JOIN reports r ON r.id = d.report_id
             WHERE r.state != ?1 ORDER BY d.release_at, d.id",
        )?;
        let rows = stmt.query_map([crate::report::ReportState::Disclosed], |r| Ok((r.get(9)?, notice(r)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Was `address` sent a notice about report `report_id`? (Only then may
    /// its mail join the report.)
    pub fn downstream_notified(&self, report_id: i64, address: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM downstream_notices WHERE report_id = ?1 AND address = ?2 LIMIT 1")?
            .query_row(params![report_id, address], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

fn notice(r: &rusqlite::Row<'_>) -> rusqlite::Result<DownstreamNotice> {
    Ok(DownstreamNotice {
        name: r.get(0)?,
        address: r.get(1)?,
        release_at: r.get(2)?,
        encrypted: r.get::<_, i64>(3)? != 0,
        exceptions: r.get(4)?,
        notified_at: r.get(5)?,
        notified_by: r.get(6)?,
        acknowledged_at: r.get(7)?,
        ack_auth: r.get(8)?,
    })
}

/// An authenticated reply from `address` acknowledges its pending notices
/// of the report (inside `Store::record`'s transaction).
pub(super) fn acknowledge(
    tx: &Connection,
    report_id: i64,
    row: i64,
    address: &str,
    message_id: &str,
    auth: &str,
    now: Timestamp,
) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE downstream_notices SET acknowledged_at = ?3, ack_message_id = ?4, ack_auth = ?5
             WHERE report_id = ?1 AND address = ?2 AND acknowledged_at IS NULL",
        )?
        .execute(params![report_id, address, ts(now), message_id, auth])?;
    if n > 0 {
        Event::new(super::EventKind::DownstreamAck, now)
            .report(Some(report_id))
            .message(Some(row))
            .by(address)
            .detail(&format!("{address} acknowledged the embargoed notice ({auth})"))
            .insert(tx)?;
    }
    Ok(())
}
