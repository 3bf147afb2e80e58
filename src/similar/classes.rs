//! The vulnerability class a report names (`class:xss`), found with one
//! pass over its text for all the phrases of every language at once.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// Vulnerability classes, in the languages reports arrive in: the class a
/// report names is a term of its own (`class:xss`).
#[rustfmt::skip]
pub(super) const CLASSES: &[(&str, &[&str])] = &[
    ("xss", &["xss", "cross-site scripting", "cross site scripting", "cross-site-scripting", "script injection", "javascript injection"]),
    ("html", &["html injection", "injection html", "injection de html", "html-injektion", "inyección de html", "injeção de html"]),
    ("sqli", &["sql injection", "sqli", "injection sql", "inyección sql", "injeção sql", "injeção de sql", "sql-injection", "sql-injektion"]),
    ("ssrf", &["ssrf", "server-side request forgery", "server side request forgery"]),
    ("csrf", &["csrf", "cross-site request forgery", "cross site request forgery", "xsrf", "falsification de requête"]),
    ("rce", &["remote code execution", "rce", "code execution", "command injection", "codeausführung", "ausführung von code",
              "exécution de code", "ejecución remota de código", "ejecución de código", "execução remota de código", "execução de código"]),
    ("traversal", &["path traversal", "directory traversal", "../", "..%2f", "zip slip", "traversée de répertoire",
                    "recorrido de directorios", "travessia de diretório", "verzeichnisdurchquerung"]),
    ("redirect", &["open redirect", "offene weiterleitung", "redirection ouverte", "redirección abierta", "redirecionamento aberto"]),
    ("idor", &["idor", "insecure direct object", "authorization bypass", "missing authorization", "lacks authorization",
               "broken access control", "access control"]),
    ("dos", &["denial of service", "denial-of-service", "dos", "resource exhaustion", "redos", "déni de service",
              "denegación de servicio", "negação de serviço", "dienstverweigerung", "decompression bomb",
              "dekompressionsbombe", "memory exhaustion", "exhaust memory", "exhausts memory", "out of memory",
              "agotamiento de memoria", "catastrophic backtracking", "retroceso exponencial"]),
    ("xxe", &["xxe", "xml external entity", "external entities", "<!entity"]),
    ("auth", &["authentication bypass", "account takeover", "session fixation", "kontoübernahme",
               "prise de contrôle du compte", "toma de control de la cuenta", "impersonation", "spoof"]),
    ("disclosure", &["information disclosure", "information leak", "data leak", "fuite d'information",
                     "fuga de información", "vazamento de informações", "informationsleck"]),
    ("memory", &["buffer overflow", "use-after-free", "heap overflow", "out-of-bounds", "memory corruption"]),
    ("deserialization", &["deserialization", "deserialisation", "unsafe pickle", "yaml.load"]),
    ("enum", &["user enumeration", "account enumeration", "enumerate the accounts", "enumerate users", "enumerate"]),
    ("bruteforce", &["brute force", "brute-force", "brute forcing", "no rate limit", "rate limit", "rate-limit",
                     "força bruta", "fuerza bruta", "begrenzung der versuche", "keine begrenzung", "limitation de débit",
                     "limita as tentativas", "guessed", "guess"]),
    ("tls", &["certificate validation", "validate tls", "invalid certificates", "self-signed", "any server certificate",
              "any tls certificate", "jedes tls-zertifikat", "prüft zertifikate", "certificats invalides"]),
    ("clickjacking", &["clickjacking", "frame-ancestors", "x-frame-options", "framed by"]),
    ("prototype", &["prototype pollution", "__proto__", "object.prototype"]),
    ("race", &["race condition", "concurrent", "race in", "twice"]),
    ("template", &["template injection", "ssti", "{{7*7}}", "${7*7}"]),
    ("tokenleak", &["access token in", "access tokens in", "tokens in", "token leak", "logs access tokens", "access_token="]),
];

/// A phrase and the index of its class in [`CLASSES`].
type Phrase = (usize, &'static str);

/// Every phrase of [`CLASSES`] in one automaton, and the class of each.
/// (Matching each phrase on its own built a searcher per phrase and read
/// the text 150 times: a tenth of a plain backlog's CPU.)
static FINDER: LazyLock<Option<(AhoCorasick, Vec<Phrase>)>> = LazyLock::new(|| {
    let phrases: Vec<Phrase> = CLASSES
        .iter()
        .enumerate()
        .flat_map(|(class, (_, words))| words.iter().map(move |w| (class, *w)))
        .collect();
    let finder = AhoCorasick::new(phrases.iter().map(|(_, w)| w)).ok()?;
    Some((finder, phrases))
});

/// The classes whose phrases stand as words in `lower` (lower-case), in
/// the order of [`CLASSES`].
pub(super) fn named(lower: &str) -> Vec<&'static str> {
    let mut found = vec![false; CLASSES.len()];
    match &*FINDER {
        Some((finder, phrases)) => {
            for m in finder.find_overlapping_iter(lower) {
                let (class, w) = phrases[m.pattern().as_usize()];
                if !found[class] && word_at(lower, m.start(), w) {
                    found[class] = true;
                }
            }
        }
        // Not reached (the phrases are constants): one search per phrase.
        None => {
            for (class, (_, words)) in CLASSES.iter().enumerate() {
                found[class] = words.iter().any(|w| contains_word(lower, w));
            }
        }
    }
    CLASSES
        .iter()
        .zip(found)
        .filter_map(|((name, _), f)| f.then_some(*name))
        .collect()
}

/// Whether `w`, found at byte `at` of `text`, stands there as a word: no
/// letter or digit runs into it where it begins or ends with one.
fn word_at(text: &str, at: usize, w: &str) -> bool {
    let before = text[..at].chars().next_back();
    let after = text[at + w.len()..].chars().next();
    let alnum_start = w.chars().next().is_some_and(char::is_alphanumeric);
    let alnum_end = w.chars().next_back().is_some_and(char::is_alphanumeric);
    (!alnum_start || before.is_none_or(|c| !c.is_alphanumeric()))
        && (!alnum_end || after.is_none_or(|c| !c.is_alphanumeric()))
}

/// `w` where a word starts and ends in `text` (both lower-case).
pub(super) fn contains_word(text: &str, w: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = text.get(from..).and_then(|t| t.find(w)) {
        let at = from + pos;
        if word_at(text, at, w) {
            return true;
        }
        from = at + w.len().max(1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass search finds exactly what searching phrase by phrase
    /// finds, for every phrase where a word begins and ends and where it
    /// does not, alone and in company.
    #[test]
    fn one_pass_finds_what_each_phrase_alone_finds() {
        let by_phrase = |lower: &str| -> Vec<&'static str> {
            CLASSES
                .iter()
                .filter(|(_, words)| words.iter().any(|w| contains_word(lower, w)))
                .map(|(name, _)| *name)
                .collect()
        };
        let edges = ["", " ", "a", "9", "é", ".", "/", "\n", "x-", "ß"];
        let all: Vec<&str> = CLASSES.iter().flat_map(|(_, w)| w.iter().copied()).collect();
        let mut texts = Vec::new();
        for (i, w) in all.iter().enumerate() {
            for before in edges {
                for after in edges {
                    texts.push(format!("{before}{w}{after}"));
                }
            }
            let next = all[(i + 1) % all.len()];
            texts.push(format!("{w}{next}"));
            texts.push(format!("the {w} and then {next}s, {w}"));
            texts.push(format!("{w}{w} {w}"));
        }
        texts.push("cross-site scripting via ../../etc/passwd leads to rce and a dos".into());
        texts.push(String::new());
        for t in &texts {
            assert_eq!(named(t), by_phrase(t), "{t:?}");
        }
        assert!(FINDER.is_some());
    }
}
