//! Operations verbs: status, backup, restore, man page, completions.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;
use jiff::Timestamp;
use serde::Serialize;

use super::Cli;
use crate::config::Config;
use crate::store::Store;

/// How long a heartbeat may be old before the daemon counts as gone.
const STALE_SECS: i64 = 150;

#[derive(Debug, Serialize)]
struct Status {
    daemon_running: bool,
    pid: Option<u32>,
    version: Option<String>,
    started_at: Option<String>,
    heartbeat_at: Option<String>,
    imap_state: String,
    last_fetch_at: Option<String>,
    last_error: String,
    outbox_pending: u64,
    outbox_oldest_pending: Option<String>,
    outbox_failed: u64,
    reports_awaiting_response: u64,
    overdue_response: u64,
    overdue_fix: u64,
    overdue: u64,
    /// What needs attention, in words.
    problems: Vec<String>,
    /// 0 OK, 1 warning, 2 critical (also the exit code).
    level: u8,
}

fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie is dead for us.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(|rest| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn age_secs(ts: &str, now: Timestamp) -> Option<i64> {
    ts.parse::<Timestamp>().ok().map(|t| now.as_second() - t.as_second())
}

/// What is wrong with the daemon itself, if anything. `alive`: its pid and
/// heartbeat age when its process exists. A live process whose heartbeat is
/// stale is not "not running": it cannot write the database (it pauses
/// intake then) or it is stuck, and the operator needs to know which to
/// look for.
fn daemon_problem(alive: Option<(u32, Option<i64>)>, imap_state: &str) -> Option<String> {
    match alive {
        None => Some("the daemon is not running (no fresh heartbeat)".to_owned()),
        Some((pid, age)) if age.is_none_or(|a| a >= STALE_SECS) => Some(format!(
            "the daemon (pid {pid}) is running but has not written its heartbeat for {}: \
             it cannot write the database (disk full? locked?) and has paused intake, or it is stuck; see its log",
            age.map(|a| format!("{a} s")).unwrap_or_else(|| "ever".to_owned())
        )),
        Some(_) if imap_state != "connected" => Some(format!("the mailbox is not connected ({imap_state})")),
        Some(_) => None,
    }
}

pub fn status(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let store = Store::open(&cfg.store.path)?;
    let now = Timestamp::now();
    let d = store.daemon_status()?;
    let outbox = store.outbox_stats()?;
    let mut reports = store.list_reports()?;
    let (mut awaiting, mut overdue_response, mut overdue_fix) = (0, 0, 0);
    for r in &mut reports {
        crate::policy::annotate(r, &cfg.policy.calendar, &cfg.policy.promises, now);
        if r.state == "new" {
            awaiting += 1;
        }
        if r.response_business_days_left.is_some_and(|d| d < 0)
            || (r.response_met_at.is_none()
                && r.state == "new"
                && r.response_due
                    .as_deref()
                    .and_then(|d| age_secs(d, now))
                    .is_some_and(|a| a > 0))
        {
            overdue_response += 1;
        }
        let open = !crate::policy::is_closed(&r.state);
        if open
            && r.fix_due
                .as_deref()
                .and_then(|d| age_secs(d, now))
                .is_some_and(|a| a > 0)
        {
            overdue_fix += 1;
        }
    }
    let alive = d
        .as_ref()
        .filter(|d| process_alive(d.pid) && d.imap_state != "stopped")
        .map(|d| (d.pid, age_secs(&d.heartbeat_at, now)));
    let running = alive.is_some_and(|(_, age)| age.is_some_and(|a| a < STALE_SECS));
    let imap_state = d
        .as_ref()
        .map(|d| d.imap_state.clone())
        .unwrap_or_else(|| "never started".to_owned());
    let mut problems = Vec::new();
    let mut level = 0u8;
    if let Some(p) = daemon_problem(alive, &imap_state) {
        problems.push(p);
        level = 2;
    }
    let mut warn = |p: String| {
        problems.push(p);
        level = level.max(1);
    };
    if overdue_response + overdue_fix > 0 {
        warn(format!(
            "{overdue_response} report(s) overdue for a first response, {overdue_fix} overdue for a fix"
        ));
    }
    if outbox.failed > 0 {
        warn(format!("{} outgoing mail(s) failed permanently", outbox.failed));
    }
    if outbox
        .oldest_pending
        .as_deref()
        .and_then(|t| age_secs(t, now))
        .is_some_and(|a| a > 3600)
    {
        warn("outgoing mail has been waiting for more than an hour".to_owned());
    }
    let s = Status {
        daemon_running: running,
        pid: d.as_ref().map(|d| d.pid),
        version: d.as_ref().map(|d| d.version.clone()),
        started_at: d.as_ref().map(|d| d.started_at.clone()),
        heartbeat_at: d.as_ref().map(|d| d.heartbeat_at.clone()),
        imap_state,
        last_fetch_at: d.as_ref().and_then(|d| d.last_fetch_at.clone()),
        last_error: d.as_ref().map(|d| d.last_error.clone()).unwrap_or_default(),
        outbox_pending: outbox.pending,
        outbox_oldest_pending: outbox.oldest_pending.clone(),
        outbox_failed: outbox.failed,
        reports_awaiting_response: awaiting,
        overdue_response,
        overdue_fix,
        overdue: overdue_response + overdue_fix,
        problems,
        level,
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
    } else {
        let word = ["OK", "WARNING", "CRITICAL"][usize::from(s.level.min(2))];
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
            s.last_fetch_at.as_deref().unwrap_or("never")
        )?;
        writeln!(
            out,
            "  outbox:     {} pending (oldest {}), {} failed",
            s.outbox_pending,
            s.outbox_oldest_pending.as_deref().unwrap_or("-"),
            s.outbox_failed
        )?;
        writeln!(
            out,
            "  reports:    {} awaiting a first response, {} overdue",
            s.reports_awaiting_response, s.overdue
        )?;
        for p in &s.problems {
            writeln!(out, "  ! {p}")?;
        }
    }
    Ok(ExitCode::from(s.level))
}

pub fn backup(cfg: &Config, to: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(&cfg.store.path)?;
    store.backup_to(to)?;
    println!("backup written to {}", to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn restore(cfg: &Config, from: &Path) -> anyhow::Result<ExitCode> {
    if cfg.store.path.exists() {
        let store = Store::open(&cfg.store.path)?;
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
    println!("{} restored from {}", cfg.store.path.display(), from.display());
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    std::io::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "embargo", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_daemon_with_a_stale_heartbeat_is_not_called_stopped() {
        assert_eq!(daemon_problem(Some((7, Some(3))), "connected"), None);
        let p = daemon_problem(Some((7, Some(600))), "connected").unwrap();
        assert!(
            p.contains("pid 7") && p.contains("600 s") && p.contains("disk full"),
            "{p}"
        );
        assert!(daemon_problem(None, "connected").unwrap().contains("not running"));
        let p = daemon_problem(Some((7, Some(3))), "reconnecting").unwrap();
        assert!(p.contains("not connected (reconnecting)"), "{p}");
    }
}
