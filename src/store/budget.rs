//! What unauthenticated senders stored, per clock hour, against
//! `store.unauthenticated_per_hour` (see `intake::budget`).

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, ts};

/// The clock hour `at` falls in, as `storage_hours` keys it.
fn hour(at: Timestamp) -> String {
    ts(at).get(..13).unwrap_or_default().to_owned()
}

/// Adds `bytes` to what unauthenticated senders stored this hour.
pub(super) fn charge(tx: &rusqlite::Connection, bytes: u64, now: Timestamp) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO storage_hours (hour, bytes) VALUES (?1, ?2)
         ON CONFLICT (hour) DO UPDATE SET bytes = bytes + ?2",
    )?
    .execute(params![hour(now), bytes as i64])?;
    Ok(())
}

impl Store {
    /// What unauthenticated senders stored in the current clock hour.
    pub fn unauthenticated_bytes_this_hour(&self) -> Result<u64> {
        Ok(self
            .conn()
            .prepare_cached("SELECT bytes FROM storage_hours WHERE hour = ?1")?
            .query_row([hour(Timestamp::now())], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Charges `bytes` to this hour (tests; intake charges in `record`).
    pub fn charge_unauthenticated(&mut self, bytes: u64) -> Result<()> {
        let tx = self.write()?;
        charge(&tx, bytes, Timestamp::now())?;
        tx.commit()?;
        Ok(())
    }
}
