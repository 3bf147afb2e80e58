//! Similar reports: what a report is made of, compared. A report's text
//! (subject, body, text attachments, decrypted) becomes a set of *terms*:
//! fingerprints (endpoints and URL paths, file paths, function and class
//! names, CVE/GHSA/OSV ids, commit hashes, packages with versions, payload
//! strings, error messages, stack-trace frames, the vulnerability class) and
//! the informative words. Two reports are compared by the cosine of their
//! terms weighted by rarity (inverse document frequency over all reports)
//! and kind (a shared endpoint or payload counts three times a shared
//! word); reports of two different vulnerability classes count a quarter.
//! Fingerprints do not depend on the language, so a German report meets an
//! English one on them. Every suggestion names what it shares.
//!
//! Pure functions; the index lives in the store (`store::similar`).

mod classes;
mod fingerprint;
mod glossary;
pub mod known;

pub use fingerprint::normalize_path;
use fingerprint::{STOP, fingerprints, stem};

use std::collections::{BTreeSet, HashMap};

/// The score from which a report is suggested as similar
/// (`[triage] similar_threshold`'s default): chosen on the labelled set,
/// `tests/data/similar` (docs/how-it-works.md has the figures).
pub const THRESHOLD: f64 = 0.18;

/// What kind of thing a term is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Endpoint,
    Path,
    Symbol,
    Id,
    Commit,
    Package,
    Payload,
    Error,
    Frame,
    Class,
    /// A configured product (`[triage] products`) the report names.
    Product,
    Word,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Endpoint => "endpoint",
            Kind::Path => "path",
            Kind::Symbol => "symbol",
            Kind::Id => "id",
            Kind::Commit => "commit",
            Kind::Package => "package",
            Kind::Payload => "payload",
            Kind::Error => "error",
            Kind::Frame => "frame",
            Kind::Class => "class",
            Kind::Product => "product",
            Kind::Word => "word",
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "endpoint" => Kind::Endpoint,
            "path" => Kind::Path,
            "symbol" => Kind::Symbol,
            "id" => Kind::Id,
            "commit" => Kind::Commit,
            "package" => Kind::Package,
            "payload" => Kind::Payload,
            "error" => Kind::Error,
            "frame" => Kind::Frame,
            "class" => Kind::Class,
            "product" => Kind::Product,
            _ => Kind::Word,
        }
    }

    /// How much a shared term of this kind counts, against a shared word.
    pub fn weight(self) -> f64 {
        match self {
            Kind::Word | Kind::Class | Kind::Product => 1.0,
            Kind::Payload => 1.5,
            Kind::Symbol | Kind::Path => 2.5,
            _ => 3.0,
        }
    }

    /// How a suggestion names a shared term of this kind.
    fn evidence(self) -> &'static str {
        match self {
            Kind::Endpoint => "same endpoint",
            Kind::Path => "same file",
            Kind::Symbol => "same function",
            Kind::Id => "same id",
            Kind::Commit => "same commit",
            Kind::Package => "same package",
            Kind::Payload => "same payload",
            Kind::Error => "same error",
            Kind::Frame => "same stack frame",
            Kind::Class => "same class",
            Kind::Product => "same product",
            Kind::Word => "similar wording",
        }
    }
}

/// One term of a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term {
    pub kind: Kind,
    pub text: String,
}

/// At most this many words (the rarest by a fixed list of common ones) are
/// kept per report; fingerprints are all kept, up to [`MAX_TERMS`].
pub const MAX_WORDS: usize = 60;
pub const MAX_TERMS: usize = 160;
/// How much of a report's text is read for terms.
pub const READ_LIMIT: usize = 64 * 1024;

/// The terms of a report's subject and text; `products` are the
/// configured product names (lower-case) it may name.
pub fn terms(subject: &str, text: &str, products: &[String]) -> Vec<Term> {
    let text = prefix(text, READ_LIMIT);
    let mut out: BTreeSet<Term> = BTreeSet::new();
    let all = format!("{subject}\n{text}");
    fingerprints(&all, &mut out);
    let lower = all.to_lowercase();
    for p in products.iter().filter(|p| !p.is_empty()) {
        if classes::contains_word(&lower, p) {
            out.insert(Term {
                kind: Kind::Product,
                text: p.clone(),
            });
        }
    }
    let mut words: HashMap<String, usize> = HashMap::new();
    for w in all
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .map(|w| w.trim_matches('-').to_lowercase())
        .filter(|w| {
            w.chars().count() >= 4
                && w.chars().any(char::is_alphabetic)
                && !w.starts_with(|c: char| c.is_ascii_digit() || c == '_')
                && !STOP.contains(&w.as_str())
        })
    {
        // A product or class already found is not a word as well.
        if out
            .iter()
            .any(|t| matches!(t.kind, Kind::Product | Kind::Class) && t.text == w)
        {
            continue;
        }
        let term = match glossary::concept(&w) {
            Some(c) => c.to_owned(),
            None => stem(&w),
        };
        *words.entry(term).or_default() += 1;
    }
    // The longer words first (a rough stand-in for rarity), then by count.
    let mut words: Vec<(String, usize)> = words.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.len().cmp(&a.0.len())).then(a.0.cmp(&b.0)));
    for (w, _) in words.into_iter().take(MAX_WORDS) {
        out.insert(Term {
            kind: Kind::Word,
            text: w,
        });
    }
    out.into_iter().take(MAX_TERMS).collect()
}

fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A suggestion: another report (or advisory), its score and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub id: String,
    pub score: f64,
    pub evidence: Vec<String>,
    /// `report` or `advisory`.
    pub kind: &'static str,
    /// For an advisory: the version that fixes it, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// For a report: its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// For one of our own advisories: the report it was published for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl Suggestion {
    /// One line for people: `SEC-2026-0012 0.86 (triaged): same endpoint
    /// `/x`, same payload `<img`` or `GHSA-… 0.71 (advisory, fixed in
    /// 1.99.0): …`.
    pub fn line(&self) -> String {
        let what = match (self.kind, &self.fixed, &self.state, &self.report) {
            ("advisory", Some(f), _, Some(r)) => format!("advisory of {r}, fixed in {f}"),
            ("advisory", None, _, Some(r)) => format!("advisory of {r}"),
            ("advisory", Some(f), _, None) => format!("published advisory, fixed in {f}"),
            ("advisory", None, _, None) => "published advisory".to_owned(),
            (_, _, Some(state), _) => state.clone(),
            _ => self.kind.to_owned(),
        };
        let evidence = if self.evidence.is_empty() {
            "similar wording".to_owned()
        } else {
            self.evidence.join(", ")
        };
        format!("{} {:.2} ({what}) — {evidence}", self.id, self.score)
    }
}

/// Compares two reports' terms. `idf(term)` is the term's rarity over all
/// reports (≥ 1). The score and the evidence, best first.
pub fn compare(a: &[Term], b: &[Term], idf: &dyn Fn(&Term) -> f64) -> (f64, Vec<String>) {
    let weight = |t: &Term| t.kind.weight() * idf(t);
    let norm = |ts: &[Term]| ts.iter().map(|t| weight(t).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return (0.0, Vec::new());
    }
    let bset: BTreeSet<&Term> = b.iter().collect();
    let shared: Vec<&Term> = a.iter().filter(|t| bset.contains(t)).collect();
    let dot: f64 = shared.iter().map(|t| weight(t).powi(2)).sum();
    let mut score = dot / (na * nb);
    // Wording alone is too little unless it is several words: two short
    // mails of "a critical vulnerability, do you pay?" are not one report.
    let words = shared.iter().filter(|t| t.kind == Kind::Word).count();
    if shared.iter().all(|t| t.kind == Kind::Word) && words < 4 {
        score = 0.0;
    }
    let classes = |ts: &[Term]| -> BTreeSet<String> {
        ts.iter()
            .filter(|t| t.kind == Kind::Class)
            .map(|t| t.text.clone())
            .collect()
    };
    let (ca, cb) = (classes(a), classes(b));
    if !ca.is_empty() && !cb.is_empty() && ca.is_disjoint(&cb) {
        // Two different vulnerabilities in one component.
        score *= 0.25;
    }
    let products = |ts: &[Term]| -> BTreeSet<String> {
        ts.iter()
            .filter(|t| t.kind == Kind::Product)
            .map(|t| t.text.clone())
            .collect()
    };
    let (pa, pb) = (products(a), products(b));
    if !pa.is_empty() && !pb.is_empty() && pa.is_disjoint(&pb) {
        // Two products.
        score *= 0.5;
    }
    let mut evidence: Vec<(f64, String)> = shared
        .iter()
        .filter(|t| t.kind != Kind::Word)
        .map(|t| (weight(t), format!("{} `{}`", t.kind.evidence(), t.text)))
        .collect();
    evidence.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let mut evidence: Vec<String> = evidence.into_iter().map(|(_, e)| e).take(5).collect();
    if words >= 3 {
        evidence.push(format!("similar wording ({words} shared words)"));
    }
    (score.min(1.0), evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(ts: &[Term], kind: Kind, text: &str) -> bool {
        ts.iter().any(|t| t.kind == kind && t.text == text)
    }

    #[test]
    fn fingerprints_are_found_and_normalised() {
        let t = terms(
            "Stored XSS in room topics",
            "POST https://matrix.example.org/_matrix/client/v3/rooms/!abc:example.org/report?x=1 with\n\
             <img src=x onerror=alert(1)> in the topic; see synapse/handlers/room.py and RoomCreationHandler.\n\
             Affected matrix-synapse==1.98.0, fixed by a1b2c3d4e5f6. Related: CVE-2024-12345.\n\
             Traceback (most recent call last):\n  File \"synapse/rest/client/room.py\", line 120, in on_POST\n\
             TypeError: object of type NoneType has no len()",
            &[],
        );
        assert!(has(&t, Kind::Endpoint, "/_matrix/client/v3/rooms/{id}/report"), "{t:?}");
        assert!(has(&t, Kind::Payload, "<img"), "{t:?}");
        assert!(has(&t, Kind::Path, "synapse/handlers/room.py"), "{t:?}");
        assert!(has(&t, Kind::Symbol, "roomcreationhandler"), "{t:?}");
        assert!(has(&t, Kind::Package, "matrix-synapse@1.98.0"), "{t:?}");
        assert!(has(&t, Kind::Commit, "a1b2c3d"), "{t:?}");
        assert!(has(&t, Kind::Id, "CVE-2024-12345"), "{t:?}");
        assert!(has(&t, Kind::Frame, "synapse/rest/client/room.py in on_POST"), "{t:?}");
        assert!(has(&t, Kind::Class, "xss"), "{t:?}");
        assert!(t.iter().any(|x| x.kind == Kind::Error), "{t:?}");
    }

    #[test]
    fn the_same_bug_in_two_languages_meets_on_its_fingerprints() {
        let en = terms(
            "XSS in room topic",
            "Setting the topic to <img src=x onerror=alert(1)> via PUT /_matrix/client/v3/rooms/!r:x/state/m.room.topic runs script.",
            &[],
        );
        let de = terms(
            "Cross-Site-Scripting im Raumthema",
            "Wenn man das Thema über PUT /_matrix/client/v3/rooms/!zz:y/state/m.room.topic auf <img src=x onerror=alert(1)> setzt, wird Skript ausgeführt.",
            &[],
        );
        let other = terms(
            "SQL injection in user directory search",
            "POST /_matrix/client/v3/user_directory/search with ' OR 1=1 -- returns every user.",
            &[],
        );
        let idf = |_: &Term| 1.0;
        let (same, evidence) = compare(&de, &en, &idf);
        let (diff, _) = compare(&other, &en, &idf);
        assert!(same > 0.4 && same > 3.0 * diff, "{same} vs {diff}");
        assert!(evidence.iter().any(|e| e.starts_with("same endpoint")), "{evidence:?}");
        assert!(evidence.iter().any(|e| e.starts_with("same payload")), "{evidence:?}");
    }
}
