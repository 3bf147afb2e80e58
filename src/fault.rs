//! Whose fault it is when a message cannot be handled: the database's (it
//! cannot be written or read now: the message stays on the server, intake
//! pauses and retries) or the message's (it is recorded as failed, with the
//! reason, and intake moves on). Decided where the error arises, by type.

use std::fmt;

/// A failure while handling one message.
#[derive(Debug)]
pub enum Fault {
    /// The database is unavailable (`store::Error::is_unavailable`).
    Database(crate::store::Error),
    /// Anything else: a fault of the message or of its handling.
    Message(anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Fault>;

/// Fault injection for the tests, in debug builds only: with
/// `EMBARGO_FAULT_ABORT=TEXT` in the environment, taking in a message that
/// contains TEXT aborts the process, as a stack overflow or the kernel's
/// OOM killer would (no panic handler runs).
#[cfg(debug_assertions)]
pub fn abort_if_injected(raw: &[u8]) {
    if let Some(needle) = std::env::var_os("EMBARGO_FAULT_ABORT") {
        let needle = needle.as_encoded_bytes();
        if !needle.is_empty() && raw.windows(needle.len()).any(|w| w == needle) {
            std::process::abort();
        }
    }
}

/// Fault injection for the tests, in debug builds only: with
/// `EMBARGO_FAULT_ABORT_AT=POINT` in the environment, reaching `point`
/// (`cve-reserved`: CVE Services answered a reservation and embargo has
/// not written it yet; `ghsa-created`) aborts the process as a power cut
/// would.
pub fn abort_at(point: &str) {
    if cfg!(debug_assertions) && std::env::var("EMBARGO_FAULT_ABORT_AT").is_ok_and(|v| v == point) {
        std::process::abort();
    }
}

impl Fault {
    /// Adds what was being done to a message fault (a database fault
    /// stays as it is: its text is SQLite's).
    pub fn context(self, what: impl fmt::Display + Send + Sync + 'static) -> Fault {
        match self {
            Fault::Message(e) => Fault::Message(e.context(what)),
            db => db,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Database(e) => write!(f, "{e}"),
            Fault::Message(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for Fault {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Fault::Database(e) => Some(e),
            Fault::Message(e) => Some(e.as_ref()),
        }
    }
}

impl From<crate::store::Error> for Fault {
    fn from(e: crate::store::Error) -> Fault {
        if e.is_unavailable() {
            Fault::Database(e)
        } else {
            Fault::Message(e.into())
        }
    }
}

impl From<crate::reply::Error> for Fault {
    fn from(e: crate::reply::Error) -> Fault {
        Fault::Message(e.into())
    }
}

impl From<anyhow::Error> for Fault {
    fn from(e: anyhow::Error) -> Fault {
        Fault::Message(e)
    }
}
