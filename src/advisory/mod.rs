//! The advisory kept with a report: one TOML document (a contract other
//! tools write too) from which every public format is exported. This module
//! parses and checks it; `severity` scores its CVSS vectors; `export`
//! writes OSV, CVE JSON 5, CSAF 2.0, the GitHub advisory payload and the
//! human advisory.
//!
//! A document is checked as a whole and every problem is reported at once,
//! each naming its field (`affected[2].fixed: ...`), so `advisory edit` can
//! put them all on top of the file it reopens.

pub mod draft;
pub mod export;
pub mod severity;
#[cfg(test)]
pub(crate) mod tests;

use serde::{Deserialize, Serialize};

pub use severity::Score;

/// The advisory as the team writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    pub title: String,
    /// One line for feeds.
    #[serde(default)]
    pub summary: String,
    /// Markdown; held back from public exports while the details clock runs.
    #[serde(default)]
    pub details: String,
    /// Once a CNA assigned it (`embargo cve reserve` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cve: Option<String>,
    /// The GitHub security advisory made from this one (`advisory publish
    /// --to github` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ghsa: Option<String>,
    /// The repository of that advisory, when not `[github] repository`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_repository: Option<String>,
    #[serde(default)]
    pub cwe: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_v4: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub credits: Vec<Credit>,
}

/// A package (ecosystem and name as OSV spells them) or a product that is
/// not a package, and the versions it is affected in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// For software that is not a package, e.g. "Element Web".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The first affected version; absent: every version before the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// When there is no fix (yet, or ever): the last affected version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// An OSV reference type: ADVISORY, ARTICLE, FIX, REPORT, WEB, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    pub name: String,
    /// An OSV credit type: FINDER, REPORTER, ANALYST, COORDINATOR, ...
    #[serde(rename = "type", default = "finder")]
    pub kind: String,
    /// URLs (a profile, `mailto:`) as OSV lists them.
    #[serde(default)]
    pub contact: Vec<String>,
}

fn finder() -> String {
    "FINDER".to_owned()
}

/// `GHSA-` and three groups of four of GitHub's alphabet.
pub fn is_ghsa_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("GHSA-") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.len() == 3
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()))
}

/// OSV's ecosystems that embargo exports (`osv-schema`'s `ecosystemName`).
pub const ECOSYSTEMS: &[&str] = &[
    "AlmaLinux",
    "Alpine",
    "Android",
    "Bioconductor",
    "Bitnami",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Linux",
    "Mageia",
    "Maven",
    "npm",
    "NuGet",
    "opam",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "Ubuntu",
    "Wolfi",
];

/// OSV's reference types.
pub const REFERENCE_TYPES: &[&str] = &[
    "ADVISORY",
    "ARTICLE",
    "DETECTION",
    "DISCUSSION",
    "REPORT",
    "FIX",
    "INTRODUCED",
    "GIT",
    "PACKAGE",
    "EVIDENCE",
    "WEB",
];

/// OSV's credit types (GitHub's advisory credits use the same set, lower case).
pub const CREDIT_TYPES: &[&str] = &[
    "FINDER",
    "REPORTER",
    "ANALYST",
    "COORDINATOR",
    "REMEDIATION_DEVELOPER",
    "REMEDIATION_REVIEWER",
    "REMEDIATION_VERIFIER",
    "TOOL",
    "SPONSOR",
    "OTHER",
];

/// Every problem of a document, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Invalid {}

/// What the report allows the advisory to say about its reporter.
#[derive(Debug, Clone, Default)]
pub struct ReporterWish {
    pub credit: crate::report::Credit,
    pub address: String,
    pub name: String,
}

impl Advisory {
    /// Parses and checks a TOML document.
    pub fn parse(text: &str, reporter: &ReporterWish) -> Result<Advisory, Invalid> {
        let advisory: Advisory = toml::from_str(text).map_err(|e| Invalid(vec![toml_problem(text, &e)]))?;
        advisory.check(reporter)?;
        Ok(advisory)
    }

    /// `document` with the top-level `key` set to `value` (or removed),
    /// everything else (comments, order, layout) as the team wrote it.
    pub fn set_field(document: &str, key: &str, value: Option<&str>) -> Result<String, String> {
        let mut doc: toml_edit::DocumentMut = document.parse().map_err(|e| format!("the stored advisory: {e}"))?;
        match value {
            Some(v) => doc[key] = toml_edit::value(v),
            None => {
                doc.remove(key);
            }
        }
        Ok(doc.to_string())
    }

    /// The document as TOML (the same fields `parse` reads).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Every problem, or none.
    pub fn check(&self, reporter: &ReporterWish) -> Result<(), Invalid> {
        let mut p = Vec::new();
        self.check_text(&mut p);
        self.check_ids(&mut p);
        for (i, a) in self.affected.iter().enumerate() {
            a.check(&format!("affected[{}]", i + 1), &mut p);
        }
        for (i, r) in self.references.iter().enumerate() {
            let at = format!("references[{}]", i + 1);
            if !REFERENCE_TYPES.contains(&r.kind.as_str()) {
                p.push(format!(
                    "{at}.type: {:?} is not one of {}",
                    r.kind,
                    REFERENCE_TYPES.join(", ")
                ));
            }
            if !is_web_url(&r.url) {
                p.push(format!("{at}.url: {:?} is not an http(s) URL", r.url));
            }
        }
        for (i, c) in self.credits.iter().enumerate() {
            c.check(&format!("credits[{}]", i + 1), reporter, &mut p);
        }
        if p.is_empty() { Ok(()) } else { Err(Invalid(p)) }
    }

    fn check_text(&self, p: &mut Vec<String>) {
        for (name, value, max) in [("title", &self.title, 200), ("summary", &self.summary, 1000)] {
            if value.trim().is_empty() {
                p.push(format!("{name}: is empty"));
            } else if value.contains(['\n', '\r']) {
                p.push(format!("{name}: must be one line"));
            } else if value.chars().count() > max {
                p.push(format!("{name}: longer than {max} characters"));
            }
        }
        if self.affected.is_empty() {
            p.push("affected: name at least one package or product ([[affected]])".to_owned());
        }
    }

    fn check_ids(&self, p: &mut Vec<String>) {
        if let Some(cve) = &self.cve
            && !is_cve_id(cve)
        {
            p.push(format!("cve: {cve:?} is not a CVE id like CVE-2027-0001"));
        }
        if let Some(g) = &self.ghsa
            && !is_ghsa_id(g)
        {
            p.push(format!(
                "ghsa: {g:?} is not a GitHub advisory id like GHSA-xxxx-xxxx-xxxx"
            ));
        }
        if let Some(r) = &self.github_repository
            && !crate::config::is_repository(r)
        {
            p.push(format!("github_repository: {r:?} is not owner/name"));
        }
        for (i, c) in self.cwe.iter().enumerate() {
            if !is_cwe_id(c) {
                p.push(format!("cwe[{}]: {c:?} is not a CWE id like CWE-79", i + 1));
            }
        }
        if let Some(v) = &self.cvss_v3
            && let Err(e) = severity::v3(v)
        {
            p.push(format!("cvss_v3: {e}"));
        }
        if let Some(v) = &self.cvss_v4
            && let Err(e) = severity::v4(v)
        {
            p.push(format!("cvss_v4: {e}"));
        }
    }

    /// The scores of the vectors given (v3 first), each checked already.
    pub fn scores(&self) -> Vec<Score> {
        let v3 = self.cvss_v3.as_deref().and_then(|v| severity::v3(v).ok());
        let v4 = self.cvss_v4.as_deref().and_then(|v| severity::v4(v).ok());
        v3.into_iter().chain(v4).collect()
    }

    /// No affected entry has a fixed version: no fix is planned or out.
    pub fn has_fix(&self) -> bool {
        self.affected.iter().any(|a| a.fixed.is_some())
    }
}

impl Affected {
    fn check(&self, at: &str, p: &mut Vec<String>) {
        match (&self.ecosystem, &self.package, &self.product) {
            (Some(e), Some(name), None) => {
                if !ECOSYSTEMS.contains(&e.as_str()) {
                    let near = ECOSYSTEMS.iter().find(|k| k.eq_ignore_ascii_case(e));
                    p.push(match near {
                        Some(k) => format!("{at}.ecosystem: {e:?} is spelled {k:?} in OSV"),
                        None => format!(
                            "{at}.ecosystem: {e:?} is not an OSV ecosystem (e.g. PyPI, npm, crates.io, Go, Maven); \
                             for software that is not a package use product = \"...\""
                        ),
                    });
                }
                if name.trim().is_empty() {
                    p.push(format!("{at}.package: is empty"));
                }
            }
            (None, None, Some(product)) if !product.trim().is_empty() => {}
            (None, None, Some(_)) => p.push(format!("{at}.product: is empty")),
            (_, _, Some(_)) => p.push(format!("{at}: either ecosystem and package, or product, not both")),
            (Some(_), None, None) => p.push(format!("{at}.package: missing (the ecosystem's package name)")),
            (None, Some(_), None) => p.push(format!("{at}.ecosystem: missing (e.g. PyPI, npm, crates.io)")),
            (None, None, None) => p.push(format!("{at}: name ecosystem and package, or product")),
        }
        if self.fixed.is_some() && self.last_affected.is_some() {
            p.push(format!("{at}: fixed and last_affected exclude each other"));
        }
        for (name, v) in [
            ("introduced", &self.introduced),
            ("fixed", &self.fixed),
            ("last_affected", &self.last_affected),
        ] {
            if let Some(v) = v
                && (v.trim().is_empty() || v.contains(char::is_whitespace))
            {
                p.push(format!("{at}.{name}: {v:?} is not a version"));
            }
        }
    }

    /// The package or product name, for humans.
    pub fn name(&self) -> &str {
        self.package.as_deref().or(self.product.as_deref()).unwrap_or_default()
    }
}

impl Credit {
    fn check(&self, at: &str, reporter: &ReporterWish, p: &mut Vec<String>) {
        if self.name.trim().is_empty() {
            p.push(format!("{at}.name: is empty"));
        }
        if !CREDIT_TYPES.contains(&self.kind.as_str()) {
            p.push(format!(
                "{at}.type: {:?} is not one of {}",
                self.kind,
                CREDIT_TYPES.join(", ")
            ));
        }
        for c in &self.contact {
            if !(is_web_url(c) || c.starts_with("mailto:")) {
                p.push(format!("{at}.contact: {c:?} is not an http(s) or mailto: URL"));
            }
        }
        // The reporter is named only as their credit wish allows.
        if reporter.credit != crate::report::Credit::Wanted && self.names(reporter) {
            let why = if reporter.credit == crate::report::Credit::Declined {
                "declined credit"
            } else {
                "has not asked for credit"
            };
            p.push(format!(
                "{at}: names the reporter, who {why}; remove it, or record their wish with `embargo reports credit`"
            ));
        }
    }

    fn names(&self, r: &ReporterWish) -> bool {
        let addr = r.address.to_ascii_lowercase();
        let name = r.name.trim().to_lowercase();
        (!addr.is_empty()
            && (self.name.to_ascii_lowercase().contains(&addr)
                || self.contact.iter().any(|c| c.to_ascii_lowercase().contains(&addr))))
            || (!name.is_empty() && self.name.trim().to_lowercase() == name)
    }
}

/// `line 4: unknown field `titel`, expected one of ...`.
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text.get(..span.start).map_or(0, |t| t.matches('\n').count()) + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

fn is_web_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace)
        && !s.contains(['<', '>', '"'])
}

pub fn is_cve_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, seq)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&seq.len())
        && seq.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_cwe_id(s: &str) -> bool {
    s.strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
}
