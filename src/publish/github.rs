//! The report's GitHub security advisory: created once as a draft (private
//! on GitHub) from the advisory's GitHub payload, updated after, published
//! after disclosure, and a CVE requested from GitHub. Before disclosure
//! only a draft leaves, with the details the details clock holds back left
//! out (as in the exports).

use anyhow::{Context as _, bail};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::github_api::{Ghsa, GithubApi};
use super::http::Error;
use super::source::{self, Stage};
use crate::advisory::Advisory;
use crate::advisory::export::Format;
use crate::config::Config;
use crate::report::ReportState;
use crate::store::{EventKind, GhsaRow, Store};

/// The request in flight while an advisory is created.
pub const CREATE: &str = "ghsa-create";

pub struct Cx<'a> {
    pub store: &'a mut Store,
    pub cfg: &'a Config,
    pub api: &'a GithubApi,
    pub actor: &'a str,
}

/// What `advisory publish --to github` asks for.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub request_cve: bool,
    pub publish: bool,
    pub force: Option<String>,
}

/// What came of it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done {
        ghsa: GhsaRow,
        /// What was done, in words, one per request.
        steps: Vec<String>,
    },
    DryRun(Vec<String>),
}

/// Creates or updates the report's advisory on GitHub, and publishes it or
/// asks for a CVE when wanted.
pub fn publish(cx: &mut Cx<'_>, id: &str, want: &Wanted) -> anyhow::Result<Outcome> {
    let r = source::report(cx.store, id)?;
    let disclosed = r.state == ReportState::Disclosed;
    if want.publish && !disclosed && want.force.is_none() {
        bail!(
            "{}: not disclosed yet ({}): --publish would make the advisory public, so nothing was sent. \
             `embargo reports disclosed {}` first, or --force REASON (recorded); without --publish only a \
             private draft is created",
            r.id,
            r.state,
            r.id
        );
    }
    let (a, _) = source::checked(cx.store, &r)?;
    let repo = repository(cx.cfg, &a)?;
    let stage = match (disclosed, want.publish) {
        (true, _) => Stage::Final,
        (false, true) => Stage::Forced,
        (false, false) => Stage::Draft,
    };
    let text = source::render_as(cx.store, cx.cfg, &cx.cfg.advisory, &r, Format::Ghsa, stage)?;
    let mut payload: Value = serde_json::from_str(&text)?;
    if payload["cve_id"].is_null() {
        // An update without a CVE id must not clear one GitHub assigned.
        payload.as_object_mut().map(|o| o.remove("cve_id"));
    }
    let known = cx.store.ghsa(&r.id)?.map(|g| g.ghsa_id).or(a.ghsa.clone());
    let dry = cx.api.api.is_dry_run();
    let mut steps = Vec::new();
    let mut ghsa = match known {
        Some(g) => update(cx, &r.id, &repo, &g, payload, want.publish, &mut steps)?,
        None => {
            let (g, step) = create(cx, &r.id, &repo, payload.clone())?;
            steps.push(step);
            match g {
                Some(g) => g,
                None => return Ok(Outcome::DryRun(cx.api.api.take_rendered())),
            }
        }
    };
    if want.publish && ghsa.state != "published" && !dry {
        let req = cx
            .api
            .update_request(&repo, &ghsa.ghsa_id, json!({"state": "published"}));
        let line = req.line();
        if let Err(e) = cx.api.api.send(&req) {
            return failed(cx, &r.id, &line, e);
        }
        steps.push(format!("{line}: published"));
        ghsa = cx.api.get(&repo, &ghsa.ghsa_id)?;
    }
    let mut requested_at = cx.store.ghsa(&r.id)?.and_then(|g| g.cve_requested_at);
    if want.request_cve {
        request_cve(cx, &r.id, &repo, &ghsa, &mut requested_at, &mut steps)?;
    }
    if dry {
        return Ok(Outcome::DryRun(cx.api.api.take_rendered()));
    }
    let row = save(cx, &r.id, &repo, &ghsa, requested_at, &steps.join("; "))?;
    Ok(Outcome::Done { ghsa: row, steps })
}

/// `PATCH`es the advisory GitHub has (and publishes it in the same
/// request when wanted); GitHub's view of it after.
fn update(
    cx: &mut Cx<'_>,
    id: &str,
    repo: &str,
    ghsa: &str,
    mut body: Value,
    publish: bool,
    steps: &mut Vec<String>,
) -> anyhow::Result<Ghsa> {
    if publish {
        body["state"] = json!("published");
    }
    let req = cx.api.update_request(repo, ghsa, body);
    let line = req.line();
    match cx.api.api.send(&req) {
        Ok(_) | Err(Error::DryRun) => {}
        Err(e) => return failed(cx, id, &line, e),
    }
    steps.push(format!(
        "{line}: updated{}",
        if publish { " and published" } else { "" }
    ));
    if cx.api.api.is_dry_run() {
        Ok(placeholder(ghsa))
    } else {
        Ok(cx.api.get(repo, ghsa)?)
    }
}

/// Asks GitHub for a CVE id, once: not when the advisory has one (from
/// the advisory, or assigned), nor when one was requested already.
fn request_cve(
    cx: &mut Cx<'_>,
    id: &str,
    repo: &str,
    ghsa: &Ghsa,
    requested_at: &mut Option<String>,
    steps: &mut Vec<String>,
) -> anyhow::Result<()> {
    if let Some(c) = &ghsa.cve_id {
        steps.push(format!("has {c} already: no CVE id requested"));
        return Ok(());
    }
    if requested_at.is_some() {
        steps.push("a CVE id was requested already: `embargo advisory sync` reads it back".to_owned());
        return Ok(());
    }
    let req = cx.api.cve_request(repo, &ghsa.ghsa_id);
    let line = req.line();
    match cx.api.api.send(&req) {
        Ok(_) | Err(Error::DryRun) => steps.push(format!("{line}: a CVE id is requested from GitHub")),
        // GitHub says 422 when one was requested already.
        Err(e) if e.status() == Some(422) => steps.push(format!("{line}: requested already ({e})")),
        Err(e) => return failed(cx, id, &line, e),
    }
    *requested_at = Some(crate::report::ts(Timestamp::now()));
    Ok(())
}

/// `POST` the draft, unless an earlier request whose answer was lost made
/// it already (found among the repository's drafts by its summary).
fn create(cx: &mut Cx<'_>, id: &str, repo: &str, payload: Value) -> anyhow::Result<(Option<Ghsa>, String)> {
    let summary = payload["summary"].as_str().unwrap_or_default().to_owned();
    if cx.api.api.is_dry_run() {
        let _ = cx.api.api.send(&cx.api.create_request(repo, payload));
        return Ok((None, String::new()));
    }
    if let Some(since) = cx.store.intent(id, CREATE)?
        && let Some(g) = lost_draft(cx, repo, &summary, since)?
    {
        return Ok((
            Some(g),
            "found among the repository's drafts after an earlier request's answer was lost".into(),
        ));
    }
    let since = match cx.store.claim_intent(id, CREATE, super::cve::IN_FLIGHT)? {
        Ok(since) => since,
        Err(since) => bail!(
            "{id}: the GitHub advisory is being created since {} (another command); nothing was sent. Try \
             again in a minute: it is then found or made",
            crate::report::ts(since)
        ),
    };
    let req = cx.api.create_request(repo, payload);
    let line = req.line();
    match cx.api.api.send(&req) {
        Ok(v) => {
            crate::fault::abort_at("ghsa-created");
            let g = Ghsa::of(&v).context("GitHub answered the creation without a ghsa_id")?;
            Ok((Some(g), format!("{line}: created a draft")))
        }
        Err(e) if e.in_doubt() => match lost_draft(cx, repo, &summary, since) {
            Ok(Some(g)) => Ok((Some(g), format!("{line}: no answer ({e}); found the draft it made"))),
            _ => {
                let what = format!("{e}; no draft was found made by it yet, so the next try checks again first");
                cx.store.publish_event(id, EventKind::Github, &what, cx.actor)?;
                bail!("{id}: {what}")
            }
        },
        Err(e) => {
            cx.store.end_intent(id, CREATE)?;
            failed(cx, id, &line, e)
        }
    }
}

fn lost_draft(cx: &Cx<'_>, repo: &str, summary: &str, since: Timestamp) -> anyhow::Result<Option<Ghsa>> {
    let after = since - SignedDuration::from_secs(60);
    Ok(cx.api.drafts(repo)?.into_iter().find(|g| {
        g.summary == summary
            && g.created_at
                .as_deref()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .is_some_and(|t| t >= after)
    }))
}

fn failed<T>(cx: &mut Cx<'_>, id: &str, line: &str, e: Error) -> anyhow::Result<T> {
    cx.store
        .publish_event(id, EventKind::Github, &format!("{line}: {e}"), cx.actor)?;
    Err(e).with_context(|| format!("{id}: the GitHub advisory is unchanged"))
}

fn placeholder(ghsa: &str) -> Ghsa {
    Ghsa {
        ghsa_id: ghsa.to_owned(),
        state: String::new(),
        cve_id: None,
        summary: String::new(),
        html_url: None,
        created_at: None,
    }
}

/// The repository: the advisory's own, else `[github] repository`.
fn repository(cfg: &Config, a: &Advisory) -> anyhow::Result<String> {
    a.github_repository
        .clone()
        .or_else(|| cfg.github.as_ref().and_then(|g| g.repository.clone()))
        .context(
            "no repository: set [github] repository = \"owner/name\", or github_repository = \"owner/name\" in the \
             advisory",
        )
}

/// GitHub's view into the store, and the ids into the advisory.
fn save(
    cx: &mut Cx<'_>,
    id: &str,
    repo: &str,
    g: &Ghsa,
    cve_requested_at: Option<String>,
    detail: &str,
) -> anyhow::Result<GhsaRow> {
    let row = GhsaRow {
        ghsa_id: g.ghsa_id.clone(),
        repository: repo.to_owned(),
        state: g.state.clone(),
        cve_id: g.cve_id.clone(),
        cve_requested_at,
        html_url: g.html_url.clone(),
        checked_at: crate::report::ts(Timestamp::now()),
    };
    let doc = cx.store.advisory(id)?.map(|s| s.document).unwrap_or_default();
    let parsed: Option<Advisory> = toml::from_str(&doc).ok();
    let mut new = doc.clone();
    if parsed.as_ref().is_some_and(|a| a.ghsa.as_deref() != Some(&g.ghsa_id)) {
        new = Advisory::set_field(&new, "ghsa", Some(&g.ghsa_id)).map_err(anyhow::Error::msg)?;
    }
    if let Some(c) = &g.cve_id
        && parsed.as_ref().is_some_and(|a| a.cve.is_none())
    {
        new = Advisory::set_field(&new, "cve", Some(c)).map_err(anyhow::Error::msg)?;
    }
    let document = (new != doc).then_some(new.as_str());
    cx.store.save_ghsa(id, &row, document, detail, cx.actor)?;
    Ok(row)
}

/// `advisory sync ID`: GitHub's state and the CVE id it assigned, read back.
pub fn sync(cx: &mut Cx<'_>, id: &str) -> anyhow::Result<GhsaRow> {
    let r = source::report(cx.store, id)?;
    let row = cx.store.ghsa(&r.id)?.with_context(|| {
        format!(
            "{}: no GitHub advisory yet: `embargo advisory publish {} --to github` creates the draft",
            r.id, r.id
        )
    })?;
    let g = cx.api.get(&row.repository, &row.ghsa_id)?;
    let detail = match (&row.cve_id, &g.cve_id) {
        (None, Some(c)) => format!("GitHub assigned {c}"),
        _ if row.state != g.state => format!("GitHub says {}", g.state),
        _ => String::new(),
    };
    if detail.is_empty() {
        return Ok(row);
    }
    save(cx, &r.id, &row.repository, &g, row.cve_requested_at.clone(), &detail)
}
