//! How the service is doing, in figures: what `embargo status` prints and
//! the Prometheus endpoint ([`crate::metrics`]) exports. Computed from the
//! database, so any process can ask.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::Config;
use crate::report::ReportState;
use crate::store::Store;

/// How long a heartbeat may be old before the daemon counts as gone.
const STALE_SECS: i64 = 150;

#[derive(Debug, Serialize, Default)]
pub struct Status {
    pub daemon_running: bool,
    pub pid: Option<u32>,
    pub version: Option<String>,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub imap_state: String,
    pub last_fetch_at: Option<String>,
    pub last_error: String,
    pub outbox_pending: u64,
    pub outbox_oldest_pending: Option<String>,
    pub outbox_failed: u64,
    /// Outgoing mail delivered to the SMTP server, ever.
    pub outbox_sent: u64,
    /// Automatic mail due but held back by `reply.max_automatic_per_hour`.
    pub outbox_held: u64,
    /// Acknowledgements held by the per-sender limit, waiting to go out in a
    /// combined acknowledgement.
    pub acks_held: u64,
    pub reports_awaiting_response: u64,
    pub overdue_response: u64,
    pub overdue_fix: u64,
    pub overdue: u64,
    /// Reports per state (new, triaged, fixed, ...).
    pub reports_by_state: BTreeMap<String, u64>,
    /// What needs attention, in words.
    pub problems: Vec<String>,
    /// 0 OK, 1 warning, 2 critical (also the exit code of `status`).
    pub level: u8,
}

impl Status {
    /// No database yet: the daemon has never started (critical: nothing is
    /// watching the mailbox).
    pub fn never_started(why: String) -> Status {
        Status {
            imap_state: "never started".into(),
            problems: vec![why],
            level: 2,
            ..Status::default()
        }
    }
}

pub fn process_alive(pid: u32) -> bool {
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

pub fn age_secs(ts: &str, now: Timestamp) -> Option<i64> {
    ts.parse::<Timestamp>().ok().map(|t| now.as_second() - t.as_second())
}

/// What is wrong with the daemon itself, if anything. `alive`: its pid and
/// heartbeat age when its process exists. A live process whose heartbeat is
/// stale is not "not running": it has paused (the database cannot be
/// written, so it cannot write its heartbeat either; it logs that and stops
/// intake then) or it is stuck, and the operator needs to know which to
/// look for.
/// The IMAP state the daemon records while an OAuth login is needed.
pub const OAUTH_PAUSED: &str = "paused (OAuth login needed)";

fn daemon_problem(alive: Option<(u32, Option<i64>)>, imap_state: &str, last_error: &str) -> Option<String> {
    match alive {
        None => Some("the daemon is not running (no fresh heartbeat)".to_owned()),
        Some((pid, age)) if age.is_none_or(|a| a >= STALE_SECS) => Some(format!(
            "the daemon (pid {pid}) is running but has not written its heartbeat for {}: \
             it cannot write the database (disk full? locked?) and has paused intake, or it is stuck; see its log",
            age.map(|a| format!("{a} s")).unwrap_or_else(|| "ever".to_owned())
        )),
        Some(_) if imap_state == OAUTH_PAUSED => Some(
            "intake is paused: the OAuth provider refused the refresh token (consent revoked or expired); \
             run `embargo oauth login`; new mail waits on the server"
                .to_owned(),
        ),
        Some(_) if imap_state != "connected" && !last_error.is_empty() => {
            Some(format!("the mailbox is not connected ({imap_state}): {last_error}"))
        }
        Some(_) if imap_state != "connected" => Some(format!("the mailbox is not connected ({imap_state})")),
        Some(_) => None,
    }
}

/// The reports' clocks, counted: awaiting a first response, overdue for
/// one or for a fix, and how many are in each state.
#[derive(Default)]
struct Clocks {
    awaiting: u64,
    overdue_response: u64,
    overdue_fix: u64,
    by_state: BTreeMap<String, u64>,
}

impl Clocks {
    fn count(cfg: &Config, reports: &mut [crate::report::ReportSummary], now: Timestamp) -> Clocks {
        let mut c = Clocks::default();
        for r in reports {
            crate::policy::annotate(r, &cfg.policy.calendar, &cfg.policy.promises, now);
            *c.by_state.entry(r.state.to_string()).or_insert(0) += 1;
            if r.state == ReportState::New {
                c.awaiting += 1;
            }
            let past = |due: &Option<jiff::Timestamp>| due.is_some_and(|d| d < now);
            if r.response_business_days_left.is_some_and(|d| d < 0)
                || (r.response_met_at.is_none() && r.state == ReportState::New && past(&r.response_due))
            {
                c.overdue_response += 1;
            }
            if r.state.runs_fix_clock() && past(&r.fix_due) {
                c.overdue_fix += 1;
            }
        }
        c
    }
}

/// Everything `embargo status` reports, as of `now`.
pub fn gather(cfg: &Config, store: &Store, now: Timestamp) -> anyhow::Result<Status> {
    let d = store.daemon_status()?;
    let outbox = store.outbox_stats()?;
    let mut reports = store.list_reports()?;
    let clocks = Clocks::count(cfg, &mut reports, now);
    let (awaiting, overdue_response, overdue_fix, by_state) = (
        clocks.awaiting,
        clocks.overdue_response,
        clocks.overdue_fix,
        clocks.by_state,
    );
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
    let last_error = d.as_ref().map(|d| d.last_error.clone()).unwrap_or_default();
    if let Some(p) = daemon_problem(alive, &imap_state, &last_error) {
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
    let (outbox_problems, held) = outbox_problems(cfg, store, &outbox, now)?;
    for p in outbox_problems.into_iter().chain(matrix_problems(cfg, store, now)?) {
        warn(p);
    }
    Ok(Status {
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
        outbox_sent: outbox.sent,
        outbox_held: held,
        acks_held: store.acks_held()?,
        reports_awaiting_response: awaiting,
        overdue_response,
        overdue_fix,
        overdue: overdue_response + overdue_fix,
        reports_by_state: by_state,
        problems,
        level,
    })
}

/// The outbox's part of `status`: failed mail, mail held by the hourly cap,
/// mail waiting long; and how much the cap holds.
fn outbox_problems(
    cfg: &Config,
    store: &Store,
    outbox: &crate::store::OutboxStats,
    now: Timestamp,
) -> anyhow::Result<(Vec<String>, u64)> {
    let mut out = Vec::new();
    if outbox.failed > 0 {
        out.push(format!("{} outgoing mail(s) failed permanently", outbox.failed));
    }
    let held = store.outbox_held(now, cfg.reply.max_automatic_per_hour)?;
    if held > 0 {
        out.push(format!(
            "{held} automatic mail(s) held by the hourly cap (reply.max_automatic_per_hour = {}): \
             a flood of forged mail? They go out as the hour allows.",
            cfg.reply.max_automatic_per_hour
        ));
    }
    if outbox
        .oldest_pending
        .as_deref()
        .and_then(|t| age_secs(t, now))
        .is_some_and(|a| a > 3600)
    {
        out.push("outgoing mail has been waiting for more than an hour".to_owned());
    }
    Ok((out, held))
}

/// The Matrix room's part of `status`: no device yet, posts stuck.
fn matrix_problems(cfg: &Config, store: &Store, now: Timestamp) -> anyhow::Result<Vec<String>> {
    let Some(m) = &cfg.matrix else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if !m.state_dir.join("session.json").exists() {
        out.push(format!(
            "no Matrix device yet: run `embargo matrix login` (posts to {} wait until then)",
            m.room
        ));
    }
    let posts = store.post_stats(crate::store::MATRIX_CHANNEL)?;
    if posts
        .oldest_pending
        .as_deref()
        .and_then(|t| age_secs(t, now))
        .is_some_and(|a| a > 600)
    {
        out.push(format!(
            "{} post(s) to the Matrix room waiting for more than 10 minutes: {} (`embargo matrix status`)",
            posts.pending,
            posts.last_error.as_deref().unwrap_or("not tried yet")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_daemon_with_a_stale_heartbeat_is_not_called_stopped() {
        assert_eq!(daemon_problem(Some((7, Some(3))), "connected", ""), None);
        let p = daemon_problem(Some((7, Some(600))), "connected", "").unwrap();
        assert!(
            p.contains("pid 7") && p.contains("600 s") && p.contains("disk full"),
            "{p}"
        );
        assert!(daemon_problem(None, "connected", "").unwrap().contains("not running"));
        let p = daemon_problem(Some((7, Some(3))), "reconnecting", "").unwrap();
        assert!(p.contains("not connected (reconnecting)"), "{p}");
    }
}
