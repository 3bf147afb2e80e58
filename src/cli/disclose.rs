//! `embargo advisory notify-downstream` and `announce`.

use std::process::ExitCode;

use anyhow::Context as _;

use super::args::NotifyDownstreamArgs;
use crate::advisory::Advisory;
use crate::config::Config;
use crate::disclose::{self, Notice};
use crate::openpgp::TeamKeys;
use crate::report::ReportState;
use crate::store::{NewNotice, Store};

/// The report and its advisory, checked against the reporter's wish.
fn advisory(store: &Store, id: &str) -> anyhow::Result<(crate::report::ReportSummary, Advisory)> {
    let r = super::stored::report(store, id)?;
    let (advisory, _) = super::stored::checked(store, &r)?;
    Ok((r, advisory))
}

pub(super) fn notify_downstream(cfg: &Config, q: &NotifyDownstreamArgs, actor: &str) -> anyhow::Result<ExitCode> {
    let mut store = super::open_store(cfg, crate::store::Access::ReadWrite)?;
    if cfg.downstream.is_empty() {
        anyhow::bail!("no [[downstream]] recipients in {}", cfg.file.display());
    }
    let (r, adv) = advisory(&store, &q.id)?;
    if r.state == ReportState::Disclosed {
        anyhow::bail!("{} is disclosed already: nothing is under embargo", r.id);
    }
    let release_at = disclose::parse_release_at(&q.release_at).map_err(|e| anyhow::anyhow!("--release-at {e}"))?;
    let now = jiff::Timestamp::now();
    let forced = disclose::check_embargo(cfg, release_at, now, q.force.as_deref()).map_err(anyhow::Error::msg)?;
    let team = TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?;
    if team.signer().is_none() {
        anyhow::bail!("the notice is signed with the team key: [openpgp] keys has no signing key");
    }
    let certs = crate::pipeline::downstream_certs(cfg)?;
    let mut attachments = Vec::new();
    for f in &q.attach {
        let bytes = std::fs::read(f).with_context(|| format!("--attach {}", f.display()))?;
        attachments.push(disclose::attachment(&f.display().to_string(), &bytes));
    }
    let sending = Sending {
        cfg,
        team: &team,
        notice: Notice {
            tracking_id: &r.id,
            advisory: &adv,
            release_at,
            attachments: &attachments,
        },
        forced: &forced,
        actor,
    };
    let mut refused = Vec::new();
    let mut queued = 0;
    for d in &cfg.downstream {
        if !q.only.is_empty()
            && !q
                .only
                .iter()
                .any(|o| o == &d.name || o.eq_ignore_ascii_case(&d.address))
        {
            continue;
        }
        let cert = certs
            .iter()
            .find(|(addr, _)| *addr == d.address)
            .map(|(_, c)| c.clone());
        if cert.is_none() && !q.allow_cleartext {
            refused.push(format!("{} <{}>", d.name, d.address));
            continue;
        }
        send_one(&mut store, &sending, d, cert)?;
        queued += 1;
    }
    drop(store);
    if queued > 0 {
        let retrying = super::send_now(cfg)?;
        if retrying > 0 {
            eprintln!("embargo: {retrying} mail(s) wait for a retry; the daemon sends them");
        }
    }
    if refused.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "embargo: not sent to {} (no key in [[downstream]] key; --allow-cleartext sends it unencrypted, recorded)",
        refused.join(", ")
    );
    Ok(ExitCode::FAILURE)
}

pub(super) fn announce(cfg: &Config, id: &str, pre: bool, release_at: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
    let (r, adv) = advisory(&store, id)?;
    let team = TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?;
    let text = if pre {
        if r.state == ReportState::Disclosed {
            anyhow::bail!(
                "{} is disclosed already: `advisory announce {}` prints the advisory",
                r.id,
                r.id
            );
        }
        let at = match release_at {
            Some(s) => disclose::parse_release_at(s).map_err(|e| anyhow::anyhow!("--release-at {e}"))?,
            None => store
                .downstream_notices(&r.id)?
                .last()
                .and_then(|n| n.release_at.parse().ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: no release time yet: --release-at \"2027-01-12 15:00 UTC\"", r.id)
                })?,
        };
        disclose::pre_announcement(cfg, &r, &adv, at)?
    } else {
        if r.state != ReportState::Disclosed {
            anyhow::bail!(
                "{} is not disclosed yet: `advisory announce {} --pre` prints the pre-disclosure notice",
                r.id,
                r.id
            );
        }
        super::stored::render(&store, cfg, &r, crate::advisory::export::Format::Md, false)?
    };
    out!("{}", crate::openpgp::compose::clearsign(&text, &team)?);
    Ok(ExitCode::SUCCESS)
}

/// What every recipient's notice shares.
struct Sending<'a> {
    cfg: &'a Config,
    team: &'a TeamKeys,
    notice: Notice<'a>,
    /// Why the release may be beyond the limit ("" when it is not).
    forced: &'a str,
    actor: &'a str,
}

/// Queues the notice to one recipient (encrypted to `cert`, or in
/// cleartext when there is none and that was allowed).
fn send_one(
    store: &mut Store,
    x: &Sending<'_>,
    d: &crate::config::Downstream,
    cert: Option<sequoia_openpgp::Cert>,
) -> anyhow::Result<()> {
    let (cfg, team, notice, forced, actor) = (x.cfg, x.team, &x.notice, x.forced, x.actor);
    let mut exceptions: Vec<String> = Vec::new();
    if cert.is_none() {
        exceptions.push("no key: sent in cleartext (--allow-cleartext)".to_owned());
    }
    if !forced.is_empty() {
        exceptions.push(forced.to_owned());
    }
    let mail = disclose::notice_mail(cfg, notice, &d.name)?;
    let members: Vec<_> = cert.into_iter().collect();
    let out = crate::teammail::build(&mail, &cfg.smtp.from, &d.address, team, &members)?;
    let encrypted = !members.is_empty();
    store.record_downstream_notice(
        notice.tracking_id,
        &NewNotice {
            name: &d.name,
            release_at: notice.release_at,
            encrypted,
            exceptions: &exceptions.join("; "),
        },
        &out,
        actor,
    )?;
    outln!(
        "{}: notice to {} <{}> queued ({})",
        notice.tracking_id,
        d.name,
        d.address,
        if encrypted {
            "signed, encrypted"
        } else {
            "signed, CLEARTEXT"
        }
    );
    Ok(())
}
