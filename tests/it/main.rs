//! Integration tests against a real mail stack (Dovecot + Exim on loopback,
//! started per test by scripts/mailstack).

mod advisory;
mod answered;
mod attacks;
mod common;
mod config_errors;
mod conversation;
mod e2e;
mod faults;
mod gpg;
mod hostile;
mod lifecycle;
#[path = "../shared/mail.rs"]
mod mail;
mod matrix;
mod oauth;
mod openpgp;
mod operator;
mod publish;
mod resilience;
mod service;
mod similar_scale;
#[path = "../shared/stack.rs"]
mod stack;
mod team;
mod triage;
