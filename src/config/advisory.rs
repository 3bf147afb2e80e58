//! `[advisory]`: who publishes the advisories and where they live, for the
//! exports (CSAF's publisher, CVE's vendor and CNA, links).

use super::validate::Validator;
use super::{ConfigError, SecurityTxtConfig, SmtpConfig};

/// The validated `[advisory]` table.
#[derive(Debug, Clone)]
pub struct AdvisoryConfig {
    /// The publishing team (CSAF `publisher.name`). Default: the name in
    /// `smtp.from`, else its address.
    pub publisher: String,
    /// A URL the publisher controls (CSAF `publisher.namespace`). Default:
    /// the origin of `security_txt.policy`, else https:// and the domain of
    /// `smtp.from`.
    pub namespace: String,
    /// The vendor of the affected products (CVE `affected[].vendor`).
    /// Default: the publisher.
    pub vendor: String,
    /// The CNA's orgId (a UUID) for CVE records; `export --format cve`
    /// needs it.
    pub cna_org_id: Option<String>,
    /// Where a report's advisory is published, with `{id}` for the tracking
    /// id (or `{cve}`): linked from exports, the hall of fame and the
    /// disclosure notice.
    pub url: Option<String>,
    /// `owner/name` for the `gh api` command printed with the GHSA payload.
    pub github_repo: Option<String>,
    /// The human advisory's templates (None: the built-in ones).
    pub md_template: Option<std::path::PathBuf>,
    pub html_template: Option<std::path::PathBuf>,
}

impl Validator<'_> {
    pub(super) fn advisory(
        &self,
        r: super::raw::RawAdvisory,
        smtp: &SmtpConfig,
        txt: &SecurityTxtConfig,
    ) -> Result<AdvisoryConfig, ConfigError> {
        let err = |key: &str, problem: String| self.err("advisory", key, problem);
        let domain = smtp.from.email.domain().to_owned();
        let publisher = r
            .publisher
            .or_else(|| smtp.from.name.clone())
            .unwrap_or_else(|| smtp.from.email.to_string());
        if publisher.trim().is_empty() {
            return Err(err("publisher", "must not be empty".into()));
        }
        let namespace = match r.namespace {
            Some(n) => n,
            None => txt
                .policy
                .as_deref()
                .and_then(origin)
                .unwrap_or_else(|| format!("https://{domain}")),
        };
        if !namespace.starts_with("https://") && !namespace.starts_with("http://") {
            return Err(err("namespace", format!("{namespace:?} is not an http(s) URL")));
        }
        if let Some(id) = &r.cna_org_id
            && !is_uuid_v4(id)
        {
            return Err(err(
                "cna_org_id",
                format!("{id:?} is not a UUID like 8254265b-2729-46b6-b9e3-3dfca2d5bfca (your CNA's orgId)"),
            ));
        }
        if let Some(u) = &r.url
            && (!u.starts_with("https://") && !u.starts_with("http://") || !(u.contains("{id}") || u.contains("{cve}")))
        {
            return Err(err(
                "url",
                format!("{u:?} must be an http(s) URL with {{id}} (the tracking id) or {{cve}} in it"),
            ));
        }
        if let Some(g) = &r.github_repo
            && g.split('/').filter(|p| !p.is_empty()).count() != 2
        {
            return Err(err("github_repo", format!("{g:?} is not owner/name")));
        }
        let template = |key: &str, v: Option<String>| v.map(|p| self.readable_file("advisory", key, &p)).transpose();
        Ok(AdvisoryConfig {
            vendor: r.vendor.unwrap_or_else(|| publisher.clone()),
            publisher,
            namespace,
            cna_org_id: r.cna_org_id.map(|s| s.to_ascii_lowercase()),
            url: r.url,
            github_repo: r.github_repo,
            md_template: template("md_template", r.md_template)?,
            html_template: template("html_template", r.html_template)?,
        })
    }
}

/// `https://example.org/security` → `https://example.org`.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty() && (scheme == "https" || scheme == "http")).then(|| format!("{scheme}://{host}"))
}

/// The CVE schema's UUID: version 4, RFC 4122 variant.
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && s.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && s.chars().filter(|c| *c != '-').all(|c| c.is_ascii_hexdigit())
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

impl AdvisoryConfig {
    /// The advisory's public URL, if configured.
    pub fn link(&self, tracking_id: &str, cve: Option<&str>) -> Option<String> {
        let u = self.url.as_deref()?;
        if u.contains("{cve}") && cve.is_none() {
            return None;
        }
        Some(u.replace("{id}", tracking_id).replace("{cve}", cve.unwrap_or_default()))
    }
}
