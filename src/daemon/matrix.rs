//! The Matrix room's tasks (`[matrix]`): the console's sync loop, the
//! sender of queued posts, and the watch that queues reminders, the
//! digest's summary and operational alerts. Without a device (`embargo
//! matrix login` not run) the daemon runs without them, says so, and posts
//! wait in the database.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use matrix_sdk::Client;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::matrix::console::Console;

/// The bot's device, when `[matrix]` is configured and logged in; `say`:
/// whether to log why not.
async fn client(shared: &Shared, say: bool) -> Option<Client> {
    let m = shared.cfg.matrix.as_ref()?;
    match crate::matrix::restore(m).await {
        Ok(c) => Some(c),
        Err(e) if say => {
            tracing::error!(error = %format!("{e:#}"), "Matrix: the room gets no posts until this is fixed; they wait in the database (looked at again every minute)");
            None
        }
        Err(_) => None,
    }
}

fn console(shared: &Shared, client: Client) -> Console {
    let s = shared.clone();
    Console {
        client,
        store: shared.store.clone(),
        pipeline: Arc::new(move || s.pipeline()),
        outbox_wake: shared.outbox_wake.clone(),
    }
}

/// The room's tasks, once the device is there (`embargo matrix login` may
/// come after the daemon's start: it is looked for every minute).
pub(super) fn start(shared: &Shared, shutdown: &CancellationToken) -> Option<(&'static str, JoinHandle<()>)> {
    shared.cfg.matrix.as_ref()?;
    let (shared, shutdown) = (shared.clone(), shutdown.clone());
    let task = tokio::spawn(async move {
        let mut say = true;
        let client = loop {
            if let Some(c) = client(&shared, say).await {
                break c;
            }
            say = false;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
        };
        tracing::info!(device = %client.device_id().map(|d| d.to_string()).unwrap_or_default(), "Matrix: device restored; posting and listening");
        let sender = {
            let s = shared.clone();
            tokio::spawn(crate::matrix::send::run(
                client.clone(),
                shared.outbox_store.clone(),
                move || s.config(),
                shutdown.clone(),
            ))
        };
        let synced = tokio::spawn(console(&shared, client).run(shutdown.clone()));
        let watcher = tokio::spawn(watch(shared.clone(), shutdown.clone()));
        let _ = tokio::join!(sender, synced, watcher);
    });
    Some(("Matrix room", task))
}

/// Reminders, the digest's summary and alerts due now, queued.
async fn queue_due(shared: &Shared) {
    let cfg = shared.config();
    let result = shared
        .store
        .call(move |s| crate::matrix::watch::tick(s, &cfg, Timestamp::now()))
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %format!("{e:#}"), "Matrix reminders");
    }
}

/// Reminders, the digest's summary and alerts: every 30 seconds.
async fn watch(shared: Shared, shutdown: CancellationToken) {
    loop {
        queue_due(&shared).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// `run --once`: the room's commands since the last run (before the
/// outbox sends, so a `reply` goes out in the same run).
pub(super) async fn once_commands(shared: &Shared) -> Option<Client> {
    let client = client(shared, true).await?;
    if let Err(e) = console(shared, client.clone()).once(Duration::ZERO).await {
        tracing::warn!(error = %format!("{e:#}"), "Matrix sync");
    }
    Some(client)
}

/// `run --once`: reminders and alerts queued, every post due sent.
pub(super) async fn once_posts(shared: &Shared, client: &Client) {
    queue_due(shared).await;
    if let Err(e) = crate::matrix::send::send_due(client, &shared.outbox_store, &shared.config()).await {
        tracing::warn!(error = %format!("{e:#}"), "Matrix posts");
    }
}
