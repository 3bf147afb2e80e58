//! The shape nearly every encrypted report has, decrypted without sequoia's
//! streaming machinery: public-key encrypted session keys, then one
//! integrity-protected (SEIPD v1, MDC) AES packet holding a literal data
//! packet, compressed or not, and nothing else. That is what gpg, Thunderbird
//! and most clients send when they encrypt without signing.
//!
//! sequoia's stream decryptor spends about 55 µs on a 4 KB message with the
//! session key already known (its packet parser and buffered-reader stack,
//! two zeroed read-ahead buffers per message, the message grammar) against
//! ~40 µs for the Cv25519 key operation itself; here the same work is one
//! AES-CFB pass, one SHA-1 and, when compressed, one inflate.
//!
//! Everything else goes to sequoia unchanged ([`Fast::Fallback`]): signed
//! content, SKESKs, marker packets, SEIPD v2/AEAD, ciphers other than AES,
//! a failed MDC, a stream that does not end where its packet does, output
//! above the cap, anything this parser does not recognise. A session key
//! found here is handed over, so the fallback costs no second key operation.
//! Nothing is returned before the MDC over the whole plaintext has been
//! checked. The session keys are tried in the same order as sequoia's
//! helper (a cached key, named recipients, then hidden ones).

use std::borrow::Cow;
use std::io::Read as _;

use openssl::symm::{Cipher, Crypter, Mode};
use pgp::crypto::SessionKey;
use pgp::packet::PKESK;
use pgp::parse::Parse as _;
use pgp::types::SymmetricAlgorithm;
use sequoia_openpgp as pgp;

use super::keys::TeamKeys;

/// A session key with its algorithm, kept to open a message again.
pub type Cached = (Option<SymmetricAlgorithm>, SessionKey);

/// What the fast path made of a message.
pub enum Fast {
    /// The literal data, behind a good MDC, and the session key.
    Done { plaintext: Vec<u8>, session: Cached },
    /// sequoia decides, with the session key when one was found.
    Fallback(Option<Cached>),
}

/// A packet's body: borrowed, or joined from partial body lengths.
type Body<'a> = Cow<'a, [u8]>;
/// A packet's tag, its body and what follows it.
type Split<'a> = (u8, Body<'a>, &'a [u8]);

const PKESK_TAG: u8 = 1;
const COMPRESSED_TAG: u8 = 8;
const LITERAL_TAG: u8 = 11;
const SEIPD_TAG: u8 = 18;
const MDC_LEN: usize = 22;

/// Decrypts `message` (binary OpenPGP) if it has the common shape.
pub fn decrypt(message: &[u8], team: &TeamKeys, cap: u64, cached: Option<&Cached>) -> Fast {
    let Some((pkesks, seipd)) = outer(message) else {
        return Fast::Fallback(None);
    };
    let attempt = |algo: Option<SymmetricAlgorithm>, key: &SessionKey| -> Option<Fast> {
        let algo = algo?;
        match open(&seipd, algo, key, cap) {
            Opened::WrongKey => None,
            Opened::Plaintext(plaintext) => Some(Fast::Done {
                plaintext,
                session: (Some(algo), key.clone()),
            }),
            Opened::Unusual => Some(Fast::Fallback(Some((Some(algo), key.clone())))),
        }
    };
    if let Some((algo, key)) = cached
        && let Some(done) = attempt(*algo, key)
    {
        return done;
    }
    let Some(pkesks) = pkesks
        .iter()
        .map(|body| PKESK::from_bytes(&body[..]).ok())
        .collect::<Option<Vec<_>>>()
    else {
        return Fast::Fallback(None);
    };
    // Encrypted to none of our keys: sequoia's helper says so, with names.
    if not_ours(&pkesks, team).is_some() {
        return Fast::Fallback(None);
    }
    team_session_key(&pkesks, team, None, |algo, key| attempt(algo, &key)).unwrap_or(Fast::Fallback(None))
}

/// The recipients the PKESKs name, when they name every recipient and
/// none is a team key.
pub fn not_ours(pkesks: &[PKESK], team: &TeamKeys) -> Option<Vec<pgp::KeyHandle>> {
    let named: Vec<_> = pkesks.iter().filter_map(|p| p.recipient()).collect();
    (!pkesks.is_empty() && named.len() == pkesks.len() && !named.iter().any(|h| team.holds(h))).then_some(named)
}

/// Offers each session key a team key recovers to `accept`, named
/// recipients first, then hidden ones (gpg --throw-keyids), until it
/// accepts one (this module's path and sequoia's helper both use it).
pub fn team_session_key<T>(
    pkesks: &[PKESK],
    team: &TeamKeys,
    sym_algo: Option<SymmetricAlgorithm>,
    mut accept: impl FnMut(Option<SymmetricAlgorithm>, SessionKey) -> Option<T>,
) -> Option<T> {
    let mut decryptors = team.decryptors();
    for wildcard_pass in [false, true] {
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            if recipient.is_none() != wildcard_pass {
                continue;
            }
            for d in decryptors.iter_mut() {
                if let Some(r) = &recipient
                    && !d.public().key_handle().aliases(r)
                {
                    continue;
                }
                if let Some((algo, key)) = pkesk.decrypt(d.as_decryptor(), sym_algo)
                    && let Some(t) = accept(algo, key)
                {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// The PKESK bodies and the SEIPD v1 ciphertext, when the message is
/// exactly that: one or more PKESKs, then the SEIPD as the last packet.
fn outer(message: &[u8]) -> Option<(Vec<Body<'_>>, Body<'_>)> {
    let mut pkesks = Vec::new();
    let mut rest = message;
    loop {
        let (tag, body, after) = packet(rest)?;
        match tag {
            PKESK_TAG => pkesks.push(body),
            SEIPD_TAG if after.is_empty() && !pkesks.is_empty() => {
                if body.first() != Some(&1) {
                    return None;
                }
                let ciphertext = match body {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[1..]),
                    Cow::Owned(mut v) => {
                        v.remove(0);
                        Cow::Owned(v)
                    }
                };
                return Some((pkesks, ciphertext));
            }
            _ => return None,
        }
        rest = after;
    }
}

enum Opened {
    Plaintext(Vec<u8>),
    /// The quick check says this is not the session key.
    WrongKey,
    /// The right key, but not the common shape (or broken): sequoia decides.
    Unusual,
}

/// Decrypts a SEIPD v1 body, checks its MDC and unwraps the literal data.
fn open(ciphertext: &[u8], algo: SymmetricAlgorithm, key: &SessionKey, cap: u64) -> Opened {
    let cipher = match algo {
        SymmetricAlgorithm::AES128 => Cipher::aes_128_cfb128(),
        SymmetricAlgorithm::AES192 => Cipher::aes_192_cfb128(),
        SymmetricAlgorithm::AES256 => Cipher::aes_256_cfb128(),
        _ => return Opened::Unusual,
    };
    // AES's block (the CFB mode's own block size is 1, and so is openssl's
    // answer for it).
    let bs = 16;
    if cipher.iv_len() != Some(bs) {
        return Opened::Unusual;
    }
    if key.len() != cipher.key_len() || ciphertext.len() < bs + 2 + MDC_LEN {
        return Opened::Unusual;
    }
    let Ok(mut crypter) = Crypter::new(cipher, Mode::Decrypt, &key[..], Some(&[0; 16])) else {
        return Opened::Unusual;
    };
    crypter.pad(false);
    let mut plain = vec![0; ciphertext.len() + bs];
    let Ok(n) = crypter.update(ciphertext, &mut plain) else {
        return Opened::Unusual;
    };
    plain.truncate(n);
    if plain.len() != ciphertext.len() {
        return Opened::Unusual;
    }
    // The quick check: the prefix's last two bytes repeated.
    if plain[bs - 2..bs] != plain[bs..bs + 2] {
        return Opened::WrongKey;
    }
    // The MDC packet (0xD3 0x14) and SHA-1 over everything before its hash.
    let mdc_at = plain.len() - MDC_LEN;
    let digest = openssl::sha::sha1(&plain[..mdc_at + 2]);
    if plain[mdc_at..mdc_at + 2] != [0xD3, 0x14] || !openssl::memcmp::eq(&digest, &plain[mdc_at + 2..]) {
        return Opened::Unusual;
    }
    match literal_data(&plain[bs + 2..mdc_at], cap) {
        Some(plaintext) => Opened::Plaintext(plaintext),
        None => Opened::Unusual,
    }
}

/// The literal data of `content`: one literal data packet, or one
/// compressed data packet holding one, and nothing after it.
fn literal_data(content: &[u8], cap: u64) -> Option<Vec<u8>> {
    let (tag, body, after) = packet(content)?;
    if !after.is_empty() {
        return None;
    }
    match tag {
        LITERAL_TAG => literal(&body, cap),
        COMPRESSED_TAG => {
            let (&algo, data) = body.split_first()?;
            // Room for the literal packet's own header beside the cap.
            let limit = cap.saturating_add(1024);
            let inner = match algo {
                0 => Cow::Borrowed(data),
                1 => Cow::Owned(inflate(flate2::read::DeflateDecoder::new(data), data.len(), limit)?),
                2 => Cow::Owned(inflate(flate2::read::ZlibDecoder::new(data), data.len(), limit)?),
                3 => Cow::Owned(inflate(bzip2::read::BzDecoder::new(data), data.len(), limit)?),
                _ => return None,
            };
            let (tag, body, after) = packet(&inner)?;
            if tag != LITERAL_TAG || !after.is_empty() {
                return None;
            }
            literal(&body, cap)
        }
        _ => None,
    }
}

/// Reads a decompressor to its end, refusing output beyond `limit` and a
/// stream that ends before its input does.
fn inflate<R: Decoder>(mut decoder: R, input_len: usize, limit: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(1 << 20));
    (&mut decoder)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .ok()?;
    if out.len() as u64 > limit || decoder.consumed() != input_len as u64 {
        return None;
    }
    Some(out)
}

trait Decoder: std::io::Read {
    fn consumed(&self) -> u64;
}

impl Decoder for flate2::read::DeflateDecoder<&[u8]> {
    fn consumed(&self) -> u64 {
        self.total_in()
    }
}

impl Decoder for flate2::read::ZlibDecoder<&[u8]> {
    fn consumed(&self) -> u64 {
        self.total_in()
    }
}

impl Decoder for bzip2::read::BzDecoder<&[u8]> {
    fn consumed(&self) -> u64 {
        self.total_in()
    }
}

/// A literal data packet's body: format, file name, date, then the data.
fn literal(body: &[u8], cap: u64) -> Option<Vec<u8>> {
    let name_len = usize::from(*body.get(1)?);
    let data = body.get(2 + name_len + 4..)?;
    (data.len() as u64 <= cap).then(|| data.to_vec())
}

/// One packet at the start of `input`: its tag, its body (partial body
/// lengths joined) and what follows it (RFC 9580 section 4.2).
fn packet(input: &[u8]) -> Option<Split<'_>> {
    let (&first, rest) = input.split_first()?;
    if first & 0x80 == 0 {
        return None;
    }
    if first & 0x40 == 0 {
        // Legacy format: the length's size is in the tag byte.
        let tag = (first >> 2) & 0x0f;
        let (len, rest) = match first & 0x03 {
            0 => (usize::from(*rest.first()?), &rest[1..]),
            1 => (
                usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
                &rest[2..],
            ),
            2 => (u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize, &rest[4..]),
            // Indeterminate: to the end of the enclosing data.
            _ => return Some((tag, Cow::Borrowed(rest), &[])),
        };
        return Some((tag, Cow::Borrowed(rest.get(..len)?), &rest[len..]));
    }
    let tag = first & 0x3f;
    let mut rest = rest;
    let mut joined: Option<Vec<u8>> = None;
    loop {
        let l1 = *rest.first()?;
        let (len, header) = match l1 {
            0..=191 => (usize::from(l1), 1),
            192..=223 => ((usize::from(l1 - 192) << 8) + usize::from(*rest.get(1)?) + 192, 2),
            255 => (u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?) as usize, 5),
            _ => {
                // A partial body length: only data packets have them, and
                // the first chunk is at least 512 bytes.
                let len = 1usize << (l1 & 0x1f);
                if !matches!(tag, COMPRESSED_TAG | LITERAL_TAG | SEIPD_TAG) || (joined.is_none() && len < 512) {
                    return None;
                }
                let chunk = rest.get(1..1 + len)?;
                joined.get_or_insert_with(Vec::new).extend_from_slice(chunk);
                rest = &rest[1 + len..];
                continue;
            }
        };
        let chunk = rest.get(header..header + len)?;
        let after = &rest[header + len..];
        let body = match joined {
            Some(mut v) => {
                v.extend_from_slice(chunk);
                Cow::Owned(v)
            }
            None => Cow::Borrowed(chunk),
        };
        return Some((tag, body, after));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_length_form() {
        // New format, one-byte length.
        let (tag, body, after) = packet(&[0xC0 | 11, 2, b'a', b'b', 9]).unwrap();
        assert_eq!((tag, &body[..], after), (11, &b"ab"[..], &[9][..]));
        // New format, two-byte length (192 + 8 bytes).
        let mut two = vec![0xC0 | 1, 192, 8];
        two.extend(std::iter::repeat_n(7, 200));
        let (tag, body, after) = packet(&two).unwrap();
        assert_eq!((tag, body.len(), after.len()), (1, 200, 0));
        // New format, five-byte length.
        let (_, body, _) = packet(&[0xC0 | 1, 255, 0, 0, 0, 1, 5]).unwrap();
        assert_eq!(&body[..], &[5]);
        // Partial lengths joined: 512, then 3 final bytes.
        let mut partial = vec![0xC0 | LITERAL_TAG, 224 + 9];
        partial.extend(std::iter::repeat_n(1, 512));
        partial.extend([3, 2, 2, 2]);
        let (tag, body, after) = packet(&partial).unwrap();
        assert_eq!((tag, body.len(), after.len()), (LITERAL_TAG, 515, 0));
        // Legacy format: one, two, four bytes and indeterminate.
        assert_eq!(packet(&[0x80 | (8 << 2), 1, 4]).unwrap().0, 8);
        assert_eq!(&packet(&[0x80 | (8 << 2) | 1, 0, 1, 4]).unwrap().1[..], &[4]);
        assert_eq!(&packet(&[0x80 | (8 << 2) | 2, 0, 0, 0, 1, 4]).unwrap().1[..], &[4]);
        assert_eq!(&packet(&[0x80 | (8 << 2) | 3, 4, 5]).unwrap().1[..], &[4, 5]);
    }

    #[test]
    fn truncated_and_odd_headers_are_refused() {
        assert!(packet(&[]).is_none());
        assert!(packet(&[0x40]).is_none(), "bit 7 clear");
        assert!(packet(&[0xC0 | 11, 5, 1]).is_none(), "body shorter than its length");
        assert!(packet(&[0xC0 | 11, 192]).is_none(), "two-byte length cut");
        assert!(packet(&[0xC0 | 11, 255, 0, 0]).is_none(), "five-byte length cut");
        // A partial length on a packet that may not have one, and a first
        // chunk under 512 bytes.
        let mut pkesk = vec![0xC0 | PKESK_TAG, 224 + 9];
        pkesk.extend(std::iter::repeat_n(0, 600));
        assert!(packet(&pkesk).is_none());
        let mut small = vec![0xC0 | LITERAL_TAG, 224 + 4];
        small.extend(std::iter::repeat_n(0, 40));
        assert!(packet(&small).is_none());
        // A partial chain that never ends.
        let mut open_ended = vec![0xC0 | LITERAL_TAG, 224 + 9];
        open_ended.extend(std::iter::repeat_n(0, 512));
        assert!(packet(&open_ended).is_none());
    }

    #[test]
    fn literal_and_compressed_content() {
        let lit = |data: &[u8]| {
            let mut body = vec![b'b', 1, b'x', 0, 0, 0, 0];
            body.extend_from_slice(data);
            let mut p = vec![0xC0 | LITERAL_TAG, body.len() as u8];
            p.extend(body);
            p
        };
        assert_eq!(literal_data(&lit(b"hello"), 100).unwrap(), b"hello");
        assert!(literal_data(&lit(b"hello"), 4).is_none(), "above the cap");
        let mut trailing = lit(b"hi");
        trailing.push(0);
        assert!(literal_data(&trailing, 100).is_none(), "bytes after the packet");
        // Zlib-compressed literal, legacy indeterminate length as gpg writes.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &lit(b"compressed")).unwrap();
        let mut c = vec![0x80 | (COMPRESSED_TAG << 2) | 3, 2];
        c.extend(z.finish().unwrap());
        assert_eq!(literal_data(&c, 100).unwrap(), b"compressed");
        let mut garbage_after_stream = c.clone();
        garbage_after_stream.push(0);
        assert!(literal_data(&garbage_after_stream, 100).is_none());
        // A signature packet (tag 2) is not the common shape.
        assert!(literal_data(&[0xC0 | 2, 1, 0], 100).is_none());
    }
}
