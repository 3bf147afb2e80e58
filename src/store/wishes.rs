//! What a reporter's mail brings besides its text: keys to remember and a
//! wish for credit (the credit itself when the sender is proven, a proposal
//! for the team to confirm otherwise).

use crate::report::Credit;
use rusqlite::params;

use super::Result;
use super::record::{CreditWish, Writer};
use super::ts;

impl Writer<'_> {
    /// Remembers the keys the message carried (reports and follow-ups only:
    /// never from automatic, duplicate or failed mail). Pinning was decided
    /// in intake (`openpgp::pin`); a candidate never displaces a pinned key.
    pub(super) fn keys(&self, report_id: i64, row: i64) -> Result<()> {
        for k in &self.msg.keys {
            let address = k.address.to_ascii_lowercase();
            if k.replaces {
                self.tx
                    .prepare_cached(
                        "UPDATE reporter_keys SET status = 'replaced' WHERE address = ?1 AND status = 'pinned' AND fingerprint <> ?2",
                    )?
                    .execute(params![address, k.fingerprint])?;
                self.event(
                    Some(report_id),
                    Some(row),
                    super::EventKind::KeyReplaced,
                    None,
                    Some(&k.fingerprint),
                    &format!("{address}: a new key vouched for by the pinned one"),
                )?;
            }
            self.tx
                .prepare_cached(
                    "INSERT INTO reporter_keys (address, fingerprint, cert, source, first_seen, last_seen, status, vouched, report_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)
                     ON CONFLICT (address, fingerprint) DO UPDATE SET cert = ?3, last_seen = ?5,
                        status = CASE WHEN ?6 = 'pinned' THEN 'pinned' ELSE status END,
                        vouched = max(vouched, ?7)",
                )?
                .execute(params![
                    address,
                    k.fingerprint,
                    k.cert,
                    k.source,
                    ts(self.now),
                    k.status,
                    k.vouched,
                    report_id
                ])?;
            if k.status == "candidate" {
                self.event(
                    Some(report_id),
                    Some(row),
                    super::EventKind::KeyCandidate,
                    None,
                    Some(&k.fingerprint),
                    &format!(
                        "{address} sent a key other than the pinned one; not used until `embargo keys accept {address} {}`",
                        k.fingerprint
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// A credit wish from a sender who was not authenticated: kept for the
    /// team to confirm, never the credit itself.
    pub(super) fn credit_proposal(&self, report_id: i64, row: i64, c: &CreditWish) -> Result<()> {
        let wanted = Credit::wanted(c.wanted).as_str();
        self.tx
            .prepare_cached(
                "UPDATE reports SET credit_proposal = ?2, credit_proposal_name = ?3, credit_proposal_url = ?4 WHERE id = ?1",
            )?
            .execute(params![report_id, wanted, c.name, c.url])?;
        let detail = c.describe();
        self.event(
            Some(report_id),
            Some(row),
            super::EventKind::CreditProposed,
            None,
            Some(wanted),
            &format!(
                "unauthenticated mail from {}: {detail}; confirm with `reports credit --accept`",
                self.msg.from_addr
            ),
        )
    }

    pub(super) fn credit(&self, report_id: i64, row: i64, c: &CreditWish) -> Result<()> {
        let old: String = self
            .tx
            .prepare_cached("SELECT credit FROM reports WHERE id = ?1")?
            .query_row([report_id], |r| r.get(0))?;
        let new = Credit::wanted(c.wanted).as_str();
        self.tx
            .prepare_cached(
                "UPDATE reports SET credit = ?2, credit_name = ?3, credit_url = ?4, credit_proposal = '' WHERE id = ?1",
            )?
            .execute(params![report_id, new, c.name, c.url])?;
        let detail = c.describe();
        self.event(
            Some(report_id),
            Some(row),
            super::EventKind::Credit,
            Some(&old),
            Some(new),
            &format!("the reporter's mail: {detail}"),
        )
    }
}
