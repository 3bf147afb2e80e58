//! What the room hears without anyone asking: a reminder one business day
//! before a response deadline and a post when a report goes overdue (once
//! each), the daily digest's summary at `digest.at`, and operational alerts
//! (intake paused, the OAuth login to renew, outgoing mail failing for more
//! than 10 minutes), each once per episode. Everything is queued as posts
//! (`crate::store::posts`), so the sender's exactly-once holds for them too.

use jiff::{SignedDuration, Timestamp};

use super::CHANNEL;
use crate::config::Config;
use crate::report::ReportState;
use crate::store::{NewPost, PostKind, Store};

/// How long mail may wait before the room hears that the outbox is failing.
const OUTBOX_ALERT_SECS: i64 = 600;
/// A digest slot missed by more than this (the daemon was down) is not
/// summarised late.
const DIGEST_LATE_HOURS: i64 = 6;

/// Queues what is due now. Returns how many posts it queued.
pub fn tick(s: &mut Store, cfg: &Config, now: Timestamp) -> anyhow::Result<usize> {
    if cfg.matrix.is_none() {
        return Ok(0);
    }
    let mut queued = clocks(s, cfg, now)?;
    queued += digest(s, cfg, now)? as usize;
    queued += alerts(s, now)?;
    Ok(queued)
}

/// Reminders and overdue posts.
fn clocks(s: &mut Store, cfg: &Config, now: Timestamp) -> anyhow::Result<usize> {
    let cal = &cfg.policy.calendar;
    let mut queued = 0;
    for mut r in s.list_reports()? {
        if r.state.is_closed() || r.merged_into.is_some() || r.excluded_topic.is_some() {
            continue;
        }
        crate::policy::annotate(&mut r, cal, &cfg.policy.promises, now);
        let mut wanted: Vec<(PostKind, String, &str)> = Vec::new();
        if let (ReportState::New, None, Some(due)) = (r.state, r.response_met_at, r.response_due) {
            if due <= now {
                wanted.push((PostKind::Overdue, "overdue:response".into(), "response"));
            } else if cal.business_days_left(now, due) <= 1 {
                wanted.push((PostKind::Reminder, "reminder:response".into(), ""));
            }
        }
        if let Some(d) = &r.next_due
            && d.clock == "fix"
            && d.overdue
        {
            wanted.push((PostKind::Overdue, "overdue:fix".into(), "fix"));
        }
        if wanted.is_empty() {
            continue;
        }
        let Some(row) = s.report_row_id(&r.id)? else {
            continue;
        };
        for (kind, key, body) in wanted {
            let key = format!("{key}:{row}");
            queued += s.post(&NewPost {
                channel: CHANNEL,
                report_id: Some(row),
                kind,
                key: &key,
                body,
                thread_root: None,
                room: None,
            })? as usize;
        }
    }
    Ok(queued)
}

/// The digest's summary, once per slot.
fn digest(s: &mut Store, cfg: &Config, now: Timestamp) -> anyhow::Result<bool> {
    let slot = crate::digest::last_slot(cfg, now);
    if now.duration_since(slot) > SignedDuration::from_hours(DIGEST_LATE_HOURS) {
        return Ok(false);
    }
    let key = format!("digest:{}", crate::report::ts(slot));
    if s.post_queued(CHANNEL, &key)? {
        return Ok(false);
    }
    let body = summary(s, cfg, now)?;
    Ok(s.post(&NewPost {
        channel: CHANNEL,
        report_id: None,
        kind: PostKind::Digest,
        key: &key,
        body: &body,
        thread_root: None,
        room: None,
    })?)
}

/// Counts and tracking ids only: it may go to a room that is not encrypted.
pub fn summary(s: &Store, cfg: &Config, now: Timestamp) -> anyhow::Result<String> {
    let cal = &cfg.policy.calendar;
    let mut reports = s.list_reports()?;
    let day_ago = now - SignedDuration::from_hours(24);
    let (mut new, mut awaiting, mut open) = (0, 0, 0);
    let mut overdue = Vec::new();
    for r in &mut reports {
        crate::policy::annotate(r, cal, &cfg.policy.promises, now);
        if r.received_at >= day_ago && r.excluded_topic.is_none() {
            new += 1;
        }
        if r.state.is_closed() || r.excluded_topic.is_some() || r.merged_into.is_some() {
            continue;
        }
        open += 1;
        if r.response_business_days_left.is_some() {
            awaiting += 1;
        }
        if let Some(d) = r.next_due.as_ref().filter(|d| d.overdue && d.clock != "details") {
            overdue.push(format!("{} ({})", r.id, d.clock));
        }
    }
    let mut out = format!(
        "Daily summary, {}: {new} new report(s) in the last 24 hours; {open} open, {awaiting} awaiting a first response, {} overdue.",
        cal.human(now),
        overdue.len()
    );
    if !overdue.is_empty() {
        out.push_str(&format!("\nOverdue: {}", overdue.join(", ")));
    }
    Ok(out)
}

/// Operational alerts, once per episode.
fn alerts(s: &mut Store, now: Timestamp) -> anyhow::Result<usize> {
    let mut holding: Vec<(String, String)> = Vec::new();
    if let Some(d) = s.daemon_status()? {
        if d.imap_state == crate::status::OAUTH_PAUSED {
            holding.push((
                "oauth".into(),
                "Intake paused: the OAuth login must be renewed. Run `embargo oauth login` on the server; new mail waits on the mail server.".into(),
            ));
        } else if d.imap_state.starts_with("paused") {
            holding.push((
                "intake-paused".into(),
                format!(
                    "Intake paused ({}): {}. New mail waits on the mail server.",
                    d.imap_state,
                    crate::matrix::render::one_line(&d.last_error)
                ),
            ));
        }
    }
    let outbox = s.outbox_stats()?;
    let stuck = outbox
        .oldest_pending
        .as_deref()
        .and_then(|t| crate::status::age_secs(t, now))
        .is_some_and(|a| a > OUTBOX_ALERT_SECS);
    if stuck {
        holding.push((
            "outbox".into(),
            format!(
                "Outgoing mail has been failing for more than {} minutes: {} waiting. `embargo status` says why.",
                OUTBOX_ALERT_SECS / 60,
                outbox.pending
            ),
        ));
    }
    let mut queued = 0;
    for (key, body) in &holding {
        let post_key = format!("alert:{key}");
        queued += s.alert_open(
            key,
            &NewPost {
                channel: CHANNEL,
                report_id: None,
                kind: PostKind::Alert,
                key: &post_key,
                body,
                thread_root: None,
                room: None,
            },
        )? as usize;
    }
    let keys: Vec<String> = holding.into_iter().map(|(k, _)| k).collect();
    s.alerts_clear(&keys)?;
    Ok(queued)
}
