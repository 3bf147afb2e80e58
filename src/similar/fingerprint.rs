//! The fingerprints of a report's text: what identifies the vulnerability
//! whatever the language (endpoints, files, functions, ids, commits,
//! packages, payloads, errors, stack frames, the class), and the stemmer
//! and stop words for its ordinary words.

use std::collections::BTreeSet;

use super::{Kind, Term};

/// A light stemmer: common English, German, French, Spanish and Portuguese
/// plural and verb endings off, so "injections"/"injection" and
/// "reproduced"/"reproduce" meet.
pub(super) fn stem(w: &str) -> String {
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
pub(super) const STOP: &[&str] = &[
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

/// The fingerprints in `text`, into `out`.
pub(super) fn fingerprints(text: &str, out: &mut BTreeSet<Term>) {
    for class in super::classes::named(&text.to_lowercase()) {
        out.insert(term(Kind::Class, class));
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
    let path = t.split(['?', '#']).next().unwrap_or(t);
    if path.starts_with('/') && path[1..].contains('/') && !path.contains("//") {
        out.insert(term(Kind::Endpoint, &normalize_path(path)));
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
        // `im.vector.app.VectorWebViewActivity` and `Thumbnailer.__init__`:
        // the whole name, and its last part, which other reports write alone.
        if let Some((_, last)) = t.trim_end_matches("()").rsplit_once(['.', ':'])
            && let Some(last) = symbol(last)
        {
            out.insert(term(Kind::Symbol, &last));
        }
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
    // After a server name (`/download/hs.example/abc/x.png`) every segment
    // names one piece of media: the endpoint ends there.
    let mut after_host = false;
    let parts: Vec<String> = p
        .split('/')
        .filter_map(|seg| {
            if after_host {
                return None;
            }
            let plain = seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if plain && is_host(&seg.to_ascii_lowercase()) {
                after_host = true;
                return Some("{id}".to_owned());
            }
            Some(seg.to_owned())
        })
        .map(|seg| {
            let seg = seg.as_str();
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
    let lower = t.to_ascii_lowercase();
    if COMMON_SYMBOLS.contains(&lower.as_str()) || is_host(&lower) {
        return None;
    }
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

/// Identifiers every report of a kind uses (the proof of concept's
/// `alert(document.domain)`, the product's own name in CamelCase).
#[rustfmt::skip]
const COMMON_SYMBOLS: &[&str] = &[
    "javascript", "typescript", "github", "gitlab", "document.domain", "document.cookie", "window.location",
    "localstorage", "xmlhttprequest", "iphone", "ipad", "macos", "youtube", "wordpress", "postgresql", "mysql",
    "sqlite", "openssl", "powershell", "websocket", "oauth", "openid", "matrix.to", "matrix.org",
];

/// `evil.example`, `hs.example.org`: a host name, not a code identifier.
fn is_host(t: &str) -> bool {
    const TLDS: &[&str] = &[
        "com",
        "org",
        "net",
        "io",
        "example",
        "test",
        "dev",
        "im",
        "to",
        "me",
        "de",
        "fr",
        "es",
        "pt",
        "uk",
        "co",
        "app",
        "local",
        "internal",
        "invalid",
        "localhost",
        "info",
        "eu",
        "br",
    ];
    t.contains('.') && t.rsplit('.').next().is_some_and(|last| TLDS.contains(&last))
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
            // The mark itself: two reports of one payload rarely write it
            // the same way (alert(1) or alert(document.domain)).
            let _ = i;
            out.insert(term(Kind::Payload, m.trim()));
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
