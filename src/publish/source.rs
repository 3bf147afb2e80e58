//! A report's advisory as the CLI and the publishers read it from the
//! store: the report, the stored advisory, and the advisory checked
//! against the reporter's wish, exported as of now.

use anyhow::Context as _;

use crate::advisory::export::{self, Format, Input};
use crate::advisory::{Advisory, draft};
use crate::config::Config;
use crate::report::ReportSummary;
use crate::store::Store;

pub fn report(store: &Store, id: &str) -> anyhow::Result<ReportSummary> {
    let mut r = store
        .show_report(id)?
        .ok_or_else(|| crate::store::Error::NotFound(id.to_owned()))?
        .summary;
    r.id = r.id.to_uppercase();
    Ok(r)
}

/// The stored advisory, parsed (it was checked when saved; a later change
/// of the reporter's credit wish is checked again at export).
pub fn stored(store: &Store, id: &str) -> anyhow::Result<Option<(Advisory, String)>> {
    let Some(s) = store.advisory(id)? else {
        return Ok(None);
    };
    let a: Advisory = toml::from_str(&s.document).with_context(|| format!("the stored advisory of {id}"))?;
    Ok(Some((a, s.updated_at)))
}

/// The stored advisory, which must exist, checked again against the
/// reporter's credit wish (it may have changed since the advisory was
/// saved); with when it was saved.
pub fn checked(store: &Store, r: &ReportSummary) -> anyhow::Result<(Advisory, String)> {
    let (a, updated_at) = stored(store, &r.id)?
        .ok_or_else(|| anyhow::anyhow!("{}: no advisory yet; `embargo advisory edit {}` starts one", r.id, r.id))?;
    a.check(&draft::reporter_wish(r))
        .map_err(|e| anyhow::anyhow!("{}: the advisory needs a change first:\n  {}", r.id, e.0.join("\n  ")))?;
    Ok((a, updated_at))
}

/// How an export treats a report that is not disclosed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Refused before disclosure (the public formats).
    Final,
    /// Marked DRAFT in every format before disclosure.
    Draft,
    /// As if disclosed: the team published early with `--force REASON`.
    Forced,
}

/// The advisory checked and exported in one format, as of now.
pub fn render(store: &Store, cfg: &Config, r: &ReportSummary, format: Format, draft: bool) -> anyhow::Result<String> {
    let stage = if draft { Stage::Draft } else { Stage::Final };
    render_as(store, cfg, &cfg.advisory, r, format, stage)
}

/// The same with another `[advisory]` (the CNA's orgId from CVE Services)
/// and any stage.
pub fn render_as(
    store: &Store,
    cfg: &Config,
    advisory: &crate::config::AdvisoryConfig,
    r: &ReportSummary,
    format: Format,
    stage: Stage,
) -> anyhow::Result<String> {
    let (a, updated_at) = checked(store, r)?;
    let accepted_risk = store.show_report(&r.id)?.is_some_and(|d| {
        d.events.iter().any(|e| {
            e.is(crate::store::EventKind::State)
                && e.new.as_deref() == Some(crate::report::ReportState::AcceptedRisk.as_str())
        })
    });
    let mut r = r.clone();
    crate::policy::annotate(
        &mut r,
        &cfg.policy.calendar,
        &cfg.policy.promises,
        jiff::Timestamp::now(),
    );
    let input = Input {
        tracking_id: &r.id,
        report: &r,
        advisory: &a,
        updated_at: &updated_at,
        cfg: advisory,
        draft: stage == Stage::Draft,
        forced: stage == Stage::Forced,
        now: jiff::Timestamp::now(),
        accepted_risk,
    };
    Ok(export::export(format, &input)?)
}
