//! Parsing inbound mail with mail-parser into the few facts the pipeline
//! needs. Never panics: input that is not a mail becomes a [`ParseError`].

use jiff::Timestamp;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders as _};

/// The envelope sender as the delivering server recorded it (`Return-Path:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnPath {
    /// No Return-Path header at all.
    Missing,
    /// `Return-Path: <>`: a bounce or other automatic mail (RFC 5321 §4.5.5).
    Null,
    Address(String),
}

/// What the pipeline knows of an inbound mail.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// With angle brackets. Synthesised from a content hash when missing.
    pub message_id: String,
    pub has_message_id: bool,
    pub from_addr: Option<String>,
    pub from_name: Option<String>,
    pub return_path: ReturnPath,
    /// Decoded, single-line.
    pub subject: String,
    /// Message-IDs from In-Reply-To and References, with angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Addresses in To and Cc, parsed (lower-cased); never compare
    /// addresses by substring.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub date: Option<Timestamp>,
    /// Lower-cased header names and raw values that triage looks at.
    pub headers: Vec<(String, String)>,
    /// The text of the message (text/plain parts, or HTML converted), for
    /// storage and, later, classification. Confidential: log at debug only.
    pub body_text: String,
    /// The attachments beside the text (OpenPGP parts, keys and
    /// signatures not counted): their names and, for text ones, their text.
    /// Confidential as the body is.
    pub attachments: Attachments,
    pub size: usize,
}

/// A message's attachments, as triage compares and checks reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments {
    /// How many (beyond [`Attachments::MAX_NAMED`], counted only).
    pub count: usize,
    /// Their file names (or content types), at most [`Attachments::MAX_NAMED`].
    pub names: Vec<String>,
    /// The text of `text/*` attachments, at most [`Attachments::MAX_TEXT`]
    /// bytes in all.
    pub text: String,
}

impl Attachments {
    pub const MAX_NAMED: usize = 20;
    pub const MAX_TEXT: usize = 64 * 1024;

    /// The attachments of a parsed message.
    pub fn of(msg: &mail_parser::Message<'_>) -> Attachments {
        let mut out = Attachments::default();
        for part in msg.attachments().take(crate::message::MAX_ATTACHMENTS_LOOKED_AT) {
            let (ctype, subtype) = part
                .content_type()
                .map(|c| {
                    (
                        c.ctype().to_ascii_lowercase(),
                        c.subtype().unwrap_or_default().to_ascii_lowercase(),
                    )
                })
                .unwrap_or_else(|| ("text".to_owned(), "plain".to_owned()));
            let name = part.attachment_name().map(single_line);
            let openpgp = ctype == "application" && subtype.starts_with("pgp")
                || name.as_deref().is_some_and(|n| {
                    let n = n.to_ascii_lowercase();
                    n.ends_with(".asc") || n.ends_with(".sig") || n.ends_with(".gpg") || n.ends_with(".pgp")
                });
            if openpgp || ctype == "multipart" {
                continue;
            }
            out.count += 1;
            if out.names.len() < Self::MAX_NAMED {
                out.names.push(name.unwrap_or_else(|| format!("{ctype}/{subtype}")));
            }
            if ctype == "text"
                && let Some(t) = part.text_contents()
            {
                let room = Self::MAX_TEXT.saturating_sub(out.text.len());
                let mut end = t.len().min(room);
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                if end > 0 {
                    if !out.text.is_empty() {
                        out.text.push('\n');
                    }
                    out.text.push_str(&t[..end]);
                }
            }
        }
        out
    }

    /// Adds another message's attachments (a decrypted part's) to these.
    pub fn extend(&mut self, other: Attachments) {
        self.count += other.count;
        for n in other.names {
            if self.names.len() < Self::MAX_NAMED {
                self.names.push(n);
            }
        }
        let room = Self::MAX_TEXT.saturating_sub(self.text.len());
        let mut end = other.text.len().min(room);
        while !other.text.is_char_boundary(end) {
            end -= 1;
        }
        if end > 0 {
            if !self.text.is_empty() {
                self.text.push('\n');
            }
            self.text.push_str(&other.text[..end]);
        }
    }
}

/// At most this many parts are looked at for attachments.
pub const MAX_ATTACHMENTS_LOOKED_AT: usize = 200;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("not a mail message: no header section could be parsed")]
    NotMail,
    #[error(
        "MIME structure too deep to parse safely: up to {found} nested messages (message/rfc822 \
         parts, or parts of a multipart/digest), more than the {limit} embargo follows; \
         the raw message is kept for the team"
    )]
    TooDeep { found: usize, limit: usize },
    #[error("the MIME parser gave up on this message (it panicked); the raw message is kept for the team")]
    ParserPanicked,
}

/// The most nested messages (`message/rfc822` inside `message/rfc822` ...)
/// a mail may carry before any parser sees it. mail-parser follows such
/// nesting without limit and the result is a tree as deep as the input, so
/// dropping or walking it recurses once per level: 50,000 levels (2.5 MB of
/// mail) overflowed the stack and aborted the daemon on every restart. Real
/// mail forwards a handful of messages; 64 leaves room for forwarded
/// forwards.
pub const MAX_NESTED_MESSAGES: usize = 64;

/// Parses `raw` with mail-parser, after checking that its MIME structure
/// cannot nest deeper than [`MAX_NESTED_MESSAGES`]. Every parse of mail or
/// of decrypted content goes through here.
pub fn mime(raw: &[u8]) -> Result<mail_parser::Message<'_>, ParseError> {
    let found = nesting_bound(raw);
    if found > MAX_NESTED_MESSAGES {
        return Err(ParseError::TooDeep {
            found,
            limit: MAX_NESTED_MESSAGES,
        });
    }
    // A panic in the parser (mail-parser has debug assertions that hostile
    // multipart structures reach; the fuzzer found one) is this message's
    // failure, not the daemon's.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| MessageParser::default().parse(raw)))
        .map_err(|_| ParseError::ParserPanicked)?
        .ok_or(ParseError::NotMail)
}

/// An upper bound on how many messages mail-parser could nest when parsing
/// `raw`, in one pass over its lines and without parsing it: every
/// `Content-Type: message/rfc822` (or `message/global`) header can open
/// one level, and once a `multipart/digest` appears anywhere, every MIME
/// boundary line can too (a digest's parts default to `message/rfc822`,
/// RFC 2046 §5.1.5). Encoded (base64, quoted-printable) nested messages are
/// parsed by mail-parser's own recursion, which stops at 3 levels.
fn nesting_bound(raw: &[u8]) -> usize {
    let mut messages = 0usize;
    let mut boundaries = 0usize;
    let mut digest = false;
    let mut in_content_type = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let continued = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        let value = if continued && in_content_type {
            Some(line)
        } else {
            in_content_type = false;
            match line.iter().position(|&b| b == b':') {
                Some(colon) if line[..colon].trim_ascii().eq_ignore_ascii_case(b"content-type") => {
                    in_content_type = true;
                    Some(&line[colon + 1..])
                }
                _ => None,
            }
        };
        if let Some(value) = value {
            let value = value.trim_ascii_start();
            if starts_with_ignore_case(value, b"message/rfc822") || starts_with_ignore_case(value, b"message/global") {
                messages += 1;
            }
            if value.windows(16).any(|w| w.eq_ignore_ascii_case(b"multipart/digest")) {
                digest = true;
            }
        }
        if line.starts_with(b"--") {
            boundaries += 1;
        }
    }
    if digest { messages + boundaries } else { messages }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

impl Inbound {
    /// All values of a header, by case-insensitive name.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    let msg = mime(raw)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NotMail);
    }
    let headers: Vec<(String, String)> = msg
        .headers_raw()
        .map(|(n, v)| (n.to_ascii_lowercase(), unfold(v)))
        .collect();
    let return_path = match headers.iter().find(|(n, _)| n == "return-path") {
        None => ReturnPath::Missing,
        Some((_, v)) => {
            let addr = v.trim().trim_start_matches('<').trim_end_matches('>').trim();
            if addr.is_empty() {
                ReturnPath::Null
            } else {
                ReturnPath::Address(addr.to_owned())
            }
        }
    };
    let from = msg.from().and_then(|a| a.first());
    let from_addr = from
        .and_then(|a| a.address())
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    let from_name = from.and_then(|a| a.name()).map(single_line).filter(|n| !n.is_empty());
    let (message_id, has_message_id) = match msg.message_id() {
        Some(id) if !id.trim().is_empty() => (format!("<{}>", id.trim()), true),
        _ => (synthetic_id(raw), false),
    };
    Ok(Inbound {
        message_id,
        has_message_id,
        from_addr,
        from_name,
        return_path,
        subject: msg.subject().map(single_line).unwrap_or_default(),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        date: msg.date().and_then(|d| Timestamp::from_second(d.to_timestamp()).ok()),
        body_text: body_text(&msg),
        attachments: Attachments::of(&msg),
        headers,
        size: raw.len(),
    })
}

/// The address as rate limits count it: lower-cased, with a `+tag` (or
/// `-tag` is left alone: too many real local parts contain a dash) after
/// the local part removed, so `user+1@d` and `user+2@d` are one victim.
pub fn address_key(addr: &str) -> String {
    let addr = addr.trim().to_ascii_lowercase();
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => addr,
    }
}

/// The addresses of an address header (groups flattened), lower-cased.
fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|addr| addr.address())
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .take(1000)
            .collect()
    })
    .unwrap_or_default()
}

impl Inbound {
    /// The message a reply of ours to `reporter` answers, when there is no
    /// inbound mail at hand (a team notice, a combined or a late
    /// acknowledgement): `In-Reply-To` is `message_id`, `References` is
    /// `references`.
    pub fn answered(
        reporter: &str,
        reporter_name: &str,
        subject: &str,
        message_id: Option<String>,
        references: Vec<String>,
    ) -> Inbound {
        Inbound {
            has_message_id: message_id.is_some(),
            message_id: message_id.unwrap_or_default(),
            from_addr: Some(reporter.to_owned()),
            from_name: (!reporter_name.is_empty()).then(|| reporter_name.to_owned()),
            return_path: ReturnPath::Address(reporter.to_owned()),
            subject: subject.to_owned(),
            in_reply_to: Vec::new(),
            references,
            to: Vec::new(),
            cc: Vec::new(),
            date: None,
            headers: Vec::new(),
            body_text: String::new(),
            attachments: Attachments::default(),
            size: 0,
        }
    }

    /// Is `addr` among the To/Cc recipients (exact address, any case)?
    pub fn addressed_to(&self, addr: &str) -> bool {
        self.to
            .iter()
            .chain(&self.cc)
            .any(|a| a.eq_ignore_ascii_case(addr.trim()))
    }
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match v {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| format!("<{t}>"))
        .collect()
}

fn body_text(msg: &mail_parser::Message<'_>) -> String {
    let mut out = String::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t);
        }
    }
    out
}

/// Collapses a header value onto one line: no CR, LF or other controls.
pub fn single_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out.trim_end().to_owned()
}

fn unfold(v: &str) -> String {
    single_line(v)
}

fn synthetic_id(raw: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<sha256-{hex}@embargo.invalid>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_basics() {
        let raw = b"Return-Path: <r@example.test>\r\nFrom: \"R. Searcher\" <r@example.test>\r\n\
            To: security@example.test\r\nSubject: =?UTF-8?Q?XSS_in_caf=C3=A9?=\r\n\
            Message-ID: <abc@example.test>\r\nIn-Reply-To: <x@y>\r\nReferences: <a@b> <x@y>\r\n\
            Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.message_id, "<abc@example.test>");
        assert_eq!(m.from_addr.as_deref(), Some("r@example.test"));
        assert_eq!(m.from_name.as_deref(), Some("R. Searcher"));
        assert_eq!(m.return_path, ReturnPath::Address("r@example.test".into()));
        assert_eq!(m.subject, "XSS in café");
        assert_eq!(m.in_reply_to, vec!["<x@y>"]);
        assert_eq!(m.references, vec!["<a@b>", "<x@y>"]);
        assert_eq!(m.date.unwrap().to_string(), "2026-11-26T10:00:00Z");
        assert!(m.body_text.contains("Hello"));
    }

    #[test]
    fn recipients_are_parsed_addresses_not_substrings() {
        let raw = b"From: a@b\r\nTo: \"security@example.org\" <y@example.org>, Group: x@example.org;\r\n\
            Cc: security@example.org\r\nSubject: s\r\n\r\nbody";
        let m = parse(raw).unwrap();
        assert_eq!(m.to, vec!["y@example.org", "x@example.org"]);
        assert!(m.addressed_to("Security@Example.org"));
        assert!(!m.addressed_to("ecurity@example.org"));
        let only_y = parse(b"From: a@b\r\nTo: security@example.org\r\n\r\nx").unwrap();
        assert!(!only_y.addressed_to("y@example.org"), "y@ is not inside security@");
    }

    #[test]
    fn plus_tags_count_as_one_address() {
        assert_eq!(address_key("Victim+1@Example.ORG"), "victim@example.org");
        assert_eq!(address_key("victim+a+b@example.org"), "victim@example.org");
        assert_eq!(address_key("first-last@example.org"), "first-last@example.org");
        assert_eq!(address_key("\"a+b@c\"@example.org"), "\"a@example.org");
    }

    #[test]
    fn null_and_missing_return_path() {
        let m = parse(b"Return-Path: <>\r\nFrom: a@b\r\nSubject: x\r\n\r\nbody").unwrap();
        assert_eq!(m.return_path, ReturnPath::Null);
        let m = parse(b"From: a@b\r\nSubject: x\r\n\r\nbody").unwrap();
        assert_eq!(m.return_path, ReturnPath::Missing);
    }

    #[test]
    fn encoded_newlines_in_subject_do_not_survive() {
        let raw = b"From: a@b\r\nSubject: =?UTF-8?Q?hi=0D=0ABcc:_victim@example.test?=\r\n\r\nx";
        let m = parse(raw).unwrap();
        assert!(
            !m.subject.contains('\n') && !m.subject.contains('\r'),
            "{:?}",
            m.subject
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
        assert!(parse(b"\r\n\r\n").is_err());
        for input in [
            &b"\xff\xfe\x00garbage"[..],
            b":::\r\n\r\n",
            b"From:\r\n",
            &[0u8; 64][..],
        ] {
            let _ = parse(input);
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let level = b"Content-Type: message/rfc822\r\n\r\n";
        let mut raw = b"From: a@b\r\nSubject: x\r\n".to_vec();
        let deep = |n: usize, raw: &[u8]| {
            let mut v = raw.to_vec();
            for _ in 0..n {
                v.extend_from_slice(level);
            }
            v.extend_from_slice(b"Subject: in\r\n\r\nbottom\r\n");
            v
        };
        assert!(parse(&deep(MAX_NESTED_MESSAGES, &raw)).is_ok());
        // 100,000 levels: refused in one pass, on a small stack, no overflow.
        let huge = deep(100_000, &raw);
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || parse(&huge).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(matches!(err, ParseError::TooDeep { .. }), "{err}");
        assert!(err.to_string().contains("nested"));
        // Folded headers and odd case count the same.
        raw.extend_from_slice(b"Content-Type:\r\n\tMESSAGE/RFC822\r\n\r\n");
        assert_eq!(nesting_bound(&raw), 1);
        // A digest's parts are messages without saying so.
        let digest = b"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nSubject: 1\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(nesting_bound(digest), 2);
    }

    /// Found by the `openpgp` fuzz target: a multipart whose parts end
    /// oddly trips a debug assertion in mail-parser 0.11.9
    /// (parsers/message.rs:485). Release builds skip it; either way it is
    /// an answer, never a panic out of `mime`.
    #[test]
    fn a_parser_panic_is_this_messages_failure() {
        let raw = include_bytes!("../fuzz/seeds/openpgp/mail-parser-debug-assert.eml");
        match mime(raw) {
            Ok(_) | Err(ParseError::ParserPanicked) => {}
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn message_without_id_gets_a_stable_synthetic_one() {
        let raw = b"From: a@b\r\nSubject: x\r\n\r\nbody";
        let a = parse(raw).unwrap();
        let b = parse(raw).unwrap();
        assert!(!a.has_message_id);
        assert_eq!(a.message_id, b.message_id);
    }
}
