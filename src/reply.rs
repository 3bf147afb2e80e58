//! Composing automatic replies: the acknowledgement, from a template the
//! operator edits. Headers follow RFC 3834 §3; every value that comes from
//! the inbound mail is collapsed onto one line first (no header injection).

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use serde::Serialize;

use crate::message::{Inbound, single_line};
use crate::store::Outgoing;
use crate::triage::LOOP_HEADER;

/// A loaded template (read once at start, and again on reload).
#[derive(Debug, Clone)]
pub struct Templates {
    ack: String,
}

impl Templates {
    pub fn load(ack: &Path) -> anyhow::Result<Templates> {
        let ack = std::fs::read_to_string(ack)
            .with_context(|| format!("cannot read template {}", ack.display()))?;
        let t = Templates { ack };
        // Render once against sample values so a broken template fails at
        // start (and in check-config), not on the first report.
        t.render_ack(&AckContext::sample())
            .with_context(|| "the acknowledgement template does not render".to_owned())?;
        Ok(t)
    }

    pub fn render_ack(&self, ctx: &AckContext) -> anyhow::Result<String> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template("ack", &self.ack)?;
        Ok(env.get_template("ack")?.render(ctx)?)
    }
}

/// What the acknowledgement template can use.
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
        }
    }
}

/// Everything needed to address a reply to an inbound message.
pub struct ReplyTo<'a> {
    pub inbound: &'a Inbound,
    /// Where the reply goes: the Return-Path (RFC 3834 §4).
    pub recipient: &'a str,
    pub from: &'a Mailbox,
}

/// The subject of a reply: the tag first, the original after it, bounded.
pub fn tagged_subject(tracking_id: &str, original: &str) -> String {
    let original = single_line(original);
    let mut subject = format!("[{tracking_id}] ");
    let stripped = strip_tag(&original, tracking_id);
    if stripped.is_empty() {
        subject.push_str("Your report");
    } else {
        subject.extend(stripped.chars().take(150));
    }
    subject
}

fn strip_tag(subject: &str, tracking_id: &str) -> String {
    single_line(&subject.replace(&format!("[{tracking_id}]"), ""))
        .trim()
        .to_owned()
}

/// Builds an automatic reply (the `kind` goes into the outbox row).
pub fn compose(
    kind: &str,
    to: &ReplyTo<'_>,
    subject: &str,
    body: String,
) -> anyhow::Result<Outgoing> {
    let message_id = new_message_id(to.from);
    let recipient: Mailbox = match (&to.inbound.from_name, &to.inbound.from_addr) {
        (Some(name), Some(addr)) if addr.eq_ignore_ascii_case(to.recipient) => {
            Mailbox::new(Some(name.clone()), to.recipient.parse()?)
        }
        _ => Mailbox::new(
            None,
            to.recipient
                .parse()
                .with_context(|| format!("bad recipient {}", to.recipient))?,
        ),
    };
    let mut references: Vec<String> = to.inbound.references.clone();
    if to.inbound.has_message_id && !references.contains(&to.inbound.message_id) {
        references.push(to.inbound.message_id.clone());
    }
    let mut builder = Message::builder()
        .from(to.from.clone())
        .to(recipient)
        .subject(single_line(subject))
        .message_id(Some(message_id.clone()))
        .date(SystemTime::now());
    if to.inbound.has_message_id {
        builder = builder.in_reply_to(to.inbound.message_id.clone());
    }
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    let msg = builder
        .raw_header(raw_header("Auto-Submitted", "auto-replied")?)
        .raw_header(raw_header(LOOP_HEADER, to.from.email.as_ref())?)
        // Ask Exchange and friends not to auto-answer our auto-answer.
        .raw_header(raw_header("X-Auto-Response-Suppress", "All")?)
        .header(ContentType::TEXT_PLAIN)
        .body(body)?;
    Ok(Outgoing {
        kind: kind.to_owned(),
        recipient: to.recipient.to_owned(),
        envelope_from: String::new(),
        message_id,
        subject: single_line(subject),
        from_addr: to.from.email.to_string(),
        raw: msg.formatted(),
    })
}

fn raw_header(name: &str, value: &str) -> anyhow::Result<HeaderValue> {
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|e| anyhow::anyhow!("header name {name}: {e:?}"))?;
    Ok(HeaderValue::new(name, single_line(value)))
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
    fn reply_headers_follow_rfc_3834() {
        let from: Mailbox = "Security <security@example.test>".parse().unwrap();
        let msg = inbound("XSS");
        let to = ReplyTo {
            inbound: &msg,
            recipient: "r@example.test",
            from: &from,
        };
        let out = compose(
            "ack",
            &to,
            &tagged_subject("SEC-2026-0001", &msg.subject),
            "Thanks".into(),
        )
        .unwrap();
        let text = String::from_utf8(out.raw.clone()).unwrap();
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
        assert!(
            text.contains("In-Reply-To: <m1@example.test>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("References: <m0@example.test> <m1@example.test>\r\n"),
            "{text}"
        );
        assert!(text.contains("Subject: [SEC-2026-0001] XSS\r\n"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: {}\r\n", out.message_id)),
            "{text}"
        );
        assert!(
            text.contains("X-Embargo-Loop: security@example.test\r\n"),
            "{text}"
        );
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
        };
        let out = compose(
            "ack",
            &to,
            &tagged_subject("SEC-2026-0002", &msg.subject),
            "b".into(),
        )
        .unwrap();
        let text = String::from_utf8(out.raw).unwrap();
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
    }

    #[test]
    fn tag_is_not_doubled() {
        assert_eq!(
            tagged_subject("SEC-2026-0001", "Re: [SEC-2026-0001] XSS"),
            "[SEC-2026-0001] Re: XSS"
        );
        assert_eq!(
            tagged_subject("SEC-2026-0001", ""),
            "[SEC-2026-0001] Your report"
        );
    }

    #[test]
    fn shipped_template_renders() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ack.txt");
        let t = Templates::load(&path).unwrap();
        let text = t.render_ack(&AckContext::sample()).unwrap();
        assert!(text.contains("SEC-2026-0001"));
        assert!(text.contains("5 business days"));
        assert!(text.contains("90 days"));
    }
}
