//! The team's end-to-end encrypted Matrix room: posts about reports,
//! reminders, the digest's summary and operational alerts (queued in the
//! database like mail, sent exactly once), and a console the team acts
//! from, where a command counts only when it is proven to come from an
//! operator's trusted device.
//!
//! - [`client`]: the bot's device (`embargo matrix login`), restored by
//!   the daemon; [`http`]: `matrix status`, `matrix trust`, `check-config
//!   --connect`, over plain HTTP beside the daemon.
//! - [`render`]: what a post says, in an encrypted room and out of one.
//! - [`send`]: the sender of queued posts.
//! - [`watch`]: reminders, the digest's summary and operational alerts.
//! - [`console`]: the sync loop; [`trust`] decides whether a command
//!   counts; [`command`] parses and carries it out.

pub mod client;
pub mod command;
pub mod console;
pub mod http;
pub mod render;
pub mod send;
pub mod trust;
pub mod watch;

pub use client::{login, restore};
pub use http::{Status, status};

/// The posts table's name for this channel.
pub const CHANNEL: &str = crate::store::MATRIX_CHANNEL;
