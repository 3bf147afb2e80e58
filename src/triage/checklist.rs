//! What a report is missing, of what a team needs to act on it. Each item
//! is decided from the (decrypted) subject and text, in English, German,
//! French, Spanish and Portuguese:
//!
//! - `product`: it names what is affected: a product from
//!   `[triage] products`, a package with a version, a URL or endpoint, a
//!   file path, or a kind of software (server, client, app, API, library,
//!   plugin, website, ...).
//! - `version`: a version number (`1.2`, `v2.3.4`, `matrix-synapse==1.98.0`),
//!   a commit hash, or "latest", "master", "main branch" and their
//!   translations.
//! - `steps`: steps to reproduce: the words ("steps to reproduce",
//!   "reproduce", "Schritte", "étapes", "pasos", "passos"), or a numbered
//!   list of at least two items.
//! - `impact`: what an attacker gains: the words ("impact", "an attacker
//!   can", "allows", "leads to", "Auswirkung", "Angreifer", "attaquant",
//!   "atacante", ...).
//! - `poc`: a proof of concept: an HTTP request line, a `curl` command, a
//!   code block or script, an attack payload, the words "proof of concept"
//!   or "PoC", or an attachment.

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
    let lower = format!("{subject}\n{text}").to_lowercase();
    let has_kind = |k: Kind| terms.iter().any(|t| t.kind == k);
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let product = products.iter().any(|p| lower.contains(p.as_str()))
        || has_kind(Kind::Package)
        || has_kind(Kind::Endpoint)
        || has_kind(Kind::Path)
        || any(SOFTWARE);
    let version = has_kind(Kind::Package) || has_kind(Kind::Commit) || has_version(&lower) || any(VERSION_WORDS);
    let steps = any(STEPS) || numbered_list(text);
    let impact = any(IMPACT);
    let poc = attachments > 0
        || has_kind(Kind::Payload)
        || any(POC)
        || lower.contains("```")
        || text.lines().any(|l| {
            let l = l.trim_start();
            [
                "GET /", "POST /", "PUT /", "DELETE /", "PATCH /", "curl ", "$ ", "import ", "<?php", "#!/",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        });
    ITEMS
        .iter()
        .zip([product, version, steps, impact, poc])
        .filter(|(_, present)| !present)
        .map(|(item, _)| *item)
        .collect()
}

const SOFTWARE: &[&str] = &[
    "server",
    "client",
    " app ",
    " app.",
    "application",
    " api",
    "library",
    "plugin",
    "extension",
    "website",
    "web site",
    "homeserver",
    "android",
    " ios",
    "desktop",
    "firmware",
    "package",
    "module",
    "endpoint",
    "anwendung",
    "bibliothek",
    "aplicación",
    "aplicativo",
    "biblioteca",
    "logiciel",
    "bibliothèque",
];

const VERSION_WORDS: &[&str] = &[
    "latest version",
    "latest release",
    "master branch",
    "main branch",
    "current version",
    "neueste version",
    "aktuelle version",
    "dernière version",
    "última versión",
    "versión actual",
    "última versão",
    "versão atual",
];

const STEPS: &[&str] = &[
    "steps to reproduce",
    "to reproduce",
    "reproduction",
    "reproduce:",
    "step 1",
    "schritte",
    "reproduzieren",
    "étapes",
    "reproduire",
    "pasos",
    "reproducir",
    "passos",
    "reproduzir",
];

const IMPACT: &[&str] = &[
    "impact",
    "an attacker can",
    "attacker could",
    "an attacker may",
    "allows an attacker",
    "allows attackers",
    "allows a ",
    "allows any",
    "leads to",
    "lead to",
    "results in",
    "could allow",
    "can be used to",
    "auswirkung",
    "angreifer",
    "ermöglicht",
    "attaquant",
    "permet",
    "atacante",
    "permite",
    "impacto",
    "impacte",
];

const POC: &[&str] = &[
    "proof of concept",
    "proof-of-concept",
    "poc",
    "exploit",
    "preuve de concept",
    "prueba de concepto",
    "prova de conceito",
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
        missing(subject, text, &crate::similar::terms(subject, text), 0, &[])
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
