//! Sends the queued posts to the room, oldest first, each with
//! `embargo-post-<row id>` as its Matrix transaction id: the homeserver
//! answers a repeated transaction with the event it already made, so a
//! retry after a crash between its answer and our mark never posts twice.
//! A homeserver that is down or rate-limits delays posts and loses none
//! (matrix-sdk waits as a `429`'s `retry_after_ms` asks; other failures
//! retry here after 2, 4, 8 ... up to 30 seconds).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use matrix_sdk::Client;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{Relation, RoomMessageEventContent};
use matrix_sdk::ruma::{OwnedEventId, OwnedTransactionId};
use tokio_util::sync::CancellationToken;

use super::CHANNEL;
use super::render::{self, Room};
use crate::config::Config;
use crate::store::{Post, PostKind, Store, StoreHandle};

/// The longest wait between two attempts at a post.
const MAX_BACKOFF_SECS: i64 = 30;

/// Why a post waits, as the queue records it.
pub const NOT_ENCRYPTED: &str = "the room is not end-to-end encrypted and matrix.require_encryption = true: \
     posts wait until encryption is turned on in the room";

/// Sends posts until `shutdown`; `config` gives the current configuration.
pub async fn run(
    client: Client,
    store: StoreHandle,
    config: impl Fn() -> Arc<Config> + Send + 'static,
    shutdown: CancellationToken,
) {
    loop {
        let cfg = config();
        let wait = match send_due(&client, &store, &cfg).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "Matrix posts");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sends what is due; returns how long to wait before looking again.
pub async fn send_due(client: &Client, store: &StoreHandle, cfg: &Arc<Config>) -> anyhow::Result<Duration> {
    let Some(m) = cfg.matrix.clone() else {
        return Ok(Duration::from_secs(60));
    };
    let due = store.call(|s| s.posts_due(CHANNEL, Timestamp::now(), 20)).await?;
    if !due.is_empty() {
        let room = super::client::joined_room(client, &m);
        let encrypted = match &room {
            Some(r) => r.latest_encryption_state().await?.is_encrypted(),
            None => false,
        };
        for post in due {
            // A refusal goes where the command was sent; it carries no
            // report text.
            let elsewhere = post
                .room
                .as_deref()
                .and_then(|r| matrix_sdk::ruma::OwnedRoomId::try_from(r).ok())
                .and_then(|r| client.get_room(&r));
            let target = match (&elsewhere, &room) {
                (Some(r), _) => r,
                (None, Some(r)) => r,
                (None, None) => {
                    let why = format!("the bot is not in {}: invite {} to it", m.room, m.user_id);
                    retry(store, &post, why).await?;
                    continue;
                }
            };
            let view = match (elsewhere.is_some() || encrypted, m.require_encryption) {
                (true, _) => Room::Encrypted,
                (false, false) => Room::Plain,
                (false, true) => {
                    retry(store, &post, NOT_ENCRYPTED.to_owned()).await?;
                    continue;
                }
            };
            let (c, p) = (cfg.clone(), post.clone());
            let body = store.call(move |s| render_post(s, &c, &p, view)).await?;
            match send(target, &post, body).await {
                Ok(event) => {
                    tracing::info!(
                        post = post.id,
                        kind = post.kind.as_str(),
                        report = post.report.as_deref().unwrap_or(""),
                        "posted to the Matrix room"
                    );
                    let id = post.id;
                    store.call(move |s| s.post_sent(id, event.as_str())).await?;
                }
                Err(e) => {
                    let why = format!("{e}");
                    tracing::warn!(post = post.id, error = %why, "Matrix post failed; retrying");
                    retry(store, &post, why).await?;
                }
            }
        }
    }
    let next = store.call(|s| s.posts_next_due(CHANNEL)).await?;
    Ok(match next {
        None => Duration::from_secs(1),
        Some(t) => Duration::try_from(t.duration_since(Timestamp::now()))
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(200), Duration::from_secs(1)),
    })
}

async fn send(room: &matrix_sdk::Room, post: &Post, body: String) -> Result<OwnedEventId, matrix_sdk::Error> {
    let mut content = RoomMessageEventContent::notice_plain(body);
    if let Some(root) = post.thread_root.as_deref().and_then(|r| OwnedEventId::try_from(r).ok()) {
        content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
    }
    let txn = OwnedTransactionId::from(format!("embargo-post-{}", post.id));
    Ok(room.send(content).with_transaction_id(txn).await?.response.event_id)
}

async fn retry(store: &StoreHandle, post: &Post, why: String) -> crate::store::Result<()> {
    let id = post.id;
    let secs = 2i64.saturating_pow(post.attempts.min(8) + 1).min(MAX_BACKOFF_SECS);
    let next = Timestamp::now() + SignedDuration::from_secs(secs);
    store.call(move |s| s.post_retry(id, next, &why)).await
}

/// The text of a post, rendered now (a report's post shows the report as
/// it is when the post goes out).
pub fn render_post(s: &mut Store, cfg: &Config, post: &Post, room: Room) -> anyhow::Result<String> {
    let Some(id) = &post.report else {
        return Ok(post.body.clone());
    };
    let Some(mut d) = s.show_report(id)? else {
        return Ok(post.body.clone());
    };
    let (cal, now) = (&cfg.policy.calendar, Timestamp::now());
    crate::policy::annotate(&mut d.summary, cal, &cfg.policy.promises, now);
    Ok(match post.kind {
        PostKind::NewReport => {
            let similar = if room == Room::Encrypted {
                let known =
                    crate::similar::known::Known::load(&cfg.triage.known_advisories, &cfg.triage.products).known;
                s.suggest_for(id, cfg.triage.similar_threshold, &known, 3)?
            } else {
                Vec::new()
            };
            render::new_report(cal, &d.summary, &similar, room, now)
        }
        PostKind::Reminder => render::reminder(cal, &d.summary, room, now),
        PostKind::Overdue => render::overdue(cal, &d.summary, &post.body, room),
        _ => post.body.clone(),
    })
}
