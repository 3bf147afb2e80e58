//! The daemon: owns the tasks (IMAP watcher, outbox sender, watchdog and
//! status), the shutdown token, reloads on SIGHUP, and the reconnect policy.

mod sync;

use sync::Folder;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::mailbox::{self, Connection, IdleEnd};
use crate::oauth::TokenSource;
use crate::outbox;
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::store::lock;
use crate::systemd::Notifier;

/// Shared by the tasks.
#[derive(Clone)]
struct Shared {
    /// The configuration the daemon started with: what takes a restart to
    /// change (IMAP and SMTP endpoints, the database, the metrics listener).
    /// Everything else reads [`Shared::config`].
    cfg: Arc<Config>,
    /// The intake's connection (held for a whole fetched batch).
    store: Arc<Mutex<Store>>,
    /// The outbox's own connection, so marking a mail sent never waits for
    /// an intake batch: that wait would widen the window in which a crash
    /// after the server's `250` leads to a second copy.
    outbox_store: Arc<Mutex<Store>>,
    /// The pipeline and, in it, the one current `Arc<Config>`: replaced as
    /// a whole on SIGHUP; tasks that schedule by it wait on its changes.
    pipeline: Arc<watch::Sender<Arc<Pipeline>>>,
    outbox_wake: Arc<Notify>,
    notifier: Notifier,
    health: Arc<Heartbeat>,
    /// Access tokens for IMAP and SMTP, when either logs in with OAuth.
    tokens: Option<Arc<TokenSource>>,
}

impl Shared {
    fn new(cfg: Config) -> anyhow::Result<Shared> {
        let store = Store::open(&cfg.store.path)?;
        let outbox_store = Store::open(&cfg.store.path)?;
        let pipeline = Pipeline::from_config(&cfg)?;
        // Read at start (and on SIGHUP), not by the first report's intake.
        pipeline.known.get(&cfg);
        Ok(Shared {
            tokens: TokenSource::for_config(&cfg)?,
            cfg: Arc::new(cfg),
            store: Arc::new(Mutex::new(store)),
            outbox_store: Arc::new(Mutex::new(outbox_store)),
            pipeline: Arc::new(watch::channel(Arc::new(pipeline)).0),
            outbox_wake: Arc::new(Notify::new()),
            notifier: Notifier::from_env(),
            health: Arc::new(Heartbeat::default()),
        })
    }

    fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline.borrow().clone()
    }

    /// The current configuration (the last one SIGHUP loaded).
    fn config(&self) -> Arc<Config> {
        self.pipeline().config.clone()
    }

    /// Records the IMAP state for `embargo status` and systemd.
    fn imap_state(&self, state: &str, error: Option<&str>) {
        self.notifier.status(&match error {
            Some(e) => format!("{state}: {e}"),
            None => state.to_owned(),
        });
        if let Ok(mut s) = lock(&self.store)
            && let Err(e) = s.status_imap(state, error)
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot record the daemon status");
        }
    }
}

/// Why an IMAP session (or one sync of it) ended early.
#[derive(Debug)]
pub(crate) enum Interrupted {
    /// The database cannot be written (or read) now: intake pauses and the
    /// mail stays on the server. With what that means for the mail.
    Database(crate::store::Error, String),
    /// The OAuth provider refused the refresh token: a person must run
    /// `embargo oauth login`; intake pauses, the mail stays on the server.
    LoginNeeded(crate::oauth::OAuthError),
    /// IMAP, TLS, anything else: reconnect with backoff.
    Other(anyhow::Error),
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interrupted::Database(e, what) if what.is_empty() => write!(f, "{e}"),
            Interrupted::Database(e, what) => write!(f, "{what}: {e}"),
            Interrupted::Other(e) => write!(f, "{e:#}"),
            Interrupted::LoginNeeded(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Interrupted {}

impl From<anyhow::Error> for Interrupted {
    fn from(e: anyhow::Error) -> Interrupted {
        Interrupted::Other(e)
    }
}

impl From<mailbox::ConnectError> for Interrupted {
    fn from(e: mailbox::ConnectError) -> Interrupted {
        match e {
            mailbox::ConnectError::OAuth(e) if e.needs_login() => Interrupted::LoginNeeded(e),
            other => Interrupted::Other(other.into()),
        }
    }
}

impl From<crate::store::Error> for Interrupted {
    fn from(e: crate::store::Error) -> Interrupted {
        crate::fault::Fault::from(e).into()
    }
}

impl From<crate::fault::Fault> for Interrupted {
    fn from(f: crate::fault::Fault) -> Interrupted {
        match f {
            crate::fault::Fault::Database(e) => Interrupted::Database(e, String::new()),
            crate::fault::Fault::Message(e) => Interrupted::Other(e),
        }
    }
}

/// Summary of `run --once`.
#[derive(Debug, Default)]
pub struct OnceSummary {
    pub processed: usize,
    pub outbox_retrying: usize,
}

/// `embargo run --once`: process everything waiting, send everything due.
/// An error means the mailbox could not be reached or the store written.
pub async fn run_once(cfg: Config) -> anyhow::Result<OnceSummary> {
    let shared = Shared::new(cfg)?;
    let tls = crate::tls::client_config(shared.cfg.imap.ca_file.as_deref())?;
    let never = CancellationToken::new();
    let mut conn = mailbox::connect(&shared.cfg.imap, tls.clone(), shared.tokens.as_deref()).await?;
    let processed = sync::sync(&shared, &mut conn, &never, Folder::Inbox).await?;
    conn.logout().await;
    if let Some(cfg) = sent_config(&shared.cfg.imap) {
        let mut conn = mailbox::connect(&cfg, tls, shared.tokens.as_deref())
            .await
            .context("imap.sent_mailbox")?;
        sync::sync(&shared, &mut conn, &never, Folder::Sent).await?;
        conn.logout().await;
    }
    {
        let p = shared.pipeline();
        let mut store = lock(&shared.store)?;
        crate::held_acks::queue_due(&mut store, &p, Timestamp::now())?;
    }
    let transport = outbox::transport(&shared.cfg.smtp, shared.tokens.clone())?;
    let started = std::time::Instant::now();
    let outbox_retrying = outbox::drain(
        &shared.outbox_store,
        &transport,
        &shared.cfg.smtp,
        shared.cfg.reply.max_automatic_per_hour,
    )
    .await?;
    crate::timing::add(crate::timing::Stage::Send, started);
    outbox::warn_if_capped(&*lock(&shared.outbox_store)?, shared.cfg.reply.max_automatic_per_hour)?;
    Ok(OnceSummary {
        processed,
        outbox_retrying,
    })
}

/// `embargo run`: until `shutdown` is cancelled.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let shared = Shared::new(cfg)?;
    // Bound before anything else starts: a port in use stops the start.
    let metrics = match shared.cfg.metrics.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
            let store = Arc::new(Mutex::new(Store::open(&shared.cfg.store.path)?));
            tracing::info!(%addr, "metrics endpoint at http://{addr}/metrics");
            let current = shared.clone();
            Some(tokio::spawn(crate::metrics::serve(
                listener,
                Arc::new(move || current.config()),
                store,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    lock(&shared.store)?.status_started(std::process::id(), env!("CARGO_PKG_VERSION"))?;
    shared.health.beat_imap();
    shared.health.beat_outbox();
    let outbox_task = {
        let s = shared.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            // If the sender dies, the daemon must not run on half-alive.
            let _guard = token.clone().drop_guard();
            outbox::run(
                s.outbox_store.clone(),
                s.cfg.smtp.clone(),
                s.tokens.clone(),
                s.outbox_wake.clone(),
                token,
                s.health.clone(),
                {
                    let s = s.clone();
                    move || s.config().reply.max_automatic_per_hour
                },
            )
            .await
        })
    };
    let keeper = tokio::spawn(keep_alive(shared.clone(), shutdown.clone()));
    let reloader = tokio::spawn(reload_on_hup(shared.clone(), shutdown.clone()));
    let digester = tokio::spawn(digests(shared.clone(), shutdown.clone()));
    let combiner = tokio::spawn(combined_acks(shared.clone(), shutdown.clone()));
    let sent = tokio::spawn(watch_sent(shared.clone(), shutdown.clone()));
    let imap_result = watch(&shared, &shutdown).await;
    shutdown.cancel();
    shared.notifier.stopping();
    match tokio::time::timeout(Duration::from_secs(10), outbox_task).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %format!("{e:#}"), "outbox task failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "outbox task panicked"),
        Err(_) => tracing::warn!("outbox task did not stop within 10 s"),
        Ok(Ok(Ok(()))) => {}
    }
    keeper.abort();
    reloader.abort();
    digester.abort();
    combiner.abort();
    sent.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    shared.imap_state("stopped", None);
    imap_result
}

/// Watchdog pings while both loops beat, and the status heartbeat.
async fn keep_alive(shared: Shared, shutdown: CancellationToken) {
    let every = shared
        .notifier
        .watchdog
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let idle = idle_period(shared.notifier.watchdog, shared.cfg.imap.idle_restart_secs);
        let window = liveness_window(shared.notifier.watchdog, idle) + loop_slack(&shared);
        if shared.health.fresh(window) {
            if shared.notifier.watchdog.is_some() {
                shared.notifier.watchdog();
            }
            if let Ok(mut s) = lock(&shared.store) {
                let _ = s.status_heartbeat();
            }
        } else {
            tracing::error!("a loop stopped beating; not pinging the watchdog, so systemd restarts embargo");
        }
    }
}

/// Combined acknowledgements (`crate::held_acks`) when they are due: checked
/// every minute at most, or sooner when the next one is due.
async fn combined_acks(shared: Shared, shutdown: CancellationToken) {
    loop {
        let result = (|| -> anyhow::Result<Option<Timestamp>> {
            let p = shared.pipeline();
            let mut store = lock(&shared.store)?;
            if crate::held_acks::queue_due(&mut store, &p, Timestamp::now())? > 0 {
                shared.outbox_wake.notify_one();
            }
            Ok(store.held_next_due()?)
        })();
        let wait = match result {
            Ok(Some(next)) => Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO),
            Ok(None) => Duration::from_secs(60),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "combined acknowledgements");
                Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait.clamp(Duration::from_secs(1), Duration::from_secs(60))) => {}
        }
    }
}

/// The daily digest at `[digest] at` (policy time zone), to `[team]
/// notify`, both as the current configuration says (a reload is seen at
/// once). A digest missed while the daemon was down goes out when it is
/// back, once.
async fn digests(shared: Shared, shutdown: CancellationToken) {
    let mut changes = shared.pipeline.subscribe();
    loop {
        let p = changes.borrow_and_update().clone();
        let cfg = &p.config;
        let wait = if cfg.team.notify.is_empty() {
            None
        } else {
            let now = Timestamp::now();
            if let Err(e) = digest_if_due(&shared, &p, now) {
                tracing::error!(error = %format!("{e:#}"), "digest");
            }
            let next = crate::digest::next_slot(cfg, Timestamp::now());
            Some(Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or(Duration::from_secs(60)))
        };
        let sleep = wait.unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(sleep.clamp(Duration::from_secs(1), Duration::from_secs(3600))) => {}
        }
    }
}

/// Queues the digest when its slot has passed since the last one.
fn digest_if_due(shared: &Shared, p: &Pipeline, now: Timestamp) -> anyhow::Result<()> {
    let due = crate::digest::last_slot(&p.config, now);
    let mut store = lock(&shared.store)?;
    match store.digest_last_sent()? {
        // A fresh install starts counting from now.
        None => store.digest_sent(now)?,
        Some(last) if last < due => {
            let members = p.alerts.as_ref().map(|a| a.members.clone()).unwrap_or_default();
            if crate::digest::queue(&mut store, &p.config, &p.team, &members, now, false)? {
                shared.outbox_wake.notify_one();
            }
        }
        Some(_) => {}
    }
    Ok(())
}

/// How long one IMAP IDLE lasts before it is re-issued: often enough for
/// the watchdog to see the loop live.
fn idle_period(watchdog: Option<Duration>, idle_restart_secs: u64) -> Duration {
    let idle = Duration::from_secs(idle_restart_secs);
    watchdog.map_or(idle, |w| idle.min(w))
}

/// How long the loops may go without a beat before the daemon counts as
/// stuck: two watchdog periods, and never less than one IDLE (the IMAP loop
/// beats when an IDLE ends; without a watchdog an IDLE lasts 20 minutes).
fn liveness_window(watchdog: Option<Duration>, idle: Duration) -> Duration {
    watchdog.map(|w| w * 2).unwrap_or(Duration::from_secs(120)).max(idle)
}

/// The longest a healthy loop may legitimately go without a beat, on top.
fn loop_slack(shared: &Shared) -> Duration {
    Duration::from_secs(shared.cfg.imap.timeout_secs.max(shared.cfg.smtp.timeout_secs) * 2)
}

/// SIGHUP: reload config, templates, keys and exclusion rules. A config
/// that does not validate is refused with a log line; the old one stays.
async fn reload_on_hup(shared: Shared, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        shared.notifier.reloading();
        let path = shared.cfg.file.clone();
        let result = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let cfg = crate::config::load(&path)?;
            let p = Pipeline::from_config(&cfg)?;
            p.known.get(&cfg);
            Ok((p, cfg.metrics.listen))
        })
        .await;
        match result {
            Ok(Ok((p, metrics))) => {
                if metrics != shared.cfg.metrics.listen {
                    tracing::warn!("metrics.listen changed: that takes a restart; the endpoint stays as it was");
                }
                shared.pipeline.send_replace(Arc::new(p));
                tracing::info!(file = %shared.cfg.file.display(), "configuration reloaded (templates, keys, rules, policy; IMAP/SMTP endpoints need a restart)");
            }
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "reload refused: the new configuration is invalid; keeping the old one");
            }
            Err(e) => tracing::error!(error = %e, "reload failed"),
        }
        shared.notifier.ready("reload done");
    }
}

/// The IMAP loop: connect, catch up, IDLE (or poll), reconnect with backoff.
async fn watch(shared: &Shared, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let cfg = &shared.cfg.imap;
    let tls = crate::tls::client_config(cfg.ca_file.as_deref())?;
    let mut failures: u32 = 0;
    let mut ready = false;
    let endpoint = crate::probe::Endpoint {
        section: "imap",
        host: cfg.host.clone(),
        port: cfg.port,
        security: cfg.security,
    };
    // A failure is said at warn once; the same again only at debug.
    let mut last_said = String::new();
    while !shutdown.is_cancelled() {
        shared.health.beat_imap();
        let result: Result<Connection, Interrupted> = async {
            let conn = mailbox::connect(cfg, tls.clone(), shared.tokens.as_deref()).await?;
            tracing::info!(host = %cfg.host, mailbox = %cfg.mailbox, idle = conn.has_idle, "connected");
            failures = 0;
            shared.imap_state("connected", None);
            if !ready {
                shared
                    .notifier
                    .ready(&format!("connected to {}:{} {}", cfg.host, cfg.port, cfg.mailbox));
                ready = true;
            }
            session(shared, conn, shutdown).await
        }
        .await;
        match result {
            Ok(conn) => {
                conn.logout().await;
                tracing::info!("IMAP session closed");
                last_said.clear();
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = reconnect_delay(failures, Duration::from_secs(cfg.reconnect_max_secs));
                let error = e.to_string();
                if let Interrupted::Database(..) = e {
                    // Disk full, database locked, I/O error: nothing was
                    // half-written (one transaction per message) and the
                    // mail stays on the server until the store takes it.
                    tracing::error!(error = %error, retry_in_ms = wait.as_millis() as u64,
                        "intake paused: the database cannot be written; new mail stays on the server");
                    shared.imap_state("paused (database not writable)", Some(&error));
                } else if let Interrupted::LoginNeeded(_) = e {
                    tracing::error!(error = %error, retry_in_ms = wait.as_millis() as u64,
                        "intake paused: the OAuth login must be renewed (`embargo oauth login`); new mail stays on the server");
                    shared.imap_state(crate::status::OAUTH_PAUSED, Some(&error));
                } else {
                    let error = match &e {
                        Interrupted::Other(err) => crate::probe::explain(err, &endpoint),
                        _ => error,
                    };
                    if error != last_said {
                        tracing::warn!(retry_in_ms = wait.as_millis() as u64, "IMAP: {error}; reconnecting");
                        last_said = error.clone();
                    } else {
                        tracing::debug!(retry_in_ms = wait.as_millis() as u64, "IMAP: {error}; reconnecting");
                    }
                    shared.imap_state("reconnecting", Some(&error));
                }
                sleep_beating(shared, wait, shutdown).await;
            }
        }
    }
    Ok(())
}

/// The Sent folder (`imap.sent_mailbox`), on a connection of its own, looked
/// at every `imap.sent_poll_secs`: the team's replies sent from the shared
/// mailbox stop the response clock. A missing folder or an outage is logged
/// and retried with backoff; the inbox never waits for it.
async fn watch_sent(shared: Shared, shutdown: CancellationToken) {
    let Some(cfg) = sent_config(&shared.cfg.imap) else {
        return;
    };
    let tls = match crate::tls::client_config(cfg.ca_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "Sent folder: no TLS configuration");
            return;
        }
    };
    let poll = Duration::from_secs(cfg.sent_poll_secs);
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let result = async {
            let mut conn = mailbox::connect(&cfg, tls.clone(), shared.tokens.as_deref()).await?;
            failures = 0;
            loop {
                sync::sync(&shared, &mut conn, &shutdown, Folder::Sent).await?;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            conn.logout().await;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            failures = failures.saturating_add(1);
            let wait = reconnect_delay(failures, Duration::from_secs(cfg.reconnect_max_secs).max(poll));
            tracing::warn!(mailbox = %cfg.mailbox, error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64,
                "Sent folder: cannot read it; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The IMAP settings for the Sent folder: the same account, another mailbox.
fn sent_config(imap: &crate::config::ImapConfig) -> Option<crate::config::ImapConfig> {
    let sent = imap.sent_mailbox.clone()?;
    Some(crate::config::ImapConfig {
        mailbox: sent,
        ..imap.clone()
    })
}

/// Sleeps, beating the IMAP heartbeat, until `d` passed or shutdown.
async fn sleep_beating(shared: &Shared, d: Duration, shutdown: &CancellationToken) {
    let step = Duration::from_secs(10);
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        shared.health.beat_imap();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(end.min(tokio::time::Instant::now() + step)) => {}
        }
    }
}

/// One connected session: sync, then wait for more, until shutdown or error.
async fn session(
    shared: &Shared,
    mut conn: Connection,
    shutdown: &CancellationToken,
) -> Result<Connection, Interrupted> {
    let cfg = &shared.cfg.imap;
    // IDLE is re-issued often enough for the watchdog to see the loop live.
    let idle_for = idle_period(shared.notifier.watchdog, cfg.idle_restart_secs);
    loop {
        shared.health.beat_imap();
        sync::sync(shared, &mut conn, shutdown, Folder::Inbox).await?;
        if let Ok(mut s) = lock(&shared.store) {
            let _ = s.status_fetched();
        }
        if shutdown.is_cancelled() {
            return Ok(conn);
        }
        shared.health.beat_imap();
        if conn.has_idle {
            let (back, end) = conn.idle(idle_for, shutdown).await?;
            conn = back;
            if end == IdleEnd::Shutdown {
                return Ok(conn);
            }
        } else {
            sleep_beating(shared, Duration::from_secs(cfg.poll_interval_secs), shutdown).await;
            if shutdown.is_cancelled() {
                return Ok(conn);
            }
        }
    }
}

/// Jittered exponential backoff: 1 s, 2 s, 4 s ... capped, ±25 %.
pub fn reconnect_delay(failures: u32, cap: Duration) -> Duration {
    use rand::Rng as _;
    let base = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    base.min(cap).mul_f64(rand::rng().random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the hour-long idle benchmark: without a systemd watchdog an
    /// IDLE lasts 20 minutes, and the daemon called itself stuck (an error
    /// every 30 s) two minutes into a quiet mailbox.
    #[test]
    fn a_quiet_mailbox_is_not_a_stuck_loop() {
        let idle = idle_period(None, 20 * 60);
        assert_eq!(idle, Duration::from_secs(1200));
        assert!(liveness_window(None, idle) >= idle);
        // Under systemd the IDLE is cut to the watchdog period, and the
        // window stays two periods, as before.
        let w = Some(Duration::from_secs(30));
        let idle = idle_period(w, 20 * 60);
        assert_eq!(idle, Duration::from_secs(30));
        assert_eq!(liveness_window(w, idle), Duration::from_secs(60));
        assert_eq!(liveness_window(None, Duration::from_secs(10)), Duration::from_secs(120));
    }
}
