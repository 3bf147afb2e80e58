//! CSAF 2.0, profile `csaf_security_advisory`: the affected range and the
//! fixed version of each package or product as products, one
//! vulnerability, the vendor fix (or `no_fix_planned`). CVSS 4.0 has no
//! place in CSAF 2.0 (only 2.1); the 3.x score goes in.

use serde_json::{Value, json};

use super::{Facts, range_text};
use crate::advisory::Affected;

pub(super) fn document(f: &Facts<'_>) -> Value {
    let a = f.advisory();
    let cfg = f.input.cfg;
    let (version, status) = if f.draft { ("0", "draft") } else { ("1", "final") };
    let mut notes = vec![json!({"category": "summary", "title": "Summary", "text": f.summary()})];
    let details = f.details();
    if !details.trim().is_empty() {
        notes.push(json!({"category": "details", "title": "Details", "text": details}));
    }
    let mut document = json!({
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "lang": "en",
        "publisher": {"category": "vendor", "name": cfg.publisher, "namespace": cfg.namespace},
        "title": f.title(),
        "distribution": {"tlp": {"label": if f.draft { "AMBER" } else { "WHITE" }}},
        "notes": notes,
        "tracking": {
            "id": f.input.tracking_id,
            "status": status,
            "version": version,
            "initial_release_date": f.published,
            "current_release_date": f.modified.clone().max(f.published.clone()),
            "revision_history": [{"date": f.published, "number": version, "summary": if f.draft { "Draft" } else { "Initial version" }}],
            "generator": {"engine": {"name": "embargo", "version": env!("CARGO_PKG_VERSION")}},
        },
    });
    let refs = references(f);
    if !refs.is_empty() {
        document["references"] = json!(refs);
    }
    if let Some(ack) = acknowledgments(a) {
        document["acknowledgments"] = ack;
    }
    let (tree, affected, fixed) = products(f);
    json!({
        "document": document,
        "product_tree": {"branches": tree},
        "vulnerabilities": [vulnerability(f, &affected, &fixed)],
    })
}

/// The vendor's branch: each package or product with its affected range
/// (and its fixed version, if any). Returns the tree and the product ids.
fn products(f: &Facts<'_>) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let (mut affected, mut fixed) = (Vec::new(), Vec::new());
    let mut names = Vec::new();
    for (i, x) in f.advisory().affected.iter().enumerate() {
        let n = i + 1;
        let mut versions = Vec::new();
        let id = format!("CSAFPID-{n:04}");
        versions.push(json!({
            "category": "product_version_range",
            "name": vers(x),
            "product": {"name": format!("{} {}", x.name(), range_text(x)), "product_id": id},
        }));
        affected.push(id);
        if let Some(v) = &x.fixed {
            let id = format!("CSAFPID-{n:04}-FIXED");
            versions.push(json!({
                "category": "product_version",
                "name": v,
                "product": {"name": format!("{} {v}", x.name()), "product_id": id},
            }));
            fixed.push(id);
        }
        names.push(json!({"category": "product_name", "name": x.name(), "branches": versions}));
    }
    let tree = vec![json!({"category": "vendor", "name": f.input.cfg.vendor, "branches": names})];
    (tree, affected, fixed)
}

/// The range in the `vers` syntax CSAF recommends: `vers:pypi/>=1.0|<1.2`.
fn vers(x: &Affected) -> String {
    let scheme = match x.ecosystem.as_deref() {
        Some("PyPI") => "pypi",
        Some("npm") => "npm",
        Some("crates.io") => "cargo",
        Some("Go") => "golang",
        Some("Maven") => "maven",
        Some("NuGet") => "nuget",
        Some("RubyGems") => "gem",
        Some("Packagist") => "composer",
        _ => "generic",
    };
    let mut c = Vec::new();
    if let Some(i) = x.introduced.as_deref().filter(|i| *i != "0") {
        c.push(format!(">={i}"));
    }
    if let Some(v) = &x.fixed {
        c.push(format!("<{v}"));
    } else if let Some(v) = &x.last_affected {
        c.push(format!("<={v}"));
    }
    if c.is_empty() {
        format!("vers:{scheme}/*")
    } else {
        format!("vers:{scheme}/{}", c.join("|"))
    }
}

fn vulnerability(f: &Facts<'_>, affected: &[String], fixed: &[String]) -> Value {
    let a = f.advisory();
    let mut v = json!({
        "title": f.title(),
        "notes": [{"category": "description", "title": "Description", "text": f.description()}],
        "product_status": {"known_affected": affected},
        "release_date": f.published,
    });
    if !fixed.is_empty() {
        v["product_status"]["fixed"] = json!(fixed);
    }
    if let Some(cve) = &a.cve {
        v["cve"] = json!(cve);
    }
    if let Some(id) = a.cwe.first() {
        v["cwe"] = json!({"id": id, "name": super::cwe::name(id)});
    }
    v["remediations"] = if a.has_fix() {
        let versions: Vec<String> = a
            .affected
            .iter()
            .filter_map(|x| x.fixed.as_ref().map(|v| format!("{} {v}", x.name())))
            .collect();
        json!([{"category": "vendor_fix", "details": format!("Update to {}.", versions.join(", ")), "product_ids": affected}])
    } else if f.input.accepted_risk {
        json!([{"category": "no_fix_planned", "details": "The risk was accepted: no fix is planned.", "product_ids": affected}])
    } else {
        json!([{"category": "none_available", "details": "No fixed version is available yet.", "product_ids": affected}])
    };
    if let Some(s) = f.scores.iter().find(|s| s.version.starts_with('3')) {
        v["scores"] = json!([{
            "products": affected,
            "cvss_v3": {
                "version": s.version,
                "vectorString": s.vector,
                "baseScore": s.base_score,
                "baseSeverity": s.rating,
            },
        }]);
    }
    v
}

fn references(f: &Facts<'_>) -> Vec<Value> {
    f.references()
        .into_iter()
        .map(|(kind, url)| {
            let own = f.link.as_deref() == Some(url.as_str());
            json!({
                "category": if own { "self" } else { "external" },
                "summary": if own { "This advisory".to_owned() } else { kind.to_ascii_lowercase() },
                "url": url,
            })
        })
        .collect()
}

fn acknowledgments(a: &crate::advisory::Advisory) -> Option<Value> {
    let list: Vec<Value> = a
        .credits
        .iter()
        .map(|c| {
            let mut v = json!({"names": [c.name], "summary": c.kind.to_ascii_lowercase().replace('_', " ")});
            let urls: Vec<&String> = c.contact.iter().filter(|u| u.starts_with("http")).collect();
            if !urls.is_empty() {
                v["urls"] = json!(urls);
            }
            v
        })
        .collect();
    (!list.is_empty()).then(|| json!(list))
}
