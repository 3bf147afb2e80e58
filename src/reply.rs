//! Composing automatic replies from templates the operator edits. Headers
//! follow RFC 3834 §3; every value that comes from the inbound mail is
//! collapsed onto one line first (no header injection). With team keys
//! loaded, replies are signed PGP/MIME; when the reporter's key is known
//! they are encrypted too.

pub mod combined;

pub use crate::composing::{Error, Result};

use std::path::Path;
use std::time::SystemTime;

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, Mailboxes, Message, MessageBuilder};
use sequoia_openpgp::Cert;
use serde::Serialize;

use crate::message::{Inbound, single_line};
use crate::openpgp::{TeamKeys, compose};
use crate::store::Outgoing;
use crate::triage::LOOP_HEADER;

/// The reply templates (read once at start, and again on reload).
#[derive(Debug, Clone)]
pub struct Templates {
    ack: String,
    cannot_decrypt: String,
    /// Out-of-scope replies by excluded topic.
    topics: Vec<(String, String)>,
}

impl Templates {
    pub fn load(ack: &Path, cannot_decrypt: &Path, topics: &[crate::triage::exclude::Topic]) -> Result<Templates> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|error| Error::Read {
                path: p.to_owned(),
                error,
            })
        };
        let mut t = Templates {
            ack: read(ack)?,
            cannot_decrypt: read(cannot_decrypt)?,
            topics: Vec::new(),
        };
        for topic in topics {
            t.topics.push((topic.name.clone(), read(&topic.reply_template)?));
        }
        // Render once against sample values so a broken template fails at
        // start (and in check-config), not on the first report.
        let sample = AckContext::sample();
        t.render_ack(&sample).map_err(|e| rename(e, ack))?;
        t.render_cannot_decrypt(&sample)
            .map_err(|e| rename(e, cannot_decrypt))?;
        for topic in topics {
            t.render_topic(&topic.name, &sample)
                .map_err(|e| rename(e, &topic.reply_template))?;
        }
        Ok(t)
    }

    pub fn render_topic(&self, topic: &str, ctx: &AckContext) -> Result<String> {
        let text = self
            .topics
            .iter()
            .find(|(name, _)| name == topic)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| Error::NoTopicTemplate(topic.to_owned()))?;
        render(topic, text, ctx)
    }

    pub fn render_ack(&self, ctx: &AckContext) -> Result<String> {
        render("acknowledgement", &self.ack, ctx)
    }

    pub fn render_cannot_decrypt(&self, ctx: &AckContext) -> Result<String> {
        render("cannot-decrypt", &self.cannot_decrypt, ctx)
    }
}

/// Every reply template rendered against sample values (`check-config`):
/// each problem with the config key it belongs to, not just the first.
pub fn check_templates(
    ack: &Path,
    cannot_decrypt: &Path,
    topics: &[crate::triage::exclude::Topic],
) -> Vec<(String, Error)> {
    let sample = AckContext::sample();
    let mut files = vec![
        ("reply.ack_template".to_owned(), ack),
        ("reply.cannot_decrypt_template".to_owned(), cannot_decrypt),
    ];
    for t in topics {
        files.push((format!("exclude.reply_template (topic {})", t.name), &t.reply_template));
    }
    files
        .into_iter()
        .filter_map(|(key, path)| {
            let problem = match std::fs::read_to_string(path) {
                Err(error) => Error::Read {
                    path: path.to_owned(),
                    error,
                },
                Ok(text) => render(&path.display().to_string(), &text, &sample).err()?,
            };
            Some((key, problem))
        })
        .collect()
}

/// Reply templates are plain text: never auto-escaped.
fn render(name: &str, template: &str, ctx: &AckContext) -> Result<String> {
    crate::text::render_str("t", template, ctx).map_err(|e| Error::render(name, e))
}

/// The same error, naming the template's file.
fn rename(e: Error, path: &Path) -> Error {
    match e {
        Error::Render { error, .. } => Error::render(path.display().to_string(), error),
        other => other,
    }
}

/// What the reply templates can use.
#[derive(Debug, Clone, Serialize)]
pub struct AckContext {
    pub tracking_id: String,
    pub subject: String,
    pub reporter: String,
    pub reporter_name: String,
    pub team: String,
    pub received_at: String,
    pub response_business_days: u32,
    pub fix_days: u32,
    pub complex_fix_days: u32,
    pub details_delay_days: u32,
    /// The team key's fingerprint ("" without keys).
    pub fingerprint: String,
    /// Why the message could not be read ("" for an ordinary report).
    pub problem: String,
    /// The reply is encrypted to the reporter's key.
    pub encrypted: bool,
    /// The report arrived encrypted. Without `encrypted`, `subject` is then
    /// "your encrypted report", never the decrypted subject.
    pub encrypted_report: bool,
    /// The excluded topic ("" unless out of scope).
    pub topic: String,
    /// What would help, one phrase per missing checklist item
    /// (`[reply] ask_for_missing`; empty otherwise).
    pub missing: Vec<&'static str>,
}

impl AckContext {
    fn sample() -> AckContext {
        AckContext {
            tracking_id: "SEC-2026-0001".into(),
            subject: "sample".into(),
            reporter: "researcher@example.org".into(),
            reporter_name: "Researcher".into(),
            team: "Security Team".into(),
            received_at: "2026-01-01T00:00:00Z".into(),
            response_business_days: 5,
            fix_days: 90,
            complex_fix_days: 120,
            details_delay_days: 30,
            fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
            problem: "encrypted to none of our keys".into(),
            encrypted: false,
            encrypted_report: false,
            topic: "spf-dmarc".into(),
            missing: vec![crate::triage::checklist::ask("version")],
        }
    }
}

/// Everything needed to address a reply to an inbound message.
pub struct ReplyTo<'a> {
    pub inbound: &'a Inbound,
    /// Where the reply goes: the Return-Path (RFC 3834 §4).
    pub recipient: &'a str,
    pub from: &'a Mailbox,
    /// A person's message (the team's reply): no `Auto-Submitted`, and a
    /// real envelope sender so bounces come back.
    pub human: bool,
    /// `References` as given, not trimmed to the thread root and newest ids
    /// (a combined acknowledgement names every report it acknowledges; the
    /// list is ours and bounded).
    pub all_references: bool,
}

/// How an outgoing mail is protected.
#[derive(Default)]
pub struct Crypto<'a> {
    /// Signs everything, and is a recipient of everything encrypted.
    pub team: Option<&'a TeamKeys>,
    /// Encrypt to this key (the reporter's).
    pub encrypt_to: Option<Cert>,
}

use crate::text::bounded;

/// Longer Message-IDs are not copied into our headers.
const MAX_ID_LEN: usize = 250;
/// How many of the inbound References a reply keeps (the first, the thread
/// root, and the newest): RFC 5322 §3.6.4 allows trimming, and a forged
/// References of 60,000 ids must not make a 2 MB acknowledgement.
const MAX_REFERENCES: usize = 10;

fn bounded_references(refs: &[String]) -> Vec<String> {
    let ok: Vec<&String> = refs.iter().filter(|r| r.len() <= MAX_ID_LEN).collect();
    if ok.len() <= MAX_REFERENCES {
        return ok.into_iter().cloned().collect();
    }
    let mut out = vec![ok[0].clone()];
    out.extend(ok[ok.len() - (MAX_REFERENCES - 1)..].iter().map(|r| (*r).clone()));
    out
}

/// The subject of a reply: the tag first, the original after it, bounded.
pub fn tagged_subject(tracking_id: &str, original: &str) -> String {
    let original = single_line(original);
    let mut subject = format!("[{tracking_id}] ");
    let stripped = single_line(&original.replace(&format!("[{tracking_id}]"), ""));
    let stripped = stripped.trim();
    if stripped.is_empty() {
        subject.push_str("Your report");
    } else {
        subject.extend(stripped.chars().take(150));
    }
    subject
}

/// Builds an automatic reply (the `kind` goes into the outbox row): signed
/// PGP/MIME when team keys are loaded, encrypted too when the reporter's key
/// is known; then the outer subject carries only the tracking tag and the
/// real subject travels inside, as a protected header.
pub fn compose(
    kind: crate::store::MailKind,
    to: &ReplyTo<'_>,
    subject: &str,
    body: String,
    crypto: &Crypto<'_>,
) -> Result<Outgoing> {
    let message_id = new_message_id(to.from);
    let address = to.recipient.parse().map_err(|error| Error::Recipient {
        address: to.recipient.to_owned(),
        error,
    })?;
    let name = match (&to.inbound.from_name, &to.inbound.from_addr) {
        (Some(name), Some(addr)) if addr.eq_ignore_ascii_case(to.recipient) => Some(bounded(name)),
        _ => None,
    };
    let recipient = Mailbox::new(name, address);
    let signer = crypto.team.and_then(TeamKeys::signer);
    let subject = single_line(subject);
    // A reporter key that cannot encrypt is no key: the reply goes out as
    // for an unknown key, never encrypted to the team key alone.
    let encrypt_to = crypto.encrypt_to.clone().filter(crate::openpgp::pin::can_encrypt);
    let encrypt = signer.is_some() && encrypt_to.is_some();
    let mut builder = Message::builder()
        .from(to.from.clone())
        .to(recipient.clone())
        .subject(if encrypt { outer_tag(&subject) } else { subject.clone() })
        .message_id(Some(message_id.clone()))
        .date(SystemTime::now());
    builder = threading(builder, to.inbound, to.all_references);
    builder = automatic_headers(builder, to, crypto)?;
    let msg = match (signer, &encrypt_to) {
        (None, _) => builder.header(ContentType::TEXT_PLAIN).body(body)?,
        (Some(signer), None) => wrapped(builder, compose::sign(&text_entity(body, None), signer)?)?,
        (Some(signer), Some(cert)) => {
            let protected = Protected {
                subject: &subject,
                from: to.from,
                to: &recipient,
                message_id: &message_id,
            };
            let entity = text_entity(body, Some(&protected));
            let mut recipients = vec![cert.clone()];
            recipients.extend(crypto.team.and_then(TeamKeys::primary));
            wrapped(builder, compose::encrypt(&entity, Some(signer), &recipients)?)?
        }
    };
    Ok(Outgoing {
        kind,
        recipient: to.recipient.to_owned(),
        envelope_from: if to.human {
            to.from.email.to_string()
        } else {
            String::new()
        },
        message_id,
        subject,
        from_addr: to.from.email.to_string(),
        raw: msg.formatted(),
    })
}

/// The outer subject of an encrypted reply: just the tracking tag.
fn outer_tag(subject: &str) -> String {
    match subject.find(']') {
        Some(end) if subject.starts_with('[') => subject[..=end].to_owned(),
        _ => "...".to_owned(),
    }
}

struct Protected<'a> {
    subject: &'a str,
    from: &'a Mailbox,
    to: &'a Mailbox,
    message_id: &'a str,
}

/// The text/plain entity that gets signed (and encrypted), with protected
/// headers (`protected-headers="v1"`) when it will be encrypted.
fn text_entity(body: String, protected: Option<&Protected<'_>>) -> Vec<u8> {
    use lettre::message::header::{From as FromHeader, Headers, Subject, To};
    // Canonical CRLF line endings: they are what gets signed.
    let body = Body::new(body.replace("\r\n", "\n").replace('\n', "\r\n"));
    let mut head = String::new();
    match protected {
        Some(p) => {
            head.push_str("Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n");
            let mut h = Headers::new();
            h.set(Subject::from(p.subject.to_owned()));
            h.set(FromHeader::from(Mailboxes::new().with(p.from.clone())));
            h.set(To::from(Mailboxes::new().with(p.to.clone())));
            head.push_str(&h.to_string());
            head.push_str(&format!("Message-ID: {}\r\n", p.message_id));
        }
        None => head.push_str("Content-Type: text/plain; charset=utf-8\r\n"),
    }
    head.push_str(&format!("Content-Transfer-Encoding: {}\r\n\r\n", body.encoding()));
    let mut out = head.into_bytes();
    out.extend_from_slice(&body.into_vec());
    out
}

/// In-Reply-To and References: the inbound's own id after its references,
/// trimmed to the thread root and the newest ids unless `all` (the list is
/// ours, e.g. a combined acknowledgement's).
fn threading(mut builder: MessageBuilder, inbound: &Inbound, all: bool) -> MessageBuilder {
    let mut references = if all {
        inbound
            .references
            .iter()
            .filter(|r| r.len() <= MAX_ID_LEN)
            .cloned()
            .collect()
    } else {
        bounded_references(&inbound.references)
    };
    if inbound.has_message_id && inbound.message_id.len() <= MAX_ID_LEN {
        builder = builder.in_reply_to(inbound.message_id.clone());
        if !references.contains(&inbound.message_id) {
            references.push(inbound.message_id.clone());
        }
    }
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    builder
}

/// Our loop marker; RFC 3834's Auto-Submitted (and Exchange's suppression)
/// unless a person wrote the reply; Autocrypt with the team's key.
fn automatic_headers(mut builder: MessageBuilder, to: &ReplyTo<'_>, crypto: &Crypto<'_>) -> Result<MessageBuilder> {
    builder = builder.raw_header(raw_header(LOOP_HEADER, to.from.email.as_ref())?);
    if !to.human {
        builder = builder
            .raw_header(raw_header("Auto-Submitted", "auto-replied")?)
            // Ask Exchange and friends not to auto-answer our auto-answer.
            .raw_header(raw_header("X-Auto-Response-Suppress", "All")?);
    }
    if let Some(bytes) = crypto.team.and_then(TeamKeys::primary_public_bytes) {
        let value = compose::autocrypt_value(to.from.email.as_ref(), &bytes);
        builder = builder.raw_header(HeaderValue::new(header_name("Autocrypt")?, value));
    }
    Ok(builder)
}

fn wrapped(builder: MessageBuilder, w: compose::Wrapped) -> Result<Message> {
    let ct = ContentType::parse(&w.content_type).map_err(|e| Error::Mime(format!("content type: {e}")))?;
    // Our own multipart: ASCII armor and an entity whose body lettre already
    // encoded, CRLF throughout, lines far below 998 octets. lettre's encoding
    // chooser would pick base64 for any byte buffer, breaking RFC 3156.
    if !w.body.is_ascii() {
        return Err(Error::Mime("the body is not 7-bit".to_owned()));
    }
    let body = Body::dangerous_pre_encoded(w.body, ContentTransferEncoding::SevenBit);
    Ok(builder.header(ct).body(body)?)
}

fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::new_from_ascii(name.to_owned()).map_err(|e| Error::Mime(format!("header name {name}: {e:?}")))
}

fn raw_header(name: &str, value: &str) -> Result<HeaderValue> {
    Ok(HeaderValue::new(header_name(name)?, single_line(value)))
}

fn new_message_id(from: &Mailbox) -> String {
    use rand::Rng as _;
    let domain = from.email.domain();
    let token: u128 = rand::rng().random();
    format!("<embargo.{token:032x}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    fn inbound(subject: &str) -> Inbound {
        let raw = format!(
            "Return-Path: <r@example.test>\r\nFrom: Rita <r@example.test>\r\nSubject: {subject}\r\n\
             Message-ID: <m1@example.test>\r\nReferences: <m0@example.test>\r\n\r\nbody\r\n"
        );
        parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_broken_template_is_named_once_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let ack = dir.path().join("ack.txt");
        let bad = dir.path().join("cannot-decrypt.txt");
        std::fs::write(&ack, "Hello {{ reporter_name }}").unwrap();
        std::fs::write(&bad, "Hello {{ no_such_value }}").unwrap();
        let e = Templates::load(&ack, &bad, &[]).unwrap_err();
        assert!(matches!(e, Error::Render { .. }), "{e:?}");
        let text = format!("{:#}", anyhow::Error::from(e));
        assert!(
            text.starts_with(&format!("template {} does not render: ", bad.display())),
            "{text}"
        );
        assert!(text.contains("undefined"), "{text}");
        assert_eq!(text.matches("undefined").count(), 1, "the cause once: {text}");

        let missing = dir.path().join("gone.txt");
        let e = Templates::load(&ack, &missing, &[]).unwrap_err();
        assert!(matches!(e, Error::Read { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read template {}", missing.display()))
        );
    }

    #[test]
    fn reply_headers_follow_rfc_3834() {
        let from: Mailbox = "Security <security@example.test>".parse().unwrap();
        let msg = inbound("XSS");
        let to = ReplyTo {
            inbound: &msg,
            recipient: "r@example.test",
            from: &from,
            human: false,
            all_references: false,
        };
        let out = compose(
            crate::store::MailKind::Ack,
            &to,
            &tagged_subject("SEC-2026-0001", &msg.subject),
            "Thanks".into(),
            &Crypto::default(),
        )
        .unwrap();
        let text = String::from_utf8(out.raw.clone()).unwrap();
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <m1@example.test>\r\n"), "{text}");
        assert!(
            text.contains("References: <m0@example.test> <m1@example.test>\r\n"),
            "{text}"
        );
        assert!(text.contains("Subject: [SEC-2026-0001] XSS\r\n"), "{text}");
        assert!(text.contains(&format!("Message-ID: {}\r\n", out.message_id)), "{text}");
        assert!(text.contains("X-Embargo-Loop: security@example.test\r\n"), "{text}");
        assert_eq!(out.envelope_from, "");
        assert_eq!(out.recipient, "r@example.test");
    }

    #[test]
    fn subject_injection_stays_in_the_subject() {
        let from: Mailbox = "security@example.test".parse().unwrap();
        let msg = inbound("=?UTF-8?Q?x=0D=0ABcc:_victim@example.test?=");
        let to = ReplyTo {
            inbound: &msg,
            recipient: "r@example.test",
            from: &from,
            human: false,
            all_references: false,
        };
        let out = compose(
            crate::store::MailKind::Ack,
            &to,
            &tagged_subject("SEC-2026-0002", &msg.subject),
            "b".into(),
            &Crypto::default(),
        )
        .unwrap();
        let text = String::from_utf8(out.raw).unwrap();
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
    }

    #[test]
    fn tag_is_not_doubled() {
        assert_eq!(
            tagged_subject("SEC-2026-0001", "Re: [SEC-2026-0001] XSS"),
            "[SEC-2026-0001] Re: XSS"
        );
        assert_eq!(tagged_subject("SEC-2026-0001", ""), "[SEC-2026-0001] Your report");
    }

    #[test]
    fn shipped_templates_render() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let topics = [crate::triage::exclude::spf_dmarc(dir.join("out-of-scope.txt"))];
        let t = Templates::load(&dir.join("ack.txt"), &dir.join("cannot-decrypt.txt"), &topics).unwrap();
        let text = t.render_topic("spf-dmarc", &AckContext::sample()).unwrap();
        assert!(text.contains("out of scope") && text.contains("reply"), "{text}");
        let text = t.render_ack(&AckContext::sample()).unwrap();
        assert!(text.contains("SEC-2026-0001"));
        assert!(text.contains("5 business days"));
        assert!(text.contains("90 days"));
        let text = t.render_cannot_decrypt(&AckContext::sample()).unwrap();
        assert!(text.contains("0123456789ABCDEF0123456789ABCDEF01234567"), "{text}");
    }
}
