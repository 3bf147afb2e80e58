//! `embargo cve ...`: a report's CVE id through CVE Services.

use std::process::ExitCode;

use anyhow::Context as _;

use super::CveCommand;
use crate::config::Config;
use crate::publish::cve::{self, Cx, Published, Reserved};
use crate::publish::cve_api::CveApi;
use crate::store::Access;

fn api(cfg: &Config) -> anyhow::Result<CveApi> {
    let c = cfg.cve.as_ref().context(
        "no [cve] table in the configuration: CVE Services needs api_url, org, user and api_key_file \
         (see `embargo man embargo.toml`)",
    )?;
    CveApi::new(c)
}

/// Prints what `--dry-run` would have sent.
fn print_requests(requests: &[String]) -> anyhow::Result<ExitCode> {
    for r in requests {
        outln!("{r}");
    }
    eprintln!("embargo: dry run: nothing was sent");
    Ok(ExitCode::SUCCESS)
}

fn json_line(v: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn dispatch(cfg: &Config, command: CveCommand, actor: &str) -> anyhow::Result<ExitCode> {
    let api = api(cfg)?;
    let open = || super::open_store(cfg, Access::ReadWrite);
    let cx = |store| Cx {
        store,
        cfg,
        api: &api,
        actor,
    };
    match command {
        CveCommand::Quota { json } => quota(&api, json),
        CveCommand::Reserve { id, dry_run, json } => reserve(&mut cx(&mut open()?), &id, dry_run, json),
        CveCommand::Publish {
            id,
            force,
            dry_run,
            json,
        } => publish(&mut cx(&mut open()?), &id, force.as_deref(), dry_run, json),
        CveCommand::Reject {
            id,
            reason,
            dry_run,
            json,
        } => reject(&mut cx(&mut open()?), &id, &reason, dry_run, json),
        CveCommand::Status { id, json } => status(&mut cx(&mut open()?), id.as_deref(), json),
    }
}

/// `cve quota`: CVE Services' answer; no database.
fn quota(api: &CveApi, json: bool) -> anyhow::Result<ExitCode> {
    let q = api.quota()?;
    if json {
        return json_line(&q);
    }
    outln!(
        "{}: {} of {} ids reserved, {} available",
        api.org,
        q["total_reserved"],
        q["id_quota"],
        q["available"]
    );
    Ok(ExitCode::SUCCESS)
}

fn reserve(cx: &mut Cx<'_>, id: &str, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    if dry_run {
        cx.api.api.dry_run();
    }
    let (cve_id, outcome) = match cve::reserve(cx, id)? {
        Reserved::DryRun(r) => return print_requests(&r),
        Reserved::Held(c) => (c, "held"),
        Reserved::New(c) => (c, "reserved"),
        Reserved::Found(c) => (c, "found"),
    };
    let r = super::stored::report(cx.store, id)?;
    if json {
        return json_line(&super::json::CveDone {
            report: &r.id,
            cve_id: &cve_id,
            state: "RESERVED",
            outcome,
        });
    }
    match outcome {
        "held" => outln!("{}: holds {cve_id} already", r.id),
        "found" => outln!(
            "{}: {cve_id}, reserved by an earlier request whose answer was lost, is now in the advisory",
            r.id
        ),
        _ => outln!(
            "{}: reserved {cve_id}; the advisory names it (cve = \"{cve_id}\")",
            r.id
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn publish(cx: &mut Cx<'_>, id: &str, force: Option<&str>, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    if dry_run {
        cx.api.api.dry_run();
    }
    let (cve_id, updated) = match cve::publish(cx, id, force)? {
        Published::DryRun(r) => return print_requests(&r),
        Published::Done { cve_id, updated } => (cve_id, updated),
    };
    let r = super::stored::report(cx.store, id)?;
    if json {
        return json_line(&super::json::CveDone {
            report: &r.id,
            cve_id: &cve_id,
            state: "PUBLISHED",
            outcome: if updated { "updated" } else { "published" },
        });
    }
    outln!(
        "{}: the record of {cve_id} is {} at CVE Services",
        r.id,
        if updated { "updated" } else { "published" }
    );
    Ok(ExitCode::SUCCESS)
}

fn reject(cx: &mut Cx<'_>, id: &str, reason: &str, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    if dry_run {
        cx.api.api.dry_run();
    }
    if let Some(r) = cve::reject(cx, id, reason)? {
        return print_requests(&r);
    }
    let rows = cx.store.cve_ids(None)?;
    let row = rows
        .iter()
        .filter(|c| c.state == "REJECTED")
        .find(|c| c.cve_id.eq_ignore_ascii_case(id) || c.tracking_id.eq_ignore_ascii_case(id));
    let (cve_id, report) = row
        .map(|c| (c.cve_id.as_str(), c.tracking_id.as_str()))
        .unwrap_or((id, id));
    if json {
        return json_line(&super::json::CveDone {
            report,
            cve_id,
            state: "REJECTED",
            outcome: "rejected",
        });
    }
    outln!("{report}: {cve_id} is rejected at CVE Services; the advisory no longer names it");
    Ok(ExitCode::SUCCESS)
}

fn status(cx: &mut Cx<'_>, id: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let rows = cve::refresh(cx, id)?;
    let waiting = cx.store.cve_wanted()?;
    if json {
        return json_line(&super::json::CveStatus {
            ids: rows.iter().map(super::json::CveId::from).collect(),
            waiting: waiting
                .iter()
                .map(|(r, attempts, err)| super::json::CveWaiting {
                    report: r,
                    attempts: *attempts,
                    last_error: err.as_deref(),
                })
                .collect(),
        });
    }
    let cal = &cx.cfg.policy.calendar;
    if rows.is_empty() && waiting.is_empty() {
        outln!("No CVE ids yet: `embargo cve reserve ID` reserves one for a report");
        return Ok(ExitCode::SUCCESS);
    }
    for c in &rows {
        let since = match c.state.as_str() {
            "PUBLISHED" => c.published_at.as_deref(),
            "REJECTED" => c.rejected_at.as_deref(),
            _ => c.reserved_at.as_deref(),
        };
        outln!(
            "{:<16}  {:<14}  {:<9}  since {}",
            c.cve_id,
            c.tracking_id,
            c.state,
            since.map(|t| cal.human_str(t)).unwrap_or_else(|| "?".to_owned())
        );
    }
    for (r, attempts, err) in &waiting {
        outln!(
            "{r}: waiting for an id (cve.reserve_on_triage), {attempts} failed tries{}",
            err.as_deref()
                .map(|e| format!("; last: {}", crate::text::printable(e)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
