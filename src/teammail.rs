//! Mail from embargo to people who are not reporters (the team's alerts
//! and digests, relay explanations, downstream notices): plain text or
//! multipart/alternative, signed with the team key, encrypted to the
//! recipients' keys when configured.

use std::time::SystemTime;

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, Message};
use sequoia_openpgp::Cert;

use crate::openpgp::{TeamKeys, compose};
use crate::store::Outgoing;
use crate::triage::LOOP_HEADER;

/// One piece of team mail before addressing.
pub struct TeamMail {
    pub kind: crate::store::MailKind,
    /// The real subject; goes inside (protected) when encrypted.
    pub subject: String,
    /// The outer subject when encrypted (no content).
    pub outer_subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Extra MIME parts (already complete entities), e.g. message/rfc822.
    pub attachments: Vec<Vec<u8>>,
    /// Marked `Auto-Submitted: auto-generated` (alerts, digests); a notice
    /// a person sends and wants answered is not.
    pub automatic: bool,
}

fn part(content_type: &str, text: &str) -> Vec<u8> {
    let body = Body::new(text.replace("\r\n", "\n").replace('\n', "\r\n"));
    let mut out = format!(
        "Content-Type: {content_type}\r\nContent-Transfer-Encoding: {}\r\n\r\n",
        body.encoding()
    )
    .into_bytes();
    out.extend_from_slice(&body.into_vec());
    out
}

fn boundary(tag: &str) -> String {
    use rand::Rng as _;
    format!("embargo-{tag}-{:020x}", rand::rng().random::<u128>() >> 48)
}

fn multipart(kind: &str, extra_head: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let b = boundary(kind);
    let mut out = format!("Content-Type: multipart/{kind}; boundary=\"{b}\"{extra_head}\r\n\r\n").into_bytes();
    for p in parts {
        out.extend_from_slice(format!("--{b}\r\n").as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    out
}

/// The MIME entity of the mail's content (what gets signed/encrypted).
fn entity(m: &TeamMail, protected_subject: Option<&str>) -> Vec<u8> {
    let text = part("text/plain; charset=utf-8", &m.text);
    let body = match &m.html {
        Some(html) => multipart("alternative", "", &[text, part("text/html; charset=utf-8", html)]),
        None => text,
    };
    let head = match protected_subject {
        Some(s) => {
            use lettre::message::header::{Headers, Subject};
            let mut h = Headers::new();
            h.set(Subject::from(s.to_owned()));
            format!("; protected-headers=\"v1\"\r\n{}", h.to_string().trim_end())
        }
        None => String::new(),
    };
    if m.attachments.is_empty() && protected_subject.is_none() {
        return body;
    }
    let mut parts = vec![body];
    parts.extend(m.attachments.iter().cloned());
    multipart("mixed", &head, &parts)
}

fn header(name: &str, value: &str) -> crate::composing::Result<HeaderValue> {
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|_| crate::composing::Error::Mime(format!("{name:?} is not a header name")))?;
    Ok(HeaderValue::new(name, value.to_owned()))
}

/// Builds the mail for one recipient.
/// Team mail goes out encrypted (to the members' keys and ours).
pub fn encrypts(team: &TeamKeys, members: &[Cert]) -> bool {
    !members.is_empty() && team.signer().is_some()
}

pub fn build(
    m: &TeamMail,
    from: &Mailbox,
    to: &str,
    team: &TeamKeys,
    members: &[Cert],
) -> crate::composing::Result<Outgoing> {
    use crate::composing::Error;
    use rand::Rng as _;
    let message_id = format!(
        "<embargo.{:032x}@{}>",
        rand::rng().random::<u128>(),
        from.email.domain()
    );
    let signer = team.signer();
    let encrypt = encrypts(team, members);
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to.parse().map_err(|error| Error::Recipient {
            address: to.to_owned(),
            error,
        })?)
        .subject(if encrypt {
            m.outer_subject.clone()
        } else {
            m.subject.clone()
        })
        .message_id(Some(message_id.clone()))
        .date(SystemTime::now())
        .raw_header(header(LOOP_HEADER, from.email.as_ref())?);
    if m.automatic {
        builder = builder
            .raw_header(header("Auto-Submitted", "auto-generated")?)
            .raw_header(header("X-Auto-Response-Suppress", "All")?);
    }
    let wrapped = match signer {
        Some(s) if encrypt => {
            let mut recipients = members.to_vec();
            recipients.extend(team.primary());
            Some(compose::encrypt(&entity(m, Some(&m.subject)), Some(s), &recipients)?)
        }
        Some(s) => Some(compose::sign(&entity(m, None), s)?),
        None => None,
    };
    let msg = match wrapped {
        Some(w) => {
            let ct = ContentType::parse(&w.content_type).map_err(|e| Error::Mime(e.to_string()))?;
            builder
                .header(ct)
                .body(Body::dangerous_pre_encoded(w.body, ContentTransferEncoding::SevenBit))?
        }
        None => {
            let e = entity(m, None);
            let (head, body) = split_entity(&e);
            let ct = ContentType::parse(&head).map_err(|e| Error::Mime(e.to_string()))?;
            builder
                .header(ct)
                .body(Body::dangerous_pre_encoded(body, ContentTransferEncoding::SevenBit))?
        }
    };
    Ok(Outgoing {
        kind: m.kind,
        recipient: to.to_owned(),
        envelope_from: String::new(),
        message_id,
        subject: m.subject.clone(),
        from_addr: from.email.to_string(),
        raw: msg.formatted(),
    })
}

/// An entity's Content-Type value and its encoded body (for the unsigned
/// case, where the entity becomes the message itself). A single text part
/// keeps its own transfer encoding by being wrapped as multipart/mixed.
fn split_entity(e: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(e);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or(("Content-Type: text/plain", ""));
    let ct = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("text/plain")
        .to_owned();
    if ct.starts_with("multipart/") {
        (ct, body.as_bytes().to_vec())
    } else {
        // Wrap: multipart/mixed with the one part keeps its encoding intact.
        let wrapped = multipart("mixed", "", &[e.to_vec()]);
        let w = String::from_utf8_lossy(&wrapped).into_owned();
        let (h, b) = w.split_once("\r\n\r\n").unwrap_or(("", ""));
        (h.trim_start_matches("Content-Type: ").to_owned(), b.as_bytes().to_vec())
    }
}
