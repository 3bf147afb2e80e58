//! `[cve]` and `[github]`: where the team publishes, with whose
//! credentials. Both are optional; their secrets are read only by the
//! commands that talk to the service (`config::Needs`).

use std::path::PathBuf;

use super::ConfigError;
use super::raw::{RawCve, RawGithub};
use super::validate::Validator;

/// CVE Services' production API (the CVE Program's; `cvelib`'s "prod").
pub const CVE_PRODUCTION: &str = "https://cveawg.mitre.org/api";
/// CVE Services' test instance, for trying a CNA account out.
pub const CVE_TEST: &str = "https://cveawg-test.mitre.org/api";
/// GitHub's REST API.
pub const GITHUB_API: &str = "https://api.github.com";

/// The validated `[cve]` table: a CNA's account on CVE Services.
#[derive(Clone)]
pub struct CveConfig {
    /// Without a trailing slash.
    pub api_url: String,
    /// The CNA's short name (`CVE-API-ORG`).
    pub org: String,
    /// The account's user name (`CVE-API-USER`).
    pub user: String,
    /// The API key (`CVE-API-KEY`); empty when the command does not need it.
    pub api_key: super::Secret,
    /// Where the key was read from (named in errors).
    pub api_key_file: PathBuf,
    /// Reserve an id when a report moves to triaged.
    pub reserve_on_triage: bool,
    pub ca_file: Option<PathBuf>,
}

/// The validated `[github]` table.
#[derive(Clone)]
pub struct GithubConfig {
    pub api_url: String,
    /// A fine-grained token with "Repository security advisories: write";
    /// empty when the command does not need it.
    pub token: super::Secret,
    pub token_file: PathBuf,
    /// `owner/name`, unless an advisory names its own.
    pub repository: Option<String>,
    pub ca_file: Option<PathBuf>,
}

// The secrets never reach a Debug dump.
impl std::fmt::Debug for CveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CveConfig")
            .field("api_url", &self.api_url)
            .field("org", &self.org)
            .field("user", &self.user)
            .field("reserve_on_triage", &self.reserve_on_triage)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// Whether `s` is GitHub's `owner/name`.
pub fn is_repository(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((o, n)) if ok(o) && ok(n) && !n.contains('/'))
}

impl Validator<'_> {
    pub(super) fn cve(&self, r: RawCve) -> Result<CveConfig, ConfigError> {
        let err = |key: &str, p: String| self.err("cve", key, p);
        let api_url = r.api_url.unwrap_or_else(|| CVE_PRODUCTION.to_owned());
        self.https_endpoint("cve", "api_url", &api_url)?;
        let required = |key: &str, v: Option<String>, what: &str| {
            v.filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| err(key, format!("missing: {what}")))
        };
        let org = required("org", r.org, "your CNA's short name, as CVE Services knows it")?;
        let user = required("user", r.user, "the CVE Services user name (an email address)")?;
        let key_file = required(
            "api_key_file",
            r.api_key_file,
            "the file holding the user's API key (LoadCredential= under systemd)",
        )?;
        let api_key = super::Secret::new(self.secret("cve", "api_key_file", &key_file)?.trim());
        let ca_file = r.ca_file.map(|p| self.ca_file("cve", &p)).transpose()?;
        Ok(CveConfig {
            api_url: api_url.trim_end_matches('/').to_owned(),
            org,
            user,
            api_key,
            api_key_file: crate::secrets::resolve(&self.path(&key_file)),
            reserve_on_triage: r.reserve_on_triage.unwrap_or(false),
            ca_file,
        })
    }

    pub(super) fn github(&self, r: RawGithub) -> Result<GithubConfig, ConfigError> {
        let err = |key: &str, p: String| self.err("github", key, p);
        let api_url = r.api_url.unwrap_or_else(|| GITHUB_API.to_owned());
        self.https_endpoint("github", "api_url", &api_url)?;
        let token_file = r.token_file.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            err(
                "token_file",
                "missing: the file holding a fine-grained token with \"Repository security advisories: \
                     read and write\""
                    .to_owned(),
            )
        })?;
        let token = super::Secret::new(self.secret("github", "token_file", &token_file)?.trim());
        if let Some(repo) = &r.repository
            && !is_repository(repo)
        {
            return Err(err("repository", format!("{repo:?} is not owner/name")));
        }
        let ca_file = r.ca_file.map(|p| self.ca_file("github", &p)).transpose()?;
        Ok(GithubConfig {
            api_url: api_url.trim_end_matches('/').to_owned(),
            token,
            token_file: crate::secrets::resolve(&self.path(&token_file)),
            repository: r.repository,
            ca_file,
        })
    }
}
