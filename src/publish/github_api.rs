//! GitHub's REST API for repository security advisories (API version
//! 2022-11-28): create, get, update (`PATCH`), list, request a CVE.

use serde_json::Value;

use super::http::{Api, Error, Request};
use crate::config::GithubConfig;

/// A repository advisory as GitHub describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghsa {
    pub ghsa_id: String,
    /// draft, published, closed, withdrawn, triage.
    pub state: String,
    pub cve_id: Option<String>,
    pub summary: String,
    pub html_url: Option<String>,
    pub created_at: Option<String>,
}

impl Ghsa {
    pub fn of(v: &Value) -> Option<Ghsa> {
        let s = |x: &Value| x.as_str().map(str::to_owned);
        Some(Ghsa {
            ghsa_id: s(&v["ghsa_id"])?,
            state: s(&v["state"]).unwrap_or_default(),
            cve_id: s(&v["cve_id"]).filter(|c| !c.is_empty()),
            summary: s(&v["summary"]).unwrap_or_default(),
            html_url: s(&v["html_url"]),
            created_at: s(&v["created_at"]),
        })
    }
}

pub struct GithubApi {
    pub api: Api,
}

impl GithubApi {
    /// The client; the token is read from `[github] token_file` now when
    /// the command's config did not read it.
    pub fn new(cfg: &GithubConfig) -> anyhow::Result<GithubApi> {
        let (token, missing) = match cfg.token.is_empty() {
            false => (cfg.token.to_string(), None),
            true => match crate::secrets::read(&cfg.token_file) {
                Ok(t) => (t.trim().to_owned(), None),
                Err(p) => (String::new(), Some(format!("github.token_file: {p}"))),
            },
        };
        let file = cfg.token_file.display().to_string();
        let api = Api::new(
            "GitHub",
            "github",
            &cfg.api_url,
            cfg.ca_file.as_deref(),
            vec![
                ("Accept", "application/vnd.github+json".to_owned(), None),
                ("Authorization", format!("Bearer {token}"), Some(file.clone())),
                ("X-GitHub-Api-Version", "2022-11-28".to_owned(), None),
            ],
            format!(
                "the token in {file} must be valid and allowed \"Repository security advisories: read and write\" on \
                 the repository (a fine-grained token of an admin of it)"
            ),
        )?;
        let mut api = api;
        if let Some(why) = missing {
            api.secret_missing(why);
        }
        Ok(GithubApi { api })
    }

    fn base(repo: &str) -> String {
        format!("/repos/{repo}/security-advisories")
    }

    pub fn create_request(&self, repo: &str, payload: Value) -> Request {
        Request::with(
            "POST",
            Self::base(repo),
            format!("the repository {repo}"),
            Some(payload),
        )
    }

    pub fn update_request(&self, repo: &str, ghsa: &str, payload: Value) -> Request {
        Request::with(
            "PATCH",
            format!("{}/{ghsa}", Self::base(repo)),
            format!("the advisory {ghsa} of {repo}"),
            Some(payload),
        )
    }

    pub fn cve_request(&self, repo: &str, ghsa: &str) -> Request {
        Request::with(
            "POST",
            format!("{}/{ghsa}/cve", Self::base(repo)),
            format!("the advisory {ghsa} of {repo}"),
            None,
        )
    }

    pub fn get(&self, repo: &str, ghsa: &str) -> Result<Ghsa, Error> {
        let v = self.api.send(&Request::get(
            format!("{}/{ghsa}", Self::base(repo)),
            format!("the advisory {ghsa} of {repo}"),
        ))?;
        Ghsa::of(&v).ok_or_else(|| Error::Transport(format!("GitHub described {ghsa} without its id")))
    }

    /// The repository's draft advisories (newest first, every page up to
    /// 1,000): where an advisory whose creation answer was lost is found.
    pub fn drafts(&self, repo: &str) -> Result<Vec<Ghsa>, Error> {
        let mut out = Vec::new();
        for page in 1..=10 {
            let r = Request::get(Self::base(repo), format!("the repository {repo}"))
                .query("state", "draft")
                .query("sort", "created")
                .query("direction", "desc")
                .query("per_page", "100")
                .query("page", page.to_string());
            let v = self.api.send(&r)?;
            let items: Vec<Ghsa> = v.as_array().into_iter().flatten().filter_map(Ghsa::of).collect();
            let last = items.len() < 100;
            out.extend(items);
            if last {
                break;
            }
        }
        Ok(out)
    }
}
