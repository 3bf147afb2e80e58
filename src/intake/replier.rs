//! Composing the automatic reply to one message: which one, to whom,
//! encrypted how, or why none (first start, no usable address, past the
//! per-sender limit).

use jiff::{SignedDuration, Timestamp};
use sequoia_openpgp::Cert;

use super::Arrival;
use crate::message::{Inbound, ReturnPath};
use crate::openpgp::Protection;
use crate::pipeline::Pipeline;
use crate::reply::{self, AckContext, Crypto, ReplyTo};
use crate::store::{Compose, Outgoing, Store};

/// Which automatic reply.
pub(super) enum ReplyKind {
    Ack,
    CannotDecrypt,
    OutOfScope(String),
}

/// Everything needed to compose an automatic reply to one message.
pub(super) struct Replier<'a> {
    pub(super) p: &'a Pipeline,
    pub(super) msg: &'a Inbound,
    pub(super) return_path: String,
    pub(super) ctx: AckContext,
    pub(super) cert: Option<Cert>,
    /// What arrived encrypted may be quoted (see `openpgp::may_echo_to`).
    pub(super) echo: bool,
    /// Why no automatic reply goes out (first start, no usable address).
    pub(super) no_reply: Option<String>,
    /// Past the per-sender limit: an acknowledgement is held and combined,
    /// anything else is not sent. Why, in words.
    pub(super) over_limit: Option<String>,
}

impl<'a> Replier<'a> {
    pub(super) fn new(
        store: &Store,
        p: &'a Pipeline,
        arrival: &Arrival<'_>,
        msg: &'a Inbound,
        protection: &Protection,
        cert: Option<Cert>,
        proven: bool,
    ) -> crate::fault::Result<Replier<'a>> {
        let return_path = match &msg.return_path {
            ReturnPath::Address(addr) => addr.clone(),
            // Triage already sorted these out as automatic mail.
            _ => String::new(),
        };
        let received = arrival.internal_date.unwrap_or_else(Timestamp::now);
        let encrypt = cert.is_some() && p.team.signer().is_some();
        // Anyone can resend a captured ciphertext with their own From,
        // Return-Path and key: what arrived encrypted (even the protected
        // subject) goes back only encrypted to the key that signed it inside.
        let signer = match &protection.signature {
            crate::openpgp::SigState::Good { signer, .. } => signer.as_str(),
            _ => "",
        };
        let echo_subject = !protection.encrypted || (encrypt && crate::openpgp::may_echo_to(cert.as_ref(), signer));
        let ctx = AckContext {
            tracking_id: String::new(),
            subject: if echo_subject {
                crate::text::bounded(&msg.subject)
            } else {
                "your encrypted report".to_owned()
            },
            encrypted_report: protection.encrypted,
            reporter: msg.from_addr.clone().unwrap_or_else(|| return_path.clone()),
            reporter_name: crate::text::bounded(msg.from_name.as_deref().unwrap_or_default()),
            team: p.from.name.clone().unwrap_or_else(|| "Security Team".to_owned()),
            received_at: p.config.policy.calendar.human(received),
            response_business_days: p.promises.response_business_days,
            fix_days: p.promises.fix_days,
            complex_fix_days: p.promises.complex_fix_days,
            details_delay_days: p.promises.details_delay_days,
            fingerprint: p.team.primary_fingerprint().map(|f| f.to_hex()).unwrap_or_default(),
            problem: protection.failure.as_ref().map(|f| f.to_string()).unwrap_or_default(),
            encrypted: encrypt,
            topic: String::new(),
            missing: Vec::new(),
        };
        let no_reply = no_reply_reason(arrival, &return_path);
        let over_limit = match no_reply {
            Some(_) => None,
            None => over_limit(store, p, msg, &return_path, proven)?,
        };
        Ok(Replier {
            p,
            msg,
            return_path,
            ctx,
            cert,
            echo: echo_subject,
            no_reply,
            over_limit,
        })
    }

    /// The closure the store calls once the tracking id is known.
    pub(super) fn compose(self, kind: ReplyKind) -> Compose<'a> {
        if self.no_reply.is_some() || self.over_limit.is_some() {
            return Box::new(|_: &str| Ok(None));
        }
        Box::new(move |tracking_id: &str| -> crate::composing::Result<Option<Outgoing>> {
            let p = self.p;
            let mut ctx = AckContext {
                tracking_id: tracking_id.to_owned(),
                ..self.ctx
            };
            let (name, body) = match &kind {
                ReplyKind::Ack => (crate::store::MailKind::Ack, p.templates.render_ack(&ctx)?),
                ReplyKind::CannotDecrypt => (
                    crate::store::MailKind::CannotDecrypt,
                    p.templates.render_cannot_decrypt(&ctx)?,
                ),
                ReplyKind::OutOfScope(topic) => {
                    ctx.topic = topic.clone();
                    (
                        crate::store::MailKind::OutOfScope,
                        p.templates.render_topic(topic, &ctx)?,
                    )
                }
            };
            let to = ReplyTo {
                inbound: self.msg,
                recipient: &self.return_path,
                from: &p.from,
                human: false,
                all_references: false,
            };
            let crypto = Crypto {
                team: Some(&p.team),
                encrypt_to: self.cert,
            };
            let subject = if ctx.encrypted_report && !self.echo {
                format!("[{tracking_id}]")
            } else {
                reply::tagged_subject(tracking_id, &ctx.subject)
            };
            Ok(Some(reply::compose(name, &to, &subject, body, &crypto)?))
        })
    }
}

/// Why this message gets no automatic reply, if it gets none.
fn no_reply_reason(arrival: &Arrival<'_>, return_path: &str) -> Option<String> {
    let received = arrival.internal_date.unwrap_or_else(Timestamp::now);
    if let Some(cutoff) = arrival.ack_after
        && received < cutoff
    {
        return Some(format!(
            "arrived before embargo's first start on this mailbox (cut-off {}); imported without acknowledgement",
            crate::store::ts(cutoff)
        ));
    }
    if return_path.parse::<lettre::Address>().is_err() {
        return Some(format!("return path {return_path:?} is not a usable address"));
    }
    None
}

/// Whether automatic replies to `return_path` are past the per-sender limit
/// (the higher one when the sender's address is proven: authenticated, or a
/// reply citing an acknowledgement we sent to that address, whose
/// Message-ID only its recipient knows). Why, in words.
fn over_limit(
    store: &Store,
    p: &Pipeline,
    msg: &Inbound,
    return_path: &str,
    proven: bool,
) -> crate::fault::Result<Option<String>> {
    let since = Timestamp::now() - SignedDuration::from_hours(24);
    let sent = store.replies_to_since(return_path, since)?;
    let reply = &p.config.reply;
    if sent < p.max_per_sender_per_day {
        return Ok(None);
    }
    let ids: Vec<String> = msg.in_reply_to.iter().chain(&msg.references).cloned().collect();
    let proven = proven || store.cites_our_ack_to(&ids, return_path)?;
    if proven && sent < reply.max_per_authenticated_sender_per_day {
        return Ok(None);
    }
    let (limit, key) = if proven {
        (
            reply.max_per_authenticated_sender_per_day,
            "max_per_authenticated_sender_per_day",
        )
    } else {
        (p.max_per_sender_per_day, "max_per_sender_per_day")
    };
    Ok(Some(format!(
        "{sent} automatic replies to {return_path} in the last 24 hours (limit reply.{key} = {limit})"
    )))
}
