//! The write path of intake: one inbound message, what triage decided, the
//! outbox row it causes and the new IMAP position, in one transaction.

use super::EventKind;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::{
    Author, Compose, Disposition, Event, FollowUp, InboundRow, NewReport, Recorded, Source, Store, outbox, ts,
};
use crate::report::ReportState;

pub use crate::report::CreditWish;

impl Store {
    /// Records one inbound message and what triage decided, the outbox row it
    /// causes and the new IMAP position, all in one transaction.
    pub fn record(
        &mut self,
        source: Option<&Source>,
        msg: &InboundRow<'_>,
        disposition: Disposition<'_>,
        prefix: &str,
    ) -> Result<Recorded> {
        let tx = self.write()?;
        let now = Timestamp::now();
        if let Some(src) = source {
            let known: Option<i64> = tx
                .prepare_cached("SELECT id FROM messages WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3")?
                .query_row(params![src.mailbox, src.uidvalidity, src.uid], |r| r.get(0))
                .optional()?;
            if known.is_some() {
                advance(&tx, src, now)?;
                tx.commit()?;
                return Ok(Recorded::AlreadyRecorded);
            }
        }
        let w = Writer {
            tx: &tx,
            now,
            source,
            msg,
        };
        let result = match disposition {
            Disposition::NewReport(d) => w.new_report(prefix, d)?,
            Disposition::FollowUp(d) => w.follow_up(d)?,
            Disposition::Automatic { reason } => {
                w.insert_inbound(None, "automatic", &reason)?;
                Recorded::Automatic
            }
            Disposition::Failed { reason } => {
                let row = w.insert_inbound(None, "failed", &reason)?;
                w.event(None, Some(row), EventKind::Failed, None, None, &reason)?;
                Recorded::Failed
            }
            Disposition::OwnCopy => {
                // Kept out of the report's thread: the outgoing row is there.
                outbox::confirm_copy(&tx, &msg.message_id, now)?;
                w.insert_inbound(None, "own-copy", "copy of a mail embargo sent")?;
                Recorded::OwnCopy
            }
            Disposition::Duplicate { of } => {
                w.insert_inbound(None, "duplicate", &format!("same Message-ID as {of}"))?;
                Recorded::Duplicate
            }
        };
        if let Some(src) = source {
            advance(&tx, src, now)?;
        }
        tx.commit()?;
        Ok(result)
    }
}

impl Writer<'_> {
    /// A new report: its row, the message, keys, events, the
    /// acknowledgement (or why none, or held) and the team's alerts.
    fn new_report(&self, prefix: &str, d: NewReport<'_>) -> Result<Recorded> {
        let received = self.msg.received_at.unwrap_or(self.now);
        let tracking_id = next_tracking_id(self.tx, prefix, received)?;
        let state = ReportState::initial(d.excluded_topic.is_some());
        let report_id = self.insert_report(&d, &tracking_id, received, state)?;
        let NewReport {
            reporter,
            compose,
            no_ack_reason,
            notes,
            excluded_topic,
            alerts,
            held_ack,
            channels,
            ..
        } = d;
        let row = self.insert_inbound(Some(report_id), "report", "")?;
        self.keys(report_id, row)?;
        super::similar::index(self.tx, report_id, &self.msg.terms)?;
        self.tx
            .prepare_cached("UPDATE reports SET missing = ?2 WHERE id = ?1")?
            .execute(params![report_id, self.msg.missing.join(",")])?;
        self.event(
            Some(report_id),
            Some(row),
            EventKind::ReportCreated,
            None,
            Some(state.as_str()),
            &format!("from {reporter}"),
        )?;
        if let Some(topic) = &excluded_topic {
            self.event(
                Some(report_id),
                Some(row),
                EventKind::Excluded,
                None,
                Some(topic),
                "matched an excluded topic",
            )?;
        }
        for note in notes {
            self.event(Some(report_id), Some(row), EventKind::Note, None, None, &note)?;
        }
        let ack_queued = self.ack_or_hold(report_id, row, &tracking_id, compose, no_ack_reason, held_ack)?;
        self.alerts(report_id, &tracking_id, alerts)?;
        super::posts::new_report(self.tx, &channels, report_id, self.now)?;
        Ok(Recorded::NewReport {
            tracking_id,
            ack_queued,
        })
    }

    /// The report's own row.
    fn insert_report(
        &self,
        d: &NewReport<'_>,
        tracking_id: &str,
        received: Timestamp,
        state: ReportState,
    ) -> Result<i64> {
        let signature = if self.msg.signature.is_empty() {
            "none"
        } else {
            self.msg.signature.as_str()
        };
        self.tx
            .prepare_cached(
                "INSERT INTO reports (tracking_id, reporter, reporter_name, subject, received_at, created_at,
                                  encrypted, signature, state, excluded_topic, last_reporter_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?5)",
            )?
            .execute(params![
                tracking_id,
                d.reporter,
                d.reporter_name,
                d.subject,
                ts(received),
                ts(self.now),
                self.msg.encrypted,
                signature,
                state,
                d.excluded_topic
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    /// The new-report alerts to the team, or why there are none.
    fn alerts(&self, report_id: i64, tracking_id: &str, alerts: super::ComposeMany<'_>) -> Result<()> {
        match alerts(tracking_id) {
            Ok(outs) => {
                for out in outs {
                    outbox::enqueue(self.tx, Some(report_id), &out, self.now)?;
                    let detail = format!("to {}", out.recipient);
                    self.event(
                        Some(report_id),
                        None,
                        EventKind::Queued(super::MailKind::Alert),
                        None,
                        None,
                        &detail,
                    )?;
                }
                Ok(())
            }
            Err(e) => self.event(
                Some(report_id),
                None,
                EventKind::AlertSkipped,
                None,
                None,
                &format!("{e:#}"),
            ),
        }
    }

    /// A downstream recipient's reply: acknowledges their notice when its
    /// sender is proven; otherwise a note says why it does not.
    fn downstream_reply(&self, report_id: i64, row: i64, auth: Option<&str>) -> Result<()> {
        match auth {
            Some(auth) => super::downstream::acknowledge(
                self.tx,
                report_id,
                row,
                &self.msg.from_addr,
                &self.msg.message_id,
                auth,
                self.now,
            ),
            None => self.event(
                Some(report_id),
                Some(row),
                EventKind::Note,
                None,
                None,
                "the sender is not authenticated: not counted as an acknowledgement of the notice",
            ),
        }
    }

    /// Mail joining a report: the message, keys, the team's response or the
    /// reporter's (credit wish, reopening an excluded report).
    fn follow_up(&self, d: FollowUp<'_>) -> Result<Recorded> {
        let FollowUp { report_id, how, author } = d;
        let (tracking_id, state): (String, ReportState) = self
            .tx
            .prepare_cached("SELECT tracking_id, state FROM reports WHERE id = ?1")?
            .query_row([report_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (kind, event) = match &author {
            Author::Team { .. } => ("team", EventKind::FromTeam),
            Author::Downstream { .. } => ("downstream", EventKind::FromDownstream),
            Author::Reporter(_) => ("follow-up", EventKind::FollowUp),
        };
        let row = self.insert_inbound(Some(report_id), kind, &how)?;
        self.keys(report_id, row)?;
        self.event(
            Some(report_id),
            Some(row),
            event,
            None,
            None,
            &format!("from {} ({how})", self.msg.from_addr),
        )?;
        if self.msg.encrypted {
            self.tx
                .prepare_cached("UPDATE reports SET encrypted = 1 WHERE id = ?1")?
                .execute([report_id])?;
        }
        match author {
            Author::Downstream { proven_by } => self.downstream_reply(report_id, row, proven_by)?,
            Author::Team { response: true } => self.team_response(report_id, row, state)?,
            Author::Team { response: false } => {}
            Author::Reporter(r) => self.reporter_mail(report_id, row, &tracking_id, state, r)?,
        }
        Ok(Recorded::FollowUp { tracking_id })
    }
}

impl Writer<'_> {
    /// The reporter's follow-up: their text adds to the report, their
    /// answer to the team's question, their credit wish, their reply to an
    /// out-of-scope answer (which reopens the report).
    fn reporter_mail(
        &self,
        report_id: i64,
        row: i64,
        tracking_id: &str,
        state: ReportState,
        r: super::FromReporter<'_>,
    ) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE reports SET last_reporter_at = ?2 WHERE id = ?1")?
            .execute(params![report_id, ts(self.now)])?;
        self.more_text(report_id)?;
        if let Some(to) = state.on_reporter_answer() {
            self.answer(report_id, row, tracking_id, state, to, r.proven, r.answered)?;
        }
        match r.credit {
            Some(c) if r.proven => self.credit(report_id, row, &c)?,
            Some(c) => self.credit_proposal(report_id, row, &c)?,
            None => {}
        }
        if let Some(to) = state.on_reporter_reply()
            && let Some(compose) = r.reopen
        {
            // The out-of-scope reply acknowledged no report: the
            // acknowledgement that follows (now, or combined) does.
            self.tx
                .prepare_cached("UPDATE reports SET state = ?2, acknowledged_at = NULL WHERE id = ?1")?
                .execute(params![report_id, to])?;
            self.event(
                Some(report_id),
                Some(row),
                EventKind::State,
                Some(state.as_str()),
                Some(to.as_str()),
                "reopened by the reporter's reply",
            )?;
            self.ack_or_hold(report_id, row, tracking_id, compose, None, r.reopen_held)?;
        }
        Ok(())
    }

    /// The reporter wrote while the team waited for their answer: when the
    /// sender is proven the report goes back to triaged (the fix clock runs
    /// again) and the team is alerted; otherwise it waits on, and says why.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        report_id: i64,
        row: i64,
        tracking_id: &str,
        from: ReportState,
        to: ReportState,
        proven: bool,
        alerts: Option<super::ComposeMany<'_>>,
    ) -> Result<()> {
        let Some(alerts) = alerts.filter(|_| proven) else {
            return self.event(
                Some(report_id),
                Some(row),
                EventKind::Note,
                None,
                None,
                "an answer from the reporter's address, not authenticated (no signature by their key, \
                 no DMARC pass): the report still waits for the reporter; if it is theirs, \
                 `embargo reports state ID triaged`",
            );
        };
        self.tx
            .prepare_cached("UPDATE reports SET state = ?2 WHERE id = ?1")?
            .execute(params![report_id, to])?;
        super::lifecycle::resume_fix_clock(self.tx, report_id, self.now)?;
        self.event(
            Some(report_id),
            Some(row),
            EventKind::State,
            Some(from.as_str()),
            Some(to.as_str()),
            "the reporter answered the team's question; the fix clock runs again",
        )?;
        self.alerts(report_id, tracking_id, alerts)
    }

    /// The reporter's follow-up adds to what the report is compared on, and
    /// what it supplies is no longer missing.
    fn more_text(&self, report_id: i64) -> Result<()> {
        super::similar::index(self.tx, report_id, &self.msg.terms)?;
        let before: String = self
            .tx
            .prepare_cached("SELECT missing FROM reports WHERE id = ?1")?
            .query_row([report_id], |r| r.get(0))?;
        let still: Vec<&str> = before
            .split(',')
            .filter(|m| !m.is_empty() && self.msg.missing.contains(m))
            .collect();
        if still.len() != before.split(',').filter(|m| !m.is_empty()).count() {
            self.tx
                .prepare_cached("UPDATE reports SET missing = ?2 WHERE id = ?1")?
                .execute(params![report_id, still.join(",")])?;
        }
        Ok(())
    }
}

pub(super) struct Writer<'a> {
    pub(super) tx: &'a Connection,
    pub(super) now: Timestamp,
    pub(super) source: Option<&'a Source>,
    pub(super) msg: &'a InboundRow<'a>,
}

impl Writer<'_> {
    fn insert_inbound(&self, report_id: Option<i64>, kind: &str, reason: &str) -> Result<i64> {
        let (mailbox, uidvalidity, uid) = match self.source {
            Some(s) => (Some(s.mailbox.as_str()), Some(s.uidvalidity), Some(s.uid)),
            None => (None, None, None),
        };
        let m = self.msg;
        self.tx
            .prepare_cached(
                "INSERT INTO messages (report_id, direction, mailbox, uidvalidity, uid, message_id, from_addr,
                                   subject, date, received_at, size, kind, reason,
                                   encrypted, signature, signer, decryption, body, auth)
             VALUES (?1, 'in', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                report_id,
                mailbox,
                uidvalidity,
                uid,
                m.message_id,
                m.from_addr,
                m.subject,
                m.date.map(ts),
                ts(m.received_at.unwrap_or(self.now)),
                m.size as i64,
                kind,
                reason,
                m.encrypted,
                if m.signature.is_empty() {
                    "none"
                } else {
                    m.signature.as_str()
                },
                m.signer,
                m.decryption,
                m.body,
                m.auth.as_str(),
            ])?;
        let row = self.tx.last_insert_rowid();
        if let Some(raw) = m.raw {
            write_raw(self.tx, row, raw)?;
        }
        if let Some(cut) = &m.cut {
            self.event(report_id, Some(row), EventKind::NotKept, None, None, cut)?;
        }
        if m.charged > 0 {
            super::budget::charge(self.tx, m.charged, self.now)?;
        }
        Ok(row)
    }

    pub(super) fn event(
        &self,
        report_id: Option<i64>,
        message_row: Option<i64>,
        kind: super::EventKind,
        old: Option<&str>,
        new: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        Event::new(kind, self.now)
            .report(report_id)
            .message(message_row)
            .change(old, new)
            .detail(detail)
            .insert(self.tx)
    }

    /// The acknowledgement of a report: held for the combined one (past the
    /// per-sender limit), or queued now. Whether one was queued now.
    fn ack_or_hold(
        &self,
        report_id: i64,
        row: i64,
        tracking_id: &str,
        compose: Compose<'_>,
        no_ack_reason: Option<String>,
        held: Option<(String, jiff::SignedDuration)>,
    ) -> Result<bool> {
        let Some((recipient, after)) = held else {
            return self.reply(report_id, row, tracking_id, compose, no_ack_reason);
        };
        let due = super::held::hold(self.tx, report_id, &recipient, after, self.now)?;
        self.event(
            Some(report_id),
            Some(row),
            EventKind::AckHeld,
            None,
            None,
            &format!(
                "held by the per-sender limit until {}: acknowledged then in one combined reply to {recipient}",
                ts(due)
            ),
        )?;
        Ok(false)
    }

    /// Queues the automatic reply `compose` builds, or records why none.
    fn reply(
        &self,
        report_id: i64,
        row: i64,
        tracking_id: &str,
        compose: Compose<'_>,
        no_reply_reason: Option<String>,
    ) -> Result<bool> {
        // A reply that cannot be composed (a hostile address, say) must not
        // block the mailbox: record why and move on.
        let reply = match compose(tracking_id) {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(no_reply_reason.unwrap_or_else(|| "no automatic reply".to_owned())),
            Err(e) => Err(format!("cannot compose the reply: {e:#}")),
        };
        match reply {
            Ok(out) => {
                outbox::enqueue(self.tx, Some(report_id), &out, self.now)?;
                let to = format!("to {}", out.recipient);
                self.event(Some(report_id), None, EventKind::Queued(out.kind), None, None, &to)?;
                Ok(true)
            }
            Err(why) => {
                self.event(Some(report_id), Some(row), EventKind::AckSkipped, None, None, &why)?;
                Ok(false)
            }
        }
    }

    /// A team member's mail joined the thread: the response clock stops the
    /// first time, and a new report becomes triaged.
    fn team_response(&self, report_id: i64, row: i64, state: ReportState) -> Result<()> {
        team_responded(self.tx, report_id, Some(row), state, self.now, "embargo")
    }
}

pub(super) fn advance(tx: &Connection, src: &Source, now: Timestamp) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO sync_state (mailbox, uidvalidity, last_uid, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, last_uid = max(last_uid, ?3), updated_at = ?4
         WHERE uidvalidity = ?2",
    )?
    .execute(params![src.mailbox, src.uidvalidity, src.uid, ts(now)])?;
    Ok(())
}

fn next_tracking_id(tx: &Connection, prefix: &str, at: Timestamp) -> Result<String> {
    let year = at.to_zoned(jiff::tz::TimeZone::UTC).year();
    let last: i64 = tx
        .prepare_cached(
            "INSERT INTO tracking_counter (prefix, year, last) VALUES (?1, ?2, 1)
         ON CONFLICT (prefix, year) DO UPDATE SET last = last + 1
         RETURNING last",
        )?
        .query_row(params![prefix, year], |r| r.get(0))?;
    Ok(format!("{prefix}-{year}-{last:04}"))
}

/// The team responded (a member's mail in the thread, a reply sent through
/// embargo): the response clock stops the first time, and a new report
/// becomes triaged.
pub(crate) fn team_responded(
    tx: &Connection,
    report_id: i64,
    row: Option<i64>,
    state: ReportState,
    now: Timestamp,
    actor: &str,
) -> Result<()> {
    let first = tx
        .prepare_cached("UPDATE reports SET first_response_at = ?2 WHERE id = ?1 AND first_response_at IS NULL")?
        .execute(params![report_id, ts(now)])?;
    tx.prepare_cached("UPDATE reports SET last_team_at = ?2 WHERE id = ?1")?
        .execute(params![report_id, ts(now)])?;
    if first > 0 {
        Event::new(EventKind::TeamResponded, now)
            .report(Some(report_id))
            .message(row)
            .by(actor)
            .detail("first response: the response clock stops")
            .insert(tx)?;
    }
    if let Some(to) = state.on_team_response() {
        tx.prepare_cached("UPDATE reports SET state = ?2 WHERE id = ?1")?
            .execute(params![report_id, to])?;
        Event::new(EventKind::State, now)
            .report(Some(report_id))
            .message(row)
            .by(actor)
            .change(Some(state.as_str()), Some(to.as_str()))
            .detail("the team responded")
            .insert(tx)?;
    }
    Ok(())
}

/// Stores the raw message of row `message_row`: a zero-filled BLOB of the
/// right size first (SQLite does not materialise it), then the bytes in
/// 1 MiB chunks through incremental blob I/O. Binding the message as a
/// parameter instead would copy it twice inside SQLite (the bound value and
/// the record), which is what made a 25 MB message cost 9x its size.
pub(super) fn write_raw(tx: &rusqlite::Connection, message_row: i64, raw: &[u8]) -> Result<()> {
    use std::io::Write as _;
    tx.prepare_cached("INSERT INTO message_raw (message_id, raw) VALUES (?1, zeroblob(?2))")?
        .execute(params![message_row, raw.len() as i64])?;
    if raw.is_empty() {
        return Ok(());
    }
    let mut blob = tx.blob_open(rusqlite::MAIN_DB, "message_raw", "raw", message_row, false)?;
    for chunk in raw.chunks(1 << 20) {
        // An I/O error here is SQLite's (disk full, ...): the database
        // cannot be written, so intake leaves the mail on the server.
        blob.write_all(chunk).map_err(|e| {
            if !e.get_ref().is_some_and(|i| i.is::<rusqlite::Error>()) {
                return super::Error::UnavailableIo(e);
            }
            match e.into_inner().map(|i| i.downcast::<rusqlite::Error>()) {
                Some(Ok(sqlite)) => super::Error::from(*sqlite),
                _ => super::Error::UnavailableIo(std::io::Error::other("blob write failed")),
            }
        })?;
    }
    blob.close()?;
    Ok(())
}
