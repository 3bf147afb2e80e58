//! The team's publishing verbs: digest, hall of fame, security.txt.

use std::process::ExitCode;

use jiff::Timestamp;
use sequoia_openpgp::Cert;
use sequoia_openpgp::parse::Parse as _;

use crate::config::Config;
use crate::digest;
use crate::openpgp::TeamKeys;

pub fn digest(cfg: &Config, dry_run: bool, html: bool, now: Option<&str>) -> anyhow::Result<ExitCode> {
    let now = match now {
        Some(t) => t
            .parse::<Timestamp>()
            .map_err(|_| anyhow::anyhow!("--now {t:?} is not an RFC 3339 time"))?,
        None => Timestamp::now(),
    };
    let access = if dry_run {
        crate::store::Access::ReadOnly
    } else {
        crate::store::Access::ReadWrite
    };
    let mut store = super::open_store(cfg, access)?;
    if dry_run {
        let (text, html_text) = digest::preview(&store, cfg, now)?;
        out!("{}", if html { html_text } else { text });
        return Ok(ExitCode::SUCCESS);
    }
    if cfg.team.notify.is_empty() {
        anyhow::bail!("[team] notify is empty: nobody to send the digest to");
    }
    let team = TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?;
    let members: Vec<Cert> = cfg
        .team
        .keys
        .iter()
        .map(|k| Cert::from_file(k).map(|c| c.strip_secret_key_material()))
        .collect::<Result<_, _>>()?;
    digest::queue(&mut store, cfg, &team, &members, now, true)?;
    drop(store);
    // Send now rather than wait for the daemon's outbox.
    let retrying = super::send_now(cfg)?;
    if retrying > 0 {
        eprintln!("embargo: {retrying} mail(s) could not be sent yet; the daemon's outbox will retry");
    }
    outln!("digest sent to {}", cfg.team.notify.join(", "));
    Ok(ExitCode::SUCCESS)
}

pub fn hall_of_fame(cfg: &Config, format: &str) -> anyhow::Result<ExitCode> {
    let store = super::open_store(cfg, crate::store::Access::ReadOnly)?;
    let mut people = store.hall_of_fame()?;
    digest::publish::link_advisories(cfg, &store, &mut people)?;
    out!("{}", digest::publish::hall_of_fame(cfg, &people, format)?);
    Ok(ExitCode::SUCCESS)
}

pub fn security_txt(cfg: &Config, sign: bool) -> anyhow::Result<ExitCode> {
    // Unsigned, the team key's fingerprint is still wanted: load the
    // public parts only when the secret cannot be read here.
    let team = if sign {
        TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?
    } else {
        TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref()).unwrap_or_else(|_| TeamKeys::none())
    };
    let text = digest::publish::security_txt(cfg, &team, Timestamp::now());
    out!(
        "{}",
        if sign {
            crate::openpgp::compose::clearsign(&text, &team)?
        } else {
            text
        }
    );
    Ok(ExitCode::SUCCESS)
}
