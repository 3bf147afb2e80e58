//! The team's messages to the reporter from the CLI.

use std::io::Read as _;
use std::path::Path;

use crate::config::Config;
use crate::conversation;
use crate::pipeline::Pipeline;
use crate::report::ReportState;
use crate::store::{MailKind, Store};

/// Queues `body` to the reporter of `id` and sends it now.
fn send(store: Store, cfg: &Config, id: &str, kind: MailKind, body: String, actor: &str) -> anyhow::Result<()> {
    let p = Pipeline::from_config(cfg)?;
    let mut store = store;
    let t = store.thread(id)?;
    let out = conversation::to_reporter(&p, &store, &t, kind, body)?;
    let encrypted = String::from_utf8_lossy(&out.raw).contains("multipart/encrypted");
    store.record_team_message(&t, &out, actor)?;
    drop(store);
    let retrying = super::send_now(cfg)?;
    outln!(
        "{id}: {kind} to {} ({}){}",
        t.reporter,
        if encrypted { "signed and encrypted" } else { "signed" },
        if retrying > 0 {
            "; queued, the daemon will retry"
        } else {
            ""
        }
    );
    Ok(())
}

/// The team took a report back from an excluded topic: the reporter gets
/// the normal acknowledgement now.
pub fn acknowledge(mut store: Store, cfg: &Config, id: &str) -> anyhow::Result<()> {
    let p = Pipeline::from_config(cfg)?;
    let t = store.thread(id)?;
    let out = conversation::acknowledgement(&p, &store, &t)?;
    store.enqueue_team_mail(Some(t.report_id), &[out])?;
    drop(store);
    let retrying = super::send_now(cfg)?;
    outln!(
        "{id}: acknowledgement to {}{}",
        t.reporter,
        if retrying > 0 {
            " queued; the daemon will retry"
        } else {
            " sent"
        }
    );
    Ok(())
}

pub fn reply(store: Store, cfg: &Config, id: &str, file: Option<&Path>, actor: &str) -> anyhow::Result<()> {
    let body = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    if body.trim().is_empty() {
        anyhow::bail!("the reply is empty");
    }
    send(store, cfg, id, MailKind::TeamReply, body, actor)
}

pub fn notice(store: Store, cfg: &Config, id: &str, template: &str, kind: MailKind, actor: &str) -> anyhow::Result<()> {
    notice_with(store, cfg, id, template, kind, actor, "")
}

/// A notice whose template also sees `reason` (accepted-risk).
pub fn notice_with(
    store: Store,
    cfg: &Config,
    id: &str,
    template: &str,
    kind: MailKind,
    actor: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let t = store.thread(id)?;
    let body = conversation::notice(cfg, &store, &t, template, reason)?;
    send(store, cfg, id, kind, body, actor)
}

/// `reports disclose-on ID DATE [--force] [--notify]`.
#[allow(clippy::too_many_arguments)]
pub fn disclose_on(
    mut store: Store,
    cfg: &Config,
    id: &str,
    date: &str,
    force: Option<&str>,
    notify: bool,
    actor: &str,
) -> anyhow::Result<()> {
    record_disclose_on(&mut store, cfg, id, date, force, actor)?;
    if notify {
        notice(store, cfg, id, "disclose-on.txt", MailKind::DiscloseOnNotice, actor)?;
    }
    Ok(())
}

/// `reports disclosed ID [--notify]`: the reporter, and those of the
/// reports merged into it, hear that it is public.
pub fn disclosed(mut store: Store, cfg: &Config, id: &str, notify: bool, actor: &str) -> anyhow::Result<()> {
    let step = store.set_state(id, ReportState::Disclosed, "", actor)?;
    outln!("{id}: {step}");
    if notify {
        notice(store, cfg, id, "disclosed.txt", MailKind::DisclosedNotice, actor)?;
        notify_merged(cfg, id, "disclosed.txt", MailKind::DisclosedNotice, actor)?;
    }
    Ok(())
}

/// `reports credit ID --name NAME [--url URL] | --no-credit`.
pub fn credit(
    store: &mut Store,
    id: &str,
    name: Option<&str>,
    url: Option<&str>,
    no_credit: bool,
    actor: &str,
) -> anyhow::Result<()> {
    if let Some(u) = url.filter(|u| crate::text::link(u).is_none()) {
        anyhow::bail!("--url {u:?} is not a link people can follow safely: use an https:, http: or mailto: address");
    }
    let credit = if no_credit {
        None
    } else {
        name.map(|n| (n, url.unwrap_or("")))
    };
    store.set_credit(id, credit, actor)?;
    outln!("{id}: credit recorded");
    Ok(())
}

fn record_disclose_on(
    store: &mut Store,
    cfg: &Config,
    id: &str,
    date: &str,
    force: Option<&str>,
    actor: &str,
) -> anyhow::Result<()> {
    let d: jiff::civil::Date = date
        .parse()
        .map_err(|_| anyhow::anyhow!("{date:?} is not a date like 2027-03-01"))?;
    let at = cfg.policy.calendar.start_of(d);
    let r = store
        .show_report(id)?
        .ok_or_else(|| crate::store::Error::NotFound(id.to_owned()))?;
    let received = r.summary.received_at;
    let limit = conversation::latest_disclosure(cfg, received, r.summary.complex);
    let note = match (at > limit, force) {
        (true, None) => anyhow::bail!(
            "{date} is beyond the policy's limit for {id} ({}: fix within {} days, details {} days later); --force REASON to record it anyway",
            cfg.policy.calendar.human(limit),
            if r.summary.complex {
                cfg.policy.promises.complex_fix_days
            } else {
                cfg.policy.promises.fix_days
            },
            cfg.policy.promises.details_delay_days
        ),
        (true, Some(reason)) => format!(
            "beyond the policy's limit ({}), forced: {reason}",
            cfg.policy.calendar.human(limit)
        ),
        (false, _) => String::new(),
    };
    store.set_disclose_on(id, at, &note, actor)?;
    outln!("{id}: disclosure date {}", cfg.policy.calendar.human_day(at));
    Ok(())
}

/// `reports state ID STATE [--note] [--notify]`.
pub fn set_state(
    mut store: Store,
    cfg: &Config,
    id: &str,
    state: &str,
    note: &str,
    notify: bool,
    actor: &str,
) -> anyhow::Result<()> {
    let to: ReportState = state.parse()?;
    if notify && !matches!(to, ReportState::AcceptedRisk | ReportState::NeedsInfo) {
        anyhow::bail!(
            "--notify goes with accepted-risk and needs-info (reports fixed, disclose-on and disclosed take \
             their own --notify)"
        );
    }
    if notify && to == ReportState::NeedsInfo && note.trim().is_empty() {
        anyhow::bail!("needs-info --notify sends your question to the reporter: give it with --note \"...\"");
    }
    if notify {
        // The mail is rendered before the state changes, so a broken
        // template changes nothing.
        let t = store.thread(id)?;
        let template = notice_template(to);
        conversation::notice(cfg, &store, &t, template, note)?;
    }
    let step = store.set_state(id, to, note, actor)?;
    outln!("{id}: {step}");
    if to == ReportState::Triaged {
        reserve_on_triage(&mut store, cfg, id)?;
    }
    if notify {
        let kind = if to == ReportState::NeedsInfo {
            MailKind::NeedsInfoQuestion
        } else {
            MailKind::AcceptedRiskNotice
        };
        notice_with(store, cfg, id, notice_template(to), kind, actor, note)?;
    } else if step.sends_acknowledgement() {
        // Taken back from an excluded topic (a false positive is cheap to
        // undo): the reporter gets the normal acknowledgement.
        acknowledge(store, cfg, id)?;
    }
    Ok(())
}

/// `[cve] reserve_on_triage`: the id now, when CVE Services answers (the
/// daemon tries again later when it does not; the state change stands).
fn reserve_on_triage(store: &mut Store, cfg: &Config, id: &str) -> anyhow::Result<()> {
    if !cfg.cve.as_ref().is_some_and(|c| c.reserve_on_triage) {
        return Ok(());
    }
    match crate::publish::cve::reserve_queued(store, cfg) {
        Ok(_) => {
            if let Some(c) = crate::publish::cve::held(store, id)? {
                outln!(
                    "{id}: reserved {} (cve.reserve_on_triage); the advisory names it",
                    c.cve_id
                );
            }
        }
        Err(e) => eprintln!("embargo: {id}: no CVE id yet ({e:#}); the daemon tries again"),
    }
    Ok(())
}

fn notice_template(to: ReportState) -> &'static str {
    if to == ReportState::NeedsInfo {
        "needs-info.txt"
    } else {
        "accepted-risk.txt"
    }
}

/// `reports merge ID --into OTHER [--notify]`: ID becomes a duplicate of
/// OTHER; with --notify its reporter hears that the issue is known (and
/// will hear when it is fixed).
pub fn merge(mut store: Store, cfg: &Config, id: &str, into: &str, notify: bool, actor: &str) -> anyhow::Result<()> {
    if notify {
        // Checked before anything changes.
        let t = store.thread(id)?;
        conversation::notice(cfg, &store, &t, "merged.txt", "")?;
    }
    store.merge(id, into, actor)?;
    outln!("{id}: merged into {into}");
    if notify {
        notice(store, cfg, id, "merged.txt", MailKind::MergedNotice, actor)?;
    }
    Ok(())
}

/// The reporters of the reports merged into `id` hear what its reporter
/// heard (`fixed.txt`, `disclosed.txt`).
pub fn notify_merged(cfg: &Config, id: &str, template: &str, kind: MailKind, actor: &str) -> anyhow::Result<()> {
    let store = super::open_store(cfg, crate::store::Access::ReadWrite)?;
    let merged = store.merged_into(id)?;
    drop(store);
    for dup in merged {
        let store = super::open_store(cfg, crate::store::Access::ReadWrite)?;
        notice(store, cfg, &dup, template, kind, actor)?;
    }
    Ok(())
}

/// `reports fixed ID [--date] [--notify]`: the details clock starts.
pub fn fixed(
    mut store: Store,
    cfg: &Config,
    id: &str,
    date: Option<&str>,
    notify: bool,
    actor: &str,
) -> anyhow::Result<()> {
    let at = match date {
        None => jiff::Timestamp::now(),
        Some(d) => {
            let date: jiff::civil::Date = d
                .parse()
                .map_err(|_| anyhow::anyhow!("--date {d:?} is not a date like 2026-12-01"))?;
            cfg.policy.calendar.start_of(date)
        }
    };
    store.set_fixed(id, at, actor)?;
    let cal = &cfg.policy.calendar;
    outln!(
        "{id}: fixed {}; technical details may be published from {}",
        cal.human(at),
        cal.human(cal.add_days(at, cfg.policy.promises.details_delay_days))
    );
    if notify {
        notice(store, cfg, id, "fixed.txt", MailKind::FixedNotice, actor)?;
        notify_merged(cfg, id, "fixed.txt", MailKind::FixedNotice, actor)?;
    }
    Ok(())
}
