//! The one place a message walks through the stages:
//! `message` (parse) → `openpgp` (decrypt, verify) → `triage` (decide) →
//! `reply` (compose) → `store` (persist decision, message, outbox row and the
//! IMAP position in one transaction). The stages never call each other.

mod keys;

use keys::{pin_keys, pinned_cert};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use sequoia_openpgp::Cert;

use crate::message::{self, Inbound, ReturnPath};
use crate::openpgp::{self, Protection, SigState};
use crate::pipeline::Pipeline;
use crate::reply::{self, AckContext, Crypto, ReplyTo};
use crate::store::{Compose, Disposition, FollowUp, InboundRow, NewReport, Outgoing, Recorded, Source, Store};
use crate::timing::{self, Stage};
use crate::triage::{self, Decision};

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
    let started = Instant::now();
    let parsed = message::parse(a.raw);
    timing::add(Stage::Parse, started);
    let parsed = match parsed {
        Ok(m) => m,
        Err(e) => return record_failure(store, p, a, None, &format!("unparseable: {e}")),
    };
    let started = Instant::now();
    tracing::Span::current().record("message_id", parsed.message_id.as_str());
    let pinned = pinned_cert(store, &p.certs, parsed.from_addr.as_deref())?;
    let mut known: Vec<Cert> = pinned.iter().cloned().collect();
    let from_member = parsed
        .from_addr
        .as_deref()
        .is_some_and(|f| p.me.team.iter().any(|t| t.eq_ignore_ascii_case(f)));
    if from_member {
        // A member's mail is verified against the members' keys (relay).
        known.extend(p.members.iter().cloned());
    }
    // What embargo trusted for this address before this message: a key the
    // message brings along proves nothing about its sender.
    let trusted = known.clone();
    let ctx = openpgp::Context {
        team: &p.team,
        known: known.clone(),
        max_decrypted_size: p.max_decrypted_size,
    };
    let opened = openpgp::open(a.raw, parsed, &ctx);
    timing::add(Stage::OpenPgp, started);
    let (msg, protection) = (opened.msg, opened.protection);
    let mut row = inbound_row(&msg, a);
    row.encrypted = protection.encrypted;
    row.signature = protection.signature.as_str().to_owned();
    if let SigState::Good { signer, .. } = &protection.signature {
        row.signer = signer.clone();
    }
    row.decryption = protection.failure.as_ref().map(|f| f.to_string()).unwrap_or_default();
    let from = msg.from_addr.as_deref().unwrap_or_default();
    row.auth = crate::trust::authenticate(
        &msg,
        openpgp::signed_by_trusted(&protection, &trusted, from),
        p.config.trust.authserv_id.as_deref(),
    );
    // Keys are pinned on first use; the reply goes to the key pinned after
    // this message, and only if it can encrypt.
    let (keys, effective) = pin_keys(store, &opened.learned, pinned, &protection, from)?;
    row.keys = keys;
    let reporter_cert = effective.filter(openpgp::pin::can_encrypt);
    tracing::debug!(message_id = %msg.message_id, subject = %msg.subject, body = %msg.body_text, "opened");
    // A member's mail may be relayed: then triage through record is one
    // transaction, so the relay's commands and mail, the inbound message and
    // the IMAP position commit together. Anyone else's mail writes nothing
    // before `Store::record`, whose own transaction is all it needs (and the
    // backlog path stays one BEGIN..COMMIT per message).
    let recorded = if from_member {
        store.atomic(|store| decide_and_record(store, p, a, &msg, &protection, reporter_cert, &row))?
    } else {
        decide_and_record(store, p, a, &msg, &protection, reporter_cert, &row)?
    };
    tracing::info!(message_id = %msg.message_id, encrypted = protection.encrypted,
        signature = protection.signature.as_str(), outcome = ?recorded, "recorded");
    Ok(recorded)
}

fn decide_and_record(
    store: &mut Store,
    p: &Pipeline,
    a: &Arrival<'_>,
    msg: &Inbound,
    protection: &Protection,
    reporter_cert: Option<Cert>,
    row: &InboundRow<'_>,
) -> anyhow::Result<Recorded> {
    let started = Instant::now();
    let decision = triage::decide(msg, &p.me, store, &p.topics)?;
    let disposition = match decision {
        Decision::Duplicate => Disposition::Duplicate {
            of: msg.message_id.clone(),
        },
        Decision::OwnCopy => Disposition::OwnCopy,
        Decision::Automatic { reason } => Disposition::Automatic { reason },
        Decision::FollowUp {
            mut report,
            mut how,
            from_team,
        } => {
            let proven = row.auth.proven();
            let (reopen, credit) = if from_team {
                (None, None)
            } else {
                let r = Replier::new(store, p, a, msg, protection, reporter_cert, proven)?;
                (Some(r.compose(ReplyKind::Ack)), triage::credit_wish(&msg.body_text))
            };
            // Only a member whose address was proven speaks for the team:
            // a forged From moves no clock and no state.
            let mut team_response = from_team && proven;
            if from_team {
                match relay_step(store, p, msg, protection, Some(&report))? {
                    Relay::Untouched => {}
                    Relay::Relayed(r) => {
                        if r.id != report.id {
                            how = format!(
                                "signed relay for {} (outer headers named {})",
                                r.tracking_id, report.tracking_id
                            );
                        }
                        report = r;
                        team_response = false;
                    }
                    Relay::Refused => team_response = false,
                }
            }
            Disposition::FollowUp(FollowUp {
                report_id: report.id,
                how,
                from_team,
                team_response,
                reopen,
                credit,
                credit_proven: proven,
            })
        }
        Decision::NewReport {
            mut notes,
            excluded,
            from_team,
        } => {
            if from_team && let Relay::Relayed(r) = relay_step(store, p, msg, protection, None)? {
                // A member's signed relay whose outer headers named no
                // report: it joins the report its signed content names.
                Disposition::FollowUp(FollowUp {
                    report_id: r.id,
                    how: "signed relay".to_owned(),
                    from_team,
                    team_response: false,
                    reopen: None,
                    credit: None,
                    credit_proven: false,
                })
            } else {
                notes.extend(protection.notes.iter().cloned());
                if let Some(f) = &protection.failure {
                    notes.push(format!("OpenPGP: {f}"));
                }
                if let Some((topic, hits)) = &excluded {
                    notes.push(format!("excluded topic {topic}: matched {}", hits.join(", ")));
                }
                let mut r = Replier::new(store, p, a, msg, protection, reporter_cert, row.auth.proven())?;
                if from_team {
                    r.no_reply = Some("from a team member".to_owned());
                }
                let kind = match (&excluded, &protection.failure) {
                    (Some((topic, _)), _) => ReplyKind::OutOfScope(topic.clone()),
                    (None, Some(_)) => ReplyKind::CannotDecrypt,
                    (None, None) => ReplyKind::Ack,
                };
                // Past the limit an acknowledgement is merged, never dropped.
                let held_ack = match (&r.over_limit, &kind) {
                    (Some(_), ReplyKind::Ack | ReplyKind::CannotDecrypt) => Some((
                        r.return_path.clone(),
                        SignedDuration::from_secs(p.config.reply.combine_after_secs as i64),
                    )),
                    _ => None,
                };
                Disposition::NewReport(NewReport {
                    reporter: r.ctx.reporter.clone(),
                    reporter_name: r.ctx.reporter_name.clone(),
                    subject: msg.subject.clone(),
                    no_ack_reason: r.no_reply.clone().or_else(|| r.over_limit.clone()),
                    held_ack,
                    compose: r.compose(kind),
                    notes,
                    // No alerts for history imported on the first start either.
                    alerts: if excluded.is_some() || from_team || imported_old(a) {
                        Box::new(|_: &str| Ok(Vec::new()))
                    } else {
                        let excluded_today = match p.alerts {
                            Some(_) => {
                                store.excluded_reports_since(Timestamp::now() - SignedDuration::from_hours(24), 20)?
                            }
                            None => Vec::new(),
                        };
                        crate::digest::alert::compose(
                            p.alerts.as_deref(),
                            &p.team,
                            &p.from,
                            crate::digest::alert::NewReport {
                                msg,
                                raw: a.raw,
                                protection,
                                received: a.internal_date.unwrap_or_else(Timestamp::now),
                                excluded_today,
                            },
                        )
                    },
                    excluded_topic: excluded.map(|(t, _)| t),
                })
            }
        }
    };
    timing::add(Stage::Triage, started);
    let started = Instant::now();
    let recorded = store.record(a.source.as_ref(), row, disposition, &p.me.prefix)?;
    timing::add(Stage::Record, started);
    Ok(recorded)
}

/// A mail in the Sent folder (`imap.sent_mailbox`): when it is the team's
/// reply to a report's reporter it joins the report's thread and counts as
/// the team's response (the response clock stops, a new report becomes
/// triaged); anything else only moves the folder position. Never answered.
pub fn intake_sent(store: &mut Store, p: &Pipeline, a: &Arrival<'_>) -> anyhow::Result<Option<Recorded>> {
    let skip = |store: &mut Store| -> anyhow::Result<Option<Recorded>> {
        if let Some(s) = &a.source {
            store.advance(s)?;
        }
        Ok(None)
    };
    let Ok(parsed) = message::parse(a.raw) else {
        return skip(store);
    };
    // A reply encrypted to the reporter and to us (encrypt-to-self) is
    // readable; one encrypted to the reporter only is recorded as such.
    let ctx = openpgp::Context {
        team: &p.team,
        known: Vec::new(),
        max_decrypted_size: p.max_decrypted_size,
    };
    let opened = openpgp::open(a.raw, parsed, &ctx);
    let msg = opened.msg;
    let Some((report, how)) = triage::sent_reply(&msg, &p.me, &*store)? else {
        return skip(store);
    };
    let mut row = inbound_row(&msg, a);
    row.encrypted = opened.protection.encrypted;
    row.signature = opened.protection.signature.as_str().to_owned();
    row.decryption = opened
        .protection
        .failure
        .as_ref()
        .map(|f| f.to_string())
        .unwrap_or_default();
    row.auth = crate::trust::Auth::Login;
    let d = Disposition::FollowUp(FollowUp {
        report_id: report.id,
        how,
        from_team: true,
        team_response: true,
        reopen: None,
        credit: None,
        credit_proven: false,
    });
    let recorded = store.record(a.source.as_ref(), &row, d, &p.me.prefix)?;
    tracing::info!(message_id = %msg.message_id, report = %report.tracking_id, "the team's reply, from the Sent folder");
    Ok(Some(recorded))
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
    let reason =
        format!("oversize: {size} bytes, above imap.max_message_size ({limit}); left on the server and flagged");
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
            message_id: format!("<failed-{}@embargo.invalid>", failure_id(a)),
            size: a.raw.len() as u64,
            received_at: a.internal_date,
            raw: Some(a.raw),
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

fn failure_id(a: &Arrival<'_>) -> String {
    match &a.source {
        Some(s) => {
            format!(
                "{}-{}-{}",
                s.mailbox.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                s.uidvalidity,
                s.uid
            )
        }
        None => format!("{}", Timestamp::now().as_nanosecond()),
    }
}

fn inbound_row<'a>(msg: &'a Inbound, a: &Arrival<'a>) -> InboundRow<'a> {
    InboundRow {
        message_id: msg.message_id.clone(),
        from_addr: msg.from_addr.clone().unwrap_or_default(),
        subject: msg.subject.clone(),
        date: msg.date,
        received_at: a.internal_date,
        size: msg.size as u64,
        raw: Some(a.raw),
        body: &msg.body_text,
        ..InboundRow::default()
    }
}

/// Which automatic reply.
enum ReplyKind {
    Ack,
    CannotDecrypt,
    OutOfScope(String),
}

/// Everything needed to compose an automatic reply to one message.
struct Replier<'a> {
    p: &'a Pipeline,
    msg: &'a Inbound,
    return_path: String,
    ctx: AckContext,
    cert: Option<Cert>,
    /// Why no automatic reply goes out (first start, no usable address).
    no_reply: Option<String>,
    /// Past the per-sender limit: an acknowledgement is held and combined,
    /// anything else is not sent. Why, in words.
    over_limit: Option<String>,
}

impl<'a> Replier<'a> {
    fn new(
        store: &Store,
        p: &'a Pipeline,
        a: &Arrival<'_>,
        msg: &'a Inbound,
        protection: &Protection,
        cert: Option<Cert>,
        proven: bool,
    ) -> anyhow::Result<Replier<'a>> {
        let return_path = match &msg.return_path {
            ReturnPath::Address(addr) => addr.clone(),
            // Triage already sorted these out as automatic mail.
            _ => String::new(),
        };
        let received = a.internal_date.unwrap_or_else(Timestamp::now);
        let encrypt = cert.is_some() && p.team.signer().is_some();
        // Anyone can resend a captured ciphertext with their own Return-Path:
        // a reply that goes out in cleartext must not echo anything that
        // arrived encrypted (not even the protected subject).
        let echo_subject = !protection.encrypted || encrypt;
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
            received_at: crate::store::ts(received),
            response_business_days: p.promises.response_business_days,
            fix_days: p.promises.fix_days,
            complex_fix_days: p.promises.complex_fix_days,
            details_delay_days: p.promises.details_delay_days,
            fingerprint: p.team.primary_fingerprint().map(|f| f.to_hex()).unwrap_or_default(),
            problem: protection.failure.as_ref().map(|f| f.to_string()).unwrap_or_default(),
            encrypted: encrypt,
            topic: String::new(),
        };
        let no_reply = no_reply_reason(a, &return_path);
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
            no_reply,
            over_limit,
        })
    }

    /// The closure the store calls once the tracking id is known.
    fn compose(self, kind: ReplyKind) -> Compose<'a> {
        if self.no_reply.is_some() || self.over_limit.is_some() {
            return Box::new(|_: &str| Ok(None));
        }
        Box::new(move |tracking_id: &str| -> anyhow::Result<Option<Outgoing>> {
            let p = self.p;
            let mut ctx = AckContext {
                tracking_id: tracking_id.to_owned(),
                ..self.ctx
            };
            let (name, body) = match &kind {
                ReplyKind::Ack => ("ack", p.templates.render_ack(&ctx)?),
                ReplyKind::CannotDecrypt => ("cannot-decrypt", p.templates.render_cannot_decrypt(&ctx)?),
                ReplyKind::OutOfScope(topic) => {
                    ctx.topic = topic.clone();
                    ("out-of-scope", p.templates.render_topic(topic, &ctx)?)
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
            let subject = if ctx.encrypted_report && !ctx.encrypted {
                format!("[{tracking_id}]")
            } else {
                reply::tagged_subject(tracking_id, &ctx.subject)
            };
            Ok(Some(reply::compose(name, &to, &subject, body, &crypto)?))
        })
    }
}

/// Why this message gets no automatic reply, if it gets none.
fn no_reply_reason(a: &Arrival<'_>, return_path: &str) -> Option<String> {
    let received = a.internal_date.unwrap_or_else(Timestamp::now);
    if let Some(cutoff) = a.ack_after
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
) -> anyhow::Result<Option<String>> {
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

/// Mail that arrived before embargo's first start on this mailbox.
fn imported_old(a: &Arrival<'_>) -> bool {
    matches!((a.ack_after, a.internal_date), (Some(cutoff), Some(at)) if at < cutoff)
}

/// What became of a team member's mail at the relay.
enum Relay {
    /// Not mail for the relay (the reporter got it directly).
    Untouched,
    /// Relayed (now or before this re-fetch) for the report its signed
    /// content names.
    Relayed(crate::store::ReportRef),
    /// Refused; the member was told why.
    Refused,
}

/// Relays a member's signed mail, or explains why not.
fn relay_step(
    store: &mut Store,
    p: &Pipeline,
    msg: &Inbound,
    protection: &Protection,
    report: Option<&crate::store::ReportRef>,
) -> anyhow::Result<Relay> {
    match crate::relay::handle(store, p, msg, protection, report)? {
        crate::relay::Outcome::NotForRelay => Ok(Relay::Untouched),
        crate::relay::Outcome::Relayed { report, commands, text } => {
            tracing::info!(?commands, relayed_text = text, report = %report.tracking_id, "team mail relayed");
            Ok(Relay::Relayed(report))
        }
        crate::relay::Outcome::AlreadyDone { report } => Ok(Relay::Relayed(report)),
        crate::relay::Outcome::Refused(why) => {
            // The reason may quote the member's (decrypted) lines.
            tracing::warn!("team mail not relayed (the reason is in the explanation to the member)");
            tracing::debug!(reason = %why, "team mail not relayed");
            crate::relay::explain(store, p, msg, protection, report, &why)?;
            Ok(Relay::Refused)
        }
    }
}
