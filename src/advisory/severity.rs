//! CVSS vectors, scored and rated by RustSec's `cvss` crate (checked against
//! the PyPI `cvss` package in the tests).

use std::str::FromStr;

use serde::Serialize;

/// A parsed vector with its base score and rating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// "3.1", "3.0" or "4.0".
    pub version: &'static str,
    /// The vector as the crate writes it back (normalised).
    pub vector: String,
    pub base_score: f64,
    /// NONE, LOW, MEDIUM, HIGH, CRITICAL (as CVE and CSAF spell it).
    pub rating: &'static str,
}

/// The base metrics every 3.x vector must give.
const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// A CVSS 3.0 or 3.1 base vector.
pub fn v3(vector: &str) -> Result<Score, String> {
    let v = vector.trim();
    let version = if v.starts_with("CVSS:3.1/") {
        "3.1"
    } else if v.starts_with("CVSS:3.0/") {
        "3.0"
    } else {
        return Err(format!("{v:?} is not a CVSS 3.x vector (it starts with CVSS:3.1/)"));
    };
    let parsed = cvss::v3::Vector::from_str(v).map_err(|e| format!("{v:?} does not parse: {e}"))?;
    // The crate takes a vector with base metrics left out; a score needs all.
    let given: Vec<&str> = v.split('/').skip(1).filter_map(|m| m.split(':').next()).collect();
    let missing: Vec<&str> = V3_BASE.iter().copied().filter(|m| !given.contains(m)).collect();
    if !missing.is_empty() {
        return Err(format!("{v:?} lacks the base metric(s) {}", missing.join(", ")));
    }
    let score = parsed.base_score();
    Ok(Score {
        version,
        vector: parsed.to_string(),
        base_score: score.value(),
        rating: rating(score.severity()),
    })
}

/// A CVSS 4.0 vector.
pub fn v4(vector: &str) -> Result<Score, String> {
    let v = vector.trim();
    if !v.starts_with("CVSS:4.0/") {
        return Err(format!("{v:?} is not a CVSS 4.0 vector (it starts with CVSS:4.0/)"));
    }
    let parsed = cvss::v4::Vector::from_str(v).map_err(|e| format!("{v:?} does not parse: {e}"))?;
    Ok(Score {
        version: "4.0",
        vector: parsed.to_string(),
        base_score: parsed.score().value(),
        rating: rating(parsed.score().severity()),
    })
}

fn rating(s: cvss::Severity) -> &'static str {
    match s {
        cvss::Severity::None => "NONE",
        cvss::Severity::Low => "LOW",
        cvss::Severity::Medium => "MEDIUM",
        cvss::Severity::High => "HIGH",
        cvss::Severity::Critical => "CRITICAL",
    }
}

impl Score {
    /// `7.1 HIGH (CVSS:3.1/...)`.
    pub fn describe(&self) -> String {
        format!("{:.1} {} ({})", self.base_score, self.rating, self.vector)
    }
}
