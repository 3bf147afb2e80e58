//! Where the ciphertexts of a message are: PGP/MIME (also as Exchange
//! rewrites it), inline armored blocks and armored or `.pgp` attachments;
//! each distinct ciphertext once, and whether anything sits beside them.

use mail_parser::{MimeHeaders as _, PartType};

use super::MAX_PARTS;

const BEGIN: &str = "-----BEGIN PGP MESSAGE-----";
const END: &str = "-----END PGP MESSAGE-----";

/// A piece of ciphertext found in the message.
pub(super) enum Payload {
    /// PGP/MIME: the plaintext is a MIME entity.
    Mime(Vec<u8>),
    /// Inline: the plaintext is text (or an attached file).
    Inline(Vec<u8>),
}

/// The ciphertexts of a message, each once, and whether anything with
/// content sits beside them.
pub(super) struct Found {
    pub(super) payloads: Vec<Payload>,
    /// Text or files outside the ciphertexts (ignored for the text, and
    /// never covered by a signature inside a ciphertext).
    pub(super) extra: bool,
}

pub(super) fn find_payloads(parsed: &mail_parser::Message<'_>) -> Found {
    let parts = &parsed.parts[..parsed.parts.len().min(MAX_PARTS)];
    let mut found = Distinct::default();
    let extra = match pgp_mime(parts, &mut found) {
        Some(extra) => extra,
        None => inline(parts, &mut found),
    };
    Found {
        payloads: found.payloads,
        extra,
    }
}

/// Each distinct ciphertext once: a mail with many control parts (or the
/// same block pasted many times) must not make us decrypt it again and
/// again.
#[derive(Default)]
struct Distinct {
    payloads: Vec<Payload>,
    seen: std::collections::HashSet<sha2::digest::Output<sha2::Sha256>>,
}

impl Distinct {
    fn push(&mut self, bytes: &[u8], mime: bool) {
        use sha2::Digest as _;
        if self.seen.insert(sha2::Sha256::digest(bytes)) {
            self.payloads.push(if mime {
                Payload::Mime(bytes.to_vec())
            } else {
                Payload::Inline(bytes.to_vec())
            });
        }
    }
}

fn is_type(p: &mail_parser::MessagePart<'_>, t: &str, s: &str) -> bool {
    p.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(t) && ct.subtype().is_some_and(|st| st.eq_ignore_ascii_case(s))
    })
}

/// PGP/MIME, also when Exchange rewrote multipart/encrypted into
/// multipart/mixed: the "application/pgp-encrypted" control part is
/// followed by the ciphertext part. `None` when there is none; else
/// whether any other part has content.
fn pgp_mime(parts: &[mail_parser::MessagePart<'_>], found: &mut Distinct) -> Option<bool> {
    let mut used = std::collections::HashSet::new();
    let mut any = false;
    for (i, p) in parts.iter().enumerate() {
        if is_type(p, "application", "pgp-encrypted") {
            used.insert(i);
            if let Some((j, next)) = parts
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, q)| !is_type(q, "application", "pgp-encrypted") && !q.is_multipart())
            {
                found.push(next.contents(), true);
                used.insert(j);
                any = true;
            }
        }
    }
    let has_content = |p: &mail_parser::MessagePart<'_>| match &p.body {
        PartType::Text(t) | PartType::Html(t) => !t.trim().is_empty(),
        PartType::Binary(b) | PartType::InlineBinary(b) => !b.is_empty(),
        PartType::Message(_) => true,
        PartType::Multipart(_) => false,
    };
    any.then(|| {
        parts
            .iter()
            .enumerate()
            .any(|(i, p)| !used.contains(&i) && has_content(p))
    })
}

/// Inline PGP: armored blocks in text parts, or armored attachments.
/// Returns whether anything else has content.
fn inline(parts: &[mail_parser::MessagePart<'_>], found: &mut Distinct) -> bool {
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
                // One pass: the blocks, and whether anything but blank
                // space lies between them (a text of 100,000 blocks once
                // took a minute, removing each block from a copy in turn).
                let blocks = armored_blocks(t);
                let mut at = 0;
                for &(start, end) in &blocks {
                    extra |= !t[at..start].trim().is_empty();
                    found.push(t[start..end].as_bytes(), false);
                    at = end;
                }
                extra |= !t[at..].trim().is_empty();
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                let looks_armored = b.windows(BEGIN.len()).take(4096).any(|w| w == BEGIN.as_bytes());
                let named = p.attachment_name().is_some_and(|n| {
                    let n = n.to_ascii_lowercase();
                    n.ends_with(".pgp") || n.ends_with(".gpg")
                });
                if looks_armored || named {
                    found.push(b, false);
                } else {
                    extra |= !b.is_empty();
                }
            }
            _ => {}
        }
    }
    extra
}

/// Armored PGP MESSAGE blocks in a text.
fn armored_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = text[at..].find(BEGIN).map(|s| s + at) {
        match text[start..].find(END) {
            Some(end) => {
                let end = start + end + END.len();
                out.push((start, end));
                at = end;
            }
            None => {
                // Truncated armor: hand it over anyway, it becomes a
                // recorded "cannot decrypt".
                out.push((start, text.len()));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_the_text_between_them_in_one_pass() {
        let block = format!("{BEGIN}\nabc\n{END}");
        let text = format!("{block}\n{block}\n  \n{block}");
        let blocks = armored_blocks(&text);
        assert_eq!(blocks.len(), 3);
        assert!(blocks.iter().all(|&(s, e)| text[s..e] == block));
        let truncated = format!("hello {BEGIN}\nabc");
        assert_eq!(armored_blocks(&truncated), vec![(6, truncated.len())]);
        // The fuzzer's text of many blocks (it took a minute before).
        let many = block.repeat(20_000);
        assert_eq!(armored_blocks(&many).len(), 20_000);
    }
}
