//! Which message a run of the daemon is about to take in. A message that
//! kills the process (a stack overflow or the service's memory limit: no
//! panic handler sees either) would otherwise be fetched and die again on
//! every restart, and no mail behind it would ever be taken in.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, ts};

impl Store {
    /// Records that run `run_id` starts taking in `uid` of `mailbox`, the
    /// first message of a group (one transaction). Returns how many earlier
    /// runs started on that same message and died before recording it: a
    /// run that records the group moves the position, so the next group
    /// starts elsewhere; a run that fails for another reason (the database
    /// unavailable) is the same run when it tries again and is not counted.
    pub fn start_intake(&mut self, mailbox: &str, uidvalidity: u32, uid: u32, run_id: &str) -> Result<u32> {
        let tx = self.write()?;
        let before: Option<(u32, u32, String, u32)> = tx
            .prepare_cached("SELECT uidvalidity, uid, run_id, deaths FROM intake_attempts WHERE mailbox = ?1")?
            .query_row([mailbox], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let deaths = match before {
            Some((v, u, run, deaths)) if v == uidvalidity && u == uid => {
                if run == run_id {
                    deaths
                } else {
                    deaths + 1
                }
            }
            _ => 0,
        };
        tx.prepare_cached(
            "INSERT INTO intake_attempts (mailbox, uidvalidity, uid, run_id, deaths, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, uid = ?3, run_id = ?4, deaths = ?5, started_at = ?6",
        )?
        .execute(params![mailbox, uidvalidity, uid, run_id, deaths, ts(Timestamp::now())])?;
        tx.commit()?;
        Ok(deaths)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn only_other_runs_that_stopped_on_the_same_message_count() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.start_intake("INBOX", 7, 10, "a").unwrap(), 0);
        // The same run again (it met a locked database and retries).
        assert_eq!(s.start_intake("INBOX", 7, 10, "a").unwrap(), 0);
        // Two later runs start on it: both earlier ones died there.
        assert_eq!(s.start_intake("INBOX", 7, 10, "b").unwrap(), 1);
        assert_eq!(s.start_intake("INBOX", 7, 10, "c").unwrap(), 2);
        // Progress: the next batch starts on another message.
        assert_eq!(s.start_intake("INBOX", 7, 11, "c").unwrap(), 0);
        // Another mailbox or UIDVALIDITY is another message.
        assert_eq!(s.start_intake("Sent", 7, 11, "d").unwrap(), 0);
        assert_eq!(s.start_intake("INBOX", 8, 11, "d").unwrap(), 0);
    }
}
