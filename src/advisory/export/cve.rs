//! The CVE JSON 5 CNA container (what a CNA's publishing tool such as
//! `cve publish` or Vulnogram takes), as the 5.1 schema wants it.

use serde_json::{Value, json};

use super::{Error, Facts};
use crate::advisory::Affected;

/// CVE limits a description to 4,096 characters.
const MAX_DESCRIPTION: usize = 4000;

pub(super) fn container(f: &Facts<'_>) -> Result<Value, Error> {
    let cfg = f.input.cfg;
    let org = cfg.cna_org_id.as_deref().ok_or_else(|| {
        Error::Missing(
            "advisory.cna_org_id is not set: a CVE record names its CNA by orgId (a UUID your CNA gives you); \
             with [cve] set, `embargo cve publish` takes it from CVE Services"
                .to_owned(),
        )
    })?;
    let a = f.advisory();
    let mut c = json!({
        "providerMetadata": {"orgId": org},
        "title": truncate(&f.title(), 256),
        "descriptions": [description(f)],
        "affected": a.affected.iter().map(|x| affected(cfg, x)).collect::<Vec<_>>(),
        "references": references(f),
        "datePublic": f.published,
    });
    if !a.cwe.is_empty() {
        c["problemTypes"] = json!([{
            "descriptions": a.cwe.iter().map(|id| json!({
                "lang": "en",
                "cweId": id,
                "description": format!("{id}: {}", super::cwe::name(id)),
                "type": "CWE",
            })).collect::<Vec<_>>(),
        }]);
    }
    if !f.scores.is_empty() {
        c["metrics"] = f
            .scores
            .iter()
            .map(|s| {
                let key = match s.version {
                    "4.0" => "cvssV4_0",
                    "3.0" => "cvssV3_0",
                    _ => "cvssV3_1",
                };
                json!({ key: {
                    "version": s.version,
                    "vectorString": s.vector,
                    "baseScore": s.base_score,
                    "baseSeverity": s.rating,
                }})
            })
            .collect();
    }
    if !a.credits.is_empty() {
        c["credits"] = a
            .credits
            .iter()
            .map(|cr| json!({"lang": "en", "value": cr.name, "type": cr.kind.to_ascii_lowercase().replace('_', " ")}))
            .collect();
    }
    if let Some(no_fix) = f.no_fix() {
        c["solutions"] = json!([{"lang": "en", "value": no_fix}]);
    }
    Ok(c)
}

fn description(f: &Facts<'_>) -> Value {
    let mut text = f.description();
    if text.chars().count() > MAX_DESCRIPTION {
        text = truncate(&text, MAX_DESCRIPTION - 80);
        if let Some(l) = &f.link {
            text.push_str(&format!("\n\nThe full advisory: {l}"));
        }
    }
    json!({"lang": "en", "value": text})
}

fn affected(cfg: &crate::config::AdvisoryConfig, x: &Affected) -> Value {
    let mut v = json!({"vendor": cfg.vendor, "product": x.name(), "defaultStatus": "unaffected"});
    if let (Some(e), Some(p)) = (&x.ecosystem, &x.package) {
        v["packageName"] = json!(p);
        if let Some(url) = collection_url(e) {
            v["collectionURL"] = json!(url);
        }
    }
    let from = x.introduced.clone().unwrap_or_else(|| "0".to_owned());
    let kind = version_type(x.ecosystem.as_deref());
    let range = match (&x.fixed, &x.last_affected) {
        (Some(fixed), _) => json!({"version": from, "status": "affected", "lessThan": fixed, "versionType": kind}),
        (None, Some(last)) => {
            json!({"version": from, "status": "affected", "lessThanOrEqual": last, "versionType": kind})
        }
        // Every version from `from` on, with no fix: affected by default.
        (None, None) => {
            v["defaultStatus"] = json!("affected");
            return v;
        }
    };
    v["versions"] = json!([range]);
    v
}

fn references(f: &Facts<'_>) -> Vec<Value> {
    f.references()
        .into_iter()
        .map(|(kind, url)| {
            let tag = match kind.as_str() {
                "ADVISORY" => Some("vendor-advisory"),
                "FIX" => Some("patch"),
                "REPORT" => Some("issue-tracking"),
                "ARTICLE" => Some("technical-description"),
                "PACKAGE" => Some("product"),
                "EVIDENCE" => Some("exploit"),
                _ => None,
            };
            match tag {
                Some(t) => json!({"url": url, "tags": [t]}),
                None => json!({"url": url}),
            }
        })
        .collect()
}

fn version_type(ecosystem: Option<&str>) -> &'static str {
    match ecosystem {
        Some("PyPI") => "python",
        Some("Maven") => "maven",
        Some("npm" | "crates.io" | "Go" | "Packagist" | "RubyGems" | "NuGet" | "Pub" | "Hex") => "semver",
        _ => "custom",
    }
}

/// The package collection a CVE record names for an OSV ecosystem.
fn collection_url(ecosystem: &str) -> Option<&'static str> {
    Some(match ecosystem {
        "PyPI" => "https://pypi.org",
        "npm" => "https://www.npmjs.com",
        "crates.io" => "https://crates.io",
        "Go" => "https://pkg.go.dev",
        "Maven" => "https://repo.maven.apache.org/maven2",
        "NuGet" => "https://www.nuget.org",
        "Packagist" => "https://packagist.org",
        "RubyGems" => "https://rubygems.org",
        "Pub" => "https://pub.dev",
        "Hex" => "https://hex.pm",
        _ => return None,
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
