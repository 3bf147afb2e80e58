//! OpenPGP: decrypt what researchers send, verify signatures, learn their
//! keys, and sign and encrypt what embargo sends (sequoia-openpgp with its
//! OpenSSL backend; RSA decryption through a prepared CRT key, see `keys`).
//!
//! [`open`] runs between parsing and triage, so triage sees decrypted text.
//! It understands RFC 3156 PGP/MIME (`multipart/encrypted`), the same parts
//! after Exchange/Outlook turned them into `multipart/mixed`, inline PGP
//! (armored blocks in text parts or armored attachments), signatures inside
//! encryption, and `multipart/signed`, also nested inside encryption.
//!
//! EFAIL: when a message is encrypted, its text is the decrypted text only.
//! Cleartext parts around the ciphertext are never mixed in (a note says
//! they were dropped), and a signed part never vouches for unsigned parts
//! around it: the signature state describes the signed part alone.

pub mod compose;
pub mod decrypt;
pub mod keys;
pub mod learn;
pub mod pin;
#[cfg(test)]
mod tests;

use mail_parser::{MessageParser, MimeHeaders as _, PartType};
use sequoia_openpgp::Cert;

pub use decrypt::{Failure, SigState};
pub use keys::TeamKeys;
pub use learn::LearnedKey;

use crate::message::{Inbound, single_line};

/// What the OpenPGP stage found out about a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    /// Any part of the message was encrypted.
    pub encrypted: bool,
    /// Set when something was encrypted and could not be decrypted.
    pub failure: Option<Failure>,
    /// Counts only when one signature covers the whole content that is
    /// used: a `multipart/signed` that is the entire message, or one
    /// encrypted payload whose entire plaintext is signed. Anything next to
    /// the signed entity makes it [`SigState::None`] (with a note).
    pub signature: SigState,
    /// The Subject inside the signed content (protected headers), when the
    /// signature is good: the only subject a relay may trust.
    pub signed_subject: Option<String>,
    pub notes: Vec<String>,
}

/// The result of [`open`].
pub struct Opened {
    pub msg: Inbound,
    pub protection: Protection,
    pub learned: Vec<LearnedKey>,
}

/// Everything `open` needs besides the message.
pub struct Context<'a> {
    pub team: &'a TeamKeys,
    /// Keys already known for the sender.
    pub known: Vec<Cert>,
    pub max_decrypted_size: u64,
}

const BEGIN: &str = "-----BEGIN PGP MESSAGE-----";
/// At most this many distinct ciphertexts are decrypted per message.
pub const MAX_PAYLOADS: usize = 16;
/// At most this many MIME parts are looked at for ciphertexts and keys.
pub const MAX_PARTS: usize = 1000;
/// A message nested deeper than this is not searched for ciphertexts.
pub const MAX_DEPTH: usize = 32;
const END: &str = "-----END PGP MESSAGE-----";

/// A piece of ciphertext found in the message.
enum Payload {
    /// PGP/MIME: the plaintext is a MIME entity.
    Mime(Vec<u8>),
    /// Inline: the plaintext is text (or an attached file).
    Inline(Vec<u8>),
}

/// Decrypts and verifies `msg` (from `raw`).
pub fn open(raw: &[u8], mut msg: Inbound, ctx: &Context<'_>) -> Opened {
    let mut protection = Protection::default();
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return Opened {
            msg,
            protection,
            learned: Vec::new(),
        };
    };
    let from = msg.from_addr.clone().unwrap_or_default();
    let mut learned = learn::from_autocrypt(&msg, &from);
    learned.extend(learn::from_parts(&parsed, &from, "attachment"));
    let depth = mime_depth(&parsed);
    if depth > MAX_DEPTH {
        protection.notes.push(format!(
            "MIME parts nested {depth} deep (limit {MAX_DEPTH}): not searched for encrypted content or keys"
        ));
        return Opened {
            msg,
            protection,
            learned: Vec::new(),
        };
    }
    if parsed.parts.len() > MAX_PARTS {
        protection.notes.push(format!(
            "{} MIME parts: only the first {MAX_PARTS} were looked at for encrypted content and keys",
            parsed.parts.len()
        ));
    }
    let Found { payloads, extra } = find_payloads(&parsed);
    if payloads.is_empty() {
        let certs = certs_with(&ctx.known, &learned);
        let signed = verify_signed_parts(raw, &parsed, &certs, &mut protection.notes);
        if matches!(signed.state, SigState::Good { .. }) {
            protection.signed_subject = signed.subject;
        }
        protection.signature = signed.state;
        return Opened {
            msg,
            protection,
            learned,
        };
    }
    protection.encrypted = true;
    // One payload and nothing beside it: only then can its signature speak
    // for the message.
    let whole = payloads.len() == 1 && !extra;
    let mut texts = Vec::new();
    let mut subject = None;
    let mut budget = ctx.max_decrypted_size;
    let mut signed_beside = false;
    let total = payloads.len();
    for payload in payloads.into_iter().take(MAX_PAYLOADS) {
        let (bytes, mime) = match payload {
            Payload::Mime(b) => (b, true),
            Payload::Inline(b) => (b, false),
        };
        let certs = certs_with(&ctx.known, &learned);
        let result = decrypt::decrypt(&bytes, ctx.team, &certs, budget, None);
        let mut d = match result {
            Ok(d) => d,
            Err(Failure::TooLarge { .. }) => {
                protection.failure.get_or_insert(Failure::TooLarge {
                    cap: ctx.max_decrypted_size,
                });
                break;
            }
            Err(f) => {
                protection.failure.get_or_insert(f);
                continue;
            }
        };
        budget = budget.saturating_sub(d.plaintext.len() as u64);
        let inner = Inner::read(&d.plaintext, mime, &from);
        let mut sig = d.sig.clone();
        if let SigState::UnknownKey { .. } = sig
            && !inner.learned.is_empty()
        {
            // The signer's key came inside the encrypted message: verify
            // again with the cached session key (no second RSA operation).
            let certs = certs_with(&certs, &inner.learned);
            if let Ok(again) = decrypt::decrypt(&bytes, ctx.team, &certs, budget, d.session.take()) {
                sig = again.sig;
            }
        }
        let mut signed_subject = inner.subject.clone();
        if sig == SigState::None {
            let certs = certs_with(&certs_with(&ctx.known, &learned), &inner.learned);
            let signed = inner.signed_part_state(&d.plaintext, &certs, &mut protection.notes);
            sig = signed.state;
            signed_subject = signed.subject;
        }
        if whole {
            if matches!(sig, SigState::Good { .. }) {
                protection.signed_subject = signed_subject;
            }
            protection.signature = sig;
        } else if sig != SigState::None {
            signed_beside = true;
        }
        learned.extend(inner.learned);
        subject = subject.or(inner.subject);
        texts.push(inner.text);
    }
    if total > MAX_PAYLOADS {
        protection.notes.push(format!(
            "{total} encrypted parts: only the first {MAX_PAYLOADS} were decrypted"
        ));
    }
    if signed_beside {
        protection.notes.push(
            "a signature covers only part of the content (other encrypted or cleartext parts beside it): \
             the message is not counted as signed"
                .to_owned(),
        );
    }
    if extra {
        protection
            .notes
            .push("cleartext parts outside the encrypted part were ignored".to_owned());
    }
    if !texts.is_empty() {
        msg.body_text = texts.join("\n");
    } else {
        // Nothing decrypted: never fall back to the cleartext around it.
        msg.body_text = String::new();
    }
    if let Some(s) = subject {
        msg.subject = s;
    }
    learned.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    Opened {
        msg,
        protection,
        learned,
    }
}

/// Does `cert` carry a valid (self-signed, under the standard policy) user
/// ID for the address `addr`?
pub fn bound_to(cert: &Cert, addr: &str) -> bool {
    let policy = sequoia_openpgp::policy::StandardPolicy::new();
    let Ok(valid) = cert.with_policy(&policy, None) else {
        return false;
    };
    valid.userids().any(|u| {
        u.userid()
            .email()
            .ok()
            .flatten()
            .is_some_and(|e| e.eq_ignore_ascii_case(addr.trim()))
    })
}

/// Is the message's (whole-content) signature by one of `trusted`, and is
/// that certificate bound to `addr`? A key the message itself carried is
/// never among `trusted`.
pub fn signed_by_trusted(protection: &Protection, trusted: &[Cert], addr: &str) -> bool {
    let SigState::Good { signer, .. } = &protection.signature else {
        return false;
    };
    trusted
        .iter()
        .any(|c| c.keys().any(|k| k.key().fingerprint().to_hex() == *signer) && bound_to(c, addr))
}

fn certs_with(known: &[Cert], learned: &[LearnedKey]) -> Vec<Cert> {
    let mut out = known.to_vec();
    for l in learned {
        if !out.iter().any(|c| c.fingerprint() == l.cert.fingerprint()) {
            out.push(l.cert.clone());
        }
    }
    out
}

/// The ciphertexts of a message, each once, and whether anything with
/// content sits beside them.
struct Found {
    payloads: Vec<Payload>,
    /// Text or files outside the ciphertexts (ignored for the text, and
    /// never covered by a signature inside a ciphertext).
    extra: bool,
}

fn find_payloads(parsed: &mail_parser::Message<'_>) -> Found {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut used = std::collections::HashSet::new();
    let parts = &parsed.parts[..parsed.parts.len().min(MAX_PARTS)];
    let is = |p: &mail_parser::MessagePart<'_>, t: &str, s: &str| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case(t) && ct.subtype().is_some_and(|st| st.eq_ignore_ascii_case(s))
        })
    };
    // Each distinct ciphertext once: a mail with many control parts (or the
    // same block pasted many times) must not make us decrypt it again and
    // again.
    let mut push = |bytes: &[u8], mime: bool, out: &mut Vec<Payload>| {
        use sha2::Digest as _;
        if seen.insert(sha2::Sha256::digest(bytes)) {
            out.push(if mime {
                Payload::Mime(bytes.to_vec())
            } else {
                Payload::Inline(bytes.to_vec())
            });
        }
    };
    // PGP/MIME, also when Exchange rewrote multipart/encrypted into
    // multipart/mixed: the "application/pgp-encrypted" control part is
    // followed by the ciphertext part.
    let mut pgp_mime = false;
    for (i, p) in parts.iter().enumerate() {
        if is(p, "application", "pgp-encrypted") {
            used.insert(i);
            if let Some((j, next)) = parts
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, q)| !is(q, "application", "pgp-encrypted") && !q.is_multipart())
            {
                push(next.contents(), true, &mut out);
                used.insert(j);
                pgp_mime = true;
            }
        }
    }
    let has_content = |p: &mail_parser::MessagePart<'_>| match &p.body {
        PartType::Text(t) | PartType::Html(t) => !t.trim().is_empty(),
        PartType::Binary(b) | PartType::InlineBinary(b) => !b.is_empty(),
        PartType::Message(_) => true,
        PartType::Multipart(_) => false,
    };
    if pgp_mime {
        let extra = parts
            .iter()
            .enumerate()
            .any(|(i, p)| !used.contains(&i) && has_content(p));
        return Found { payloads: out, extra };
    }
    // Inline PGP: armored blocks in text parts, or armored attachments.
    let mut extra = false;
    for p in parts {
        if p.is_multipart() {
            continue;
        }
        if p.is_message() {
            extra = true;
            continue;
        }
        match &p.body {
            PartType::Text(t) | PartType::Html(t) => {
                let blocks = armored_blocks(t);
                let mut rest = t.to_string();
                for block in &blocks {
                    rest = rest.replacen(block.as_str(), "", 1);
                }
                extra |= !rest.trim().is_empty();
                for block in blocks {
                    push(block.as_bytes(), false, &mut out);
                }
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                let looks_armored = b.windows(BEGIN.len()).take(4096).any(|w| w == BEGIN.as_bytes());
                let named = p.attachment_name().is_some_and(|n| {
                    let n = n.to_ascii_lowercase();
                    n.ends_with(".pgp") || n.ends_with(".gpg")
                });
                if looks_armored || named {
                    push(b, false, &mut out);
                } else {
                    extra |= !b.is_empty();
                }
            }
            _ => {}
        }
    }
    Found { payloads: out, extra }
}

/// Armored PGP MESSAGE blocks in a text.
fn armored_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        match after.find(END) {
            Some(end) => {
                out.push(after[..end + END.len()].to_owned());
                rest = &after[end + END.len()..];
            }
            None => {
                // Truncated armor: hand it over anyway, it becomes a
                // recorded "cannot decrypt".
                out.push(after.to_owned());
                break;
            }
        }
    }
    out
}

/// What a `multipart/signed` message proved.
struct Signed {
    state: SigState,
    /// The Subject header of the signed entity (protected headers).
    subject: Option<String>,
}

/// The signature state of a `multipart/signed` message. Only a signed
/// entity that is the whole message counts: the root is `multipart/signed`
/// with exactly the signed entity and its signature as children, and every
/// other part the parser found lies inside the signed entity. A signed part
/// among unsigned parts, or a third child, does not vouch for them, so such
/// a message is "not signed" (with a note saying why).
fn verify_signed_parts(
    raw: &[u8],
    parsed: &mail_parser::Message<'_>,
    certs: &[Cert],
    notes: &mut Vec<String>,
) -> Signed {
    let none = |state| Signed { state, subject: None };
    let is_signed = |p: &mail_parser::MessagePart<'_>| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("signed"))
        })
    };
    let Some(root) = parsed.parts.first() else {
        return none(SigState::None);
    };
    if !is_signed(root) {
        if parsed.parts.iter().any(is_signed) {
            notes.push("a signed part sits among unsigned parts: the message is not counted as signed".to_owned());
        }
        return none(SigState::None);
    }
    let children = root.sub_parts().unwrap_or(&[]);
    let (Some(&first), Some(&second)) = (children.first(), children.get(1)) else {
        return none(SigState::Bad);
    };
    let (Some(signed), Some(sig)) = (parsed.parts.get(first as usize), parsed.parts.get(second as usize)) else {
        return none(SigState::Bad);
    };
    let covered = 2 + subtree_size(parsed, first as usize, 0);
    if children.len() != 2 || covered != parsed.parts.len() {
        notes.push(
            "a multipart/signed message carries parts outside its signed entity: the message is not counted as signed"
                .to_owned(),
        );
        return none(SigState::None);
    }
    let (start, end) = (signed.offset_header as usize, signed.offset_end as usize);
    let state = match raw.get(start..end) {
        Some(data) => verify_entity(sig.contents(), data, certs),
        None => SigState::Bad,
    };
    let subject = signed.headers.iter().find_map(|h| match (&h.name, &h.value) {
        (mail_parser::HeaderName::Subject, mail_parser::HeaderValue::Text(t)) => Some(single_line(t)),
        _ => None,
    });
    Signed { state, subject }
}

/// How deep the MIME tree goes (iteratively: no recursion on input).
fn mime_depth(parsed: &mail_parser::Message<'_>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(0usize, 1usize)];
    let mut seen = 0;
    while let Some((i, d)) = stack.pop() {
        seen += 1;
        if seen > parsed.parts.len() {
            break; // a cycle would be a parser bug; never loop on it
        }
        deepest = deepest.max(d);
        if let Some(children) = parsed.parts.get(i).and_then(|p| p.sub_parts()) {
            stack.extend(children.iter().map(|&c| (c as usize, d + 1)));
        }
    }
    deepest
}

/// How many parts the part `i` and everything below it are (bounded depth).
fn subtree_size(parsed: &mail_parser::Message<'_>, i: usize, depth: usize) -> usize {
    let Some(p) = parsed.parts.get(i) else {
        return 0;
    };
    if depth > 64 {
        return 1;
    }
    1 + p
        .sub_parts()
        .unwrap_or(&[])
        .iter()
        .map(|&c| subtree_size(parsed, c as usize, depth + 1))
        .sum::<usize>()
}

/// RFC 3156 §5: the signed entity ends before the CRLF that precedes the
/// boundary; parsers disagree on whether their end offset includes it, so
/// both readings are tried. Line endings are canonicalised to CRLF.
fn verify_entity(signature: &[u8], data: &[u8], certs: &[Cert]) -> SigState {
    let canonical = crlf(data);
    let first = decrypt::verify_detached(signature, &canonical, certs);
    if first != SigState::Bad {
        return first;
    }
    let trimmed = canonical.strip_suffix(b"\r\n").unwrap_or(&canonical);
    match decrypt::verify_detached(signature, trimmed, certs) {
        good @ SigState::Good { .. } => good,
        _ => first,
    }
}

/// Canonical CRLF line endings (what signatures are made over).
pub(crate) fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The decrypted content.
struct Inner {
    text: String,
    subject: Option<String>,
    learned: Vec<LearnedKey>,
}

impl Inner {
    fn read(plaintext: &[u8], mime: bool, from: &str) -> Inner {
        let looks_mime = mime || plaintext.starts_with(b"Content-Type:") || plaintext.starts_with(b"MIME-Version:");
        if looks_mime && let Some(m) = MessageParser::default().parse(plaintext) {
            let mut text = String::new();
            for i in 0..m.text_body_count() {
                if let Some(t) = m.body_text(i) {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&t);
                }
            }
            let protected = m
                .content_type()
                .is_some_and(|ct| ct.attribute("protected-headers").is_some());
            let subject = m
                .subject()
                .filter(|_| protected || m.headers().iter().any(|h| h.name().eq_ignore_ascii_case("subject")));
            return Inner {
                text,
                subject: subject.map(single_line),
                learned: learn::from_parts(&m, from, "attachment"),
            };
        }
        let text = String::from_utf8_lossy(plaintext).into_owned();
        let learned = learn::from_armored_text(&text, from, "attachment");
        Inner {
            text,
            subject: None,
            learned,
        }
    }

    /// A `multipart/signed` entity inside the encryption (sign, then
    /// encrypt as two steps, as older Enigmail did).
    fn signed_part_state(&self, plaintext: &[u8], certs: &[Cert], notes: &mut Vec<String>) -> Signed {
        match MessageParser::default().parse(plaintext) {
            Some(m) => verify_signed_parts(plaintext, &m, certs, notes),
            None => Signed {
                state: SigState::None,
                subject: None,
            },
        }
    }
}
