//! CVE Services (the CVE Program's API for CNAs, 2.x) as `cvelib` speaks
//! it: the `CVE-API-ORG`, `CVE-API-USER` and `CVE-API-KEY` headers; ids
//! reserved with `POST /cve-id`; the CNA container published with
//! `POST`/`PUT /cve/{id}/cna` inside `{"cnaContainer": ...}`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::http::{Api, Error, Request};
use crate::config::CveConfig;

/// One CVE id as the API describes it (`/cve-id` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdInfo {
    pub cve_id: String,
    /// RESERVED, PUBLISHED or REJECTED.
    pub state: String,
    pub reserved: Option<String>,
    pub requested_by: String,
    pub owning_cna: String,
    pub modified: Option<String>,
}

impl IdInfo {
    fn of(v: &Value) -> Option<IdInfo> {
        let s = |x: &Value| x.as_str().map(str::to_owned);
        Some(IdInfo {
            cve_id: s(&v["cve_id"])?,
            state: s(&v["state"]).unwrap_or_default(),
            reserved: s(&v["reserved"]),
            requested_by: s(&v["requested_by"]["user"]).unwrap_or_default(),
            owning_cna: s(&v["owning_cna"]).unwrap_or_default(),
            modified: s(&v["time"]["modified"]),
        })
    }
}

/// A CNA's account on CVE Services.
pub struct CveApi {
    pub api: Api,
    pub org: String,
    pub user: String,
}

impl CveApi {
    /// The client; the API key is read from `[cve] api_key_file` now when
    /// the command's config did not read it (missing, only a dry run works).
    pub fn new(cfg: &CveConfig) -> anyhow::Result<CveApi> {
        // Read now when the command's config did not (a dry run needs none).
        let (key, missing) = match cfg.api_key.is_empty() {
            false => (cfg.api_key.to_string(), None),
            true => match crate::secrets::read(&cfg.api_key_file) {
                Ok(k) => (k.trim().to_owned(), None),
                Err(p) => (String::new(), Some(format!("cve.api_key_file: {p}"))),
            },
        };
        let file = cfg.api_key_file.display().to_string();
        let api = Api::new(
            "CVE Services",
            "cve",
            &cfg.api_url,
            cfg.ca_file.as_deref(),
            vec![
                ("CVE-API-ORG", cfg.org.clone(), None),
                ("CVE-API-USER", cfg.user.clone(), None),
                ("CVE-API-KEY", key, Some(file.clone())),
            ],
            format!(
                "check cve.org ({}), cve.user ({}) and the API key in {file} (a key reset by your CNA's admin \
                 replaces the old one)",
                cfg.org, cfg.user
            ),
        )?;
        let mut api = api;
        if let Some(why) = missing {
            api.secret_missing(why);
        }
        Ok(CveApi {
            api,
            org: cfg.org.clone(),
            user: cfg.user.clone(),
        })
    }

    /// The CNA's orgId (`GET /org/{short_name}`, as `cvelib` finds it).
    pub fn org_id(&self) -> Result<String, Error> {
        let v = self.api.send(&Request::get(
            format!("/org/{}", self.org),
            format!("the organisation {:?} (cve.org)", self.org),
        ))?;
        v["UUID"].as_str().map(str::to_owned).ok_or_else(|| {
            Error::Transport(format!(
                "CVE Services named no UUID for the organisation {:?}",
                self.org
            ))
        })
    }

    /// The request that reserves one id of `year`.
    pub fn reserve_request(&self, year: i16) -> Request {
        Request::with("POST", "/cve-id", "CVE ids", None)
            .query("amount", "1")
            .query("cve_year", year.to_string())
            .query("short_name", self.org.clone())
            .query("batch_type", "sequential")
    }

    /// Reserves one id of `year`.
    pub fn reserve(&self, year: i16) -> Result<IdInfo, Error> {
        let v = self.api.send(&self.reserve_request(year))?;
        v["cve_ids"]
            .as_array()
            .and_then(|ids| ids.first())
            .and_then(IdInfo::of)
            .ok_or_else(|| Error::Transport("CVE Services answered the reservation without an id".to_owned()))
    }

    /// The ids this account reserved after `since` that are still RESERVED
    /// (`GET /cve-id`, every page): where a reservation whose answer was
    /// lost is found.
    pub fn reserved_since(&self, since: Timestamp) -> Result<Vec<IdInfo>, Error> {
        let mut out = Vec::new();
        let mut page: Option<u64> = None;
        loop {
            let mut r = Request::get("/cve-id", "the CVE ids of the organisation")
                .query("state", "RESERVED")
                .query("time_reserved.gt", crate::report::ts(since));
            if let Some(p) = page {
                r = r.query("page", p.to_string());
            }
            let v = self.api.send(&r)?;
            out.extend(
                v["cve_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(IdInfo::of)
                    .filter(|i| i.requested_by.eq_ignore_ascii_case(&self.user)),
            );
            match v["nextPage"].as_u64() {
                Some(n) if page != Some(n) && out.len() < 10_000 => page = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// One id's state.
    pub fn id(&self, cve_id: &str) -> Result<IdInfo, Error> {
        let v = self.api.send(&Request::get(
            format!("/cve-id/{cve_id}"),
            format!("the CVE id {cve_id}"),
        ))?;
        IdInfo::of(&v).ok_or_else(|| Error::Transport(format!("CVE Services described {cve_id} without its id")))
    }

    /// The record, if one exists (published or rejected).
    pub fn record(&self, cve_id: &str) -> Result<Option<Value>, Error> {
        match self.api.send(&Request::get(
            format!("/cve/{cve_id}"),
            format!("the CVE record {cve_id}"),
        )) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The request that publishes (`update`: updates) the CNA container.
    pub fn publish_request(&self, cve_id: &str, container: Value, update: bool) -> Request {
        Request::with(
            if update { "PUT" } else { "POST" },
            format!("/cve/{cve_id}/cna"),
            format!("the CVE id {cve_id}"),
            Some(json!({ "cnaContainer": container })),
        )
    }

    /// The request that rejects a reserved id with `reason`.
    pub fn reject_request(&self, cve_id: &str, org_id: &str, reason: &str) -> Request {
        Request::with(
            "POST",
            format!("/cve/{cve_id}/reject"),
            format!("the CVE id {cve_id}"),
            Some(json!({ "cnaContainer": {
                "providerMetadata": {"orgId": org_id},
                "rejectedReasons": [{"lang": "en", "value": reason}],
            }})),
        )
    }

    /// The organisation's quota (`GET /org/{short_name}/id_quota`).
    pub fn quota(&self) -> Result<Value, Error> {
        self.api.send(&Request::get(
            format!("/org/{}/id_quota", self.org),
            format!("the organisation {:?} (cve.org)", self.org),
        ))
    }
}

/// A record's state and publication time (`cveMetadata`).
pub fn record_state(record: &Value) -> (String, Option<String>) {
    let m = &record["cveMetadata"];
    (
        m["state"].as_str().unwrap_or("").to_owned(),
        m["datePublished"]
            .as_str()
            .or(m["dateRejected"].as_str())
            .or(m["dateUpdated"].as_str())
            .map(str::to_owned),
    )
}
