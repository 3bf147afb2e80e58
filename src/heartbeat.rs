//! Heartbeats of the daemon's two loops (IMAP intake and the outbox), for
//! the systemd watchdog: each loop beats when it makes progress or waits
//! on purpose; the keeper pings the watchdog only while both are fresh.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;

/// Unix seconds of each loop's last beat.
#[derive(Debug, Default)]
pub struct Heartbeat {
    imap: AtomicI64,
    outbox: AtomicI64,
}

impl Heartbeat {
    pub fn beat_imap(&self) {
        self.imap.store(Timestamp::now().as_second(), Ordering::Relaxed);
    }
    pub fn beat_outbox(&self) {
        self.outbox.store(Timestamp::now().as_second(), Ordering::Relaxed);
    }
    /// Both loops beat within `within`.
    pub fn fresh(&self, within: Duration) -> bool {
        let now = Timestamp::now().as_second();
        let limit = within.as_secs() as i64 + 1;
        now - self.imap.load(Ordering::Relaxed) <= limit && now - self.outbox.load(Ordering::Relaxed) <= limit
    }
}
