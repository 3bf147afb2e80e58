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

pub mod known;

use std::collections::{BTreeSet, HashMap};

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
            _ => Kind::Word,
        }
    }

    /// How much a shared term of this kind counts, against a shared word.
    pub fn weight(self) -> f64 {
        match self {
            Kind::Word => 1.0,
            Kind::Class => 2.0,
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

/// The terms of a report's subject and text.
pub fn terms(subject: &str, text: &str) -> Vec<Term> {
    let text = prefix(text, READ_LIMIT);
    let mut out: BTreeSet<Term> = BTreeSet::new();
    let all = format!("{subject}\n{text}");
    fingerprints(&all, &mut out);
    let mut words: HashMap<String, usize> = HashMap::new();
    for w in all
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .map(|w| w.trim_matches('-').to_lowercase())
        .filter(|w| w.chars().count() >= 4 && w.chars().any(char::is_alphabetic) && !STOP.contains(&w.as_str()))
    {
        *words.entry(stem(&w)).or_default() += 1;
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

/// A light stemmer: common English, German, French, Spanish and Portuguese
/// plural and verb endings off, so "injections"/"injection" and
/// "reproduced"/"reproduce" meet.
fn stem(w: &str) -> String {
    for suffix in ["ations", "ation", "ings", "ing", "ies", "ed", "es", "en", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 4
        {
            return base.to_owned();
        }
    }
    w.to_owned()
}

/// Words that say nothing about which vulnerability a report is about.
const STOP: &[&str] = &[
    "this",
    "that",
    "with",
    "from",
    "have",
    "been",
    "were",
    "will",
    "would",
    "could",
    "should",
    "there",
    "their",
    "which",
    "when",
    "what",
    "where",
    "your",
    "yours",
    "into",
    "also",
    "only",
    "then",
    "than",
    "them",
    "they",
    "here",
    "some",
    "such",
    "more",
    "most",
    "very",
    "just",
    "like",
    "does",
    "other",
    "about",
    "after",
    "before",
    "because",
    "while",
    "being",
    "these",
    "those",
    "hello",
    "thanks",
    "thank",
    "regards",
    "best",
    "team",
    "security",
    "report",
    "reporting",
    "found",
    "issue",
    "vulnerability",
    "please",
    "dear",
    "kind",
    "sincerely",
    "attached",
    "below",
    "above",
    "following",
    "using",
    "used",
    "user",
    "users",
    "page",
    "request",
    "response",
    "version",
    "steps",
    "reproduce",
    "impact",
    "attacker",
    "allows",
    "send",
    "sent",
    "mail",
    "email",
    "example",
    "https",
    "http",
    "issue",
    "bug",
    "hallo",
    "danke",
    "grüße",
    "viele",
    "eine",
    "einer",
    "einen",
    "dass",
    "nicht",
    "sich",
    "auch",
    "wird",
    "werden",
    "kann",
    "können",
    "ihre",
    "ihrer",
    "diese",
    "dieser",
    "bonjour",
    "merci",
    "cordialement",
    "pour",
    "dans",
    "avec",
    "vous",
    "votre",
    "cette",
    "sont",
    "hola",
    "gracias",
    "saludos",
    "para",
    "como",
    "este",
    "esta",
    "puede",
    "olá",
    "obrigado",
    "pelo",
    "pela",
    "está",
    "equipe",
    "equipo",
    "sécurité",
    "seguridad",
    "segurança",
    "sicherheit",
    "schwachstelle",
    "vulnérabilité",
    "vulnerabilidad",
    "vulnerabilidade",
];

/// Vulnerability classes, in the languages reports arrive in: the class a
/// report names is a term of its own (`class:xss`).
const CLASSES: &[(&str, &[&str])] = &[
    (
        "xss",
        &[
            "xss",
            "cross-site scripting",
            "cross site scripting",
            "script injection",
        ],
    ),
    (
        "sqli",
        &[
            "sql injection",
            "sqli",
            "injection sql",
            "inyección sql",
            "injeção sql",
            "sql-injection",
            "sql-injektion",
        ],
    ),
    (
        "ssrf",
        &["ssrf", "server-side request forgery", "server side request forgery"],
    ),
    ("csrf", &["csrf", "cross-site request forgery", "xsrf"]),
    (
        "rce",
        &[
            "remote code execution",
            "rce",
            "code execution",
            "command injection",
            "ausführung von code",
        ],
    ),
    (
        "traversal",
        &["path traversal", "directory traversal", "../", "zip slip"],
    ),
    (
        "redirect",
        &[
            "open redirect",
            "redirección abierta",
            "redirection ouverte",
            "offene weiterleitung",
        ],
    ),
    (
        "idor",
        &[
            "idor",
            "insecure direct object",
            "authorization bypass",
            "access control",
            "missing authorization",
        ],
    ),
    (
        "dos",
        &[
            "denial of service",
            "denial-of-service",
            "dos",
            "resource exhaustion",
            "redos",
            "déni de service",
        ],
    ),
    ("xxe", &["xxe", "xml external entity"]),
    (
        "auth",
        &[
            "authentication bypass",
            "account takeover",
            "session fixation",
            "password reset",
        ],
    ),
    (
        "disclosure",
        &[
            "information disclosure",
            "information leak",
            "data leak",
            "fuite d'information",
        ],
    ),
    (
        "memory",
        &[
            "buffer overflow",
            "use-after-free",
            "heap overflow",
            "out-of-bounds",
            "memory corruption",
        ],
    ),
    (
        "deserialization",
        &["deserialization", "deserialisation", "unsafe pickle", "yaml.load"],
    ),
];

/// The fingerprints in `text`, into `out`.
fn fingerprints(text: &str, out: &mut BTreeSet<Term>) {
    let lower = text.to_lowercase();
    for (class, words) in CLASSES {
        if words.iter().any(|w| contains_word(&lower, w)) {
            out.insert(term(Kind::Class, class));
        }
    }
    for line in text.lines().take(2000) {
        let trimmed = line.trim();
        errors_and_frames(trimmed, out);
        // Braces stay in a token: `/rooms/{roomId}/state` is one endpoint.
        for token in trimmed.split(|c: char| c.is_whitespace() || "\"'`<>()[],;".contains(c)) {
            token_terms(token, out);
        }
        payloads(trimmed, out);
    }
}

fn term(kind: Kind, text: &str) -> Term {
    Term {
        kind,
        text: text.to_owned(),
    }
}

/// `w` where a word starts and ends in `text` (both lower-case).
fn contains_word(text: &str, w: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = text.get(from..).and_then(|t| t.find(w)) {
        let at = from + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + w.len()..].chars().next();
        let alnum_start = w.chars().next().is_some_and(char::is_alphanumeric);
        let alnum_end = w.chars().next_back().is_some_and(char::is_alphanumeric);
        if (!alnum_start || before.is_none_or(|c| !c.is_alphanumeric()))
            && (!alnum_end || after.is_none_or(|c| !c.is_alphanumeric()))
        {
            return true;
        }
        from = at + w.len().max(1);
    }
    false
}

/// Terms one whitespace-separated token can be.
fn token_terms(token: &str, out: &mut BTreeSet<Term>) {
    let t = token.trim_matches(|c: char| ".:!?*{}".contains(c));
    if t.len() < 3 || t.len() > 300 {
        return;
    }
    let upper = t.to_ascii_uppercase();
    if (upper.starts_with("CVE-") && upper[4..].chars().filter(char::is_ascii_digit).count() >= 8)
        || (upper.starts_with("GHSA-") && upper.len() == 19)
        || (upper.starts_with("OSV-") || upper.starts_with("PYSEC-") || upper.starts_with("RUSTSEC-"))
    {
        out.insert(term(Kind::Id, &upper));
        return;
    }
    if (7..=40).contains(&t.len())
        && t.chars().all(|c| c.is_ascii_hexdigit())
        && t.chars().any(|c| c.is_ascii_alphabetic())
        && t.chars().any(|c| c.is_ascii_digit())
    {
        out.insert(term(Kind::Commit, &t.to_ascii_lowercase()[..7]));
        return;
    }
    if let Some(path) = url_path(t) {
        if path.len() > 1 {
            out.insert(term(Kind::Endpoint, &normalize_path(&path)));
        }
        return;
    }
    if t.starts_with('/') && t[1..].contains('/') && !t.contains("//") {
        out.insert(term(Kind::Endpoint, &normalize_path(t)));
        return;
    }
    if let Some(p) = package(t) {
        out.insert(term(Kind::Package, &p));
        return;
    }
    if is_file_path(t) {
        out.insert(term(Kind::Path, &t.trim_start_matches("./").to_ascii_lowercase()));
        return;
    }
    if let Some(s) = symbol(t) {
        out.insert(term(Kind::Symbol, &s));
    }
}

/// The path of a URL (`https://host/a/b?x` → `/a/b`).
fn url_path(t: &str) -> Option<String> {
    let rest = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://"))?;
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    Some(path.split(['?', '#']).next().unwrap_or(path).to_owned())
}

/// An endpoint with its variable parts replaced: ids, numbers, room and
/// user ids, hashes become `{id}`, so two reports of one endpoint meet.
pub fn normalize_path(p: &str) -> String {
    let p = p.split(['?', '#']).next().unwrap_or(p);
    let parts: Vec<String> = p
        .split('/')
        .map(|seg| {
            let variable = seg.starts_with('!')
                || seg.starts_with('@')
                || seg.starts_with('$')
                || seg.starts_with('{')
                || seg.starts_with(':')
                || seg.starts_with('<')
                || seg.contains(':')
                || seg.contains('%')
                || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()))
                || (seg.len() >= 16
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && seg.chars().any(|c| c.is_ascii_digit()));
            if variable {
                "{id}".to_owned()
            } else {
                seg.to_ascii_lowercase()
            }
        })
        .collect();
    parts.join("/").trim_end_matches('/').to_owned()
}

/// `name@1.2.3`, `name==1.2.3`, `name 1.2.3` is not one (too loose).
fn package(t: &str) -> Option<String> {
    for sep in ["==", "@"] {
        if let Some((name, version)) = t.split_once(sep)
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            && version.chars().next().is_some_and(|c| c.is_ascii_digit())
            && version.contains('.')
            && !name.contains('.') | name.starts_with('@')
        {
            return Some(format!(
                "{}@{}",
                name.to_ascii_lowercase(),
                version.trim_end_matches('.')
            ));
        }
    }
    None
}

fn is_file_path(t: &str) -> bool {
    const EXT: &[&str] = &[
        ".py", ".rs", ".js", ".ts", ".go", ".java", ".rb", ".php", ".c", ".h", ".cpp", ".cc", ".kt", ".swift", ".tsx",
        ".jsx", ".vue", ".yaml", ".yml", ".toml", ".json", ".html", ".sh",
    ];
    let lower = t.to_ascii_lowercase();
    lower.contains('/') && EXT.iter().any(|e| lower.ends_with(e)) && !lower.contains("//")
        || (EXT.iter().any(|e| lower.ends_with(e)) && lower.len() > 5 && !lower.starts_with('.'))
}

/// `Foo::bar`, `foo.bar_baz`, `snake_case_name`, `CamelCaseName`: code
/// identifiers, lower-cased.
fn symbol(t: &str) -> Option<String> {
    let t = t.trim_end_matches("()");
    if !t.chars().all(|c| c.is_ascii_alphanumeric() || "_:.".contains(c)) || t.len() < 6 {
        return None;
    }
    let snake = t.contains('_') && t.chars().any(|c| c.is_ascii_alphabetic());
    let path = t.contains("::")
        || (t.contains('.')
            && t.split('.')
                .all(|p| !p.is_empty() && !p.chars().all(|c| c.is_ascii_digit()))
            && t.split('.').count() >= 2
            && t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    let camel = t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && t.chars().skip(1).any(|c| c.is_ascii_uppercase())
        && t.chars().any(|c| c.is_ascii_lowercase());
    (snake || path || camel).then(|| t.to_ascii_lowercase())
}

/// Strings that carry an attack: script tags, event handlers, SQL
/// tautologies, template expressions, traversal, shell substitutions.
fn payloads(line: &str, out: &mut BTreeSet<Term>) {
    let lower = line.to_lowercase();
    const MARKS: &[&str] = &[
        "<script",
        "onerror=",
        "onload=",
        "javascript:",
        "<svg",
        "<img",
        "' or '1'='1",
        "' or 1=1",
        "\" or 1=1",
        "union select",
        "{{7*7}}",
        "${7*7}",
        "../../",
        "..%2f",
        "$(",
        "`id`",
        ";id;",
        "<!entity",
        "sleep(",
        "file:///",
        "169.254.169.254",
        "gopher://",
        "localhost:",
        "127.0.0.1",
    ];
    for m in MARKS {
        if let Some(i) = lower.find(m) {
            // The payload's own text, a bounded window from the mark.
            let window: String = lower[i..].chars().take(40).collect();
            let canonical: String = window.split_whitespace().next().unwrap_or(m).chars().take(32).collect();
            out.insert(term(Kind::Payload, &canonical));
        }
    }
}

/// Error messages and stack frames: `Error: ...`, `...Exception: ...`,
/// `panicked at`, Python's `File "x.py", line 3, in f`, JavaScript's
/// `at f (file.js:1:2)`, Rust's `at src/x.rs:1`.
fn errors_and_frames(line: &str, out: &mut BTreeSet<Term>) {
    let lower = line.to_lowercase();
    if let Some(i) = ["error:", "exception:", "panicked at", "traceback", "fatal:"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        && line.len() < 400
    {
        let msg: String = lower[i..]
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .take(8)
            .collect::<Vec<_>>()
            .join(" ");
        if msg.len() > 12 {
            out.insert(term(Kind::Error, &msg));
        }
    }
    if let Some(rest) = line.strip_prefix("File \"")
        && let Some((file, tail)) = rest.split_once('"')
        && let Some(func) = tail.rsplit(" in ").next()
    {
        out.insert(term(
            Kind::Frame,
            &format!("{} in {}", file.to_ascii_lowercase(), func.trim()),
        ));
    } else if let Some(rest) = line.strip_prefix("at ")
        && rest.len() < 300
    {
        let frame: String = rest
            .split(['(', ':'])
            .next()
            .unwrap_or(rest)
            .trim()
            .to_ascii_lowercase();
        if frame.len() > 3 {
            out.insert(term(Kind::Frame, &frame));
        }
    }
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
    let mut evidence: Vec<(f64, String)> = shared
        .iter()
        .filter(|t| t.kind != Kind::Word)
        .map(|t| (weight(t), format!("{} `{}`", t.kind.evidence(), t.text)))
        .collect();
    evidence.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let mut evidence: Vec<String> = evidence.into_iter().map(|(_, e)| e).take(5).collect();
    let words = shared.iter().filter(|t| t.kind == Kind::Word).count();
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
        );
        let de = terms(
            "Cross-Site-Scripting im Raumthema",
            "Wenn man das Thema über PUT /_matrix/client/v3/rooms/!zz:y/state/m.room.topic auf <img src=x onerror=alert(1)> setzt, wird Skript ausgeführt.",
        );
        let other = terms(
            "SQL injection in user directory search",
            "POST /_matrix/client/v3/user_directory/search with ' OR 1=1 -- returns every user.",
        );
        let idf = |_: &Term| 1.0;
        let (same, evidence) = compare(&de, &en, &idf);
        let (diff, _) = compare(&other, &en, &idf);
        assert!(same > 0.4 && same > 3.0 * diff, "{same} vs {diff}");
        assert!(evidence.iter().any(|e| e.starts_with("same endpoint")), "{evidence:?}");
        assert!(evidence.iter().any(|e| e.starts_with("same payload")), "{evidence:?}");
    }
}
