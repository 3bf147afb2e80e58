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

mod armor;
pub mod compose;
pub mod decrypt;
mod error;
pub mod fast;
pub mod keys;
pub mod learn;
mod payloads;
pub mod pin;
pub mod prepared;
#[cfg(test)]
mod tests;

use mail_parser::MimeHeaders as _;
use sequoia_openpgp::Cert;

pub use decrypt::{Failure, SigState};
pub use error::{Error, Result};
pub use keys::TeamKeys;
pub use learn::LearnedKey;

use crate::message::{Inbound, single_line};
use payloads::{Found, Payload, find_payloads};

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

/// At most this many distinct ciphertexts are decrypted per message.
pub const MAX_PAYLOADS: usize = 16;
/// At most this many MIME parts are looked at for ciphertexts and keys.
pub const MAX_PARTS: usize = 1000;
/// A message nested deeper than this is not searched for ciphertexts.
pub const MAX_DEPTH: usize = 32;

/// Decrypts and verifies `msg` (from `raw`).
pub fn open(raw: &[u8], msg: Inbound, ctx: &Context<'_>) -> Opened {
    let mut protection = Protection::default();
    let Ok(parsed) = crate::message::mime(raw) else {
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
    let total = payloads.len();
    let mut walk = Decrypting {
        ctx,
        from,
        // One payload and nothing beside it: only then can its signature
        // speak for the message.
        whole: total == 1 && !extra,
        budget: ctx.max_decrypted_size,
        protection,
        learned,
        texts: Vec::new(),
        attachments: Default::default(),
        subject: None,
        signed_beside: false,
    };
    for payload in payloads.into_iter().take(MAX_PAYLOADS) {
        if walk.payload(payload).is_break() {
            break;
        }
    }
    walk.finish(msg, total, extra)
}

/// `open`'s walk over the ciphertexts of one message: what it has learned
/// and decrypted so far, and how much plaintext it may still produce.
struct Decrypting<'a> {
    ctx: &'a Context<'a>,
    from: String,
    whole: bool,
    budget: u64,
    protection: Protection,
    learned: Vec<LearnedKey>,
    texts: Vec<String>,
    /// The decrypted parts' attachments.
    attachments: crate::message::Attachments,
    subject: Option<String>,
    signed_beside: bool,
}

impl Decrypting<'_> {
    /// Decrypts and verifies one ciphertext. Breaks when the plaintext
    /// budget is spent (nothing after it is decrypted).
    fn payload(&mut self, payload: Payload) -> std::ops::ControlFlow<()> {
        let (bytes, mime) = match payload {
            Payload::Mime(b) => (b, true),
            Payload::Inline(b) => (b, false),
        };
        let ctx = self.ctx;
        let certs = certs_with(&ctx.known, &self.learned);
        let mut d = match decrypt::decrypt(&bytes, ctx.team, &certs, self.budget, None) {
            Ok(d) => d,
            Err(Failure::TooLarge { .. }) => {
                self.protection.failure.get_or_insert(Failure::TooLarge {
                    cap: ctx.max_decrypted_size,
                });
                return std::ops::ControlFlow::Break(());
            }
            Err(f) => {
                self.protection.failure.get_or_insert(f);
                return std::ops::ControlFlow::Continue(());
            }
        };
        self.budget = self.budget.saturating_sub(d.plaintext.len() as u64);
        let inner = Inner::read(&d.plaintext, mime, &self.from);
        let mut sig = d.sig.clone();
        if let SigState::UnknownKey { .. } = sig
            && !inner.learned.is_empty()
        {
            // The signer's key came inside the encrypted message: verify
            // again with the cached session key (no second RSA operation).
            let certs = certs_with(&certs, &inner.learned);
            if let Ok(again) = decrypt::decrypt(&bytes, ctx.team, &certs, self.budget, d.session.take()) {
                sig = again.sig;
            }
        }
        let mut signed_subject = inner.subject.clone();
        if sig == SigState::None {
            let certs = certs_with(&certs_with(&ctx.known, &self.learned), &inner.learned);
            let signed = inner.signed_part_state(&d.plaintext, &certs, &mut self.protection.notes);
            sig = signed.state;
            signed_subject = signed.subject;
        }
        if self.whole {
            if matches!(sig, SigState::Good { .. }) {
                self.protection.signed_subject = signed_subject;
            }
            self.protection.signature = sig;
        } else if sig != SigState::None {
            self.signed_beside = true;
        }
        self.learned.extend(inner.learned);
        self.subject = self.subject.take().or(inner.subject);
        self.texts.push(inner.text);
        self.attachments.extend(inner.attachments);
        std::ops::ControlFlow::Continue(())
    }

    /// The message as triage sees it: the decrypted text only (never the
    /// cleartext around it), the protected subject, and notes on what was
    /// left out.
    fn finish(mut self, mut msg: Inbound, total: usize, extra: bool) -> Opened {
        let notes = &mut self.protection.notes;
        if total > MAX_PAYLOADS {
            notes.push(format!(
                "{total} encrypted parts: only the first {MAX_PAYLOADS} were decrypted"
            ));
        }
        if self.signed_beside {
            notes.push(
                "a signature covers only part of the content (other encrypted or cleartext parts beside it): \
                 the message is not counted as signed"
                    .to_owned(),
            );
        }
        if extra {
            notes.push("cleartext parts outside the encrypted part were ignored".to_owned());
        }
        // Nothing decrypted: the text stays empty, never the cleartext.
        msg.body_text = self.texts.join("\n");
        msg.attachments = self.attachments;
        if let Some(s) = self.subject {
            msg.subject = s;
        }
        self.learned.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        Opened {
            msg,
            protection: self.protection,
            learned: self.learned,
        }
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

/// May what a message brought encrypted go back, encrypted to `cert`?
/// Only to its author: the key that signed it inside the encryption.
/// Anyone can resend a captured ciphertext with their own From, Return-Path
/// and key; the signature inside is the one thing they cannot make.
/// `signer` is the signing key's fingerprint ("" when unsigned).
pub fn may_echo_to(cert: Option<&Cert>, signer: &str) -> bool {
    !signer.is_empty() && cert.is_some_and(|c| c.keys().any(|k| k.key().fingerprint().to_hex() == signer))
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
    attachments: crate::message::Attachments,
    subject: Option<String>,
    learned: Vec<LearnedKey>,
}

impl Inner {
    fn read(plaintext: &[u8], mime: bool, from: &str) -> Inner {
        let looks_mime = mime || plaintext.starts_with(b"Content-Type:") || plaintext.starts_with(b"MIME-Version:");
        if looks_mime && let Ok(m) = crate::message::mime(plaintext) {
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
                attachments: crate::message::Attachments::of(&m),
                subject: subject.map(single_line),
                learned: learn::from_parts(&m, from, "attachment"),
            };
        }
        let text = String::from_utf8_lossy(plaintext).into_owned();
        let learned = learn::from_armored_text(&text, from, "attachment");
        Inner {
            text,
            attachments: Default::default(),
            subject: None,
            learned,
        }
    }

    /// A `multipart/signed` entity inside the encryption (sign, then
    /// encrypt as two steps, as older Enigmail did).
    fn signed_part_state(&self, plaintext: &[u8], certs: &[Cert], notes: &mut Vec<String>) -> Signed {
        match crate::message::mime(plaintext) {
            Ok(m) => verify_signed_parts(plaintext, &m, certs, notes),
            Err(_) => Signed {
                state: SigState::None,
                subject: None,
            },
        }
    }
}
