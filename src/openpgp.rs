//! OpenPGP: the seam where decryption and signature checks sit.
//!
//! Intake calls [`open`] between parsing and triage, so exclusion rules and
//! threading will see decrypted text. Until sequoia is wired in, every message
//! passes through unchanged and is recorded as not encrypted.

use crate::message::Inbound;

/// What the OpenPGP stage found out about a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    pub encrypted: bool,
}

/// Decrypts and verifies `msg` in place (currently: plaintext only).
pub fn open(msg: Inbound) -> (Inbound, Protection) {
    (msg, Protection::default())
}
