//! Excluded topics: mail about things the policy says it does not want
//! (missing or weak SPF/DMARC, "email spoofing is possible").
//!
//! Precision matters more than recall: a real vulnerability that merely
//! mentions SPF, DMARC or DKIM must never be excluded. A topic therefore
//! needs (1) an anchor term, (2) at least `min_phrases` distinct phrases of
//! the beg-bounty genre, (3) one of its `records` terms: the mail is about
//! the domain's DNS records (`v=spf1`, `p=none`, `_dmarc`, `dig` output, "no
//! record found"), and (4) none of the `unless` terms, which name a real
//! vulnerability class (SSRF, XXE, injection, overflow, crash, ...) or
//! software that handles mail authentication (a bridge, gateway, importer,
//! library, the From header, acting as another user), or say outright that
//! the report is not about the DNS records.
//! Matching is case-insensitive on the subject and the (decrypted) text; a
//! term matches where a word starts.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub reply_template: PathBuf,
    pub anchors: Vec<String>,
    pub phrases: Vec<String>,
    pub min_phrases: usize,
    /// At least one must occur (empty: no such condition).
    pub records: Vec<String>,
    pub unless: Vec<String>,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_lowercase()).collect()
}

/// Phrases that mark a report as about SPF, DMARC or spoofing (or a
/// bounty demand that usually comes with one), in the languages such mail
/// arrives in (`Topic` says how they count).
const SPF_DMARC_PHRASES: &[&str] = &[
    // English
    "missing dmarc",
    "missing spf",
    "no dmarc",
    "no spf",
    "dmarc record",
    "spf record",
    "dmarc policy",
    "p=none",
    "~all",
    "softfail",
    "email spoofing",
    "e-mail spoofing",
    "email-spoofing",
    "e-mail-spoofing",
    "spoofing is possible",
    "spoof emails",
    "spoof email",
    "spoofed email",
    "spoofed mail",
    "spoofing vulnerability",
    "lacks proper email authentication",
    "not enforced",
    "mxtoolbox",
    "emkei",
    // Claims that a domain lacks SPF/DMARC/DKIM "protection",
    // "configuration" or "setup" are the same topic as a missing record.
    "dmarc protection",
    "spf protection",
    "dkim protection",
    "dmarc and spf",
    "spf and dmarc",
    "dmarc & spf",
    "spf & dmarc",
    "spf/dmarc",
    "dmarc/spf",
    "dmarc not configured",
    "spf not configured",
    "dmarc configuration",
    "spf configuration",
    "dmarc setup",
    "spf setup",
    "spf and dmarc misconfiguration",
    "dmarc misconfiguration",
    "spf misconfiguration",
    "dmrac",
    "bounty",
    "reward",
    "swag",
    // German, Dutch
    "dmarc-eintrag",
    "spf-eintrag",
    "dmarc- und spf-schutz",
    "spf- und dmarc-schutz",
    "dmarc-schutz",
    "spf-schutz",
    "e-mail-spoofing",
    "dmarc-record",
    "spf-record",
    "belohnung",
    "beloning",
    // French, Spanish, Portuguese, Italian
    "enregistrement spf",
    "enregistrement dmarc",
    "protection spf",
    "protection dmarc",
    "spf et dmarc",
    "dmarc et spf",
    "protección dmarc",
    "protección spf",
    "dmarc y spf",
    "spf y dmarc",
    "proteção dmarc",
    "proteção spf",
    "dmarc e spf",
    "spf e dmarc",
    "politique dmarc",
    "récompense",
    "registro spf",
    "registro dmarc",
    "spoofing de correo",
    "spoofing de e-mail",
    "recompensa",
    "record spf",
    "record dmarc",
    "spoofing delle email",
    "ricompensa",
    // Turkish
    "dmarc kaydı",
    "spf kaydı",
    "e-posta spoofing",
    "ödül",
    // Russian
    "dmarc запись",
    "spf запись",
    "спуфинг",
    "вознаграждение",
];

/// Words for a DNS record, and the records themselves; and what a beg
/// bounty calls them instead ("protection", "configuration", "setup").
const SPF_DMARC_RECORDS: &[&str] = &[
    "record",
    "protection",
    "configured",
    "configuration",
    "misconfiguration",
    "setup",
    "set up",
    "schutz",
    "konfiguriert",
    "protección",
    "configurada",
    "configurado",
    "proteção",
    "configuração",
    "configurée",
    "dmrac",
    "registro",
    "registo",
    "enregistrement",
    "eintrag",
    "запись",
    "kaydı",
    "v=spf1",
    "v=dmarc1",
    "p=none",
    "p=quarantine",
    "~all",
    "softfail",
    "_dmarc",
    "nslookup",
    "mxtoolbox",
    "dmarc policy",
    "politique dmarc",
    "política dmarc",
    "policy",
    "not enforced",
    "no spf",
    "no dmarc",
    "missing spf",
    "missing dmarc",
];

/// Words that keep a report in scope however many phrases match.
const SPF_DMARC_UNLESS: &[&str] = &[
    // Software that handles mail authentication: a report about the
    // product's own code, whatever words it uses.
    "bridge",
    "gateway",
    "importer",
    "import job",
    "ingest",
    "from header",
    "from: header",
    "from-header",
    "two from",
    "display name",
    "nombre visible",
    "header parsing",
    "library",
    "verifier",
    "milter",
    "webmail",
    "helpdesk",
    "mailing list software",
    "gestionnaire de listes",
    "as that user",
    "as another user",
    "as any user",
    "another user",
    "another customer",
    "other users",
    "im namen eines",
    "im namen anderer",
    "the code",
    "in the code",
    "im code",
    "logic",
    "logique",
    "lógica",
    "handler",
    "authorization",
    "authorisation",
    "autorisation",
    "the api",
    "endpoint",
    "arc seal",
    "arc chain",
    "imip",
    "itip",
    "docker",
    "signup",
    "ownership",
    "server side",
    // "This is not about your DNS records", in so many words.
    "not about your",
    "not about the",
    "independent of any",
    "nicht um ihre",
    "betrifft nicht",
    "ne s'agit pas",
    "n'est pas lié",
    "no es un problema",
    "no tiene que ver",
    "não é uma questão",
    "non riguarda",
    "gaat niet over",
    "это не проблема",
    "の問題ではなく",
    // Real vulnerability classes.
    "ssrf",
    "xxe",
    "xss",
    "injection",
    "inyección",
    "remote code",
    "rce",
    "code execution",
    "overflow",
    "crash",
    "segfault",
    "denial of service",
    "parser",
    "parses",
    "parsing",
    "zip slip",
    "traversal",
    "open redirect",
    "idor",
    "information disclosure",
    "account takeover",
    "race condition",
    "prototype pollution",
    "bypass",
    "asan",
    "fuzz",
    "stack trace",
    "csrf",
    "deserializ",
    "heap",
    "use-after-free",
    "logic bug",
    "cve-",
    "memory corruption",
    "privilege escalation",
    "leak",
];

/// The built-in lists of the `spf-dmarc` topic.
pub fn spf_dmarc(reply_template: PathBuf) -> Topic {
    Topic {
        name: "spf-dmarc".to_owned(),
        reply_template,
        anchors: strings(&["spf", "dmarc", "spoof", "спуфинг", "usurpation"]),
        phrases: strings(SPF_DMARC_PHRASES),
        min_phrases: 2,
        records: strings(SPF_DMARC_RECORDS),
        unless: strings(SPF_DMARC_UNLESS),
    }
}

/// Lower-cased, whitespace collapsed.
/// Lower-cased, whitespace runs folded to one space; appended to `out`.
fn normalize_into(out: &mut String, text: &str) {
    let mut space = out.ends_with(' ');
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
}

/// How much of the body the classifier reads. The mail it is for (form
/// letters about SPF, DMARC, clickjacking) is a few KB; a report with a
/// 25 MB body is not one, and copying all of it twice to find out would
/// dominate intake's memory for such a message.
pub const CLASSIFY_LIMIT: usize = 256 * 1024;

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

/// Does `term` occur in `text` where a word starts?
fn contains_term(text: &str, term: &str) -> bool {
    if term.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(pos) = text.get(from..).and_then(|t| t.find(term)) {
        let at = from + pos;
        let starts_word = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let first_is_word = term.chars().next().is_some_and(char::is_alphanumeric);
        if starts_word || !first_is_word {
            return true;
        }
        from = at + term.len();
    }
    false
}

/// Why `text` falls under `topic`, or None.
pub fn matches(topic: &Topic, text: &str) -> Option<Vec<String>> {
    if topic.unless.iter().any(|u| contains_term(text, u)) {
        return None;
    }
    if !topic.anchors.is_empty() && !topic.anchors.iter().any(|a| contains_term(text, a)) {
        return None;
    }
    if !topic.records.is_empty() && !topic.records.iter().any(|r| contains_term(text, r)) {
        return None;
    }
    let hits: Vec<String> = topic
        .phrases
        .iter()
        .filter(|p| contains_term(text, p))
        .cloned()
        .collect();
    (hits.len() >= topic.min_phrases.max(1)).then_some(hits)
}

/// The first topic that `subject` + `body` fall under.
pub fn classify<'a>(topics: &'a [Topic], subject: &str, body: &str) -> Option<(&'a Topic, Vec<String>)> {
    let mut text = String::new();
    normalize_into(&mut text, prefix(subject, CLASSIFY_LIMIT));
    text.push(' ');
    normalize_into(&mut text, prefix(body, CLASSIFY_LIMIT));
    topics.iter().find_map(|t| matches(t, &text).map(|hits| (t, hits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(kind: &str) -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/exclusion")
            .join(kind);
        let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn split(text: &str) -> (&str, &str) {
        let (head, body) = text.split_once("\n\n").unwrap_or(("", text));
        (head.trim_start_matches("Subject:").trim(), body)
    }

    /// The labelled set: precision must be 100 %, recall at least 95 %.
    #[test]
    fn labelled_set_precision_and_recall() {
        let topics = vec![spf_dmarc(PathBuf::from("out-of-scope.txt"))];
        let beg = load("beg");
        let genuine = load("genuine");
        assert!(beg.len() >= 40 && genuine.len() >= 40, "at least 40 of each");
        let excluded = |t: &str| {
            let (s, b) = split(t);
            classify(&topics, s, b).is_some()
        };
        let tp = beg.iter().filter(|(_, t)| excluded(t)).count();
        let fp: Vec<&String> = genuine.iter().filter(|(_, t)| excluded(t)).map(|(n, _)| n).collect();
        let missed: Vec<&String> = beg.iter().filter(|(_, t)| !excluded(t)).map(|(n, _)| n).collect();
        let precision = tp as f64 / (tp + fp.len()).max(1) as f64;
        let recall = tp as f64 / beg.len() as f64;
        println!(
            "exclusion set: {} beg-bounty, {} genuine; precision {precision:.3}, recall {recall:.3}; missed {missed:?}",
            beg.len(),
            genuine.len()
        );
        assert!(fp.is_empty(), "genuine reports excluded: {fp:?}");
        assert!(recall >= 0.95, "recall {recall}: missed {missed:?}");
    }

    #[test]
    fn terms_match_at_word_starts_only() {
        assert!(contains_term("no spf record", "spf"));
        assert!(contains_term("bug-bounty", "bounty"));
        assert!(contains_term("uses ~all here", "~all"));
        assert!(!contains_term("wordspf", "spf"));
        assert!(contains_term("spoofing", "spoof"));
        assert!(!contains_term("", "spf"));
    }

    /// Only the first CLASSIFY_LIMIT bytes of the body are read, cut on a
    /// character boundary; what follows cannot change the verdict.
    #[test]
    fn long_bodies_are_classified_on_their_start() {
        let topics = vec![spf_dmarc(PathBuf::from("out-of-scope.txt"))];
        let beg = "Your domain has no DMARC record and the SPF record is weak, email spoofing is possible. Bounty?";
        // Two-byte characters with an odd offset, so the limit falls inside one.
        let tail = format!("x{}", "é".repeat(CLASSIFY_LIMIT));
        assert!(classify(&topics, "Missing DMARC", &format!("{beg}\n{tail}")).is_some());
        let late = format!("{tail}\n{beg}");
        assert!(classify(&topics, "report", &late).is_none());
        assert_eq!(prefix("aé", 2), "a");
        let mut n = String::new();
        normalize_into(&mut n, "  A\t\nB  ");
        assert_eq!(n, " a b ");
    }
}
