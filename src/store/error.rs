//! The store's errors, by what the caller must do about them: a database
//! that cannot be written now (intake pauses and the mail stays on the
//! server) against everything else (the message or the request is at fault:
//! recorded, or reported to whoever asked).

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be written now: locked by another process, disk
    /// full, an I/O error, read-only, corrupt. Retry later; never record
    /// the message as failed for this.
    #[error("the database cannot be written: {0}")]
    Unavailable(rusqlite::Error),
    /// The same, from the file system underneath (incremental blob I/O).
    #[error("the database cannot be written: {0}")]
    UnavailableIo(std::io::Error),
    /// A thread panicked while it held the daemon's store: this process
    /// cannot use it safely any more (a restart can).
    #[error("the store lock is poisoned (a task panicked while writing); restart the daemon")]
    Poisoned,
    /// Anything else SQLite refused (a constraint, a value too big).
    #[error(transparent)]
    Sql(rusqlite::Error),
    /// No report with this tracking id.
    #[error("no report {0}")]
    NotFound(String),
    /// The database file cannot be opened or set up (its folder cannot be
    /// made, it is not a database, WAL cannot be switched on).
    #[error("cannot open the database {}: {why}", path.display())]
    Open { path: std::path::PathBuf, why: String },
    /// The database was written by a newer embargo.
    #[error(
        "the database {} has schema version {found}, newer than this embargo knows ({known}); \
         run a newer embargo or restore a backup",
        path.display()
    )]
    TooNew {
        path: std::path::PathBuf,
        found: usize,
        known: usize,
    },
    /// Bringing the database to this version failed (nothing of that step
    /// was written).
    #[error("database {}: migration {version} failed: {error}", path.display())]
    Migration {
        path: std::path::PathBuf,
        version: usize,
        error: rusqlite::Error,
    },
    /// A request that does not fit the stored data (an unknown state, a key
    /// that is not there, a move the policy does not allow).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The database, not the message, is the problem.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::UnavailableIo(_) | Error::Poisoned)
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Error {
        Error::Invalid(what.into())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        if unavailable(&e) {
            Error::Unavailable(e)
        } else {
            Error::Sql(e)
        }
    }
}

impl From<crate::report::UnknownState> for Error {
    fn from(e: crate::report::UnknownState) -> Error {
        Error::Invalid(e.to_string())
    }
}

/// SQLite's codes for "cannot write now", as opposed to "will not take this".
fn unavailable(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | SystemIoFailure
                | ReadOnly
                | CannotOpen
                | NotADatabase
                | DatabaseCorrupt
                | OutOfMemory
                | FileLockingProtocolFailed
                | PermissionDenied
                | OperationInterrupted
                | OperationAborted
        )
    )
}
