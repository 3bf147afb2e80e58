//! The room as a console. matrix-sdk's sync keeps the device's keys and
//! the rooms' state (and its own position for them); the commands are read
//! from the room with `/messages` from a position in embargo's database.
//! Each command is handled in one transaction with its effect, its answer
//! and its event id, and the position is stored after the page is handled,
//! so a restart, or a kill -9 between a sync and its handling, reads the
//! same events again and skips the ids already handled: nothing repeats,
//! nothing is skipped (a long absence included: `/messages` has no gaps).
//! The first start records the position without acting on the room's
//! history. (Replaying a sync from an older token does not work: matrix-sdk
//! answers a `next_batch` it has seen with an empty response.)

use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEvent;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::RoomId;
use matrix_sdk::ruma::events::room::message::MessageType;
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent};
use matrix_sdk::sync::SyncResponse;
use tokio_util::sync::CancellationToken;

use super::command::{self, Command};
use super::trust::{self, Verdict};
use crate::config::MatrixConfig;
use crate::pipeline::Pipeline;
use crate::store::{NewPost, PostKind, Store, StoreHandle};

/// How long one sync waits on the homeserver for news.
const LONG_POLL: Duration = Duration::from_secs(30);

/// What the console needs from the daemon.
pub struct Console {
    pub client: Client,
    pub store: StoreHandle,
    pub pipeline: Arc<dyn Fn() -> Arc<Pipeline> + Send + Sync>,
    /// Woken when a command queued mail (a reply, an acknowledgement).
    pub outbox_wake: Arc<tokio::sync::Notify>,
}

impl Console {
    /// Syncs and handles commands until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.once(LONG_POLL) => r,
            };
            match result {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(2u64.saturating_pow(failures.min(5)).min(30));
                    tracing::warn!(error = %format!("{e:#}"), retry_in_s = wait.as_secs(), "Matrix sync");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One sync from the stored position, its commands handled, the new
    /// position stored.
    pub async fn once(&self, timeout: Duration) -> anyhow::Result<()> {
        // matrix-sdk keeps its own position for keys and room state; the
        // position commands are read from is embargo's (below).
        let response = self.client.sync_once(SyncSettings::default().timeout(timeout)).await?;
        let p = (self.pipeline)();
        let Some(m) = p.config.matrix.clone() else {
            return Ok(());
        };
        self.join_if_invited(&response, &m).await;
        let position = self.store.call(|s| s.matrix_sync_token()).await?;
        let Some(from) = position else {
            tracing::info!("Matrix: first sync; the room's history is not acted on");
            let next = response.next_batch.clone();
            self.store.call(move |s| s.matrix_set_sync_token(&next)).await?;
            return Ok(());
        };
        let mut commands = self.elsewhere(&response, &p, &m).await?;
        let Some(room) = super::client::joined_room(&self.client, &m) else {
            return Ok(());
        };
        let (next, n) = self.catch_up(&room, from, &p, &m).await?;
        commands += n;
        if commands > 0 {
            // Tests: commands handled, the position not yet stored.
            crate::fault::abort_at("matrix-handled");
        }
        self.store.call(move |s| s.matrix_set_sync_token(&next)).await?;
        Ok(())
    }

    /// The room's events since `from`, read with `/messages` (a sync token
    /// is a valid start), each handled once; returns the new position and
    /// how many commands there were. An event the bot cannot decrypt yet
    /// (its key on its way) stops the reading before it for a while: the
    /// next round reads it again.
    async fn catch_up(
        &self,
        room: &matrix_sdk::Room,
        mut from: String,
        p: &Arc<Pipeline>,
        m: &MatrixConfig,
    ) -> anyhow::Result<(String, usize)> {
        let mut commands = 0;
        loop {
            let mut options = MessagesOptions::forward();
            options.from = Some(from.clone());
            options.limit = matrix_sdk::ruma::UInt::from(50u32);
            let page = room.messages(options).await?;
            for ev in &page.chunk {
                if waiting_for_key(ev) {
                    return Ok((from, commands));
                }
                commands += self.event(room.room_id(), true, ev, p, m).await? as usize;
            }
            match page.end {
                Some(end) if !page.chunk.is_empty() => from = end,
                _ => return Ok((from, commands)),
            }
        }
    }

    /// Commands in the other rooms the bot is in: refused there.
    async fn elsewhere(&self, response: &SyncResponse, p: &Arc<Pipeline>, m: &MatrixConfig) -> anyhow::Result<usize> {
        let ours = super::client::joined_room(&self.client, m).map(|r| r.room_id().to_owned());
        let mut commands = 0;
        for (room_id, update) in &response.rooms.joined {
            if ours.as_deref() == Some(room_id.as_ref()) {
                continue;
            }
            for ev in &update.timeline.events {
                commands += self.event(room_id, false, ev, p, m).await? as usize;
            }
        }
        Ok(commands)
    }

    /// The bot joins the configured room when invited to it.
    async fn join_if_invited(&self, response: &SyncResponse, m: &MatrixConfig) {
        for room_id in response.rooms.invited.keys() {
            let Some(room) = self.client.get_room(room_id) else {
                continue;
            };
            let ours = room_id.as_str() == m.room || room.canonical_alias().is_some_and(|a| a.as_str() == m.room);
            if !ours {
                continue;
            }
            match room.join().await {
                Ok(()) => tracing::info!(room = %room_id, "Matrix: joined the room on invitation"),
                Err(e) => tracing::warn!(room = %room_id, error = %e, "Matrix: cannot join the room"),
            }
        }
    }

    /// One timeline event: a command is judged, carried out or refused,
    /// answered in a thread on it, and marked handled, in one transaction.
    async fn event(
        &self,
        room_id: &RoomId,
        in_room: bool,
        ev: &TimelineEvent,
        p: &Arc<Pipeline>,
        m: &MatrixConfig,
    ) -> anyhow::Result<bool> {
        if let matrix_sdk::deserialized_responses::TimelineEventKind::UnableToDecrypt { utd_info, .. } = &ev.kind {
            tracing::warn!(room = %room_id, event = ev.event_id().map(|e| e.to_string()).unwrap_or_default(),
                reason = ?utd_info.reason, "Matrix: an event the bot cannot decrypt (a command in it is not seen)");
            return Ok(false);
        }
        let Some((sender, event_id, text)) = command_text(ev, room_id) else {
            return Ok(false);
        };
        if Some(sender.as_ref()) == self.client.user_id() {
            return Ok(false);
        }
        let Some(parsed) = command::parse(&text) else {
            return Ok(false);
        };
        // Tests: a command synced, nothing of it handled yet.
        crate::fault::abort_at("matrix-command");
        let done = {
            let id = event_id.to_string();
            self.store.call(move |s| s.matrix_handled(&id)).await?
        };
        if done {
            return Ok(true);
        }
        let verdict = trust::judge(
            &self.client,
            &self.store,
            m,
            in_room,
            &sender,
            ev.encryption_info().map(|i| &**i),
        )
        .await?;
        tracing::info!(event = %event_id, %sender, accepted = matches!(verdict, Verdict::Accept { .. }),
            command = parsed.as_ref().map(Command::name).unwrap_or("?"), "Matrix command");
        let h = Handled {
            event_id: event_id.to_string(),
            sender: sender.to_string(),
            room: (!in_room).then(|| room_id.to_string()),
            line: super::render::one_line(text.lines().next().unwrap_or("")),
            verdict,
            parsed,
        };
        let p = p.clone();
        let mail = self.store.call(move |s| s.atomic(|s| h.record(s, &p))).await?;
        if mail {
            self.outbox_wake.notify_one();
        }
        Ok(true)
    }
}

/// An event that cannot be decrypted yet, sent in the last 10 minutes:
/// its room key may still be on its way.
fn waiting_for_key(ev: &TimelineEvent) -> bool {
    if !matches!(
        ev.kind,
        matrix_sdk::deserialized_responses::TimelineEventKind::UnableToDecrypt { .. }
    ) {
        return false;
    }
    let sent = ev
        .raw()
        .get_field::<u64>("origin_server_ts")
        .ok()
        .flatten()
        .unwrap_or(0);
    let now = jiff::Timestamp::now().as_millisecond().max(0) as u64;
    now.saturating_sub(sent) < 10 * 60 * 1000
}

/// A command judged, to be carried out (or refused), answered and marked
/// handled in one transaction.
struct Handled {
    event_id: String,
    sender: String,
    /// Another room than the configured one: answered there.
    room: Option<String>,
    /// The command's first line, for the timeline.
    line: String,
    verdict: Verdict,
    parsed: Result<Command, String>,
}

impl Handled {
    /// Whether mail was queued.
    fn record(&self, s: &mut Store, p: &Pipeline) -> anyhow::Result<bool> {
        let (answer, outcome, mail) = self.carry_out(s, p);
        if !s.matrix_mark_handled(&self.event_id, &self.sender, outcome)? {
            anyhow::bail!("the event was handled meanwhile");
        }
        // On the report's timeline, counted or not.
        if let Ok(cmd) = &self.parsed
            && let Some(id) = cmd.report()
        {
            let line = &self.line;
            let detail = match (&self.verdict, outcome) {
                (Verdict::Refuse(why), _) => format!("{line} (refused: {why})"),
                (_, "failed") => format!("{line} (failed: {answer})"),
                _ => line.clone(),
            };
            s.matrix_command_event(id, &format!("matrix:{}", self.sender), &detail)?;
        }
        let key = format!("answer:{}", self.event_id);
        s.post(&NewPost {
            channel: super::CHANNEL,
            report_id: None,
            kind: PostKind::Answer,
            key: &key,
            body: &answer,
            thread_root: Some(&self.event_id),
            room: self.room.as_deref(),
        })?;
        Ok(mail)
    }

    /// The answer, the outcome recorded, whether mail was queued. A
    /// failing command's writes roll back (a savepoint).
    fn carry_out(&self, s: &mut Store, p: &Pipeline) -> (String, &'static str, bool) {
        match (&self.verdict, &self.parsed) {
            (Verdict::Refuse(why), _) => (format!("Refused: {why}. Nothing was changed."), "refused", false),
            (Verdict::Accept { .. }, Err(why)) => (why.clone(), "unparsed", false),
            (Verdict::Accept { actor, note }, Ok(cmd)) => match s.atomic(|s| command::execute(s, p, cmd, actor)) {
                Ok(o) => {
                    let answer = match note {
                        Some(n) => format!("{}\n({n})", o.answer),
                        None => o.answer,
                    };
                    (answer, cmd.name(), o.mail)
                }
                Err(e) => (format!("{e:#}. Nothing was changed."), "failed", false),
            },
        }
    }
}

/// A text message's sender, id and body (commands are text; notices,
/// edits' fallbacks and other events are not).
fn command_text(
    ev: &TimelineEvent,
    room_id: &RoomId,
) -> Option<(matrix_sdk::ruma::OwnedUserId, matrix_sdk::ruma::OwnedEventId, String)> {
    // An encrypted payload names its room: a command encrypted for another
    // room and replayed here does not count here.
    if let Ok(Some(named)) = ev.raw().get_field::<String>("room_id")
        && named != room_id.as_str()
    {
        return None;
    }
    let AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(m))) =
        ev.raw().deserialize().ok()?
    else {
        return None;
    };
    if matches!(
        m.content.relates_to,
        Some(matrix_sdk::ruma::events::room::message::Relation::Replacement(_))
    ) {
        return None;
    }
    let MessageType::Text(t) = m.content.msgtype else {
        return None;
    };
    Some((m.sender, m.event_id, t.body))
}
