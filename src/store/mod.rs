//! SQLite persistence: the only module that speaks SQL.
//!
//! WAL, so the CLI reads while the daemon writes; SQLite serialises the
//! daemon's two writers (intake and outbox, each with its own connection)
//! and the CLI's, with a busy timeout.
//!
//! `synchronous=NORMAL`: in WAL mode a commit is durable against a crash of
//! the process (SIGKILL, OOM, panic) the moment it returns; only an OS crash
//! or power loss can roll back the last transactions. Such a rollback loses
//! nothing (the IMAP position rolls back with the messages, and the mail is
//! still on the server) but can re-send an acknowledgement. FULL would fsync
//! every commit: 1,200-2,000 commits/s instead of 13,000-22,000 here, and a
//! window of milliseconds between an SMTP server's `250` and our "sent" mark,
//! in which a SIGKILL makes a second copy; with NORMAL that window is tens of
//! microseconds.

mod advisory;
mod attempt;
mod backup;
mod budget;
mod conversation;
mod daemon_status;
mod downstream;
mod error;
mod event;
mod handle;
mod held;
mod keys;
mod lifecycle;
mod mail_kind;
mod matrix;
mod migrations;
mod open;
mod outbox;
mod posts;
mod published;
mod record;
mod reports;
mod similar;
mod state;
mod team;
mod wishes;

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

pub use advisory::StoredAdvisory;
pub use conversation::Thread;
pub use daemon_status::DaemonStatus;
pub use downstream::{DownstreamNotice, NewNotice};
pub use error::{Error, Result};
pub(crate) use event::Event;
pub use event::EventKind;
pub use handle::StoreHandle;
pub use held::{HeldGroup, HeldItem, MAX_PER_COMBINED};
pub use mail_kind::{MailKind, UnknownMailKind};
pub use matrix::Pinned;
pub use migrations::LATEST as SCHEMA_VERSION;
pub use open::{Access, OpenError};
#[cfg(test)]
use open::{BUSY_TIMEOUT, busy_wait};
use open::{busy_handler, enable_wal, restrict_permissions};
pub use outbox::{HourlyCap, OutboxItem, OutboxStats};
pub use posts::{MATRIX_CHANNEL, NewPost, Post, PostKind, PostStats};
pub use published::{CveChange, CveRow, GhsaRow};
pub use record::CreditWish;
use record::advance;
pub use reports::{CreditProposal, EventRow, MergedReport, MessageRow, ReportDetail, ReportSummary};
pub use team::{Credited, ExcludedReport, FailedMail};

pub fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Where an inbound message came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// The inbound message as it is recorded. Borrows the raw message and its
/// text: a 25 MB message is not copied on its way into the database.
#[derive(Debug, Clone, Default)]
pub struct InboundRow<'a> {
    pub message_id: String,
    pub from_addr: String,
    pub subject: String,
    pub date: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub size: u64,
    pub raw: Option<&'a [u8]>,
    pub encrypted: bool,
    /// `none`, `good`, `bad` or `unknown-key`.
    pub signature: String,
    pub signer: String,
    /// How the sender was authenticated (`trust::Auth`).
    pub auth: crate::trust::Auth,
    /// Why decryption failed; empty when it did not.
    pub decryption: String,
    /// Reporter keys the message carried (already filtered by address).
    pub keys: Vec<NewKey>,
    /// The readable text (decrypted when it was encrypted). Confidential.
    pub body: &'a str,
    /// What was not stored of it (text cut, raw copy left on the server).
    pub cut: Option<String>,
    /// Bytes charged to the unauthenticated senders' hourly budget.
    pub charged: u64,
    /// The similar-report terms of its subject and text
    /// (`similar::terms`): indexed when it opens a report or adds the
    /// reporter's text to one.
    pub terms: Vec<crate::similar::Term>,
    /// What of the checklist its text lacks (`triage::checklist`).
    pub missing: Vec<&'static str>,
}

/// A reporter key to remember.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub address: String,
    pub fingerprint: String,
    pub cert: Vec<u8>,
    pub source: String,
    /// `pinned` (used for encryption) or `candidate` (kept, unused).
    pub status: &'static str,
    /// Pinned in place of the address's pinned key (which it vouched for).
    pub replaces: bool,
    /// More than first sight: the mail that brought it was authenticated by
    /// DMARC, or a vouched key vouched for it.
    pub vouched: bool,
}

/// A reporter's pinned key, and what it may speak for.
#[derive(Debug, Clone)]
pub struct PinnedKey {
    pub cert: Vec<u8>,
    pub vouched: bool,
    /// The report whose mail brought it.
    pub report_id: Option<i64>,
}

/// A composed outgoing mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: MailKind,
    pub recipient: String,
    /// Empty for the null reverse path (RFC 3834 §3.3).
    pub envelope_from: String,
    pub message_id: String,
    pub subject: String,
    pub from_addr: String,
    pub raw: Vec<u8>,
}

/// Builds the acknowledgement from the tracking id (None: no acknowledgement).
pub type Compose<'a> = Box<dyn FnOnce(&str) -> crate::composing::Result<Option<Outgoing>> + 'a>;

/// Builds team mail (alerts) from the tracking id.
pub type ComposeMany<'a> = Box<dyn FnOnce(&str) -> crate::composing::Result<Vec<Outgoing>> + 'a>;

/// A new report (see [`Disposition::NewReport`]).
pub struct NewReport<'a> {
    pub reporter: String,
    pub reporter_name: String,
    pub subject: String,
    pub compose: Compose<'a>,
    pub no_ack_reason: Option<String>,
    pub notes: Vec<String>,
    /// Set: the report is recorded as excluded under this topic.
    pub excluded_topic: Option<String>,
    /// The new-report alert to the team (none for excluded mail).
    pub alerts: ComposeMany<'a>,
    /// Past the per-sender limit: the acknowledgement to this address is
    /// held and combined with the others after this long.
    pub held_ack: Option<(String, jiff::SignedDuration)>,
    /// The chat channels that get a post about the report (`[matrix]`).
    pub channels: Vec<&'static str>,
}

/// Mail that joins an existing report (see [`Disposition::FollowUp`]).
pub struct FollowUp<'a> {
    pub report_id: i64,
    pub how: String,
    pub author: Author<'a>,
}

/// Who wrote a follow-up, and what their mail may set off.
pub enum Author<'a> {
    /// The reporter (or someone writing as them: `proven` says which).
    Reporter(FromReporter<'a>),
    /// A team member. `response`: it counts as the team's response for the
    /// clocks (proven, and it reached the reporter; mail to be relayed
    /// counts once relayed, not before).
    Team { response: bool },
    /// A downstream recipient: `proven_by` how their address was proven
    /// (it acknowledges their notice); `None`: recorded only.
    Downstream { proven_by: Option<&'static str> },
}

/// What the reporter's follow-up may set off.
pub struct FromReporter<'a> {
    /// The sender was authenticated (a signature by their key, DMARC): a
    /// credit wish is theirs, an answer to the team's question counts.
    pub proven: bool,
    pub credit: Option<CreditWish>,
    /// For a reply to an excluded report: reopens it and acknowledges.
    pub reopen: Option<Compose<'a>>,
    /// Past the per-sender limit, that acknowledgement is held for the
    /// combined one: to whom, after how long.
    pub reopen_held: Option<(String, jiff::SignedDuration)>,
    /// The team's alerts for the reporter's answer to a needs-info
    /// question (built only when the report waits for one).
    pub answered: Option<ComposeMany<'a>>,
}

/// What triage decided, as the store persists it.
pub enum Disposition<'a> {
    /// A new report; `compose` builds the acknowledgement once the tracking
    /// id is known (None: no acknowledgement, `no_ack_reason` says why).
    NewReport(NewReport<'a>),
    /// Joins an existing report.
    FollowUp(FollowUp<'a>),
    /// Automatic mail: recorded, never answered.
    Automatic { reason: String },
    /// Could not be handled: a tombstone with the reason.
    Failed { reason: String },
    /// Already recorded under the same Message-ID.
    Duplicate { of: String },
    /// Our own copy of something we sent (confirms an in-doubt send).
    OwnCopy,
}

/// The result of [`Store::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    NewReport {
        tracking_id: String,
        ack_queued: bool,
    },
    FollowUp {
        tracking_id: String,
    },
    Automatic,
    Failed,
    Duplicate,
    OwnCopy,
    /// This UID was already recorded (a re-fetch after a crash).
    AlreadyRecorded,
}

/// A remembered reporter key, as `keys list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReporterKey {
    pub address: String,
    pub fingerprint: String,
    /// `pinned` (encrypted to), `candidate` (waits for `keys accept`) or
    /// `replaced` (was pinned).
    pub status: String,
    pub source: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Pinned from DMARC-authenticated mail or accepted by the team; false:
    /// first sight only, it speaks for the report it came with.
    pub vouched: bool,
}

pub use crate::report::{ReportRef, ts};

/// Threading's lookups, answered from the database.
impl crate::triage::ThreadIndex for Store {
    type Error = Error;
    fn inbound_seen(&self, message_id: &str) -> Result<bool> {
        Store::inbound_seen(self, message_id)
    }
    fn by_message_ids(&self, ids: &[String]) -> Result<Option<ReportRef>> {
        self.report_by_message_ids(ids)
    }
    fn by_tracking_id(&self, tracking_id: &str) -> Result<Option<ReportRef>> {
        self.report_by_tracking_id(tracking_id)
    }
    fn is_our_outgoing(&self, message_id: &str) -> Result<bool> {
        self.outbox_has(message_id)
    }
    fn downstream_notified(&self, report: &ReportRef, address: &str) -> Result<bool> {
        Store::downstream_notified(self, report.id, address)
    }
    fn merged_report(&self, into: &ReportRef, reporter: &str) -> Result<Option<ReportRef>> {
        use rusqlite::OptionalExtension as _;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, tracking_id, reporter FROM reports
                 WHERE merged_into = ?1 AND reporter = ?2 COLLATE NOCASE ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![into.tracking_id, reporter], report_ref)
            .optional()?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    pub uidvalidity: u32,
    pub last_uid: u32,
    /// Mail that arrived before this is recorded without an acknowledgement.
    pub ack_after: Option<Timestamp>,
}

pub struct Store {
    conn: Connection,
}

/// The store behind a task-shared mutex; a poisoned lock is an error.
pub fn lock(store: &std::sync::Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>> {
    store.lock().map_err(|_| Error::Poisoned)
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<Store> {
        let open = |why: String| Error::Open {
            path: path.to_owned(),
            why,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open(format!("cannot create the database folder {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open(e.to_string()))?;
        Self::setup(&mut conn, path)?;
        restrict_permissions(path);
        Ok(Store { conn })
    }

    /// An in-memory database, for tests and for checking templates.
    pub fn open_in_memory() -> Result<Store> {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|e| Error::Open {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        Self::setup(&mut conn, path)?;
        Ok(Store { conn })
    }

    fn setup(conn: &mut Connection, path: &Path) -> Result<()> {
        let open = |why: String| Error::Open {
            path: path.to_owned(),
            why,
        };
        conn.busy_handler(Some(busy_handler)).map_err(|e| open(e.to_string()))?;
        // Intake runs a few dozen distinct statements per message; parsing
        // them anew each time was a third of its CPU (callgrind).
        conn.set_prepared_statement_cache_capacity(64);
        enable_wal(conn).map_err(|e| open(format!("{e:#}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| open(e.to_string()))?;
        // Savepoint journals (each message of an intake group has one) in
        // memory, not written to a temporary file page by page.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| open(e.to_string()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open(e.to_string()))?;
        migrations::migrate(conn).map_err(|f| match f {
            migrations::Failure::TooNew { found } => Error::TooNew {
                path: path.to_owned(),
                found,
                known: migrations::LATEST,
            },
            migrations::Failure::Step { version, error } => Error::Migration {
                path: path.to_owned(),
                version,
                error,
            },
        })
    }

    /// Frees what SQLite caches for this connection (its page cache); the
    /// daemon calls it when a burst of work is over.
    pub fn release_memory(&self) {
        let _ = self.conn.execute_batch("PRAGMA shrink_memory");
    }

    pub fn sync_state(&self, mailbox: &str) -> Result<Option<SyncState>> {
        Ok(self
            .conn
            .prepare_cached("SELECT uidvalidity, last_uid, ack_after FROM sync_state WHERE mailbox = ?1")?
            .query_row([mailbox], |r| {
                let ack_after: Option<String> = r.get(2)?;
                Ok(SyncState {
                    uidvalidity: r.get(0)?,
                    last_uid: r.get(1)?,
                    ack_after: ack_after.as_deref().and_then(parse_ts),
                })
            })
            .optional()?)
    }

    /// Sets the position explicitly: first start, or a UIDVALIDITY change.
    pub fn set_sync_state(&mut self, mailbox: &str, state: SyncState, why: &str) -> Result<()> {
        let tx = self.write()?;
        let now = ts(Timestamp::now());
        tx.prepare_cached(
            "INSERT INTO sync_state (mailbox, uidvalidity, last_uid, ack_after, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, last_uid = ?3, ack_after = ?4, updated_at = ?5",
        )?
        .execute(params![
            mailbox,
            state.uidvalidity,
            state.last_uid,
            state.ack_after.map(ts),
            now
        ])?;
        tx.prepare_cached(
            "INSERT INTO events (at, actor, kind, new_value, detail) VALUES (?1, 'embargo', 'sync-state', ?2, ?3)",
        )?
        .execute(params![
            now,
            format!("{mailbox} {}/{}", state.uidvalidity, state.last_uid),
            why
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Is a message with this Message-ID already recorded (inbound)?
    pub fn inbound_seen(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1 AND direction = 'in' LIMIT 1")?
            .query_row([message_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn report_by_tracking_id(&self, tracking_id: &str) -> Result<Option<ReportRef>> {
        Ok(self
            .conn
            .query_row(
                // A merged report's tag leads to the report it was merged into.
                "SELECT coalesce(t.id, r.id), coalesce(t.tracking_id, r.tracking_id), coalesce(t.reporter, r.reporter)
                 FROM reports r LEFT JOIN reports t ON t.tracking_id = r.merged_into
                 WHERE r.tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                report_ref,
            )
            .optional()?)
    }

    /// The report that any of these Message-IDs (in or out) belongs to.
    pub fn report_by_message_ids(&self, ids: &[String]) -> Result<Option<ReportRef>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, r.tracking_id, r.reporter FROM messages m JOIN reports r ON r.id = m.report_id
             WHERE m.message_id = ?1 ORDER BY m.id LIMIT 1",
        )?;
        for id in ids {
            if let Some(r) = stmt.query_row([id], report_ref).optional()? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Automatic mail (acknowledgements, out-of-scope and cannot-decrypt
    /// replies, relay explanations) queued to `recipient` (or another
    /// `+tag` of it) since `since`. Alerts, digests and the team's own
    /// replies do not count: the limit is against backscatter.
    pub fn replies_to_since(&self, recipient: &str, since: Timestamp) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM outbox WHERE recipient_key = ?1 AND created_at >= ?2 AND {}",
                outbox::auto_sql()
            ))?
            .query_row(params![crate::message::address_key(recipient), ts(since)], |r| r.get(0))?)
    }

    /// Moves the IMAP position past a UID that needs no message row.
    pub fn advance(&mut self, source: &Source) -> Result<()> {
        let tx = self.write()?;
        advance(&tx, source, Timestamp::now())?;
        tx.commit()?;
        Ok(())
    }

    /// A write transaction that takes the write lock at once (`BEGIN
    /// IMMEDIATE`): with two writers on WAL (intake and outbox), a deferred
    /// transaction that reads first cannot be upgraded once the other has
    /// committed (SQLITE_BUSY_SNAPSHOT) and fails at once instead of waiting.
    /// Inside [`Store::atomic`] it is a savepoint of the enclosing
    /// transaction instead, so everything commits together.
    pub(crate) fn write(&mut self) -> rusqlite::Result<Write<'_>> {
        if self.conn.is_autocommit() {
            Ok(Write::Tx(
                self.conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?,
            ))
        } else {
            Ok(Write::Savepoint(self.conn.savepoint()?))
        }
    }

    /// Runs `f` in one transaction: everything it writes (through any Store
    /// method) commits together, or nothing does (an error or a panic rolls
    /// back). Nested calls become savepoints: an inner error rolls back the
    /// inner writes only.
    pub fn atomic<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let outer = self.conn.is_autocommit();
        let (begin, commit, rollback) = if outer {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        } else {
            (
                "SAVEPOINT embargo_atomic",
                "RELEASE embargo_atomic",
                "ROLLBACK TO embargo_atomic; RELEASE embargo_atomic",
            )
        };
        self.conn.execute_batch(begin).map_err(Error::from)?;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        match result {
            Ok(Ok(v)) => {
                self.conn.execute_batch(commit).map_err(Error::from)?;
                Ok(v)
            }
            Ok(Err(e)) => {
                let _ = self.conn.execute_batch(rollback);
                Err(e)
            }
            Err(panic) => {
                let _ = self.conn.execute_batch(rollback);
                std::panic::resume_unwind(panic)
            }
        }
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A write: a transaction of its own, or a savepoint inside
/// [`Store::atomic`]. Dropped without `commit`, it rolls back.
pub(crate) enum Write<'a> {
    Tx(rusqlite::Transaction<'a>),
    Savepoint(rusqlite::Savepoint<'a>),
}

impl Write<'_> {
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            Write::Tx(t) => t.commit(),
            Write::Savepoint(s) => s.commit(),
        }
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Write::Tx(t) => t,
            Write::Savepoint(s) => s,
        }
    }
}

fn report_ref(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRef> {
    Ok(ReportRef {
        id: r.get(0)?,
        tracking_id: r.get(1)?,
        reporter: r.get(2)?,
    })
}

#[cfg(test)]
mod tests;
