//! What the running daemon last said about itself, for `embargo status`.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::{Store, ts};

#[derive(Debug, Clone, Serialize)]
pub struct DaemonStatus {
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// connected, reconnecting, stopped.
    pub imap_state: String,
    pub last_fetch_at: Option<String>,
    pub last_error: String,
}

impl Store {
    pub fn status_started(&mut self, pid: u32, version: &str) -> Result<()> {
        let now = ts(Timestamp::now());
        self.conn.execute(
            "INSERT INTO daemon_status (id, pid, version, started_at, heartbeat_at, imap_state)
             VALUES (1, ?1, ?2, ?3, ?3, 'starting')
             ON CONFLICT (id) DO UPDATE SET pid = ?1, version = ?2, started_at = ?3, heartbeat_at = ?3,
                 imap_state = 'starting', last_error = ''",
            params![pid, version, now],
        )?;
        Ok(())
    }

    pub fn status_heartbeat(&mut self) -> Result<()> {
        self.conn.execute(
            "UPDATE daemon_status SET heartbeat_at = ?1 WHERE id = 1",
            [ts(Timestamp::now())],
        )?;
        Ok(())
    }

    pub fn status_imap(&mut self, state: &str, error: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE daemon_status SET imap_state = ?1, heartbeat_at = ?2,
                 last_error = CASE WHEN ?3 IS NULL THEN last_error ELSE ?3 END WHERE id = 1",
            params![state, ts(Timestamp::now()), error],
        )?;
        Ok(())
    }

    /// A fetch round completed.
    pub fn status_fetched(&mut self) -> Result<()> {
        let now = ts(Timestamp::now());
        self.conn.execute(
            "UPDATE daemon_status SET last_fetch_at = ?1, heartbeat_at = ?1, imap_state = 'connected' WHERE id = 1",
            [now],
        )?;
        Ok(())
    }

    pub fn daemon_status(&self) -> Result<Option<DaemonStatus>> {
        Ok(self
            .conn
            .query_row(
                "SELECT pid, version, started_at, heartbeat_at, imap_state, last_fetch_at, last_error
                 FROM daemon_status WHERE id = 1",
                [],
                |r| {
                    Ok(DaemonStatus {
                        pid: r.get(0)?,
                        version: r.get(1)?,
                        started_at: r.get(2)?,
                        heartbeat_at: r.get(3)?,
                        imap_state: r.get(4)?,
                        last_fetch_at: r.get(5)?,
                        last_error: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }
}
