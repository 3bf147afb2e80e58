//! embargo runs an organisation's `security@` mailbox for coordinated
//! vulnerability disclosure.
//!
//! # Layout
//! In the order a message walks through them ([`daemon`] runs the loop,
//! [`intake::intake`] walks one message):
//!
//! - [`mailbox`]: IMAP session, select, fetch, IDLE (password or OAuth
//!   login; [`oauth`] keeps the tokens).
//! - [`message`]: parse raw mail with mail-parser.
//! - [`openpgp`]: decrypt, verify, the team's and reporters' keys (sequoia).
//! - [`trust`]: how the sender was proven (signature, the MTA's DMARC verdict).
//! - [`triage`]: automatic mail, excluded topics, threading, credit wishes,
//!   what a report is missing; decides, never writes. [`similar`]: a
//!   report's terms, how alike two reports are and why, published
//!   advisories (the index lives in [`store`]).
//! - [`relay`] and [`conversation`]: a team member's signed mail relayed to
//!   the reporter; the team's replies and notices.
//! - [`reply`]: templates and composing automatic replies (and
//!   [`held_acks`]: acknowledgements held past the per-sender limit, merged).
//! - [`store`]: SQLite, migrations; the only module that speaks SQL. One
//!   transaction per inbound message records its decision, its replies (in
//!   the outbox) and the IMAP position.
//! - [`outbox`]: SMTP sending, each mail marked before and after its send.
//!
//! After the mail, disclosure: [`advisory`] (the advisory kept with a
//! report, checked, scored, exported as OSV, CVE JSON 5, CSAF 2.0, GitHub's
//! payload, Markdown, HTML), [`disclose`] (the embargoed notice to
//! downstream packagers, the clearsigned announcements) and [`publish`]
//! (the CVE record through CVE Services, the GitHub security advisory).
//!
//! Below them: [`report`] (the domain: report states and what each
//! transition sets off, references, credit, timestamps), [`policy`]
//! (business days, the promised deadlines, times as people read them),
//! [`text`] (bounded quoting, `printable`, templates). Beside them:
//! [`pipeline`] (what every stage needs, built from the config), [`fault`]
//! (whose fault a failure is: the database's or the message's), [`config`],
//! [`cli`], [`digest`] (alerts, the daily digest, the hall of fame),
//! [`teammail`] (mail to the team and downstream, signed and encrypted),
//! [`status`] and [`metrics`], [`heartbeat`], [`systemd`], [`timing`],
//! [`tls`], [`probe`] (connection failures in plain words), [`secrets`],
//! [`files`] (writing where another user may write), [`logging`], [`memory`]
//! (returning memory after a burst).
//!
//! Errors are typed per layer (`store::Error`, `openpgp::Error`,
//! `composing::Error` (what every composer returns and the store records;
//! `reply::Error` is the same type), `outbox::Error`, `config::ConfigError`,
//! `probe::Failure`); `anyhow` is left at the edges: the CLI, the daemon's
//! task loops, IMAP sessions and the digest. `tests/modules.rs` keeps the
//! module graph (and the files within each module) free of cycles and its
//! files and functions short.
//! ARCHITECTURE.md is the map and its rules.
// No unsafe code but these calls: `memory::trim` and `memory::limit_arenas`
// (glibc's malloc_trim and mallopt) and `files::become_folder_owner`
// (setgroups, setgid, setuid).
#![deny(unsafe_code)]

pub mod advisory;
pub mod cli;
pub mod composing;
pub mod config;
pub mod conversation;
pub mod daemon;
pub mod digest;
pub mod disclose;
pub mod fault;
pub mod files;
pub mod heartbeat;
pub mod held_acks;
pub mod intake;
pub mod logging;
pub mod mailbox;
pub mod matrix;
pub mod memory;
pub mod message;
pub mod metrics;
pub mod oauth;
pub mod openpgp;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod publish;
pub mod relay;
pub mod reply;
pub mod report;
pub mod secrets;
pub mod similar;
pub mod status;
pub mod store;
pub mod systemd;
pub mod teammail;
pub mod text;
pub mod timing;
pub mod tls;
pub mod triage;
pub mod trust;
