//! What the policy promises publicly: the hall of fame and security.txt.

use jiff::Timestamp;

use crate::config::Config;
use crate::openpgp::TeamKeys;
use crate::store::Credited;

/// The hall of fame as Markdown or HTML (templates `hall-of-fame.md` and
/// `hall-of-fame.html` beside the config file) or JSON.
pub fn hall_of_fame(cfg: &Config, people: &[Credited], format: &str) -> anyhow::Result<String> {
    // A page people click: only https, http and mailto links, whatever an
    // older template beside the config does with them.
    let linked: Vec<Credited> = people
        .iter()
        .cloned()
        .map(|mut p| {
            p.url = crate::text::link(&p.url).unwrap_or_default();
            p
        })
        .collect();
    let ctx = serde_json::json!({ "people": linked, "team": cfg.smtp.from.name.clone().unwrap_or_default() });
    let dir = cfg.file.parent().unwrap_or(std::path::Path::new("."));
    match format {
        "json" => Ok(serde_json::to_string_pretty(people)? + "\n"),
        "md" => Ok(crate::text::render_file(&dir.join("hall-of-fame.md"), &ctx)?),
        "html" => Ok(crate::text::render_file(&dir.join("hall-of-fame.html"), &ctx)?),
        other => anyhow::bail!("unknown format {other:?}: md, html or json"),
    }
}

/// Links each credited entry of a disclosed report to its advisory (the
/// `advisory.url` page, else its CVE record). An undisclosed report gets no
/// link: neither its advisory nor its CVE id is public yet; nor does an id
/// embargo reserved at CVE Services that is not published there yet (its
/// record page would say only RESERVED). An id assigned elsewhere (written
/// into the advisory by hand) is linked once the report is disclosed.
pub fn link_advisories(cfg: &Config, store: &crate::store::Store, people: &mut [Credited]) -> anyhow::Result<()> {
    for p in people.iter_mut().filter(|p| p.disclosed) {
        let tracked = store.cve_ids(Some(&p.tracking_id))?;
        let cve = store
            .advisory(&p.tracking_id)?
            .and_then(|a| toml::from_str::<crate::advisory::Advisory>(&a.document).ok())
            .and_then(|a| a.cve)
            .filter(|c| tracked.iter().all(|t| t.cve_id != *c || t.state == "PUBLISHED"));
        p.advisory = cfg
            .advisory
            .link(&p.tracking_id, cve.as_deref())
            .or_else(|| cve.as_ref().map(|c| format!("https://www.cve.org/CVERecord?id={c}")));
        p.cve = cve;
    }
    Ok(())
}

/// security.txt (RFC 9116) from the config. `Expires:` is 364 days ahead:
/// the RFC wants less than a year.
pub fn security_txt(cfg: &Config, team: &TeamKeys, now: Timestamp) -> String {
    let s = &cfg.security_txt;
    let mut out = format!("Contact: mailto:{}\n", cfg.smtp.from.email);
    let expires = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 364))
        .unwrap_or(now);
    out.push_str(&format!("Expires: {}\n", crate::store::ts(expires)));
    match (&s.encryption, team.primary_fingerprint()) {
        (Some(url), _) => out.push_str(&format!("Encryption: {url}\n")),
        (None, Some(fpr)) => out.push_str(&format!("Encryption: openpgp4fpr:{}\n", fpr.to_hex())),
        (None, None) => {}
    }
    for (field, value) in [
        ("Policy", &s.policy),
        ("Acknowledgments", &s.acknowledgments),
        ("Preferred-Languages", &s.preferred_languages),
        ("Canonical", &s.canonical),
    ] {
        if let Some(v) = value {
            out.push_str(&format!("{field}: {v}\n"));
        }
    }
    out
}
