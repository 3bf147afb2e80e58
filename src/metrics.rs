//! The Prometheus text endpoint: `[metrics] listen = "127.0.0.1:9466"`, off
//! by default. `GET /metrics` answers with the figures of `embargo status`
//! ([`crate::status`]) plus message counts, in the text exposition format
//! (version 0.0.4). Loopback only (the config refuses anything else): there
//! is no authentication, and nothing confidential is in it, only counts.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::status::{Status, age_secs};
use crate::store::Store;

/// At most this many scrapes are answered at once; more wait.
const CONCURRENT: usize = 4;
/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;
/// A client gets this long to send its request and read the answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Everything one scrape reports.
pub struct Snapshot {
    pub status: Status,
    /// Inbound messages recorded, per kind (report, follow-up, automatic, ...).
    pub received: Vec<(String, u64)>,
}

pub fn snapshot(cfg: &Config, store: &Store, now: Timestamp) -> anyhow::Result<Snapshot> {
    Ok(Snapshot {
        status: crate::status::gather(cfg, store, now)?,
        received: store.inbound_by_kind()?,
    })
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.0, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The text exposition format.
pub fn render(snap: &Snapshot, now: Timestamp) -> String {
    let mut o = Out(String::with_capacity(4096));
    daemon_metrics(&mut o, &snap.status, now);
    outbox_metrics(&mut o, &snap.status, now);
    report_metrics(&mut o, snap);
    o.0
}

/// The daemon itself: version, status level, heartbeat, the mailbox.
fn daemon_metrics(o: &mut Out, s: &crate::status::Status, now: Timestamp) {
    o.family(
        "embargo_build_info",
        "gauge",
        "The version of the daemon that last started.",
    );
    o.sample(
        "embargo_build_info",
        &[("version", s.version.as_deref().unwrap_or(env!("CARGO_PKG_VERSION")))],
        1,
    );
    o.one(
        "embargo_status_level",
        "gauge",
        "0 OK, 1 warning, 2 critical: the exit code of `embargo status`.",
        s.level,
    );
    o.one(
        "embargo_daemon_running",
        "gauge",
        "1 if the daemon runs and its heartbeat is fresh.",
        u8::from(s.daemon_running),
    );
    if let Some(age) = s.heartbeat_at.as_deref().and_then(|t| age_secs(t, now)) {
        o.one(
            "embargo_heartbeat_age_seconds",
            "gauge",
            "Seconds since the daemon last wrote its heartbeat.",
            age,
        );
    }
    o.one(
        "embargo_imap_connected",
        "gauge",
        "1 if the daemon is connected to the mailbox.",
        u8::from(s.imap_state == "connected"),
    );
    // The mailbox's last connection failure, in the plain words `status`
    // and the log use (the label carries it; 1 while it stands).
    o.family(
        "embargo_imap_error_info",
        "gauge",
        "1 with the explanation of the daemon's last failure to reach the mailbox; absent when none stands.",
    );
    if !s.last_error.is_empty() {
        let problem = crate::text::bounded(&s.last_error);
        o.sample("embargo_imap_error_info", &[("problem", problem.as_str())], 1);
    }
    if let Some(t) = s.last_fetch_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok()) {
        o.one(
            "embargo_last_fetch_timestamp_seconds",
            "gauge",
            "When the daemon last completed a round with the mailbox (Unix time).",
            t.as_second(),
        );
    }
}

/// What waits to be sent, what was, what failed or is held.
fn outbox_metrics(o: &mut Out, s: &crate::status::Status, now: Timestamp) {
    o.one(
        "embargo_outbox_pending",
        "gauge",
        "Outgoing mail waiting to be sent (or retried).",
        s.outbox_pending,
    );
    o.one(
        "embargo_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest outgoing mail still waiting; 0 when none waits.",
        s.outbox_oldest_pending
            .as_deref()
            .and_then(|t| age_secs(t, now))
            .unwrap_or(0)
            .max(0),
    );
    o.one(
        "embargo_outbox_failed",
        "gauge",
        "Outgoing mail that failed permanently (5xx); see `embargo status`.",
        s.outbox_failed,
    );
    o.one(
        "embargo_outbox_held",
        "gauge",
        "Automatic mail due but held back by reply.max_automatic_per_hour (a flood of forged mail?).",
        s.outbox_held,
    );
    o.one(
        "embargo_acks_held",
        "gauge",
        "Acknowledgements held by the per-sender limit until their combined acknowledgement.",
        s.acks_held,
    );
    o.one(
        "embargo_outbox_sent_total",
        "counter",
        "Outgoing mail accepted by the SMTP server.",
        s.outbox_sent,
    );
}

/// Reports by clock and state, and inbound mail by kind.
fn report_metrics(o: &mut Out, snap: &Snapshot) {
    let s = &snap.status;
    o.one(
        "embargo_reports_awaiting_response",
        "gauge",
        "Reports still waiting for the team's first response.",
        s.reports_awaiting_response,
    );
    o.family(
        "embargo_reports_overdue",
        "gauge",
        "Open reports past a promised deadline, by clock.",
    );
    o.sample("embargo_reports_overdue", &[("clock", "response")], s.overdue_response);
    o.sample("embargo_reports_overdue", &[("clock", "fix")], s.overdue_fix);
    o.family("embargo_reports", "gauge", "Reports by state.");
    for (state, n) in &s.reports_by_state {
        o.sample("embargo_reports", &[("state", state)], n);
    }
    o.family(
        "embargo_messages_received_total",
        "counter",
        "Inbound messages recorded, by kind.",
    );
    for (kind, n) in &snap.received {
        o.sample("embargo_messages_received_total", &[("kind", kind)], n);
    }
}

/// Serves `/metrics` until `shutdown`. The listener is bound by the caller,
/// so a port in use stops the start with the config key named. `store` is a
/// read connection of the endpoint's own, so a scrape never waits for
/// intake; `config` gives the current configuration (the daemon's, as the
/// last SIGHUP loaded it) per scrape.
pub async fn serve(
    listener: TcpListener,
    config: crate::config::ConfigSource,
    store: crate::store::StoreHandle,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    loop {
        let sock = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (cfg, store) = (config(), store.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if tokio::time::timeout(TIMEOUT, answer(sock, cfg, store)).await.is_err() {
                tracing::debug!("metrics: a client took too long");
            }
        });
    }
}

async fn answer(mut sock: TcpStream, cfg: Arc<Config>, store: crate::store::StoreHandle) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            let _ = respond(&mut sock, "431 Request Header Fields Too Large", "text/plain", "", true).await;
            return;
        }
    }
    let line = String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default()).into_owned();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let with_body = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        let _ = respond(&mut sock, "405 Method Not Allowed", "text/plain", "use GET\n", true).await;
        return;
    }
    if path != "/metrics" {
        let _ = respond(
            &mut sock,
            "404 Not Found",
            "text/plain",
            "not found; the metrics are at /metrics\n",
            with_body,
        )
        .await;
        return;
    }
    let body = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let store = store.blocking()?;
        let now = Timestamp::now();
        Ok(render(&snapshot(&cfg, &store, now)?, now))
    })
    .await;
    let _ = match body {
        Ok(Ok(text)) => {
            respond(
                &mut sock,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &text,
                with_body,
            )
            .await
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "metrics: cannot read the database");
            respond(
                &mut sock,
                "500 Internal Server Error",
                "text/plain",
                "cannot read the database; see the daemon's log\n",
                with_body,
            )
            .await
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the scrape failed");
            respond(
                &mut sock,
                "500 Internal Server Error",
                "text/plain",
                "the scrape failed\n",
                with_body,
            )
            .await
        }
    };
}

async fn respond(
    sock: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        }
    );
    sock.write_all(head.as_bytes()).await?;
    if with_body {
        sock.write_all(body.as_bytes()).await?;
    }
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let status = Status {
            daemon_running: true,
            pid: Some(42),
            version: Some("0.1.0".into()),
            started_at: Some("2026-11-27T11:00:00Z".into()),
            heartbeat_at: Some("2026-11-27T11:59:50Z".into()),
            imap_state: "connected".into(),
            last_fetch_at: Some("2026-11-27T11:59:00Z".into()),
            last_error: "the server's certificate has an issuer we do not trust: set imap.ca_file".into(),
            outbox_pending: 2,
            outbox_oldest_pending: Some("2026-11-27T11:58:00Z".into()),
            outbox_failed: 1,
            outbox_held: 0,
            acks_held: 0,
            outbox_sent: 7,
            reports_awaiting_response: 3,
            overdue_response: 1,
            overdue_fix: 0,
            overdue: 1,
            reports_by_state: [("new".to_owned(), 3), ("we\"ird".to_owned(), 1)].into(),
            problems: vec!["1 report(s) overdue".into()],
            level: 1,
        };
        let text = render(
            &Snapshot {
                status,
                received: vec![("report".into(), 4), ("automatic".into(), 2)],
            },
            now,
        );
        for line in [
            "# TYPE embargo_build_info gauge",
            "embargo_build_info{version=\"0.1.0\"} 1",
            "embargo_status_level 1",
            "embargo_daemon_running 1",
            "embargo_heartbeat_age_seconds 10",
            "embargo_imap_connected 1",
            "embargo_imap_error_info{problem=\"the server's certificate has an issuer we do not trust: set imap.ca_file\"} 1",
            "embargo_last_fetch_timestamp_seconds 1795780740",
            "embargo_outbox_pending 2",
            "embargo_outbox_oldest_pending_age_seconds 120",
            "embargo_outbox_failed 1",
            "# TYPE embargo_outbox_sent_total counter",
            "embargo_outbox_sent_total 7",
            "embargo_reports_awaiting_response 3",
            "embargo_reports_overdue{clock=\"response\"} 1",
            "embargo_reports_overdue{clock=\"fix\"} 0",
            "embargo_reports{state=\"new\"} 3",
            "embargo_reports{state=\"we\\\"ird\"} 1",
            "embargo_messages_received_total{kind=\"report\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every family is announced once, before its samples.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
    }
}
