//! The one place a message walks through the stages:
//! `message` (parse) → `openpgp` (decrypt, verify) → `triage` (decide) →
//! `reply` (compose) → `store` (persist decision, message, outbox row and the
//! IMAP position in one transaction). The stages never call each other.

use jiff::{SignedDuration, Timestamp};
use lettre::message::Mailbox as MailAddress;

use crate::config::Config;
use crate::message::{self, Inbound, ReturnPath};
use crate::openpgp;
use crate::policy::Promises;
use crate::reply::{self, AckContext, ReplyTo, Templates};
use crate::store::{Disposition, InboundRow, Outgoing, Recorded, Source, Store};
use crate::triage::{self, Decision, Identity};

/// Everything the pipeline needs besides the store; built from the config.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub me: Identity,
    pub from: MailAddress,
    pub templates: Templates,
    pub promises: Promises,
    pub max_per_sender_per_day: u32,
}

impl Pipeline {
    pub fn from_config(cfg: &Config) -> anyhow::Result<Pipeline> {
        Ok(Pipeline {
            me: Identity {
                address: cfg.smtp.from.email.to_string(),
                prefix: cfg.policy.tracking_prefix.clone(),
                team: Vec::new(),
            },
            from: cfg.smtp.from.clone(),
            templates: Templates::load(&cfg.reply.ack_template)?,
            promises: cfg.policy.promises,
            max_per_sender_per_day: cfg.reply.max_per_sender_per_day,
        })
    }
}

/// One message as it arrived.
pub struct Arrival<'a> {
    pub raw: &'a [u8],
    pub source: Option<Source>,
    /// The server's arrival time (IMAP INTERNALDATE): starts the clocks.
    pub internal_date: Option<Timestamp>,
    /// Mail that arrived before this is recorded but not answered.
    pub ack_after: Option<Timestamp>,
}

/// Takes one message through the pipeline. An error means the store could
/// not be written (the message stays unprocessed on the server); anything
/// wrong with the message itself is recorded, never returned.
pub fn intake(store: &mut Store, p: &Pipeline, a: &Arrival<'_>) -> anyhow::Result<Recorded> {
    let parsed = match message::parse(a.raw) {
        Ok(m) => m,
        Err(e) => return record_failure(store, p, a, None, &format!("unparseable: {e}")),
    };
    let (msg, protection) = openpgp::open(parsed);
    let row = inbound_row(&msg, a);
    tracing::debug!(message_id = %msg.message_id, subject = %msg.subject, body = %msg.body_text, "parsed");
    let decision = triage::decide(&msg, &p.me, store)?;
    let _ = protection;
    let disposition = match decision {
        Decision::Duplicate => Disposition::Duplicate {
            of: msg.message_id.clone(),
        },
        Decision::OwnCopy => Disposition::OwnCopy,
        Decision::Automatic { reason } => Disposition::Automatic { reason },
        Decision::FollowUp { report, how } => Disposition::FollowUp {
            report_id: report.id,
            how,
        },
        Decision::NewReport { notes } => new_report(store, p, a, &msg, notes)?,
    };
    let recorded = store.record(a.source.as_ref(), &row, disposition, &p.me.prefix)?;
    tracing::info!(message_id = %msg.message_id, outcome = ?recorded, "recorded");
    Ok(recorded)
}

/// A message too large to download: recorded from its header alone.
pub fn intake_oversize(
    store: &mut Store,
    p: &Pipeline,
    a: &Arrival<'_>,
    size: u64,
    limit: u64,
) -> anyhow::Result<Recorded> {
    let parsed = message::parse(a.raw).ok();
    let reason = format!(
        "oversize: {size} bytes, above imap.max_message_size ({limit}); left on the server and flagged"
    );
    record_failure(store, p, a, parsed.as_ref(), &reason)
}

/// Records a tombstone for a message that could not be handled.
pub fn record_failure(
    store: &mut Store,
    p: &Pipeline,
    a: &Arrival<'_>,
    msg: Option<&Inbound>,
    reason: &str,
) -> anyhow::Result<Recorded> {
    let mut row = match msg {
        Some(m) => inbound_row(m, a),
        None => InboundRow {
            message_id: format!("<failed-{}@embargo.invalid>", uuidish(a)),
            size: a.raw.len() as u64,
            received_at: a.internal_date,
            raw: Some(a.raw.to_vec()),
            ..InboundRow::default()
        },
    };
    row.size = row.size.max(a.raw.len() as u64);
    tracing::warn!(
        reason,
        uid = a.source.as_ref().map(|s| s.uid),
        "message recorded as failed"
    );
    store.record(
        a.source.as_ref(),
        &row,
        Disposition::Failed {
            reason: reason.to_owned(),
        },
        &p.me.prefix,
    )
}

fn uuidish(a: &Arrival<'_>) -> String {
    match &a.source {
        Some(s) => format!(
            "{}-{}-{}",
            s.mailbox.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            s.uidvalidity,
            s.uid
        ),
        None => format!("{}", Timestamp::now().as_nanosecond()),
    }
}

fn inbound_row(msg: &Inbound, a: &Arrival<'_>) -> InboundRow {
    InboundRow {
        message_id: msg.message_id.clone(),
        from_addr: msg.from_addr.clone().unwrap_or_default(),
        subject: msg.subject.clone(),
        date: msg.date,
        received_at: a.internal_date,
        size: msg.size as u64,
        raw: Some(a.raw.to_vec()),
    }
}

fn new_report<'a>(
    store: &Store,
    p: &'a Pipeline,
    a: &Arrival<'_>,
    msg: &'a Inbound,
    notes: Vec<String>,
) -> anyhow::Result<Disposition<'a>> {
    let return_path = match &msg.return_path {
        ReturnPath::Address(addr) => addr.clone(),
        // Triage already sorted these out as automatic mail.
        _ => String::new(),
    };
    let reporter = msg.from_addr.clone().unwrap_or_else(|| return_path.clone());
    let mut no_ack_reason = None;
    let received = a.internal_date.unwrap_or_else(Timestamp::now);
    if let Some(cutoff) = a.ack_after
        && received < cutoff
    {
        no_ack_reason = Some(format!(
            "arrived before embargo's first start on this mailbox (cut-off {}); imported without acknowledgement",
            crate::store::ts(cutoff)
        ));
    }
    if no_ack_reason.is_none() && return_path.parse::<lettre::Address>().is_err() {
        no_ack_reason = Some(format!(
            "return path {return_path:?} is not a usable address"
        ));
    }
    if no_ack_reason.is_none() {
        let since = Timestamp::now() - SignedDuration::from_hours(24);
        let sent = store.replies_to_since(&return_path, since)?;
        if sent >= p.max_per_sender_per_day {
            no_ack_reason = Some(format!(
                "{sent} automatic replies to {return_path} in the last 24 hours (limit reply.max_per_sender_per_day = {})",
                p.max_per_sender_per_day
            ));
        }
    }
    let subject = msg.subject.clone();
    let reporter_name = msg.from_name.clone().unwrap_or_default();
    let compose = {
        let reporter = reporter.clone();
        let reporter_name = reporter_name.clone();
        let subject = subject.clone();
        move |tracking_id: &str| -> anyhow::Result<Option<Outgoing>> {
            let ctx = AckContext {
                tracking_id: tracking_id.to_owned(),
                subject: subject.clone(),
                reporter,
                reporter_name,
                team: p
                    .from
                    .name
                    .clone()
                    .unwrap_or_else(|| "Security Team".to_owned()),
                received_at: crate::store::ts(received),
                response_business_days: p.promises.response_business_days,
                fix_days: p.promises.fix_days,
                complex_fix_days: p.promises.complex_fix_days,
                details_delay_days: p.promises.details_delay_days,
            };
            let body = p.templates.render_ack(&ctx)?;
            let to = ReplyTo {
                inbound: msg,
                recipient: &return_path,
                from: &p.from,
            };
            Ok(Some(reply::compose(
                "ack",
                &to,
                &reply::tagged_subject(tracking_id, &subject),
                body,
            )?))
        }
    };
    Ok(Disposition::NewReport {
        reporter,
        reporter_name,
        subject,
        compose: if no_ack_reason.is_some() {
            Box::new(|_: &str| Ok(None))
        } else {
            Box::new(compose)
        },
        no_ack_reason,
        notes,
    })
}
