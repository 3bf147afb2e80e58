//! One advisory, many formats: OSV, CVE JSON 5 (the CNA container), CSAF
//! 2.0, GitHub's repository-advisory payload, and the human advisory in
//! Markdown or HTML. The tests validate each JSON format against its
//! official schema.
//!
//! Nothing leaks early: an advisory whose report is not disclosed exports
//! only as a draft, marked DRAFT in every format; while the details clock
//! runs (`details_due` in the future) no format carries `details`, and each
//! says when they follow.

mod csaf;
mod cve;
mod cwe;
mod ghsa;
mod human;
mod osv;

use jiff::Timestamp;

use super::{Advisory, Affected, Score};
use crate::config::AdvisoryConfig;
use crate::report::{ReportState, ReportSummary};

/// The formats `advisory export --format` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Osv,
    Cve,
    Csaf,
    Ghsa,
    Md,
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "osv" => Format::Osv,
            "cve" => Format::Cve,
            "csaf" => Format::Csaf,
            "ghsa" => Format::Ghsa,
            "md" => Format::Md,
            "html" => Format::Html,
            other => return Err(format!("unknown format {other:?}: osv, cve, csaf, ghsa, md or html")),
        })
    }
}

impl Format {
    /// The file name an export of `tracking_id` gets under `--out`.
    pub fn file_name(self, tracking_id: &str) -> String {
        let ext = match self {
            Format::Osv => "osv.json",
            Format::Cve => "cve.json",
            Format::Csaf => "csaf.json",
            Format::Ghsa => "ghsa.json",
            Format::Md => "md",
            Format::Html => "html",
        };
        format!("{tracking_id}.{ext}")
    }
}

/// Why an export was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{0} is not disclosed yet: export it with --draft (marked DRAFT in every format), or `embargo reports disclosed {0}` first"
    )]
    NotDisclosed(String),
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Template(#[from] crate::text::TemplateError),
}

/// Everything an export reads.
pub struct Input<'a> {
    pub tracking_id: &'a str,
    pub report: &'a ReportSummary,
    pub advisory: &'a Advisory,
    /// When the advisory was last saved (RFC 3339).
    pub updated_at: &'a str,
    pub cfg: &'a AdvisoryConfig,
    pub draft: bool,
    /// Published before disclosure by the team's decision (`--force
    /// REASON`): exported as if disclosed, not as a draft.
    pub forced: bool,
    pub now: Timestamp,
    /// The team accepted the risk (the report was in accepted-risk): no
    /// fix is planned, as opposed to none being out yet.
    pub accepted_risk: bool,
}

/// What every format derives the same way.
struct Facts<'a> {
    input: &'a Input<'a>,
    draft: bool,
    /// `details_due`, while it is in the future.
    details_from: Option<String>,
    published: String,
    modified: String,
    scores: Vec<Score>,
    link: Option<String>,
}

impl<'a> Facts<'a> {
    fn of(input: &'a Input<'a>) -> Result<Facts<'a>, Error> {
        let disclosed = input.report.state == ReportState::Disclosed || input.forced;
        if !disclosed && !input.draft {
            return Err(Error::NotDisclosed(input.tracking_id.to_owned()));
        }
        let now = crate::report::ts(input.now);
        let details_from = input
            .report
            .details_due
            .filter(|t| *t > input.now)
            .map(crate::report::ts);
        let published = input
            .report
            .disclosed_at
            .map(crate::report::ts)
            .unwrap_or_else(|| now.clone());
        Ok(Facts {
            input,
            draft: !disclosed,
            details_from,
            published,
            modified: normalise(input.updated_at).unwrap_or(now),
            scores: input.advisory.scores(),
            link: input.cfg.link(input.tracking_id, input.advisory.cve.as_deref()),
        })
    }

    fn advisory(&self) -> &Advisory {
        self.input.advisory
    }

    /// The title, with DRAFT in front of a draft's.
    fn title(&self) -> String {
        mark(self.draft, &self.advisory().title)
    }

    fn summary(&self) -> String {
        mark(self.draft, &self.advisory().summary)
    }

    /// The details, or the sentence saying when they follow.
    fn details(&self) -> String {
        match &self.details_from {
            Some(d) => format!("Technical details will be published on or after {}.", day(d)),
            None => self.advisory().details.clone(),
        }
    }

    /// Summary and details as one Markdown text (formats with one field).
    fn description(&self) -> String {
        let mut s = self.summary();
        let details = self.details();
        if !details.trim().is_empty() {
            s.push_str("\n\n");
            s.push_str(&details);
        }
        if let Some(no_fix) = self.no_fix() {
            s.push_str("\n\n");
            s.push_str(no_fix);
        }
        s
    }

    /// What the advisory says when no version is fixed.
    fn no_fix(&self) -> Option<&'static str> {
        if self.advisory().has_fix() {
            None
        } else if self.input.accepted_risk {
            Some("The risk was accepted: no fix is planned.")
        } else {
            Some("No fixed version is available yet.")
        }
    }

    fn references(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if let Some(l) = &self.link {
            out.push(("ADVISORY".to_owned(), l.clone()));
        }
        for r in &self.advisory().references {
            if !out.iter().any(|(_, u)| *u == r.url) {
                out.push((r.kind.clone(), r.url.clone()));
            }
        }
        out
    }
}

/// Exports one advisory.
pub fn export(format: Format, input: &Input<'_>) -> Result<String, Error> {
    let f = Facts::of(input)?;
    let json = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    Ok(match format {
        Format::Osv => json(osv::document(&f)),
        Format::Cve => json(cve::container(&f)?),
        Format::Csaf => json(csaf::document(&f)),
        Format::Ghsa => json(ghsa::payload(&f)),
        Format::Md => human::render(&f, false)?,
        Format::Html => human::render(&f, true)?,
    })
}

/// The `gh api` command that creates the repository advisory from the
/// payload in `file`.
pub fn gh_command(cfg: &AdvisoryConfig, file: &str) -> String {
    let repo = cfg.github_repo.as_deref().unwrap_or("OWNER/REPO");
    format!(
        "gh api --method POST -H 'Accept: application/vnd.github+json' /repos/{repo}/security-advisories --input {file}"
    )
}

fn mark(draft: bool, s: &str) -> String {
    if draft { format!("DRAFT: {s}") } else { s.to_owned() }
}

/// `2027-01-12T15:00:00Z` as the JSON formats want it (seconds, Z).
fn normalise(t: &str) -> Option<String> {
    t.parse::<Timestamp>().ok().map(crate::report::ts)
}

/// The date part, for sentences.
fn day(t: &str) -> String {
    t.get(..10).unwrap_or(t).to_owned()
}

/// The version range in words: `>= 1.0.0, < 1.99.1`.
pub fn range_text(a: &Affected) -> String {
    let mut parts = Vec::new();
    if let Some(i) = a.introduced.as_deref().filter(|i| *i != "0") {
        parts.push(format!(">= {i}"));
    }
    if let Some(f) = &a.fixed {
        parts.push(format!("< {f}"));
    } else if let Some(l) = &a.last_affected {
        parts.push(format!("<= {l}"));
    }
    if parts.is_empty() {
        "all versions".to_owned()
    } else {
        parts.join(", ")
    }
}
