//! Reporters' keys: the pinned one (used to encrypt, and for its
//! signatures, as far as it may speak), candidates, the team accepting one.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Error, Event, PinnedKey, ReporterKey, Result, Store, ts};

impl Store {
    /// The pinned certificate of a reporter address (at most one), the only
    /// one used to encrypt and to authenticate its signatures.
    pub fn reporter_certs(&self, address: &str) -> Result<Vec<Vec<u8>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT cert FROM reporter_keys WHERE address = ?1 AND status = 'pinned'
             ORDER BY last_seen DESC, first_seen DESC LIMIT 1",
        )?;
        let rows = stmt.query_map([address.to_ascii_lowercase()], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The pinned key of a reporter address, with what it may speak for.
    pub fn reporter_pinned(&self, address: &str) -> Result<Option<PinnedKey>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT cert, vouched, report_id FROM reporter_keys WHERE address = ?1 AND status = 'pinned'
                 ORDER BY last_seen DESC, first_seen DESC LIMIT 1",
            )?
            .query_row([address.to_ascii_lowercase()], |r| {
                Ok(PinnedKey {
                    cert: r.get(0)?,
                    vouched: r.get::<_, i64>(1)? != 0,
                    report_id: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// The signer of a report's first message ("" when unsigned).
    pub fn report_opened_by(&self, report_id: i64) -> Result<String> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT signer FROM messages WHERE report_id = ?1 AND direction = 'in' ORDER BY id LIMIT 1",
            )?
            .query_row([report_id], |r| r.get(0))
            .optional()?
            .unwrap_or_default())
    }

    /// A report's state.
    pub fn report_state(&self, report_id: i64) -> Result<crate::report::ReportState> {
        Ok(self
            .conn
            .prepare_cached("SELECT state FROM reports WHERE id = ?1")?
            .query_row([report_id], |r| r.get(0))?)
    }

    /// How many candidate keys wait for an address.
    pub fn reporter_candidates(&self, address: &str) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM reporter_keys WHERE address = ?1 AND status = 'candidate'")?
            .query_row([address.to_ascii_lowercase()], |r| r.get::<_, i64>(0))? as usize)
    }

    /// `embargo keys accept ADDRESS FINGERPRINT`: the team pins a candidate;
    /// the key pinned before is retired.
    pub fn accept_key(&mut self, address: &str, fingerprint: &str, actor: &str) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        let fingerprint = fingerprint.trim().replace(' ', "").to_ascii_uppercase();
        let tx = self.write()?;
        let status: Option<(String, bool)> = tx
            .query_row(
                "SELECT status, vouched FROM reporter_keys WHERE address = ?1 AND upper(fingerprint) = ?2",
                params![address, fingerprint],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()?;
        match status {
            None => {
                return Err(Error::invalid(format!(
                    "no key {fingerprint} is known for {address} (see `embargo keys list`)"
                )));
            }
            Some((s, true)) if s == "pinned" => {
                return Err(Error::invalid(format!(
                    "{fingerprint} is already the pinned key of {address}, vouched for"
                )));
            }
            Some(_) => {}
        }
        tx.execute(
            "UPDATE reporter_keys SET status = 'replaced' WHERE address = ?1 AND status = 'pinned'",
            [&address],
        )?;
        tx.execute(
            "UPDATE reporter_keys SET status = 'pinned', vouched = 1, last_seen = ?3 WHERE address = ?1 AND upper(fingerprint) = ?2",
            params![address, fingerprint, ts(Timestamp::now())],
        )?;
        Event::new(super::EventKind::KeyAccepted, Timestamp::now())
            .by(actor)
            .change(None, Some(&fingerprint))
            .detail(&format!("pinned for {address}"))
            .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Every remembered reporter key.
    pub fn reporter_keys(&self) -> Result<Vec<ReporterKey>> {
        let mut stmt = self.conn.prepare(
            "SELECT address, fingerprint, source, first_seen, last_seen, status, vouched FROM reporter_keys
             ORDER BY address, first_seen",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ReporterKey {
                address: r.get(0)?,
                fingerprint: r.get(1)?,
                source: r.get(2)?,
                first_seen: r.get(3)?,
                last_seen: r.get(4)?,
                status: r.get(5)?,
                vouched: r.get::<_, i64>(6)? != 0,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
