//! Keeping the team informed: the new-report alert and the daily digest.
//! Content is gathered here as plain data, rendered by minijinja templates
//! under `config/`, and sent as team mail (`mail`).

pub mod alert;
pub mod publish;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::Config;
use crate::policy::{self, Calendar, Promises};
use crate::report::ReportState;
use crate::store::{DownstreamNotice, FailedMail, ReportSummary, Store};

/// One report line of the digest.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub subject: String,
    pub reporter: String,
    pub state: String,
    pub received_at: String,
    pub response_due: String,
    pub fix_due: String,
    pub details_due: String,
    /// Why the row is where it is ("response overdue by 2 business days").
    pub note: String,
    /// For a new report: similar reports and advisories (suggestions).
    pub similar: Vec<crate::similar::Suggestion>,
    /// The report arrived encrypted: its subject stays out of a digest that
    /// is not encrypted.
    #[serde(skip)]
    pub encrypted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub generated_at: String,
    pub since: Option<String>,
    pub team: String,
    pub overdue: Vec<Row>,
    pub new_reports: Vec<Row>,
    pub awaiting: Vec<Row>,
    pub reporter_waiting: Vec<Row>,
    /// needs-info: the team asked and waits for the reporter (how long).
    pub waiting_for_reporter: Vec<Row>,
    /// needs-info past `[policy] needs_info_close_days` without an answer:
    /// proposed for closing (never closed by embargo).
    pub close_proposals: Vec<Row>,
    pub fix_soon: Vec<Row>,
    pub details_soon: Vec<Row>,
    /// Agreed disclosure dates within 14 days.
    pub disclosures: Vec<Row>,
    /// Credit wishes from unauthenticated mail, waiting for the team.
    pub credit_proposals: Vec<Row>,
    /// Embargoed notices of undisclosed reports: releases within 14 days
    /// and acknowledgements still pending.
    pub downstream: Vec<Row>,
    /// CVE ids reserved for disclosed reports and not yet published at
    /// CVE Services, and reports `[cve] reserve_on_triage` could not get an
    /// id for yet.
    pub cve: Vec<Row>,
    pub excluded_count: u64,
    /// The excluded reports themselves (newest first, at most 50), with the
    /// phrases that matched: check them for false positives.
    pub excluded: Vec<crate::store::ExcludedReport>,
    pub automatic_count: u64,
    /// Automatic replies held back by the hourly cap.
    pub held_count: u64,
    /// Acknowledgements held by the per-sender limit (combined later).
    pub acks_held_count: u64,
    pub outbox_failed: Vec<FailedMail>,
}

impl Digest {
    /// For a digest that goes out unencrypted: nothing that arrived
    /// encrypted (the decrypted subjects) stays in it.
    pub fn redact_encrypted(&mut self) {
        for rows in [
            &mut self.overdue,
            &mut self.new_reports,
            &mut self.awaiting,
            &mut self.reporter_waiting,
            &mut self.waiting_for_reporter,
            &mut self.close_proposals,
            &mut self.fix_soon,
            &mut self.details_soon,
            &mut self.disclosures,
            &mut self.credit_proposals,
            &mut self.downstream,
            &mut self.cve,
        ] {
            for r in rows.iter_mut() {
                if r.encrypted {
                    r.subject = "(encrypted report)".to_owned();
                }
                // The evidence quotes the reports' text.
                for s in &mut r.similar {
                    s.evidence.clear();
                }
            }
        }
        self.excluded = std::mem::take(&mut self.excluded)
            .into_iter()
            .map(crate::store::ExcludedReport::redacted)
            .collect();
    }

    /// Every time in it as people read them, in the policy's time zone.
    fn localize(&mut self, cal: &Calendar) {
        self.generated_at = cal.human_str(&self.generated_at);
        self.since = self.since.as_deref().map(|s| cal.human_str(s));
        for rows in [
            &mut self.overdue,
            &mut self.new_reports,
            &mut self.awaiting,
            &mut self.reporter_waiting,
            &mut self.waiting_for_reporter,
            &mut self.close_proposals,
            &mut self.fix_soon,
            &mut self.details_soon,
            &mut self.disclosures,
            &mut self.credit_proposals,
            &mut self.downstream,
            &mut self.cve,
        ] {
            for r in rows.iter_mut() {
                for t in [
                    &mut r.received_at,
                    &mut r.response_due,
                    &mut r.fix_due,
                    &mut r.details_due,
                ] {
                    if !t.is_empty() {
                        *t = cal.human_str(t);
                    }
                }
            }
        }
    }

    /// Nothing that needs anyone.
    pub fn is_empty(&self) -> bool {
        self.overdue.is_empty()
            && self.new_reports.is_empty()
            && self.awaiting.is_empty()
            && self.reporter_waiting.is_empty()
            && self.waiting_for_reporter.is_empty()
            && self.close_proposals.is_empty()
            && self.fix_soon.is_empty()
            && self.details_soon.is_empty()
            && self.disclosures.is_empty()
            && self.credit_proposals.is_empty()
            && self.downstream.is_empty()
            && self.cve.is_empty()
            && self.excluded_count == 0
            && self.automatic_count == 0
            && self.held_count == 0
            && self.outbox_failed.is_empty()
    }
}

fn row(r: &ReportSummary, note: String) -> Row {
    Row {
        id: r.id.clone(),
        subject: crate::text::bounded(&r.subject),
        reporter: r.reporter.clone(),
        state: r.state.to_string(),
        received_at: crate::report::ts(r.received_at),
        response_due: r.response_due.map(crate::report::ts).unwrap_or_default(),
        fix_due: r.fix_due.map(crate::report::ts).unwrap_or_default(),
        details_due: r.details_due.map(crate::report::ts).unwrap_or_default(),
        note,
        similar: Vec::new(),
        encrypted: r.encrypted,
    }
}

/// Gathers the digest as of `now`, covering what happened since `since`.
pub fn build(
    store: &Store,
    cal: &Calendar,
    promises: &Promises,
    team: &str,
    since: Option<Timestamp>,
    now: Timestamp,
) -> anyhow::Result<Digest> {
    let created: std::collections::HashMap<String, String> = store.created_at()?.into_iter().collect();
    let soon = cal.add_days(now, 14);
    let mut digest = Digest {
        generated_at: crate::store::ts(now),
        since: since.map(crate::store::ts),
        team: team.to_owned(),
        overdue: Vec::new(),
        new_reports: Vec::new(),
        awaiting: Vec::new(),
        reporter_waiting: Vec::new(),
        waiting_for_reporter: Vec::new(),
        close_proposals: Vec::new(),
        fix_soon: Vec::new(),
        details_soon: Vec::new(),
        disclosures: Vec::new(),
        credit_proposals: Vec::new(),
        downstream: Vec::new(),
        cve: Vec::new(),
        excluded_count: store.excluded_since(since)?,
        excluded: store.excluded_reports_since(since.unwrap_or(now - jiff::SignedDuration::from_hours(24)), 50)?,
        automatic_count: store.count_messages_since("automatic", since)?,
        held_count: 0,
        acks_held_count: store.acks_held()?,
        outbox_failed: store.failed_mail(20)?,
    };
    let notices = store.open_downstream_notices()?;
    let cves = store.cve_ids(None)?;
    let waiting_cve = store.cve_wanted()?;
    for mut r in store.list_reports()? {
        policy::annotate(&mut r, cal, promises, now);
        digest.cve_notes(&r, &cves, &waiting_cve);
        let mine: Vec<&DownstreamNotice> = notices.iter().filter(|(id, _)| *id == r.id).map(|(_, n)| n).collect();
        if let Some(note) = downstream_note(&mine, soon) {
            digest.downstream.push(row(&r, note));
        }
        if r.excluded_topic.is_some() && r.state == ReportState::Excluded {
            continue;
        }
        let is_new = created
            .get(&r.id)
            .and_then(|c| c.parse::<Timestamp>().ok())
            .is_some_and(|c| since.is_none_or(|s| c >= s));
        digest.file(&r, is_new, soon, now, cal);
        if let Some(since) = r.waiting_since {
            digest.waiting(&r, since, now, cal, promises.needs_info_close_days);
        }
    }
    digest.localize(cal);
    Ok(digest)
}

impl Digest {
    /// A disclosed report's reserved CVE id that is not published, and a
    /// report still waiting for one.
    fn cve_notes(
        &mut self,
        r: &ReportSummary,
        cves: &[crate::store::CveRow],
        waiting: &[(String, i64, Option<String>)],
    ) {
        if r.state == ReportState::Disclosed {
            for c in cves.iter().filter(|c| c.tracking_id == r.id && c.state == "RESERVED") {
                self.cve.push(row(
                    r,
                    format!(
                        "{} is reserved, not published: `embargo cve publish {}`",
                        c.cve_id, r.id
                    ),
                ));
            }
        }
        for (_, attempts, err) in waiting.iter().filter(|(id, n, _)| *id == r.id && *n > 0) {
            self.cve.push(row(
                r,
                format!(
                    "no CVE id yet ({attempts} failed tries; {}); `embargo cve status` shows the state",
                    crate::text::printable(err.as_deref().unwrap_or("no error recorded"))
                ),
            ));
        }
    }

    /// Adds the similar reports and matching advisories to each new report.
    pub fn suggest(
        &mut self,
        store: &Store,
        threshold: f64,
        known: &crate::similar::known::Known,
    ) -> anyhow::Result<()> {
        for r in &mut self.new_reports {
            r.similar = store.suggest_for(&r.id, threshold, known, 3)?;
        }
        Ok(())
    }

    /// A report the team asked more of: how long it has waited for the
    /// reporter; past `close_days`, proposed for closing.
    fn waiting(&mut self, r: &ReportSummary, since: Timestamp, now: Timestamp, cal: &Calendar, close_days: u32) {
        let days = policy::waited_days(now, since);
        let asked = cal.human_day(since);
        if days >= i64::from(close_days) {
            self.close_proposals.push(row(
                r,
                format!(
                    "no answer for {days} days (asked {asked}): close it? \
                     `embargo reports state {} invalid --note \"no answer\"`",
                    r.id
                ),
            ));
        } else {
            self.waiting_for_reporter.push(row(
                r,
                format!(
                    "waiting {} (asked {asked}); the fix clock is paused",
                    cal.ago(now, since)
                ),
            ));
        }
    }

    /// Files one report under every list it belongs to; an overdue report
    /// only under overdue (and new, credit proposals, disclosures).
    fn file(&mut self, r: &ReportSummary, is_new: bool, soon: Timestamp, now: Timestamp, cal: &Calendar) {
        let local = |t: &Option<Timestamp>| t.map(|t| cal.human(t)).unwrap_or_default();
        if is_new && r.state != ReportState::Duplicate {
            self.new_reports.push(row(r, format!("from {}", r.reporter)));
        }
        if let Some(p) = &r.credit_proposal {
            let what = p.describe();
            self.credit_proposals.push(row(
                r,
                format!(
                    "{what}, asked in unauthenticated mail: confirm with `embargo reports credit {} --accept`",
                    r.id
                ),
            ));
        }
        // Past its clocks, a report is listed still for its disclosure
        // (and, once fixed, for its details).
        if r.state.is_closed() && !matches!(r.state, ReportState::Fixed | ReportState::AcceptedRisk) {
            return;
        }
        if let Some(on) = r
            .disclose_on
            .as_deref()
            .and_then(|d| d.parse::<Timestamp>().ok())
            .filter(|on| *on <= soon)
        {
            self.disclosures
                .push(row(r, format!("disclosure agreed for {}", cal.human_day(on))));
        }
        let why = overdue(r, now, cal);
        if !why.is_empty() {
            self.overdue.push(row(r, why.join("; ")));
            return;
        }
        if let Some(left) = r.response_business_days_left {
            self.awaiting
                .push(row(r, format!("{left} business day(s) left for a first response")));
        }
        if r.reporter_waiting {
            self.reporter_waiting
                .push(row(r, "the reporter wrote after the team's last response".to_owned()));
        }
        if r.state.runs_fix_clock() && r.fix_due.is_some_and(|f| f <= soon) {
            self.fix_soon.push(row(r, format!("fix due {}", local(&r.fix_due))));
        }
        if r.state == ReportState::Fixed && r.details_due.is_some_and(|f| f <= soon) {
            self.details_soon.push(row(
                r,
                format!("details may be published from {}", local(&r.details_due)),
            ));
        }
    }
}

/// A report's embargoed notices, if they need the team: the release when
/// it is within 14 days, the recipients who have not acknowledged.
fn downstream_note(notices: &[&DownstreamNotice], soon: Timestamp) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(release) = notices
        .iter()
        .filter_map(|n| n.release_at.parse::<Timestamp>().ok())
        .filter(|t| *t <= soon)
        .min()
    {
        parts.push(format!("release {}", crate::report::utc(release)));
    }
    let pending: Vec<&str> = notices
        .iter()
        .filter(|n| n.acknowledged_at.is_none())
        .map(|n| n.name.as_str())
        .collect();
    if !pending.is_empty() {
        parts.push(format!("no acknowledgement yet from {}", pending.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Which of a report's clocks ran out: the first response (in business
/// days), the fix (until fixed), the details (once fixed).
fn overdue(r: &ReportSummary, now: Timestamp, cal: &Calendar) -> Vec<String> {
    let local = |t: &Option<Timestamp>| t.map(|t| cal.human(t)).unwrap_or_default();
    let mut why = Vec::new();
    if let Some(l) = r.response_business_days_left.filter(|l| *l < 0) {
        why.push(format!("first response overdue by {} business day(s)", -l));
    }
    if r.state.runs_fix_clock() && r.fix_due.is_some_and(|f| f < now) {
        why.push(format!("fix overdue since {}", local(&r.fix_due)));
    }
    if r.state == ReportState::Fixed && r.details_due.is_some_and(|f| f < now) {
        why.push(format!("details were due {}", local(&r.details_due)));
    }
    why
}

/// The digest as `digest --dry-run` shows it, as of `now`: what happened
/// since the last one sent, with similar reports and the held count; text
/// and HTML.
pub fn preview(store: &Store, cfg: &Config, now: Timestamp) -> anyhow::Result<(String, String)> {
    let since = store.digest_last_sent()?;
    let team = cfg.smtp.from.name.clone().unwrap_or_else(|| "Security Team".to_owned());
    let mut d = build(store, &cfg.policy.calendar, &cfg.policy.promises, &team, since, now)?;
    let known = crate::similar::known::Known::load(&cfg.triage.known_advisories, &cfg.triage.products).known;
    d.suggest(store, cfg.triage.similar_threshold, &known)?;
    d.held_count = store.outbox_held(now, cfg.reply.max_automatic_per_hour)?;
    render(cfg, &d)
}

/// The digest as text and HTML.
pub fn render(cfg: &Config, d: &Digest) -> anyhow::Result<(String, String)> {
    Ok((
        crate::text::render_file(&cfg.digest.text_template, d)?,
        crate::text::render_file(&cfg.digest.html_template, d)?,
    ))
}

/// Queues the digest to every `[team] notify` address (encrypted to the
/// members' keys when configured) and records it as sent. Returns whether
/// anything was queued.
pub fn queue(
    store: &mut Store,
    cfg: &Config,
    team: &crate::openpgp::TeamKeys,
    members: &[sequoia_openpgp::Cert],
    now: Timestamp,
    force: bool,
) -> anyhow::Result<bool> {
    let since = store.digest_last_sent()?;
    let team_name = cfg.smtp.from.name.clone().unwrap_or_else(|| "Security Team".to_owned());
    let mut digest = build(
        store,
        &cfg.policy.calendar,
        &cfg.policy.promises,
        &team_name,
        since,
        now,
    )?;
    let known = crate::similar::known::Known::load(&cfg.triage.known_advisories, &cfg.triage.products).known;
    digest.suggest(store, cfg.triage.similar_threshold, &known)?;
    digest.held_count = store.outbox_held(now, cfg.reply.max_automatic_per_hour)?;
    if !crate::teammail::encrypts(team, members) {
        digest.redact_encrypted();
    }
    if digest.is_empty() && !cfg.digest.send_empty && !force {
        store.digest_sent(now)?;
        tracing::info!("digest skipped: nothing to say");
        return Ok(false);
    }
    let (text, html) = render(cfg, &digest)?;
    let date = now.to_zoned(cfg.policy.calendar.tz.clone()).date();
    let subject = format!(
        "[{}] Daily digest {date}: {} overdue, {} new, {} awaiting a response",
        cfg.policy.tracking_prefix,
        digest.overdue.len(),
        digest.new_reports.len(),
        digest.awaiting.len()
    );
    let m = crate::teammail::TeamMail {
        kind: crate::store::MailKind::Digest,
        outer_subject: format!("[{}] Daily digest {date}", cfg.policy.tracking_prefix),
        subject,
        text,
        html: Some(html),
        attachments: Vec::new(),
        automatic: true,
    };
    let outs = cfg
        .team
        .notify
        .iter()
        .map(|to| crate::teammail::build(&m, &cfg.smtp.from, to, team, members))
        .collect::<crate::composing::Result<Vec<_>>>()?;
    store.enqueue_team_mail(None, &outs)?;
    store.digest_sent(now)?;
    tracing::info!(recipients = outs.len(), "digest queued");
    Ok(!outs.is_empty())
}

/// The most recent scheduled digest time at or before `now`.
pub fn last_slot(cfg: &Config, now: Timestamp) -> Timestamp {
    let tz = cfg.policy.calendar.tz.clone();
    let today = now.to_zoned(tz.clone()).date();
    let at = |d: jiff::civil::Date| {
        d.to_datetime(cfg.digest.at)
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .ok()
    };
    match at(today) {
        Some(t) if t <= now => t,
        _ => today.yesterday().ok().and_then(at).unwrap_or(now),
    }
}

/// The next scheduled digest time after `now`.
pub fn next_slot(cfg: &Config, now: Timestamp) -> Timestamp {
    let last = last_slot(cfg, now);
    cfg.policy
        .calendar
        .add_days(last, 1)
        .max(now + jiff::SignedDuration::from_secs(1))
}

#[cfg(test)]
mod tests;
