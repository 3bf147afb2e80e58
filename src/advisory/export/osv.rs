//! OSV (ossf/osv-schema 1.x). The id is `x_` and the tracking id (OSV's
//! prefix for databases of their own); the CVE id is an alias.

use serde_json::{Value, json};

use super::Facts;

pub(super) fn document(f: &Facts<'_>) -> Value {
    let a = f.advisory();
    let mut doc = json!({
        "schema_version": "1.6.0",
        "id": format!("x_{}", f.input.tracking_id),
        "modified": f.modified,
        "published": f.published,
        "summary": f.title(),
        "details": details(f),
        "affected": a.affected.iter().map(|x| affected(f, x)).collect::<Vec<_>>(),
        "references": f.references().into_iter().map(|(t, u)| json!({"type": t, "url": u})).collect::<Vec<_>>(),
        "credits": a.credits.iter().map(|c| {
            let mut v = json!({"name": c.name, "type": c.kind});
            if !c.contact.is_empty() {
                v["contact"] = json!(c.contact);
            }
            v
        }).collect::<Vec<_>>(),
    });
    if let Some(cve) = &a.cve {
        doc["aliases"] = json!([cve]);
    }
    if !f.scores.is_empty() {
        doc["severity"] = f
            .scores
            .iter()
            .map(|s| {
                let kind = if s.version == "4.0" { "CVSS_V4" } else { "CVSS_V3" };
                json!({"type": kind, "score": s.vector})
            })
            .collect();
    }
    let mut specific = json!({ "tracking_id": f.input.tracking_id });
    if !a.cwe.is_empty() {
        specific["cwe_ids"] = json!(a.cwe);
    }
    if f.draft {
        specific["draft"] = json!(true);
    }
    if let Some(d) = &f.details_from {
        specific["details_published_from"] = json!(d);
    }
    doc["database_specific"] = specific;
    doc
}

/// OSV's `summary` is the one-line title; `details` carries our summary
/// and the details (or when they follow).
fn details(f: &Facts<'_>) -> String {
    f.description()
}

fn affected(f: &Facts<'_>, x: &crate::advisory::Affected) -> Value {
    let mut events = vec![json!({"introduced": x.introduced.clone().unwrap_or_else(|| "0".to_owned())})];
    if let Some(v) = &x.fixed {
        events.push(json!({"fixed": v}));
    } else if let Some(v) = &x.last_affected {
        events.push(json!({"last_affected": v}));
    }
    let range = json!({"type": "ECOSYSTEM", "events": events});
    match (&x.ecosystem, &x.package) {
        (Some(e), Some(p)) => json!({"package": {"ecosystem": e, "name": p}, "ranges": [range]}),
        // Software that is not a package: OSV has no ecosystem for it; the
        // product goes where OSV keeps what it does not model.
        _ => json!({
            "ranges": [range],
            "database_specific": {"product": x.name(), "vendor": f.input.cfg.vendor},
        }),
    }
}
