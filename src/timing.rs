//! Time spent in each pipeline stage since the process started: reported by
//! `run --once` when it is done (and read by the pipeline benchmark). A few
//! relaxed atomic adds per message; nothing else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// IMAP `UID FETCH` round trips.
    Fetch,
    /// mail-parser: headers, body text.
    Parse,
    /// Decryption, signature checks, key discovery.
    OpenPgp,
    /// Automatic mail, threading, excluded topics, rate limits.
    Triage,
    /// Composing (and encrypting) replies and alerts, and the SQLite
    /// transaction that records it all.
    Record,
    /// Handing outgoing mail to the SMTP server.
    Send,
}

const NAMES: [&str; 6] = ["fetch", "parse", "openpgp", "triage", "record", "send"];
static NANOS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Adds the time since `start` to `stage`.
pub fn add(stage: Stage, start: Instant) {
    NANOS[stage as usize].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// `fetch 0.412 s, parse 0.101 s, ...`
pub fn summary() -> String {
    NAMES
        .iter()
        .zip(NANOS.iter())
        .map(|(n, v)| format!("{n} {:.3} s", v.load(Ordering::Relaxed) as f64 / 1e9))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up() {
        let start = Instant::now() - std::time::Duration::from_millis(5);
        add(Stage::Triage, start);
        let s = summary();
        let triage: f64 = s
            .split(", ")
            .find_map(|p| p.strip_prefix("triage "))
            .and_then(|v| v.trim_end_matches(" s").parse().ok())
            .unwrap();
        assert!(s.starts_with("fetch ") && triage >= 0.005, "{s}");
    }
}
