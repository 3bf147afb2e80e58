//! Learning reporters' keys: from an `Autocrypt:` header, an attached
//! `application/pgp-keys` part, or an armored key block in the text. Only
//! certificates with a user ID whose address is the From address are kept,
//! and only their public parts.

use base64::Engine as _;
use mail_parser::MimeHeaders as _;
use pgp::Cert;
use pgp::cert::CertParser;
use pgp::parse::Parse as _;
use sequoia_openpgp as pgp;

use crate::message::Inbound;

/// A reporter key found in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedKey {
    pub address: String,
    pub fingerprint: String,
    pub cert: Cert,
    /// `autocrypt` or `attachment`.
    pub source: &'static str,
}

/// Keeps the certificates that carry `from` as a user ID address.
fn matching(certs: impl IntoIterator<Item = Cert>, from: &str, source: &'static str) -> Vec<LearnedKey> {
    if from.is_empty() {
        return Vec::new();
    }
    certs
        .into_iter()
        .filter(super::pin::within_caps)
        .filter(|c| {
            c.userids().any(|u| {
                u.userid()
                    .email()
                    .ok()
                    .flatten()
                    .is_some_and(|e| e.eq_ignore_ascii_case(from))
            })
        })
        .map(|c| {
            let cert = c.strip_secret_key_material();
            LearnedKey {
                address: from.to_ascii_lowercase(),
                fingerprint: cert.fingerprint().to_hex(),
                cert,
                source,
            }
        })
        .collect()
}

/// The most bytes of one key block (armored or binary) that are parsed at
/// all: `pin::MAX_CERT_BYTES` of key, armored, with room for a few more.
pub const MAX_KEY_BLOCK: usize = 4 * super::pin::MAX_CERT_BYTES;
/// The most packets a key block may hold to be parsed into certificates:
/// `pin::MAX_USERIDS` user IDs and `pin::MAX_SUBKEYS` subkeys with a few
/// signatures each.
pub const MAX_KEY_PACKETS: usize = 4 * (super::pin::MAX_USERIDS + super::pin::MAX_SUBKEYS) + 16;

/// The certificates in a key block, if it is small enough to look at. A
/// key with one user ID repeated 120,000 times (28 MB of mail) once took
/// the daemon to 1.2 GB while sequoia built the certificate whole; the
/// bounds are checked before that, on the bytes and by counting packets
/// with the streaming parser (nothing kept).
fn parse_certs(bytes: &[u8]) -> Vec<Cert> {
    if bytes.len() > MAX_KEY_BLOCK || !few_packets(bytes) {
        return Vec::new();
    }
    match CertParser::from_bytes(bytes) {
        Ok(p) => p.filter_map(Result::ok).take(16).collect(),
        Err(_) => Vec::new(),
    }
}

/// Does the block hold at most [`MAX_KEY_PACKETS`] packets?
fn few_packets(bytes: &[u8]) -> bool {
    use pgp::parse::{PacketParserResult, Parse as _};
    let Ok(mut ppr) = pgp::parse::PacketParser::from_bytes(bytes) else {
        return false;
    };
    let mut count = 0;
    while let PacketParserResult::Some(pp) = ppr {
        count += 1;
        if count > MAX_KEY_PACKETS {
            return false;
        }
        match pp.next() {
            Ok((_, next)) => ppr = next,
            Err(_) => return false,
        }
    }
    true
}

/// `Autocrypt: addr=a@b; prefer-encrypt=mutual; keydata=BASE64` (Autocrypt
/// Level 1 §2.1): the addr attribute must be the From address too.
pub fn from_autocrypt(msg: &Inbound, from: &str) -> Vec<LearnedKey> {
    let mut out = Vec::new();
    for value in msg.header_values("autocrypt") {
        let mut addr = None;
        let mut keydata = None;
        for attr in value.split(';') {
            let Some((k, v)) = attr.split_once('=') else {
                continue;
            };
            match k.trim() {
                "addr" => addr = Some(v.trim().trim_matches('"').to_owned()),
                "keydata" => keydata = Some(v.chars().filter(|c| !c.is_whitespace()).collect::<String>()),
                _ => {}
            }
        }
        let (Some(addr), Some(keydata)) = (addr, keydata) else {
            continue;
        };
        if keydata.len() > MAX_KEY_BLOCK {
            continue;
        }
        if !addr.eq_ignore_ascii_case(from) {
            continue;
        }
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(keydata.as_bytes()) else {
            continue;
        };
        out.extend(matching(parse_certs(&bytes), from, "autocrypt"));
    }
    out
}

/// `application/pgp-keys` parts (and `.asc` attachments holding a key block).
pub fn from_parts(parsed: &mail_parser::Message<'_>, from: &str, source: &'static str) -> Vec<LearnedKey> {
    let mut out = Vec::new();
    for p in parsed.parts.iter().take(super::MAX_PARTS) {
        let is_keys = p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("application")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("pgp-keys"))
        });
        let contents = p.contents();
        let has_block = contents
            .windows(36)
            .take(8192)
            .any(|w| w == b"-----BEGIN PGP PUBLIC KEY BLOCK-----");
        if is_keys || (has_block && !p.is_text()) {
            out.extend(matching(parse_certs(contents), from, source));
        }
    }
    out
}

/// An armored public key block pasted into a text.
pub fn from_armored_text(text: &str, from: &str, source: &'static str) -> Vec<LearnedKey> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let Some(start) = text.find(BEGIN) else {
        return Vec::new();
    };
    let Some(end) = text[start..].find(END) else {
        return Vec::new();
    };
    matching(
        parse_certs(&text.as_bytes()[start..start + end + END.len()]),
        from,
        source,
    )
}
