//! The body of GitHub's "create a repository security advisory" call
//! (`POST /repos/{owner}/{repo}/security-advisories`). GitHub credits name
//! GitHub accounts: a credit whose contact is a github.com profile is
//! credited by login; the others are named in the description.

use serde_json::{Value, json};

use super::Facts;
use crate::advisory::Affected;

pub(super) fn payload(f: &Facts<'_>) -> Value {
    let a = f.advisory();
    let mut description = f.description();
    let unlinked: Vec<&str> = a
        .credits
        .iter()
        .filter(|c| login(&c.contact).is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !unlinked.is_empty() {
        description.push_str(&format!("\n\n### Credits\n{}", unlinked.join(", ")));
    }
    let mut p = json!({
        "summary": f.title(),
        "description": description,
        "vulnerabilities": a.affected.iter().map(vulnerability).collect::<Vec<_>>(),
        "cwe_ids": a.cwe,
        "cve_id": a.cve,
        "credits": a.credits.iter().filter_map(|c| login(&c.contact).map(|l| json!({
            "login": l,
            "type": c.kind.to_ascii_lowercase(),
        }))).collect::<Vec<_>>(),
    });
    // GitHub takes one vector (3.1 or 4.0) and computes the severity from it.
    if let Some(s) = f.scores.iter().find(|s| s.version == "3.1").or(f.scores.first()) {
        p["cvss_vector_string"] = json!(s.vector);
    }
    p
}

fn vulnerability(x: &Affected) -> Value {
    let range = super::range_text(x);
    json!({
        "package": {"ecosystem": ecosystem(x.ecosystem.as_deref()), "name": x.name()},
        "vulnerable_version_range": if range == "all versions" { ">= 0".to_owned() } else { range },
        "patched_versions": x.fixed,
        "vulnerable_functions": [],
    })
}

/// GitHub's name for an OSV ecosystem (`other` for products).
fn ecosystem(osv: Option<&str>) -> &'static str {
    match osv {
        Some("PyPI") => "pip",
        Some("npm") => "npm",
        Some("crates.io") => "rust",
        Some("Go") => "go",
        Some("Maven") => "maven",
        Some("NuGet") => "nuget",
        Some("Packagist") => "composer",
        Some("RubyGems") => "rubygems",
        Some("Pub") => "pub",
        Some("Hex") => "erlang",
        Some("GitHub Actions") => "actions",
        Some("SwiftURL") => "swift",
        _ => "other",
    }
}

/// `https://github.com/jane` → `jane`.
fn login(contact: &[String]) -> Option<String> {
    contact.iter().find_map(|c| {
        let rest = c.strip_prefix("https://github.com/")?;
        let l = rest.trim_end_matches('/');
        (!l.is_empty() && !l.contains('/') && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'))
            .then(|| l.to_owned())
    })
}
