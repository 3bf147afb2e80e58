//! Why a mail could not be composed: the error every composer returns
//! (automatic replies, the team's alerts and notices) and the store records
//! in the mail's place (`store::Compose`). None of these is the inbound
//! mail's fault alone: a template the operator broke, a recipient lettre
//! will not take, a key that cannot encrypt. It sits below both `reply`
//! and `store`, so the store can name it.
//!
//! Each message carries its cause's text, and no variant links the cause as
//! `source()`: `{:#}` through anyhow prints it once.

use std::path::PathBuf;

use crate::text::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read template {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    /// Checked at start against sample values, so this names the file.
    #[error("template {name} does not render: {error}")]
    Render { name: String, error: TemplateError },
    #[error("no reply template for topic {0}")]
    NoTopicTemplate(String),
    #[error("bad recipient {address}: {error}")]
    Recipient {
        address: String,
        error: lettre::address::AddressError,
    },
    #[error("{0}")]
    OpenPgp(crate::openpgp::Error),
    /// lettre would not build the message.
    #[error("building the mail: {0}")]
    Build(lettre::error::Error),
    /// Our own PGP/MIME part is malformed (a bug, not the mail's fault).
    #[error("PGP/MIME: {0}")]
    Mime(String),
    /// A template file that cannot be read or rendered.
    #[error("{0}")]
    Template(TemplateError),
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Error {
        Error::Template(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn render(name: impl Into<String>, error: impl Into<TemplateError>) -> Error {
        Error::Render {
            name: name.into(),
            error: error.into(),
        }
    }
}

impl From<crate::openpgp::Error> for Error {
    fn from(e: crate::openpgp::Error) -> Error {
        Error::OpenPgp(e)
    }
}

impl From<lettre::error::Error> for Error {
    fn from(e: lettre::error::Error) -> Error {
        Error::Build(e)
    }
}
