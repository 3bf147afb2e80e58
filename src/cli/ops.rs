//! Operations verbs: status, messages, backup, restore, man page, completions, oauth.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;
use jiff::Timestamp;

use super::Cli;
use crate::config::Config;
use crate::status::process_alive;
use crate::store::Store;

pub fn status(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    // As a monitoring check, `status` answers even before the daemon's
    // first start: critical, with the reason.
    let s = match crate::store::Store::open_existing(&cfg.store.path, crate::store::Access::ReadOnly) {
        Err(e @ crate::store::OpenError::Missing { .. }) => crate::status::Status::never_started(format!(
            "{e} (store.path in {}): the daemon has never started; `systemctl start embargo`",
            cfg.file.display()
        )),
        _ => {
            let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
            crate::status::gather(cfg, &store, Timestamp::now())?
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
    } else {
        let word = ["OK", "WARNING", "CRITICAL"][usize::from(s.level.min(2))];
        let cal = &cfg.policy.calendar;
        let local = |t: Option<&str>, none: &str| t.map(|t| cal.human_str(t)).unwrap_or_else(|| none.to_owned());
        writeln!(out, "embargo {word}")?;
        writeln!(
            out,
            "  daemon:     {}",
            if s.daemon_running {
                format!("running (pid {})", s.pid.unwrap_or(0))
            } else {
                "not running".to_owned()
            }
        )?;
        writeln!(
            out,
            "  mailbox:    {}; last fetch {}",
            s.imap_state,
            local(s.last_fetch_at.as_deref(), "never")
        )?;
        writeln!(
            out,
            "  outbox:     {} pending (oldest {}), {} held by the hourly cap, {} failed",
            s.outbox_pending,
            local(s.outbox_oldest_pending.as_deref(), "-"),
            s.outbox_held,
            s.outbox_failed
        )?;
        writeln!(
            out,
            "  reports:    {} awaiting a first response, {} overdue, {} acknowledgement(s) held for a combined reply",
            s.reports_awaiting_response, s.overdue, s.acks_held
        )?;
        for p in &s.problems {
            writeln!(out, "  ! {p}")?;
        }
    }
    Ok(ExitCode::from(s.level))
}

pub fn backup(cfg: &Config, to: &Path) -> anyhow::Result<ExitCode> {
    let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
    store.backup_to(to)?;
    outln!("backup written to {}", to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn restore(cfg: &Config, from: &Path) -> anyhow::Result<ExitCode> {
    if cfg.store.path.exists() {
        let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
        if let Some(d) = store.daemon_status()?
            && process_alive(d.pid)
            && d.imap_state != "stopped"
        {
            anyhow::bail!(
                "the daemon (pid {}) is running; stop it first (systemctl stop embargo)",
                d.pid
            );
        }
    }
    Store::restore_from(from, &cfg.store.path)?;
    outln!("{} restored from {}", cfg.store.path.display(), from.display());
    Ok(ExitCode::SUCCESS)
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "embargo", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `embargo messages`: recorded mail that is not part of a report.
pub(super) fn messages(cfg: &Config, json: bool, limit: u32) -> anyhow::Result<ExitCode> {
    let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
    let rows = store.unreported_messages(limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        let view: Vec<super::json::Message<'_>> = rows.iter().map(super::json::Message::from).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
    } else {
        for m in rows {
            let line = format!(
                "{}  {:<10} {:<30} {}  ({})",
                cfg.policy.calendar.human_str(&m.received_at),
                m.kind,
                crate::text::bounded(&m.from),
                crate::text::bounded(&m.subject),
                crate::text::bounded(&m.reason)
            );
            writeln!(out, "{}", super::terminal_safe(&line))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `embargo oauth login|status`.
pub fn oauth(cfg: &Config, command: super::OauthCommand) -> anyhow::Result<ExitCode> {
    let o = cfg.oauth.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "no [oauth2] table in {} (and no auth = \"xoauth2\")",
            cfg.file.display()
        )
    })?;
    match command {
        super::OauthCommand::Login => {
            let a = crate::oauth::device_login(o, &mut std::io::stdout())?;
            outln!(
                "Logged in. The refresh token is in {}; the access token is valid until {}{}.",
                o.refresh_token_file.display(),
                crate::report::ts(a.expires_at),
                if a.scope.is_empty() {
                    String::new()
                } else {
                    format!(" (scopes: {})", a.scope)
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        super::OauthCommand::Import => {
            let mut token = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut token)?;
            let a = crate::oauth::import(o, &token)?;
            outln!(
                "Stored in {}; it works: the access token is valid until {}.",
                o.refresh_token_file.display(),
                crate::report::ts(a.expires_at)
            );
            Ok(ExitCode::SUCCESS)
        }
        super::OauthCommand::Status { json } => {
            let stored = std::fs::metadata(&o.refresh_token_file)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| jiff::Timestamp::try_from(t).ok());
            let result = crate::oauth::TokenSource::new(o)?.refresh_now();
            let (ok, line) = match &result {
                Ok(a) => (
                    true,
                    format!(
                        "access token valid until {} (scopes: {})",
                        crate::report::ts(a.expires_at),
                        a.scope
                    ),
                ),
                Err(e) => (false, e.to_string()),
            };
            if json {
                let v = serde_json::json!({
                    "token_url": o.token_url,
                    "refresh_token_file": o.refresh_token_file,
                    "refresh_token_stored_at": stored.map(crate::report::ts),
                    "ok": ok,
                    "expires_at": result.as_ref().ok().map(|a| crate::report::ts(a.expires_at)),
                    "scope": result.as_ref().ok().map(|a| a.scope.clone()),
                    "error": result.as_ref().err().map(|e| e.to_string()),
                });
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                outln!("token endpoint: {}", o.token_url);
                outln!(
                    "refresh token:  {} ({})",
                    o.refresh_token_file.display(),
                    stored
                        .map(|t| format!("stored {}", crate::report::ts(t)))
                        .unwrap_or_else(|| "missing".to_owned())
                );
                outln!("{line}");
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
