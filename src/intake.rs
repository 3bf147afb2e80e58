//! The one place a message walks through the stages:
//! `message` (parse) → `openpgp` (decrypt, verify) → `triage` (decide) →
//! `reply` (compose) → `store` (persist decision, message, outbox row and the
//! IMAP position in one transaction). The stages never call each other.

mod budget;
mod failed;
mod keys;

pub use failed::{intake_oversize, record_failure};
mod replier;

use keys::{SenderKeys, sender_keys, trusted_keys};
use replier::{Replier, ReplyKind};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use sequoia_openpgp::Cert;

use crate::message::{self, Inbound};
use crate::openpgp::{self, Protection, SigState};
use crate::pipeline::Pipeline;
use crate::report::ReportRef;
use crate::store::{Author, Disposition, FollowUp, FromReporter, InboundRow, NewReport, Recorded, Source, Store};
use crate::timing::{self, Stage};
use crate::triage::{self, Decision, Sender};

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
pub fn intake(store: &mut Store, p: &Pipeline, arrival: &Arrival<'_>) -> crate::fault::Result<Recorded> {
    #[cfg(debug_assertions)]
    crate::fault::abort_if_injected(arrival.raw);
    let started = Instant::now();
    let parsed = message::parse(arrival.raw);
    timing::add(Stage::Parse, started);
    let parsed = match parsed {
        Ok(m) => m,
        Err(e) => return record_failure(store, p, arrival, None, &format!("unparseable: {e}")),
    };
    let started = Instant::now();
    tracing::Span::current().record("message_id", parsed.message_id.as_str());
    let (pinned, known, configured) = trusted_keys(store, p, parsed.from_addr.as_deref())?;
    let from_member = parsed
        .from_addr
        .as_deref()
        .is_some_and(|f| p.me.team.iter().any(|t| t.eq_ignore_ascii_case(f)));
    // What embargo trusted for this address before this message: a key the
    // message brings along proves nothing about its sender.
    let trusted = known.clone();
    let ctx = openpgp::Context {
        team: &p.team,
        known: known.clone(),
        max_decrypted_size: p.max_decrypted_size,
    };
    let opened = openpgp::open(arrival.raw, parsed, &ctx);
    timing::add(Stage::OpenPgp, started);
    let (mut msg, protection) = (opened.msg, opened.protection);
    let from = msg.from_addr.as_deref().unwrap_or_default();
    let auth = crate::trust::authenticate(
        &msg,
        openpgp::signed_by_trusted(&protection, &trusted, from),
        p.config.trust.authserv_id.as_deref(),
    );
    // From here on every stage (triage, alerts, the store) sees the text
    // as it is kept: bounded, whatever it decompressed to.
    let kept = budget::bound(
        store,
        &p.config.store,
        arrival.raw.len() as u64,
        &msg.body_text,
        auth.proven(),
    )?;
    if let Some(text) = kept.text {
        msg.body_text = text;
    }
    let mut row = inbound_row(&msg, arrival);
    row.auth = auth;
    if !kept.raw {
        row.raw = None;
    }
    (row.cut, row.charged) = (kept.note, kept.charged);
    let started = Instant::now();
    (row.terms, row.missing) = examine(&msg, &p.config.triage.products);
    timing::add(Stage::Triage, started);
    row.encrypted = protection.encrypted;
    row.signature = protection.signature.as_str().to_owned();
    if let SigState::Good { signer, .. } = &protection.signature {
        row.signer = signer.clone();
    }
    row.decryption = protection.failure.as_ref().map(|f| f.to_string()).unwrap_or_default();
    let from = msg.from_addr.as_deref().unwrap_or_default();
    let (new_keys, keys) = sender_keys(store, &opened.learned, pinned, configured, &protection, row.auth, from)?;
    row.keys = new_keys;
    tracing::debug!(message_id = %msg.message_id, subject = %msg.subject, body = %msg.body_text, "opened");
    // A member's mail may be relayed: then triage through record is one
    // transaction, so the relay's commands and mail, the inbound message and
    // the IMAP position commit together. Anyone else's mail writes nothing
    // before `Store::record`, whose own transaction (a savepoint inside the
    // daemon's group, `daemon/sync.rs`) is all it needs.
    let recorded = if from_member {
        store.atomic(|store| decide_and_record(store, p, arrival, &msg, &protection, keys, &row))?
    } else {
        decide_and_record(store, p, arrival, &msg, &protection, keys, &row)?
    };
    tracing::info!(message_id = %msg.message_id, encrypted = protection.encrypted,
        signature = protection.signature.as_str(), outcome = ?recorded, "recorded");
    Ok(recorded)
}

/// What one message walking from triage to the store sees.
struct Walk<'a, 'r> {
    p: &'a Pipeline,
    arrival: &'a Arrival<'r>,
    msg: &'a Inbound,
    protection: &'a Protection,
    row: &'a InboundRow<'r>,
}

fn decide_and_record(
    store: &mut Store,
    p: &Pipeline,
    arrival: &Arrival<'_>,
    msg: &Inbound,
    protection: &Protection,
    keys: SenderKeys,
    row: &InboundRow<'_>,
) -> crate::fault::Result<Recorded> {
    let started = Instant::now();
    let mut decision = triage::decide(msg, &p.me, store, &p.topics)?;
    let unproven;
    let row = match (&mut decision, &keys.first_sight) {
        (
            Decision::FollowUp {
                report,
                how,
                sender: Sender::Reporter,
            },
            Some(key),
        ) if key.report_id != Some(report.id) && store.report_opened_by(report.id)? != key.signer => {
            how.push_str(
                "; signed by a key first seen with another report, which proves nothing for this one \
                 (`embargo keys accept` vouches for it)",
            );
            unproven = InboundRow {
                auth: crate::trust::Auth::None,
                ..row.clone()
            };
            &unproven
        }
        _ => row,
    };
    let reporter_cert = keys.reporter_cert;
    let w = Walk {
        p,
        arrival,
        msg,
        protection,
        row,
    };
    let disposition = match decision {
        Decision::Duplicate => Disposition::Duplicate {
            of: msg.message_id.clone(),
        },
        Decision::OwnCopy => Disposition::OwnCopy,
        Decision::Automatic { reason } => Disposition::Automatic { reason },
        Decision::FollowUp {
            report,
            how,
            sender: Sender::Downstream,
        } => w.downstream_reply(report, how),
        Decision::FollowUp {
            report,
            how,
            sender: Sender::Team,
        } => w.team_mail(store, report, how)?,
        Decision::FollowUp {
            report,
            how,
            sender: Sender::Reporter,
        } => w.reporter_mail(store, report, how, reporter_cert)?,
        Decision::NewReport {
            notes,
            excluded,
            from_team,
        } => w.new_report(store, notes, excluded, from_team, reporter_cert)?,
    };
    timing::add(Stage::Triage, started);
    let started = Instant::now();
    let recorded = store.record(arrival.source.as_ref(), row, disposition, &p.me.prefix)?;
    timing::add(Stage::Record, started);
    Ok(recorded)
}

impl<'a> Walk<'a, '_> {
    /// A downstream recipient's answer to an embargoed notice: joins the
    /// thread; acknowledges the notice only when its sender is proven (a
    /// signature by their configured key, or DMARC at our MTA).
    fn downstream_reply(&self, report: ReportRef, how: String) -> Disposition<'a> {
        let auth = self.row.auth;
        Disposition::FollowUp(FollowUp {
            report_id: report.id,
            how,
            author: Author::Downstream {
                proven_by: auth.proven().then_some(auth.as_str()),
            },
        })
    }

    /// A team member's mail in a thread: its relay, and whether it counts
    /// as the team's response. Only a member whose address was proven
    /// speaks for the team: a forged From moves no clock and no state.
    fn team_mail(
        &self,
        store: &mut Store,
        mut report: ReportRef,
        mut how: String,
    ) -> crate::fault::Result<Disposition<'a>> {
        let (p, msg, protection) = (self.p, self.msg, self.protection);
        let mut response = self.row.auth.proven();
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
                response = false;
            }
            Relay::Refused => response = false,
        }
        Ok(Disposition::FollowUp(FollowUp {
            report_id: report.id,
            how,
            author: Author::Team { response },
        }))
    }

    /// The reporter's mail in their thread: an acknowledgement in case it
    /// reopens an excluded report, a credit wish, an answer to the team's
    /// question.
    fn reporter_mail(
        &self,
        store: &mut Store,
        report: ReportRef,
        how: String,
        reporter_cert: Option<Cert>,
    ) -> crate::fault::Result<Disposition<'a>> {
        let (p, msg, protection) = (self.p, self.msg, self.protection);
        let proven = self.row.auth.proven();
        let r = Replier::new(store, p, self.arrival, msg, protection, reporter_cert, proven)?;
        // Past the limit the acknowledgement of a reopened report is held
        // for the combined one, as a new report's is.
        let reopen_held = r.over_limit.is_some().then(|| {
            (
                r.return_path.clone(),
                SignedDuration::from_secs(p.config.reply.combine_after_secs as i64),
            )
        });
        // The reporter's authenticated answer to the team's question.
        let answered = if proven && store.report_state(report.id)?.on_reporter_answer().is_some() {
            Some(crate::digest::alert::answered(
                p.alerts.as_deref(),
                &p.team,
                &p.from,
                crate::digest::alert::Answer {
                    msg,
                    protection,
                    auth: self.row.auth,
                },
            ))
        } else {
            None
        };
        Ok(Disposition::FollowUp(FollowUp {
            report_id: report.id,
            how,
            author: Author::Reporter(FromReporter {
                proven,
                credit: triage::credit_wish(&msg.body_text),
                reopen: Some(r.compose(ReplyKind::Ack)),
                reopen_held,
                answered,
            }),
        }))
    }

    /// A new report: its notes, which reply (acknowledgement, cannot
    /// decrypt, out of scope; held past the per-sender limit), the alerts.
    /// A member's signed relay that named no report in its outer headers
    /// joins the report its signed content names instead.
    fn new_report(
        &self,
        store: &mut Store,
        mut notes: Vec<String>,
        excluded: Option<(String, Vec<String>)>,
        from_team: bool,
        reporter_cert: Option<Cert>,
    ) -> crate::fault::Result<Disposition<'a>> {
        let (p, msg, protection) = (self.p, self.msg, self.protection);
        if from_team && let Relay::Relayed(r) = relay_step(store, p, msg, protection, None)? {
            return Ok(Disposition::FollowUp(FollowUp {
                report_id: r.id,
                how: "signed relay".to_owned(),
                author: Author::Team { response: false },
            }));
        }
        notes.extend(protection.notes.iter().cloned());
        if let Some(f) = &protection.failure {
            notes.push(format!("OpenPGP: {f}"));
        }
        if let Some((topic, hits)) = &excluded {
            notes.push(format!("excluded topic {topic}: matched {}", hits.join(", ")));
        }
        let mut r = Replier::new(
            store,
            p,
            self.arrival,
            msg,
            protection,
            reporter_cert,
            self.row.auth.proven(),
        )?;
        if from_team {
            r.no_reply = Some("from a team member".to_owned());
        }
        if p.config.reply.ask_for_missing && excluded.is_none() {
            r.ctx.missing = self.row.missing.iter().map(|m| triage::checklist::ask(m)).collect();
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
        // No alerts for excluded mail, team mail, or history imported on the
        // first start.
        let quiet = excluded.is_some() || from_team || imported_old(self.arrival);
        let alerts = if quiet {
            Box::new(|_: &str| Ok(Vec::new()))
        } else {
            self.alerts(store)?
        };
        let channels = match &p.config.matrix {
            Some(_) if !quiet => vec![crate::store::MATRIX_CHANNEL],
            _ => Vec::new(),
        };
        Ok(Disposition::NewReport(NewReport {
            reporter: r.ctx.reporter.clone(),
            reporter_name: r.ctx.reporter_name.clone(),
            subject: msg.subject.clone(),
            no_ack_reason: r.no_reply.clone().or_else(|| r.over_limit.clone()),
            held_ack,
            compose: r.compose(kind),
            notes,
            alerts,
            excluded_topic: excluded.map(|(t, _)| t),
            channels,
        }))
    }

    /// The new-report alert to the team, with the day's excluded reports.
    fn alerts(&self, store: &Store) -> crate::fault::Result<crate::store::ComposeMany<'a>> {
        let p = self.p;
        let (excluded_today, similar) = match p.alerts {
            Some(_) => (
                store.excluded_reports_since(Timestamp::now() - SignedDuration::from_hours(24), 20)?,
                store.suggest(
                    &self.row.terms,
                    None,
                    p.config.triage.similar_threshold,
                    p.known.get(&p.config),
                    5,
                )?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(crate::digest::alert::compose(
            p.alerts.as_deref(),
            &p.team,
            &p.from,
            crate::digest::alert::NewReport {
                msg: self.msg,
                raw: self.arrival.raw,
                protection: self.protection,
                received: self.arrival.internal_date.unwrap_or_else(Timestamp::now),
                excluded_today,
                missing: self.row.missing.clone(),
                similar,
            },
        ))
    }
}

/// A mail in the Sent folder (`imap.sent_mailbox`): when it is the team's
/// reply to a report's reporter it joins the report's thread and counts as
/// the team's response (the response clock stops, a new report becomes
/// triaged); anything else only moves the folder position. Never answered.
pub fn intake_sent(store: &mut Store, p: &Pipeline, arrival: &Arrival<'_>) -> crate::fault::Result<Option<Recorded>> {
    let skip = |store: &mut Store| -> crate::fault::Result<Option<Recorded>> {
        if let Some(s) = &arrival.source {
            store.advance(s)?;
        }
        Ok(None)
    };
    let Ok(parsed) = message::parse(arrival.raw) else {
        return skip(store);
    };
    // A reply encrypted to the reporter and to us (encrypt-to-self) is
    // readable; one encrypted to the reporter only is recorded as such.
    let ctx = openpgp::Context {
        team: &p.team,
        known: Vec::new(),
        max_decrypted_size: p.max_decrypted_size,
    };
    let opened = openpgp::open(arrival.raw, parsed, &ctx);
    let msg = opened.msg;
    let Some((report, how)) = triage::sent_reply(&msg, &p.me, &*store)? else {
        return skip(store);
    };
    let mut row = inbound_row(&msg, arrival);
    row.encrypted = opened.protection.encrypted;
    row.signature = opened.protection.signature.as_str().to_owned();
    row.decryption = opened
        .protection
        .failure
        .as_ref()
        .map(|f| f.to_string())
        .unwrap_or_default();
    row.auth = crate::trust::Auth::Login;
    let followup = Disposition::FollowUp(FollowUp {
        report_id: report.id,
        how,
        author: Author::Team { response: true },
    });
    let recorded = store.record(arrival.source.as_ref(), &row, followup, &p.me.prefix)?;
    tracing::info!(message_id = %msg.message_id, report = %report.tracking_id, "the team's reply, from the Sent folder");
    Ok(Some(recorded))
}

/// A message's similar-report terms and what of the checklist it lacks,
/// from its (decrypted, bounded) subject, text and text attachments.
fn examine(msg: &Inbound, products: &[String]) -> (Vec<crate::similar::Term>, Vec<&'static str>) {
    let text = if msg.attachments.text.is_empty() {
        std::borrow::Cow::Borrowed(msg.body_text.as_str())
    } else {
        std::borrow::Cow::Owned(format!("{}\n{}", msg.body_text, msg.attachments.text))
    };
    let terms = crate::similar::terms(&msg.subject, &text, products);
    let missing = triage::checklist::missing(&msg.subject, &text, &terms, msg.attachments.count, products);
    (terms, missing)
}

fn inbound_row<'a>(msg: &'a Inbound, arrival: &Arrival<'a>) -> InboundRow<'a> {
    InboundRow {
        message_id: msg.message_id.clone(),
        from_addr: msg.from_addr.clone().unwrap_or_default(),
        subject: msg.subject.clone(),
        date: msg.date,
        received_at: arrival.internal_date,
        size: msg.size as u64,
        raw: Some(arrival.raw),
        body: &msg.body_text,
        ..InboundRow::default()
    }
}

/// Mail that arrived before embargo's first start on this mailbox.
fn imported_old(arrival: &Arrival<'_>) -> bool {
    matches!((arrival.ack_after, arrival.internal_date), (Some(cutoff), Some(at)) if at < cutoff)
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
) -> crate::fault::Result<Relay> {
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
