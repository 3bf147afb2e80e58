//! The in-process tier: every decision embargo takes on a message (trust,
//! triage, threading, relays, keys, replies), taken by the real pipeline
//! over an in-memory store, with mail made by the real gpg. Seconds, not
//! minutes, and no servers, no root: `cargo test --test intake`.
//! What only the servers show stays in `tests/it`.

#[path = "../it/gpg.rs"]
mod gpg;
#[path = "../shared/mail.rs"]
mod mail;
mod world;

pub use mail::{header, report};
mod answered;
mod attacks;
mod decide;
mod decrypt;
mod keys;
mod lifecycle;
mod relay;
mod room;
mod threading;
