//! What can go wrong with the team's keys and with signing or encrypting.
//! (Reading inbound mail never fails this way: a message that cannot be
//! decrypted or verified is a `decrypt::Failure`, recorded with the mail.)

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A team key file that cannot be used; names the file and says why
    /// (unreadable, loose permissions, not a key, locked, no secret part).
    #[error("{}: {reason}", file.display())]
    Key { file: PathBuf, reason: String },
    /// None of the recipients' keys can encrypt (expired, revoked, none).
    #[error("no usable encryption key among the recipients")]
    NoRecipientKey,
    /// The OpenPGP library refused to sign or encrypt.
    #[error("{what}: {reason}")]
    Crypto { what: &'static str, reason: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn key(file: &Path, reason: impl std::fmt::Display) -> Error {
        Error::Key {
            file: file.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// Sequoia's errors are `anyhow::Error`; kept as text, with their chain.
    pub(crate) fn crypto(what: &'static str, e: anyhow::Error) -> Error {
        Error::Crypto {
            what,
            reason: format!("{e:#}"),
        }
    }
}
