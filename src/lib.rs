//! embargo runs an organisation's `security@` mailbox for coordinated
//! vulnerability disclosure.
//!
//! # Layout
//! The pipeline, one module per stage, walked by [`intake::intake`]:
//!
//! - [`mailbox`]: IMAP session, select, fetch, IDLE.
//! - [`message`]: parse raw mail with mail-parser.
//! - [`openpgp`]: decrypt and verify (the seam; plaintext for now).
//! - [`triage`]: automatic mail, threading (excluded topics later); decides, never writes.
//! - [`store`]: SQLite, migrations; the only module that speaks SQL.
//! - [`reply`]: templates and composing automatic replies.
//! - [`outbox`]: SMTP sending with retry.
//!
//! Beside them: [`policy`] (the promised numbers), [`config`], [`cli`],
//! [`daemon`] (owns the tasks), [`health`] (the figures of `embargo status`)
//! and [`metrics`] (the same for Prometheus), [`tls`], [`secrets`], [`logging`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod combine;
pub mod config;
pub mod conversation;
pub mod daemon;
pub mod digest;
pub mod health;
pub mod intake;
pub mod logging;
pub mod mailbox;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod openpgp;
pub mod outbox;
pub mod policy;
pub mod relay;
pub mod reply;
pub mod secrets;
pub mod stages;
pub mod store;
pub mod tls;
pub mod triage;
pub mod trust;
