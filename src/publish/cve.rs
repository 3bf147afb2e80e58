//! The CVE id of a report, through CVE Services: reserve, publish the
//! record, reject, check. Every request and its result is an event on the
//! report's timeline; nothing is asked twice: a reservation is marked in
//! flight before it is sent, and one whose answer was lost (a timeout, a
//! 500 after the server acted, a crash before embargo's write) is found
//! among the account's reserved ids before another is asked for; a record
//! is looked up before it is created.

use anyhow::{Context as _, bail};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::cve_api::{CveApi, IdInfo, record_state};
use super::http::Error;
use super::source::{self, Stage};
use crate::advisory::export::Format;
use crate::advisory::{Advisory, draft};
use crate::config::Config;
use crate::report::{ReportState, ReportSummary};
use crate::store::{CveChange, CveRow, EventKind, Store};

/// The request in flight while an id is reserved.
pub const RESERVE: &str = "cve-reserve";

/// How long a creating request may be on its way (the HTTP timeout is 60 s):
/// within it, a second one for the same report is not sent.
pub const IN_FLIGHT: SignedDuration = SignedDuration::from_secs(120);

/// What a command works with.
pub struct Cx<'a> {
    pub store: &'a mut Store,
    pub cfg: &'a Config,
    pub api: &'a CveApi,
    pub actor: &'a str,
}

/// What came of `reserve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The report held this id already.
    Held(String),
    /// Reserved now.
    New(String),
    /// Found among the account's ids: reserved by an earlier request whose
    /// answer was lost.
    Found(String),
    /// `--dry-run`: the request, not sent.
    DryRun(Vec<String>),
}

/// The id a report holds (reserved or published).
pub fn held(store: &Store, tracking_id: &str) -> anyhow::Result<Option<CveRow>> {
    Ok(store
        .cve_ids(Some(tracking_id))?
        .into_iter()
        .find(|c| c.state != "REJECTED"))
}

/// Reserves one id of the report's year for it, and writes it into the
/// report's advisory (`cve = ...`; an advisory is started from the report
/// when there is none).
pub fn reserve(cx: &mut Cx<'_>, id: &str) -> anyhow::Result<Reserved> {
    let r = source::report(cx.store, id)?;
    if let Some(c) = held(cx.store, &r.id)? {
        return Ok(Reserved::Held(c.cve_id));
    }
    if let Some((a, _)) = source::stored(cx.store, &r.id)?
        && let Some(c) = a.cve
    {
        bail!(
            "{}: its advisory names {c} already (assigned elsewhere?), so none is reserved; to reserve one, remove \
             `cve = ...` with `embargo advisory edit {}`",
            r.id,
            r.id
        );
    }
    let year = r.received_at.to_zoned(jiff::tz::TimeZone::UTC).year();
    if cx.api.api.is_dry_run() {
        let _ = cx.api.reserve(year);
        return Ok(Reserved::DryRun(cx.api.api.take_rendered()));
    }
    if let Some(since) = cx.store.intent(&r.id, RESERVE)?
        && let Some(found) = lost_reservation(cx, since)?
    {
        record(
            cx,
            &r,
            &found,
            "found among the account's reserved ids after an earlier request's answer was lost",
        )?;
        return Ok(Reserved::Found(found.cve_id));
    }
    let since = match cx.store.claim_intent(&r.id, RESERVE, IN_FLIGHT)? {
        Ok(since) => since,
        Err(since) => bail!(
            "{}: a reservation for it is on its way since {} (another command or the daemon); nothing was \
             sent. Try again in a minute: it is then found or made",
            r.id,
            crate::report::ts(since)
        ),
    };
    let line = cx.api.reserve_request(year).line();
    match cx.api.reserve(year) {
        Ok(info) => {
            crate::fault::abort_at("cve-reserved");
            record(cx, &r, &info, &format!("{line}: reserved"))?;
            Ok(Reserved::New(info.cve_id))
        }
        Err(e) if e.in_doubt() => {
            // Checked before anything is repeated: the server may have
            // reserved one and lost the answer.
            if let Ok(Some(found)) = lost_reservation(cx, since) {
                record(
                    cx,
                    &r,
                    &found,
                    &format!("{line}: no answer ({e}); found among the account's ids"),
                )?;
                return Ok(Reserved::Found(found.cve_id));
            }
            let what = format!("{e}; no id was found reserved by it yet, so the next try checks again first");
            cx.store.publish_event(&r.id, EventKind::Cve, &what, cx.actor)?;
            bail!("{}: {what}", r.id)
        }
        Err(e) => {
            cx.store.end_intent(&r.id, RESERVE)?;
            cx.store
                .publish_event(&r.id, EventKind::Cve, &format!("{line}: {e}"), cx.actor)?;
            Err(e).with_context(|| format!("{}: no CVE id reserved", r.id))
        }
    }
}

/// An id this account reserved since `since` (less a minute for clocks
/// apart) that no report holds.
fn lost_reservation(cx: &Cx<'_>, since: Timestamp) -> anyhow::Result<Option<IdInfo>> {
    let ids = cx.api.reserved_since(since - SignedDuration::from_secs(60))?;
    for info in ids {
        if cx.store.cve_holder(&info.cve_id)?.is_none() {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// A reserved id into the store and the advisory, in one transaction.
fn record(cx: &mut Cx<'_>, r: &ReportSummary, info: &IdInfo, detail: &str) -> anyhow::Result<()> {
    let doc = match cx.store.advisory(&r.id)? {
        Some(s) => s.document,
        None => draft::from_report(r).to_toml(),
    };
    let doc = Advisory::set_field(&doc, "cve", Some(&info.cve_id)).map_err(anyhow::Error::msg)?;
    cx.store.save_cve(&CveChange {
        tracking_id: &r.id,
        cve_id: &info.cve_id,
        state: "RESERVED",
        at: info.reserved.as_deref(),
        document: Some(&doc),
        ends: Some(RESERVE),
        detail,
        actor: cx.actor,
    })?;
    cx.store.cve_wanted_done(&r.id)?;
    Ok(())
}

/// What came of `publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Created (false) or updated (true).
    Done {
        cve_id: String,
        updated: bool,
    },
    DryRun(Vec<String>),
}

/// Publishes the advisory's CNA container as the record of the report's
/// id: `POST` when there is none, `PUT` when there is. Refused before the
/// report is disclosed unless `force` gives the reason (recorded).
pub fn publish(cx: &mut Cx<'_>, id: &str, force: Option<&str>) -> anyhow::Result<Published> {
    let r = source::report(cx.store, id)?;
    let disclosed = r.state == ReportState::Disclosed;
    if !disclosed && force.is_none() {
        bail!(
            "{}: not disclosed yet ({}), and a CVE record is public: nothing was sent. `embargo reports disclosed {}` \
             first, or --force REASON to publish now (the reason is recorded)",
            r.id,
            r.state,
            r.id
        );
    }
    let (a, _) = source::checked(cx.store, &r)?;
    let held = held(cx.store, &r.id)?;
    let cve_id = target(cx.store, &r.id, held.as_ref(), a.cve.as_deref())?;
    let container = container(cx, &r, disclosed)?;
    let existing = match cx.api.api.is_dry_run() {
        true => held.as_ref().is_some_and(|h| h.state == "PUBLISHED"),
        false => match cx.api.record(&cve_id)? {
            Some(rec) if record_state(&rec).0 == "REJECTED" => {
                bail!("{}: {cve_id} is REJECTED at CVE Services; reserve another id", r.id)
            }
            found => found.is_some(),
        },
    };
    let req = cx.api.publish_request(&cve_id, container, existing);
    let line = req.line();
    if !send_or_find(cx, &r.id, &cve_id, &req, "PUBLISHED")? {
        return Ok(Published::DryRun(cx.api.api.take_rendered()));
    }
    let published_at = cx.api.record(&cve_id)?.and_then(|rec| record_state(&rec).1);
    let mut detail = format!("{line}: {}", if existing { "updated" } else { "published" });
    if let Some(reason) = force.filter(|_| !disclosed) {
        detail.push_str(&format!("; before disclosure, forced: {reason}"));
    }
    let doc = match a.cve.as_deref() == Some(cve_id.as_str()) {
        true => None,
        false => Some(advisory_with(cx.store, &r.id, Some(&cve_id))?),
    };
    cx.store.save_cve(&CveChange {
        tracking_id: &r.id,
        cve_id: &cve_id,
        state: "PUBLISHED",
        at: published_at.as_deref(),
        document: doc.as_deref(),
        ends: None,
        detail: &detail,
        actor: cx.actor,
    })?;
    Ok(Published::Done {
        cve_id,
        updated: existing,
    })
}

/// The id a record is published for: the one the report holds, else the
/// one its advisory names (assigned elsewhere), never another report's.
fn target(store: &Store, id: &str, held: Option<&CveRow>, named: Option<&str>) -> anyhow::Result<String> {
    let cve_id = match (held, named) {
        (Some(h), _) => h.cve_id.clone(),
        (None, Some(c)) => c.to_owned(),
        (None, None) => bail!(
            "{id}: no CVE id yet: `embargo cve reserve {id}` reserves one (or name one in the advisory: cve = \"...\")"
        ),
    };
    if let Some(holder) = store.cve_holder(&cve_id)?
        && holder != id
    {
        bail!("{id}: {cve_id} belongs to {holder}; fix `cve = ...` in the advisory");
    }
    Ok(cve_id)
}

/// The CNA container, with the CNA's orgId from CVE Services.
fn container(cx: &Cx<'_>, r: &ReportSummary, disclosed: bool) -> anyhow::Result<Value> {
    let org_id = match (&cx.cfg.advisory.cna_org_id, cx.api.api.is_dry_run()) {
        (Some(o), true) => o.clone(),
        (_, true) => format!("(the orgId of {} from GET /org/{})", cx.api.org, cx.api.org),
        _ => cx.api.org_id()?,
    };
    let advisory_cfg = crate::config::AdvisoryConfig {
        cna_org_id: Some(org_id),
        ..cx.cfg.advisory.clone()
    };
    let stage = if disclosed { Stage::Final } else { Stage::Forced };
    let text = source::render_as(cx.store, cx.cfg, &advisory_cfg, r, Format::Cve, stage)?;
    Ok(serde_json::from_str(&text)?)
}

/// Sends a request that takes the record to `state`; when the answer is
/// lost (a 5xx, no answer) the record is looked up before anything is
/// repeated. False: a dry run. A refusal is an event and the error.
fn send_or_find(
    cx: &mut Cx<'_>,
    id: &str,
    cve_id: &str,
    req: &super::http::Request,
    state: &str,
) -> anyhow::Result<bool> {
    match cx.api.api.send(req) {
        Ok(_) => Ok(true),
        Err(Error::DryRun) => Ok(false),
        Err(e) => {
            let there = e.in_doubt() && matches!(cx.api.record(cve_id), Ok(Some(rec)) if record_state(&rec).0 == state);
            if there {
                return Ok(true);
            }
            cx.store
                .publish_event(id, EventKind::Cve, &format!("{}: {e}", req.line()), cx.actor)?;
            Err(e).with_context(|| format!("{id}: {cve_id} is not {}", state.to_lowercase()))
        }
    }
}

/// The stored advisory with `cve` set or removed.
fn advisory_with(store: &Store, tracking_id: &str, cve: Option<&str>) -> anyhow::Result<String> {
    let doc = store.advisory(tracking_id)?.map(|s| s.document).unwrap_or_default();
    Advisory::set_field(&doc, "cve", cve).map_err(anyhow::Error::msg)
}

/// Rejects a reserved id (by its report's tracking id or the id itself):
/// a duplicate, or not a vulnerability after all. The advisory stops
/// naming it.
pub fn reject(cx: &mut Cx<'_>, id: &str, reason: &str) -> anyhow::Result<Option<Vec<String>>> {
    if reason.trim().is_empty() {
        bail!(
            "--reason: say why the id is rejected (it is public: \"a duplicate of CVE-...\", \"not a vulnerability\")"
        );
    }
    let (tracking_id, cve_id) = if crate::advisory::is_cve_id(id) {
        let holder = cx.store.cve_holder(id)?.with_context(|| {
            format!("{id} is not held by a report here (`embargo cve status` lists the ids embargo reserved)")
        })?;
        (holder, id.to_owned())
    } else {
        let r = source::report(cx.store, id)?;
        let c = held(cx.store, &r.id)?
            .with_context(|| format!("{}: holds no CVE id (`embargo cve status {}`)", r.id, r.id))?;
        (r.id, c.cve_id)
    };
    let row = cx
        .store
        .cve_ids(Some(&tracking_id))?
        .into_iter()
        .find(|c| c.cve_id == cve_id);
    if row.as_ref().is_some_and(|c| c.state == "PUBLISHED") {
        bail!(
            "{tracking_id}: {cve_id} is published; a published record is rejected through your CNA's tool \
             (cvelib's `cve reject`), not here"
        );
    }
    let org_id = if cx.api.api.is_dry_run() {
        format!("(the orgId of {} from GET /org/{})", cx.api.org, cx.api.org)
    } else {
        cx.api.org_id()?
    };
    let req = cx.api.reject_request(&cve_id, &org_id, reason.trim());
    let line = req.line();
    if !send_or_find(cx, &tracking_id, &cve_id, &req, "REJECTED")? {
        return Ok(Some(cx.api.api.take_rendered()));
    }
    let names_it = source::stored(cx.store, &tracking_id)?.is_some_and(|(a, _)| a.cve.as_deref() == Some(&cve_id));
    let doc = if names_it {
        Some(advisory_with(cx.store, &tracking_id, None)?)
    } else {
        None
    };
    cx.store.save_cve(&CveChange {
        tracking_id: &tracking_id,
        cve_id: &cve_id,
        state: "REJECTED",
        at: None,
        document: doc.as_deref(),
        ends: None,
        detail: &format!("{line}: rejected: {}", reason.trim()),
        actor: cx.actor,
    })?;
    Ok(None)
}

/// Asks CVE Services for the state of the ids of one report (or all) and
/// records what changed; a reservation whose answer was lost is found.
pub fn refresh(cx: &mut Cx<'_>, id: Option<&str>) -> anyhow::Result<Vec<CveRow>> {
    let tracking = id.map(|i| source::report(cx.store, i)).transpose()?.map(|r| r.id);
    for (t, since) in cx.store.intents(RESERVE)? {
        if tracking.as_ref().is_none_or(|x| *x == t)
            && let Some(found) = lost_reservation(cx, since)?
        {
            let r = source::report(cx.store, &t)?;
            record(cx, &r, &found, "found among the account's reserved ids by `cve status`")?;
        }
    }
    for row in cx.store.cve_ids(tracking.as_deref())? {
        let info = cx.api.id(&row.cve_id)?;
        if info.state != row.state {
            let at = match info.state.as_str() {
                "PUBLISHED" | "REJECTED" => cx.api.record(&row.cve_id)?.and_then(|rec| record_state(&rec).1),
                _ => None,
            };
            cx.store.save_cve(&CveChange {
                tracking_id: &row.tracking_id,
                cve_id: &row.cve_id,
                state: &info.state,
                at: at.as_deref(),
                document: None,
                ends: None,
                detail: "as CVE Services says",
                actor: cx.actor,
            })?;
        }
    }
    Ok(cx.store.cve_ids(tracking.as_deref())?)
}

/// How long after `attempts` failed tries the next one is.
fn backoff(attempts: i64) -> SignedDuration {
    SignedDuration::from_mins(match attempts {
        0 => 1,
        1 => 5,
        2 => 30,
        3 => 120,
        _ => 360,
    })
}

/// The reports the move to triaged queued for an id
/// (`[cve] reserve_on_triage`): each reserved, or tried again later. With
/// the option off the queue is emptied (a report triaged then never gets
/// an id later by surprise). Returns how many were reserved.
pub fn reserve_queued(store: &mut Store, cfg: &Config) -> anyhow::Result<usize> {
    let Some(c) = cfg.cve.as_ref().filter(|c| c.reserve_on_triage) else {
        store.cve_wanted_clear()?;
        return Ok(0);
    };
    let now = Timestamp::now();
    let due = store.cve_wanted_due(now)?;
    if due.is_empty() {
        return Ok(0);
    }
    let api = CveApi::new(c)?;
    let mut n = 0;
    for (id, attempts) in due {
        let state = source::report(store, &id)?.state;
        if matches!(
            state,
            ReportState::New
                | ReportState::Excluded
                | ReportState::Duplicate
                | ReportState::Invalid
                | ReportState::Withdrawn
        ) {
            store.cve_wanted_done(&id)?;
            continue;
        }
        let mut cx = Cx {
            store,
            cfg,
            api: &api,
            actor: "embargo",
        };
        match reserve(&mut cx, &id) {
            Ok(Reserved::New(c) | Reserved::Found(c)) => {
                tracing::info!(report = %id, cve = %c, "CVE id reserved (cve.reserve_on_triage)");
                n += 1;
            }
            Ok(_) => store.cve_wanted_done(&id)?,
            Err(e) => {
                let next = now + backoff(attempts);
                tracing::warn!(report = %id, next = %next, "no CVE id reserved: {e:#}");
                store.cve_wanted_retry(&id, &format!("{e:#}"), next)?;
            }
        }
    }
    Ok(n)
}
