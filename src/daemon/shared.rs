//! What the daemon's tasks share: the configuration, the two store
//! connections, the current pipeline, the outbox's wake-up, systemd's
//! notifier, the heartbeat and the OAuth tokens.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::oauth::TokenSource;
use crate::pipeline::Pipeline;
use crate::store::{Store, StoreHandle};
use crate::systemd::Notifier;

/// Shared by the tasks.
#[derive(Clone)]
pub(super) struct Shared {
    /// The configuration the daemon started with: what takes a restart to
    /// change (IMAP and SMTP endpoints, the database, the metrics listener).
    /// Everything else reads [`Shared::config`].
    pub(super) cfg: Arc<Config>,
    /// The intake's connection (held for a whole fetched batch; its writes
    /// commit in groups of messages, `sync::GROUP_TIME`).
    pub(super) store: StoreHandle,
    /// The outbox's own connection (a sibling of `store`), so marking a mail
    /// sent never waits for an intake batch: that wait would widen the
    /// window in which a crash after the server's `250` leads to a second
    /// copy. Its marks are urgent: an open intake transaction ends after
    /// the message it is on and lets them commit first.
    pub(super) outbox_store: StoreHandle,
    /// The pipeline and, in it, the one current `Arc<Config>`: replaced as
    /// a whole on SIGHUP; tasks that schedule by it wait on its changes.
    pub(super) pipeline: Arc<watch::Sender<Arc<Pipeline>>>,
    pub(super) outbox_wake: Arc<Notify>,
    pub(super) notifier: Notifier,
    pub(super) health: Arc<Heartbeat>,
    /// Access tokens for IMAP and SMTP, when either logs in with OAuth.
    pub(super) tokens: Option<Arc<TokenSource>>,
}

impl Shared {
    pub(super) fn new(cfg: Config) -> anyhow::Result<Shared> {
        let store = StoreHandle::new(Store::open(&cfg.store.path)?);
        let outbox_store = Store::open(&cfg.store.path)?;
        let pipeline = Pipeline::from_config(&cfg)?;
        // Read at start (and on SIGHUP), not by the first report's intake.
        pipeline.known.get(&cfg);
        Ok(Shared {
            tokens: TokenSource::for_config(&cfg)?,
            cfg: Arc::new(cfg),
            outbox_store: store.sibling(outbox_store),
            store,
            pipeline: Arc::new(watch::channel(Arc::new(pipeline)).0),
            outbox_wake: Arc::new(Notify::new()),
            notifier: Notifier::from_env(),
            health: Arc::new(Heartbeat::default()),
        })
    }

    pub(super) fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline.borrow().clone()
    }

    /// The current configuration (the last one SIGHUP loaded).
    pub(super) fn config(&self) -> Arc<Config> {
        self.pipeline().config.clone()
    }

    /// Records the IMAP state for `embargo status` and systemd.
    pub(super) async fn imap_state(&self, state: &str, error: Option<&str>) {
        self.notifier.status(&match error {
            Some(e) => format!("{state}: {e}"),
            None => state.to_owned(),
        });
        let (state, error) = (state.to_owned(), error.map(str::to_owned));
        let recorded = self.store.call(move |s| s.status_imap(&state, error.as_deref())).await;
        if let Err(e) = recorded {
            tracing::warn!(error = %format!("{e:#}"), "cannot record the daemon status");
        }
    }

    /// After a burst (`crate::memory`): both connections drop their page
    /// caches, then freed memory goes back to the system (on a blocking
    /// thread: trimming a large heap takes milliseconds).
    pub(super) async fn release_memory(&self) {
        let _ = self
            .store
            .call(|s| -> crate::store::Result<()> {
                s.release_memory();
                Ok(())
            })
            .await;
        let _ = self
            .outbox_store
            .call(|s| -> crate::store::Result<()> {
                s.release_memory();
                crate::memory::trim();
                Ok(())
            })
            .await;
    }
}
