//! Synthetic reports for the similarity benchmark (`cargo bench --bench
//! similar`) and its small run in the test suite: N reports of a few
//! products, endpoints, classes and a large vocabulary, recorded through
//! `Store::record` (so the index is written in the recording transaction as
//! in the daemon), then new reports looked up with `Store::suggest`. Every
//! query is a rewording of one recorded report (a subset of its endpoint,
//! class, product and words, plus words of its own): the lookup must put
//! that report first.

use std::time::{Duration, Instant};

use embargo::similar::known::Known;
use embargo::similar::terms;
use embargo::store::{Disposition, InboundRow, NewReport, Recorded, Store};

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
const CLASSES: [&str; 10] = [
    "cross-site scripting",
    "SQL injection",
    "SSRF",
    "CSRF",
    "remote code execution",
    "path traversal",
    "open redirect",
    "denial of service",
    "information disclosure",
    "account takeover",
];

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One synthetic report's subject and text, from its seed.
pub fn report(seed: u64) -> (String, String) {
    let mut r = Rng::new(seed.wrapping_mul(7919).wrapping_add(17));
    let product = PRODUCTS[r.below(PRODUCTS.len())];
    let class = CLASSES[r.below(CLASSES.len())];
    let endpoint = format!("/_matrix/client/v3/e{}/op{}", r.below(3000), r.below(20));
    let mut words: Vec<String> = (0..40).map(|_| format!("w{}", r.below(20_000))).collect();
    words.extend((0..10).map(|_| format!("common{}", r.below(50))));
    let subject = format!("{class} in {product} {}", words[0]);
    let text = format!(
        "The {product} endpoint POST {endpoint} has a {class}.\n\
         Steps to reproduce:\n1. log in\n2. POST {endpoint} with the payload\n\
         Impact: an attacker can read data. Version 1.{}.0\n{}\n",
        r.below(100),
        words.join(" ")
    );
    (subject, text)
}

/// A rewording of report `seed`: the same product, class and endpoint,
/// half its words, and words of its own.
pub fn rewording(seed: u64, salt: u64) -> (String, String) {
    let (subject, text) = report(seed);
    let mut r = Rng::new(salt.wrapping_add(99));
    let kept: Vec<&str> = text.split_whitespace().filter(|_| r.below(2) == 0).collect();
    let own: Vec<String> = (0..20).map(|_| format!("x{}", r.below(50_000))).collect();
    (
        format!("Re-report: {subject}"),
        format!("{}\n{}", kept.join(" "), own.join(" ")),
    )
}

fn record(store: &mut Store, n: u64, subject: &str, text: &str, products: &[String]) {
    let row = InboundRow {
        message_id: format!("<synthetic-{n}@bench.test>"),
        from_addr: format!("r{n}@bench.test"),
        subject: subject.to_owned(),
        body: text,
        terms: terms(subject, text, products),
        ..InboundRow::default()
    };
    let d = Disposition::NewReport(NewReport {
        reporter: row.from_addr.clone(),
        reporter_name: String::new(),
        subject: subject.to_owned(),
        compose: Box::new(|_| Ok(None)),
        no_ack_reason: Some("benchmark".into()),
        notes: vec![],
        excluded_topic: None,
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    });
    match store.record(None, &row, d, "SEC").unwrap() {
        Recorded::NewReport { .. } => {}
        other => panic!("{other:?}"),
    }
}

/// What one run measured.
pub struct Run {
    pub reports: usize,
    pub insert: Duration,
    /// Lookup times, sorted.
    pub lookups: Vec<Duration>,
    /// Queries whose own report came first.
    pub found_first: usize,
    /// Resident memory (VmRSS, KiB) after each quarter of the lookups.
    pub rss_kib: Vec<u64>,
    pub db_bytes: u64,
}

impl Run {
    pub fn percentile(&self, p: f64) -> Duration {
        let i = ((self.lookups.len() as f64 - 1.0) * p).round() as usize;
        self.lookups[i]
    }
}

pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Records `reports` synthetic reports into a store file under `dir`, then
/// looks up `queries` rewordings of random recorded ones.
pub fn run(dir: &std::path::Path, reports: usize, queries: usize) -> Run {
    let products: Vec<String> = PRODUCTS.iter().map(|p| p.to_string()).collect();
    let path = dir.join("similar-bench.db");
    let mut store = Store::open(&path).unwrap();
    let started = Instant::now();
    for n in 0..reports as u64 {
        let (s, t) = report(n);
        record(&mut store, n, &s, &t, &products);
    }
    let insert = started.elapsed();
    let known = Known::default();
    let mut r = Rng::new(42);
    let mut lookups = Vec::with_capacity(queries);
    let mut found_first = 0;
    let mut rss = Vec::new();
    for q in 0..queries {
        let of = r.below(reports) as u64;
        let (s, t) = rewording(of, q as u64);
        let started = Instant::now();
        let query = terms(&s, &t, &products);
        let found = store
            .suggest(&query, None, embargo::similar::THRESHOLD, &known, 5)
            .unwrap();
        lookups.push(started.elapsed());
        // Tracking ids are SEC-YYYY-NNNN in recording order, from 1.
        let want = format!("-{:04}", of + 1);
        if found.first().is_some_and(|f| f.id.ends_with(&want)) {
            found_first += 1;
        }
        if (q + 1) % (queries / 4).max(1) == 0 {
            rss.push(rss_kib());
        }
    }
    lookups.sort();
    let db_bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    Run {
        reports,
        insert,
        lookups,
        found_first,
        rss_kib: rss,
        db_bytes,
    }
}
