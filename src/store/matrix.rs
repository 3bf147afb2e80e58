//! What the Matrix room's console keeps in the database, so a restart (or a
//! kill -9 between a sync and its handling) neither repeats nor skips a
//! command: the sync position, the events handled (with the effect, in one
//! transaction), and who is trusted: the operators' cross-signing
//! identities pinned at first sight and devices trusted explicitly.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, ts};

/// An operator's pinned identity or an explicitly trusted device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pinned {
    pub user_id: String,
    /// Empty for an identity.
    pub device_id: String,
    /// The master key (identity) or the device's Ed25519 key.
    pub key: String,
    pub at: String,
    pub by: String,
}

impl Store {
    /// The sync position after the last handled batch.
    pub fn matrix_sync_token(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT next_batch FROM matrix_sync WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?)
    }

    pub fn matrix_set_sync_token(&mut self, token: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO matrix_sync (id, next_batch, at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET next_batch = excluded.next_batch, at = excluded.at",
            )?
            .execute(params![token, ts(Timestamp::now())])?;
        Ok(())
    }

    /// Whether this room event was handled (its effect is recorded).
    pub fn matrix_handled(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM matrix_events WHERE event_id = ?1")?
            .query_row(params![event_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Marks a room event handled; false when it already was (call it in
    /// the transaction of the event's effect: [`Store::atomic`]).
    pub fn matrix_mark_handled(&mut self, event_id: &str, sender: &str, outcome: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO matrix_events (event_id, sender, handled_at, outcome) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![event_id, sender, ts(Timestamp::now()), outcome])?;
        Ok(n > 0)
    }

    /// A room command about a report, on its timeline (nothing when there
    /// is no such report).
    pub fn matrix_command_event(&mut self, tracking_id: &str, actor: &str, detail: &str) -> Result<()> {
        let Some(id) = self.report_row_id(tracking_id)? else {
            return Ok(());
        };
        super::Event::new(super::EventKind::RoomCommand, Timestamp::now())
            .report(Some(id))
            .by(actor)
            .detail(detail)
            .insert(&self.conn)
    }

    /// The operator's identity (master key) as first seen or last trusted.
    pub fn matrix_pinned_identity(&self, user_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT master_key FROM matrix_identities WHERE user_id = ?1")?
            .query_row(params![user_id], |r| r.get(0))
            .optional()?)
    }

    /// Pins (or, from `embargo matrix trust`, re-pins) an identity.
    pub fn matrix_pin_identity(&mut self, user_id: &str, master_key: &str, by: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO matrix_identities (user_id, master_key, pinned_at, by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET master_key = excluded.master_key,
                   pinned_at = excluded.pinned_at, by = excluded.by",
            )?
            .execute(params![user_id, master_key, ts(Timestamp::now()), by])?;
        Ok(())
    }

    /// The Ed25519 key of a device trusted explicitly.
    pub fn matrix_trusted_device(&self, user_id: &str, device_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT ed25519 FROM matrix_devices WHERE user_id = ?1 AND device_id = ?2")?
            .query_row(params![user_id, device_id], |r| r.get(0))
            .optional()?)
    }

    pub fn matrix_trust_device(&mut self, user_id: &str, device_id: &str, ed25519: &str, by: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO matrix_devices (user_id, device_id, ed25519, trusted_at, by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user_id, device_id) DO UPDATE SET ed25519 = excluded.ed25519,
                   trusted_at = excluded.trusted_at, by = excluded.by",
            )?
            .execute(params![user_id, device_id, ed25519, ts(Timestamp::now()), by])?;
        Ok(())
    }

    /// Every pinned identity and trusted device, by user.
    pub fn matrix_trusted(&self) -> Result<Vec<Pinned>> {
        let mut st = self.conn.prepare_cached(
            "SELECT user_id, '', master_key, pinned_at, by FROM matrix_identities
             UNION ALL
             SELECT user_id, device_id, ed25519, trusted_at, by FROM matrix_devices
             ORDER BY 1, 2",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Pinned {
                user_id: r.get(0)?,
                device_id: r.get(1)?,
                key: r.get(2)?,
                at: r.get(3)?,
                by: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_remembers_its_position_what_it_handled_and_whom_it_trusts() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.matrix_sync_token().unwrap(), None);
        s.matrix_set_sync_token("s1").unwrap();
        s.matrix_set_sync_token("s2").unwrap();
        assert_eq!(s.matrix_sync_token().unwrap().as_deref(), Some("s2"));
        assert!(!s.matrix_handled("$a").unwrap());
        assert!(s.matrix_mark_handled("$a", "@alice:x", "state").unwrap());
        assert!(!s.matrix_mark_handled("$a", "@alice:x", "state").unwrap());
        assert!(s.matrix_handled("$a").unwrap());
        s.matrix_pin_identity("@alice:x", "K1", "first sight").unwrap();
        s.matrix_pin_identity("@alice:x", "K2", "cli:root").unwrap();
        assert_eq!(s.matrix_pinned_identity("@alice:x").unwrap().as_deref(), Some("K2"));
        s.matrix_trust_device("@alice:x", "DEV", "ED", "cli:root").unwrap();
        assert_eq!(
            s.matrix_trusted_device("@alice:x", "DEV").unwrap().as_deref(),
            Some("ED")
        );
        assert_eq!(s.matrix_trusted_device("@alice:x", "OTHER").unwrap(), None);
        assert_eq!(s.matrix_trusted().unwrap().len(), 2);
    }
}
