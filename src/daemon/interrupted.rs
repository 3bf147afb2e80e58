//! Why an IMAP session (or one sync of it) ended early, and what the loop
//! does about it.

use crate::mailbox::{self};

/// Why an IMAP session (or one sync of it) ended early.
#[derive(Debug)]
pub(crate) enum Interrupted {
    /// The database cannot be written (or read) now: intake pauses and the
    /// mail stays on the server. With what that means for the mail.
    Database(crate::store::Error, String),
    /// The OAuth provider refused the refresh token: a person must run
    /// `embargo oauth login`; intake pauses, the mail stays on the server.
    LoginNeeded(crate::oauth::OAuthError),
    /// IMAP, TLS, anything else: reconnect with backoff.
    Other(anyhow::Error),
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interrupted::Database(e, what) if what.is_empty() => write!(f, "{e}"),
            Interrupted::Database(e, what) => write!(f, "{what}: {e}"),
            Interrupted::Other(e) => write!(f, "{e:#}"),
            Interrupted::LoginNeeded(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Interrupted {}

impl From<anyhow::Error> for Interrupted {
    fn from(e: anyhow::Error) -> Interrupted {
        Interrupted::Other(e)
    }
}

impl From<mailbox::ConnectError> for Interrupted {
    fn from(e: mailbox::ConnectError) -> Interrupted {
        match e {
            mailbox::ConnectError::OAuth(e) if e.needs_login() => Interrupted::LoginNeeded(e),
            other => Interrupted::Other(other.into()),
        }
    }
}

impl From<crate::store::Error> for Interrupted {
    fn from(e: crate::store::Error) -> Interrupted {
        crate::fault::Fault::from(e).into()
    }
}

impl From<crate::fault::Fault> for Interrupted {
    fn from(f: crate::fault::Fault) -> Interrupted {
        match f {
            crate::fault::Fault::Database(e) => Interrupted::Database(e, String::new()),
            crate::fault::Fault::Message(e) => Interrupted::Other(e),
        }
    }
}
