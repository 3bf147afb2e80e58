//! The advisory document kept with a report (`advisory edit/import`).

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::Result;
use super::{Event, Store, ts};

/// The stored document and who saved it last.
#[derive(Debug, Clone)]
pub struct StoredAdvisory {
    pub document: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl Store {
    pub fn advisory(&self, tracking_id: &str) -> Result<Option<StoredAdvisory>> {
        Ok(self
            .conn
            .query_row(
                "SELECT a.document, a.updated_at, a.updated_by FROM advisories a
                 JOIN reports r ON r.id = a.report_id WHERE r.tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| {
                    Ok(StoredAdvisory {
                        document: r.get(0)?,
                        updated_at: r.get(1)?,
                        updated_by: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Saves a checked document; `changed` says what changed (for the
    /// event: field names, never their contents). Nothing is written when
    /// the document is the one stored.
    pub fn save_advisory(&mut self, tracking_id: &str, document: &str, changed: &str, actor: &str) -> Result<bool> {
        let report_id: i64 = self
            .conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| super::Error::NotFound(tracking_id.to_owned()))?;
        let tx = self.write()?;
        let old: Option<String> = tx
            .query_row(
                "SELECT document FROM advisories WHERE report_id = ?1",
                [report_id],
                |r| r.get(0),
            )
            .optional()?;
        if old.as_deref() == Some(document) {
            return Ok(false);
        }
        let now = Timestamp::now();
        tx.execute(
            "INSERT INTO advisories (report_id, document, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (report_id) DO UPDATE SET document = ?2, updated_at = ?3, updated_by = ?4",
            params![report_id, document, ts(now), actor],
        )?;
        Event::new(super::EventKind::Advisory, now)
            .report(Some(report_id))
            .by(actor)
            .change(None, Some(if old.is_some() { "edited" } else { "created" }))
            .detail(changed)
            .insert(&tx)?;
        tx.commit()?;
        Ok(true)
    }
}
