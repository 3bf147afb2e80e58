//! What a report is missing, of what a team needs to act on it. Each item
//! is decided from the (decrypted) subject and text, in English, German,
//! French, Spanish and Portuguese; docs/how-it-works.md says the same:
//!
//! - `product`: it names what is affected: a product from
//!   `[triage] products`, a package with a version, a URL, an endpoint or a
//!   file path, or a kind of software (server, client, app, API, library,
//!   plugin, website, homeserver, Android, iOS, desktop, ...).
//! - `version`: a version number (`1.2`, `v2.3.4`, `matrix-synapse==1.98.0`),
//!   a commit hash, or "latest version", "main branch" and their
//!   translations.
//! - `steps`: how to reproduce it: the words ("steps to reproduce", "to
//!   reproduce", "Steps:", "Schritte", "étapes", "pasos", "passos"), a
//!   numbered list of at least two items, or a request or command line of
//!   its own (the one request that shows it).
//! - `impact`: what an attacker gains or what harm follows: the words
//!   ("impact", "allows", "leads to", "Auswirkung", "impacto", ...), an
//!   attacker named ("an attacker", "Angreifer", "attaquant", "atacante",
//!   "malicious"), or the harm named (takeover, leak, disclosure, denial of
//!   service, code execution, phishing, impersonation, bypass, ...).
//! - `poc`: a proof of concept: an HTTP request (`GET /...`), a `curl`, `adb`
//!   or shell command, a URL with a crafted query, an HTML or attack
//!   payload, a code block or script, the words "proof of concept"/"PoC"/
//!   "exploit code", or an attachment.

use crate::similar::{Kind, Term};

/// The items, in the order they are listed.
pub const ITEMS: [&str; 5] = ["product", "version", "steps", "impact", "poc"];

/// How the acknowledgement asks for an item (`[reply] ask_for_missing`).
pub fn ask(item: &str) -> &'static str {
    match item {
        "product" => "which product or component is affected (a name, a URL, a package)",
        "version" => "the version you tested (a version number or a commit)",
        "steps" => "the steps to reproduce it",
        "impact" => "what an attacker gains (the impact)",
        _ => "a proof of concept (a request, a script or a payload)",
    }
}

/// The items `subject` and `text` lack. `terms` are the report's
/// (`similar::terms`), `attachments` how many non-text parts it had,
/// `products` the configured product names (lower-case).
pub fn missing(
    subject: &str,
    text: &str,
    terms: &[Term],
    attachments: usize,
    products: &[String],
) -> Vec<&'static str> {
    // Phrases may break across lines ("To\nreproduce").
    let lower = format!("{subject}\n{text}")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let has_kind = |k: Kind| terms.iter().any(|t| t.kind == k);
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let word = |words: &[&str]| words.iter().any(|w| contains_word(&lower, w));
    let product = products.iter().any(|p| contains_word(&lower, p))
        || has_kind(Kind::Product)
        || has_kind(Kind::Package)
        || has_kind(Kind::Endpoint)
        || has_kind(Kind::Path)
        || lower.contains("https://")
        || lower.contains("http://")
        || word(SOFTWARE);
    let version = has_kind(Kind::Package) || has_kind(Kind::Commit) || has_version(&lower) || any(VERSION_WORDS);
    let lines: Vec<&str> = text.lines().map(unlisted).collect();
    let command_line = lines.iter().any(|l| starts_command(l));
    let steps = any(STEPS) || numbered_list(text) || command_line;
    let impact = any(IMPACT) || word(ATTACKER) || any(HARM);
    let poc = attachments > 0
        || has_kind(Kind::Payload)
        || word(POC)
        || lower.contains("```")
        || command_line
        || lines.iter().any(|l| request_in(l))
        || crafted_url(&lower)
        || any(CODE);
    ITEMS
        .iter()
        .zip([product, version, steps, impact, poc])
        .filter(|(_, present)| !present)
        .map(|(item, _)| *item)
        .collect()
}

/// A line without its list marker (`1.`, `2)`, `-`, `*`).
fn unlisted(line: &str) -> &str {
    let l = line.trim_start();
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    let l = if digits > 0 && l[digits..].starts_with(['.', ')']) {
        &l[digits + 1..]
    } else {
        l.strip_prefix("- ").or_else(|| l.strip_prefix("* ")).unwrap_or(l)
    };
    l.trim_start()
}

/// A request or command on a line of its own.
fn starts_command(l: &str) -> bool {
    if (l.starts_with('/') || l.starts_with("http")) && !l.contains(' ') && l.len() > 8 {
        // A URL or path alone on its line: the request to make.
        return true;
    }
    const STARTS: &[&str] = &[
        "GET /", "POST /", "PUT /", "DELETE /", "PATCH /", "curl ", "$ ", "adb ", "python3 ", "python ", "import ",
        "<?php", "#!/", "<iframe", "<form", "<script", "wget ", "nc ",
    ];
    STARTS.iter().any(|p| l.starts_with(p)) || (l.starts_with("for ") && l.contains("; do "))
}

/// An HTTP request inside running text ("... with POST /_matrix/...").
fn request_in(l: &str) -> bool {
    ["GET /", "POST /", "PUT /", "DELETE /", "PATCH /", "curl ", "adb shell"]
        .iter()
        .any(|p| l.contains(p))
}

/// A URL with a query that carries something (`?next=https://evil`).
fn crafted_url(lower: &str) -> bool {
    lower
        .split_whitespace()
        .filter(|w| w.contains("://"))
        .any(|w| w.split_once('?').is_some_and(|(_, q)| q.contains('=')))
}

/// `w` where a word starts and ends in `text`.
fn contains_word(text: &str, w: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = text.get(from..).and_then(|t| t.find(w)) {
        let at = from + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + w.len()..].chars().next();
        if before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric()) {
            return true;
        }
        from = at + w.len().max(1);
    }
    false
}

#[rustfmt::skip]
const SOFTWARE: &[&str] = &[
    "server", "client", "app", "application", "api", "library", "plugin", "extension", "website", "web site",
    "homeserver", "android", "ios", "desktop", "firmware", "package", "module", "endpoint", "identity server",
    "bot", "proxy", "sdk", "anwendung", "bibliothek", "aplicación", "aplicativo", "biblioteca", "logiciel",
    "bibliothèque", "serveur", "servidor", "servers", "servern", "clients", "apps", "libraries", "plugins",
    "extensions", "websites", "homeservers", "endpoints", "packages", "modules", "bots", "serveurs", "servidores",
];

#[rustfmt::skip]
const VERSION_WORDS: &[&str] = &[
    "latest version", "latest release", "master branch", "main branch", "current version", "develop build",
    "neueste version", "aktuelle version", "dernière version", "última versión", "versión actual", "última versão",
    "versão atual",
];

#[rustfmt::skip]
const STEPS: &[&str] = &[
    "steps to reproduce", "to reproduce", "reproduction", "reproduce:", "steps:", "step 1", "schritte",
    "reproduzieren", "étapes", "reproduire", "pasos", "reproducir", "passos", "reproduzir",
];

#[rustfmt::skip]
const IMPACT: &[&str] = &[
    "impact", "allows", "allow ", "leads to", "lead to", "results in", "could be abused", "can be used to",
    "auswirkung", "ermöglicht", "permet", "permite", "impacto", "impacte",
];

#[rustfmt::skip]
const ATTACKER: &[&str] = &[
    "attacker", "attackers", "an attacker", "angreifer", "attaquant", "attaquants", "atacante", "atacantes",
    "malicious", "adversary",
];

#[rustfmt::skip]
const HARM: &[&str] = &[
    "takeover", "take over", "leak", "disclosure", "denial of service", "code execution", "phishing",
    "impersonat", "bypass", "steal", "exfiltrat", "escalat", "hijack", "fuga de", "fuite", "vazamento",
    "kontoübernahme", "übernahme",
];

/// Code and markup that show the attack: JSON bodies, HTML, expressions.
#[rustfmt::skip]
const CODE: &[&str] = &[
    "{\"", "<a href", "<b>", "<iframe", "<form", "<div", ".repeat(", "print(", "console.", "fetch(", "$(id)",
    "$(whoami)", "$(curl",
];

#[rustfmt::skip]
const POC: &[&str] = &[
    "proof of concept", "proof-of-concept", "poc", "exploit code", "exploit script", "preuve de concept",
    "prueba de concepto", "prova de conceito",
];

/// A version number: digits, a dot, digits, where a word starts.
fn has_version(lower: &str) -> bool {
    let b = lower.as_bytes();
    b.windows(3).enumerate().any(|(i, w)| {
        w[0].is_ascii_digit()
            && w[1] == b'.'
            && w[2].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'v')
    })
}

/// At least two lines numbered `1.`/`1)` and `2.`/`2)`.
fn numbered_list(text: &str) -> bool {
    let numbered = |n: char| {
        text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(n) && l[1..].starts_with(['.', ')'])
        })
    };
    numbered('1') && numbered('2')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subject: &str, text: &str) -> Vec<&'static str> {
        missing(subject, text, &crate::similar::terms(subject, text, &[]), 0, &[])
    }

    #[test]
    fn a_complete_report_misses_nothing_and_a_bare_one_everything() {
        let full = "Steps to reproduce:\n1. Log in\n2. POST /api/v1/rooms with <img src=x onerror=alert(1)>\n\
                    Impact: an attacker can run script as any user. Tested on version 1.98.0.";
        assert_eq!(check("XSS in the room API", full), Vec::<&str>::new());
        assert_eq!(check("Bug", "Hi, I think there is a bug. Thanks"), ITEMS.to_vec());
        let de =
            "Schritte: 1) Anmelden 2) Das Thema setzen. Angreifer können Skripte ausführen. Version 1.2.3 des Servers.";
        assert_eq!(check("XSS", de), vec!["poc"]);
    }
}
