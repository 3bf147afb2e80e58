//! The new-report alert: at once, to `[team] notify`. Encrypted to the
//! members' keys (and signed) when `[team] keys` is set, with the report's
//! text and the original message attached; without keys, metadata only,
//! never the (decrypted) content, and it says so.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use sequoia_openpgp::Cert;
use sequoia_openpgp::parse::Parse as _;
use serde::Serialize;

use crate::config::Config;
use crate::message::Inbound;
use crate::openpgp::{Protection, SigState, TeamKeys};
use crate::policy::{self, Calendar, Promises};
use crate::store::ComposeMany;
use crate::teammail::{self as mail, TeamMail};

/// How much of a report's text an alert quotes: what a person reads before
/// deciding to open the report; the rest is one command away.
pub const ALERT_TEXT: usize = 16 * 1024;

/// The original message is attached up to this size.
pub const ALERT_ORIGINAL: usize = 2 * 1024 * 1024;

/// The first `max` bytes of `text`, and where the rest is.
fn head(text: &str, max: usize, tracking_id: &str) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n\n[... {} more bytes: embargo reports show {tracking_id}]",
        &text[..end],
        text.len() - end
    )
}

/// What alerts need, loaded with the pipeline.
#[derive(Debug, Clone)]
pub struct AlertSetup {
    pub notify: Vec<String>,
    pub members: Vec<Cert>,
    pub template: PathBuf,
    pub calendar: Calendar,
    pub promises: Promises,
}

impl AlertSetup {
    pub fn from_config(cfg: &Config) -> anyhow::Result<Option<Arc<AlertSetup>>> {
        if cfg.team.notify.is_empty() {
            return Ok(None);
        }
        let mut members = Vec::new();
        for k in &cfg.team.keys {
            let cert = Cert::from_file(k).map_err(|e| anyhow::anyhow!("team.keys: {}: {e}", k.display()))?;
            members.push(cert.strip_secret_key_material());
        }
        Ok(Some(Arc::new(AlertSetup {
            notify: cfg.team.notify.clone(),
            members,
            template: cfg.digest.alert_template.clone(),
            calendar: cfg.policy.calendar.clone(),
            promises: cfg.policy.promises,
        })))
    }
}

#[derive(Serialize)]
struct AlertContext {
    tracking_id: String,
    reporter: String,
    reporter_name: String,
    received_at: String,
    encrypted: bool,
    signature: String,
    signer: String,
    response_due: String,
    fix_due: String,
    response_business_days: u32,
    details_delay_days: u32,
    content_included: bool,
    subject: String,
    text: String,
    attachments: Vec<String>,
    /// Reports excluded in the last 24 hours: a false positive is cheap to
    /// spot here and undo (`reports state ID new`).
    excluded_today: Vec<crate::store::ExcludedReport>,
    /// What the report lacks of the checklist (`triage::checklist`).
    missing: Vec<&'static str>,
    /// Similar reports and published advisories, one line each (ids and
    /// scores only when the alert is not encrypted: the evidence quotes
    /// the reports).
    similar: Vec<String>,
}

/// The new report an alert is about.
pub struct NewReport<'a> {
    pub msg: &'a Inbound,
    pub raw: &'a [u8],
    pub protection: &'a Protection,
    pub received: Timestamp,
    /// Reports excluded in the last 24 hours, listed for a second look.
    pub excluded_today: Vec<crate::store::ExcludedReport>,
    pub missing: Vec<&'static str>,
    pub similar: Vec<crate::similar::Suggestion>,
}

/// The alert closure for a new report (none when alerts are off).
pub fn compose<'a>(
    setup: Option<&'a AlertSetup>,
    team: &'a TeamKeys,
    from: &'a lettre::message::Mailbox,
    report: NewReport<'a>,
) -> ComposeMany<'a> {
    let Some(setup) = setup else {
        return Box::new(|_| Ok(Vec::new()));
    };
    Box::new(move |tracking_id: &str| {
        let content = !setup.members.is_empty() && team.signer().is_some();
        // Without encryption, nothing of what the reporter encrypted (not
        // even the protected subject) may leave the server.
        let subject_ok = content || !report.protection.encrypted;
        let (msg, raw) = (report.msg, report.raw);
        let ctx = report.context(setup, tracking_id, content, subject_ok);
        let text = crate::text::render_file(&setup.template, &ctx)?;
        let mut attachments = Vec::new();
        if content && raw.len() <= ALERT_ORIGINAL {
            let mut part =
                b"Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"report.eml\"\r\n\r\n"
                    .to_vec();
            part.extend_from_slice(raw);
            attachments.push(part);
        }
        let m = TeamMail {
            kind: crate::store::MailKind::Alert,
            subject: if subject_ok {
                format!("[{tracking_id}] New report: {}", crate::text::bounded(&msg.subject))
            } else {
                format!("[{tracking_id}] New encrypted report from {}", ctx.reporter)
            },
            outer_subject: format!("[{tracking_id}] New report"),
            text,
            html: None,
            attachments,
            automatic: true,
        };
        setup
            .notify
            .iter()
            .map(|to| mail::build(&m, from, to, team, &setup.members))
            .collect()
    })
}

impl NewReport<'_> {
    /// What the alert template sees. Without `content` (the alert cannot be
    /// encrypted to the members) no text, no attachment, and the excluded
    /// reports redacted; without `subject_ok`, no subject either.
    fn context(self, setup: &AlertSetup, tracking_id: &str, content: bool, subject_ok: bool) -> AlertContext {
        let NewReport {
            msg,
            raw,
            protection,
            received,
            excluded_today,
            missing,
            similar,
        } = self;
        let (signature, signer) = match &protection.signature {
            SigState::Good { signer, .. } => ("good".to_owned(), signer.clone()),
            other => (other.as_str().to_owned(), String::new()),
        };
        let d = policy::deadlines(&setup.calendar, &setup.promises, received, false, None);
        AlertContext {
            tracking_id: tracking_id.to_owned(),
            reporter: msg.from_addr.clone().unwrap_or_default(),
            reporter_name: crate::text::bounded(msg.from_name.as_deref().unwrap_or_default()),
            received_at: setup.calendar.human(received),
            encrypted: protection.encrypted,
            signature,
            signer,
            response_due: setup.calendar.human(d.response_due),
            fix_due: setup.calendar.human(d.fix_due),
            response_business_days: setup.promises.response_business_days,
            details_delay_days: setup.promises.details_delay_days,
            content_included: content,
            subject: if subject_ok {
                crate::text::bounded(&msg.subject)
            } else {
                String::new()
            },
            text: if content {
                head(&msg.body_text, ALERT_TEXT, tracking_id)
            } else {
                String::new()
            },
            attachments: if content && raw.len() <= ALERT_ORIGINAL {
                vec!["the original message (attached)".to_owned()]
            } else if content {
                vec![format!(
                    "original message ({} bytes) not attached: embargo reports show {tracking_id}",
                    raw.len()
                )]
            } else {
                Vec::new()
            },
            excluded_today: if content {
                excluded_today
            } else {
                excluded_today
                    .into_iter()
                    .map(crate::store::ExcludedReport::redacted)
                    .collect()
            },
            missing,
            similar: similar
                .iter()
                .map(|s| {
                    if content {
                        s.line()
                    } else {
                        format!("{} {:.2} ({})", s.id, s.score, s.kind)
                    }
                })
                .collect(),
        }
    }
}

/// The reporter's answer to the team's question (needs-info).
pub struct Answer<'a> {
    pub msg: &'a Inbound,
    pub protection: &'a Protection,
    pub auth: crate::trust::Auth,
}

/// The alert closure for a reporter's answer: the report is back to
/// triaged. Quotes the answer only when the alert is encrypted to the
/// members, as the new-report alert does.
pub fn answered<'a>(
    setup: Option<&'a AlertSetup>,
    team: &'a TeamKeys,
    from: &'a lettre::message::Mailbox,
    answer: Answer<'a>,
) -> ComposeMany<'a> {
    let Some(setup) = setup else {
        return Box::new(|_| Ok(Vec::new()));
    };
    Box::new(move |tracking_id: &str| {
        let content = !setup.members.is_empty() && team.signer().is_some();
        let msg = answer.msg;
        let mut text = format!(
            "The reporter answered the team's question on {tracking_id}: it is triaged again and the fix \
             clock runs again.\n\nFrom: {}\nAuthenticated by: {}\nEncrypted: {}\n",
            msg.from_addr.as_deref().unwrap_or_default(),
            answer.auth.as_str(),
            if answer.protection.encrypted { "yes" } else { "no" },
        );
        if content {
            text.push_str(&format!(
                "Subject: {}\n\n{}\n",
                crate::text::bounded(&msg.subject),
                crate::text::printable(&head(&msg.body_text, ALERT_TEXT, tracking_id))
            ));
        } else {
            text.push_str("\nThe answer is not quoted: alerts are not encrypted ([team] keys is not set).\n");
        }
        text.push_str(&format!("\nThe thread: embargo reports show {tracking_id}\n"));
        let m = TeamMail {
            kind: crate::store::MailKind::Alert,
            subject: format!("[{tracking_id}] The reporter answered"),
            outer_subject: format!("[{tracking_id}] The reporter answered"),
            text,
            html: None,
            attachments: Vec::new(),
            automatic: true,
        };
        setup
            .notify
            .iter()
            .map(|to| mail::build(&m, from, to, team, &setup.members))
            .collect()
    })
}

/// Renders the alert template against a sample report (`check-config`).
pub fn check_template(path: &std::path::Path) -> Result<(), crate::text::TemplateError> {
    let at = "2026-12-07T09:00:00Z".to_owned();
    let ctx = AlertContext {
        tracking_id: "SEC-2026-0001".into(),
        reporter: "researcher@example.org".into(),
        reporter_name: "Rita Researcher".into(),
        received_at: at.clone(),
        encrypted: true,
        signature: "good".into(),
        signer: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
        response_due: at.clone(),
        fix_due: at,
        response_business_days: 5,
        details_delay_days: 30,
        content_included: true,
        subject: "XSS in the login form".into(),
        text: "Steps to reproduce: ...".into(),
        attachments: vec!["the original message (attached)".into()],
        excluded_today: vec![crate::store::ExcludedReport {
            id: "SEC-2026-0002".into(),
            reporter: "someone@example.net".into(),
            topic: "spf-dmarc".into(),
            matched: "SPF record".into(),
            encrypted: false,
        }],
        missing: vec!["version", "poc"],
        similar: vec!["SEC-2026-0003 0.86 (triaged) — same endpoint `/api/login`, same payload `<img`".into()],
    };
    crate::text::render_file(path, &ctx).map(|_| ())
}
