//! Already known: published advisories a report may match. `[triage]
//! known_advisories` names folders of OSV JSON files (the project's own
//! advisories, or a mirror of an ecosystem's feed); they are read at start
//! and on SIGHUP, and each becomes a set of terms as a report does (its
//! summary, details, ids and aliases, package names), kept in memory with
//! an inverted index so a report is compared only with the advisories that
//! share a term with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Kind, Suggestion, Term};

/// One advisory as a report is compared with it.
#[derive(Debug, Clone)]
pub struct KnownAdvisory {
    /// The OSV id (`GHSA-…`, `PYSEC-…`, `CVE-…`).
    pub id: String,
    pub summary: String,
    /// The first version that fixes it, when the advisory names one.
    pub fixed: Option<String>,
    pub terms: Vec<Term>,
}

/// The advisories of `[triage] known_advisories`.
#[derive(Debug, Default)]
pub struct Known {
    advisories: Vec<KnownAdvisory>,
    by_term: HashMap<Term, Vec<u32>>,
}

/// A file larger than this is not an advisory; it is skipped (and named).
pub const MAX_FILE: u64 = 1024 * 1024;
/// At most this many files are read from all folders together.
pub const MAX_FILES: usize = 200_000;

/// What loading found wrong, file by file (the loader goes on).
#[derive(Debug, Default)]
pub struct Loaded {
    pub known: Known,
    /// "FILE: problem", for the log and check-config.
    pub problems: Vec<String>,
}

impl Known {
    /// Reads every `*.json` file under `dirs` (recursively). A folder that
    /// cannot be read or a file that is not an OSV advisory is a problem
    /// named in the result; the rest is loaded.
    pub fn load(dirs: &[PathBuf], products: &[String]) -> Loaded {
        let mut out = Loaded::default();
        let mut files = Vec::new();
        for dir in dirs {
            collect(dir, &mut files, &mut out.problems, 0);
        }
        if files.len() > MAX_FILES {
            out.problems.push(format!(
                "{} advisory files; only the first {MAX_FILES} are read",
                files.len()
            ));
            files.truncate(MAX_FILES);
        }
        for f in files {
            match read(&f, products) {
                Ok(Some(a)) => out.known.add(a),
                Ok(None) => {}
                Err(e) => out.problems.push(format!("{}: {e}", f.display())),
            }
        }
        out
    }

    /// Adds one advisory.
    pub fn add(&mut self, a: KnownAdvisory) {
        let n = self.advisories.len() as u32;
        for t in &a.terms {
            self.by_term.entry(t.clone()).or_default().push(n);
        }
        self.advisories.push(a);
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The advisories most like a report with `terms`, at or above
    /// `threshold`, best first. `idf` is a term's rarity among the reports
    /// (advisories have their own: a term most advisories share counts
    /// little).
    pub fn suggest(&self, terms: &[Term], idf: &dyn Fn(&Term) -> f64, threshold: f64, limit: usize) -> Vec<Suggestion> {
        let mut candidates: HashMap<u32, usize> = HashMap::new();
        let common = (self.advisories.len() / 20).max(50);
        for t in terms {
            if let Some(ids) = self.by_term.get(t)
                && (t.kind != Kind::Word || ids.len() <= common)
            {
                for id in ids {
                    *candidates.entry(*id).or_default() += 1;
                }
            }
        }
        let n = self.advisories.len() as f64;
        let rarity = |t: &Term| {
            let df = self.by_term.get(t).map_or(0, Vec::len) as f64;
            (((n + 1.0) / (df + 1.0)).ln() + 1.0).max(idf(t))
        };
        let mut best: Vec<(u32, usize)> = candidates.into_iter().collect();
        best.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        best.truncate(50);
        let mut out: Vec<Suggestion> = best
            .into_iter()
            .filter_map(|(i, _)| {
                let a = &self.advisories[i as usize];
                let (score, evidence) = super::compare(terms, &a.terms, &rarity);
                (score >= threshold).then(|| Suggestion {
                    id: a.id.clone(),
                    score: (score * 100.0).round() / 100.0,
                    evidence,
                    kind: "advisory",
                    fixed: a.fixed.clone(),
                    state: None,
                    report: None,
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        out.truncate(limit);
        out
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<String>, depth: usize) {
    if depth > 8 || files.len() > MAX_FILES {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: cannot read the folder: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, files, problems, depth + 1);
        } else if p.extension().is_some_and(|e| e == "json") {
            files.push(p);
        }
    }
}

/// One OSV file; `None` for a file that is JSON but withdrawn.
fn read(path: &Path, products: &[String]) -> Result<Option<KnownAdvisory>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE {
        return Err(format!(
            "{} bytes, larger than an advisory ({MAX_FILE} at most)",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse(&text, products).map_err(|e| format!("not an OSV advisory: {e}"))
}

/// An OSV document (schema 1.x): `id`, `summary`, `details`, `aliases`,
/// `affected[].package.name`, `affected[].ranges[].events[].fixed`.
pub fn parse(text: &str, products: &[String]) -> Result<Option<KnownAdvisory>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let id = v
        .get("id")
        .and_then(|i| i.as_str())
        .filter(|i| !i.is_empty())
        .ok_or("no \"id\"")?
        .to_owned();
    if v.get("withdrawn").and_then(|w| w.as_str()).is_some() {
        return Ok(None);
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let (summary, details) = (s("summary"), s("details"));
    let mut extra = String::new();
    let mut fixed = None;
    for alias in v.get("aliases").and_then(|a| a.as_array()).into_iter().flatten() {
        if let Some(a) = alias.as_str() {
            extra.push_str(&format!("\n{a}"));
        }
    }
    for affected in v.get("affected").and_then(|a| a.as_array()).into_iter().flatten() {
        if let Some(name) = affected.pointer("/package/name").and_then(|n| n.as_str()) {
            extra.push_str(&format!("\n{name}"));
        }
        for range in affected.get("ranges").and_then(|r| r.as_array()).into_iter().flatten() {
            for event in range.get("events").and_then(|e| e.as_array()).into_iter().flatten() {
                if fixed.is_none()
                    && let Some(f) = event.get("fixed").and_then(|f| f.as_str())
                {
                    fixed = Some(f.to_owned());
                }
            }
        }
    }
    let terms = super::terms(summary, &format!("{details}\n{id}{extra}"), products);
    Ok(Some(KnownAdvisory {
        id,
        summary: crate::text::bounded(summary),
        fixed,
        terms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_osv_file_is_read_and_matched() {
        let osv = r#"{"schema_version":"1.6.0","id":"GHSA-aaaa-bbbb-cccc","modified":"2026-01-01T00:00:00Z",
            "aliases":["CVE-2026-11111"],"summary":"Stored XSS through room topics",
            "details":"Setting a room topic to an <img onerror=...> payload via PUT /_matrix/client/v3/rooms/{roomId}/state/m.room.topic runs script in clients.",
            "affected":[{"package":{"ecosystem":"PyPI","name":"matrix-synapse"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.99.0"}]}]}]}"#;
        let a = parse(osv, &[]).unwrap().unwrap();
        assert_eq!(a.fixed.as_deref(), Some("1.99.0"));
        let mut known = Known::default();
        known.add(a);
        let report = super::super::terms(
            "XSS in room topic",
            "PUT /_matrix/client/v3/rooms/!abc:x/state/m.room.topic with <img src=x onerror=alert(1)> runs script",
            &[],
        );
        let s = known.suggest(&report, &|_| 1.0, 0.2, 5);
        assert_eq!(s.first().map(|s| s.id.as_str()), Some("GHSA-aaaa-bbbb-cccc"), "{s:?}");
        assert_eq!(s[0].kind, "advisory");
        assert!(s[0].evidence.iter().any(|e| e.starts_with("same endpoint")), "{s:?}");
        assert!(parse(r#"{"summary":"x"}"#, &[]).is_err());
    }
}
