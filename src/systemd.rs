//! systemd's notify protocol (sd_notify(3)), spoken directly: a datagram to
//! `$NOTIFY_SOCKET` per message. READY once the database is migrated and
//! the first IMAP login worked; STATUS lines as the state changes; WATCHDOG
//! pings while the daemon's loops are alive; RELOADING and STOPPING.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<std::path::PathBuf>,
    abstract_name: Option<Vec<u8>>,
    /// Half of WatchdogSec, when the watchdog is on for this process.
    pub watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC`/`$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let mut n = Notifier::default();
        if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
            let bytes = path.as_encoded_bytes();
            if let Some(name) = bytes.strip_prefix(b"@") {
                n.abstract_name = Some(name.to_vec());
            } else if !bytes.is_empty() {
                n.socket = Some(path.into());
            }
        }
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        if for_us && let Some(usec) = std::env::var("WATCHDOG_USEC").ok().and_then(|u| u.parse::<u64>().ok()) {
            n.watchdog = Some(Duration::from_micros(usec / 2).max(Duration::from_millis(100)));
        }
        n
    }

    pub fn enabled(&self) -> bool {
        self.socket.is_some() || self.abstract_name.is_some()
    }

    /// Sends one notification; failures are logged at debug only (systemd
    /// may simply not be listening).
    pub fn send(&self, msg: &str) {
        let result = (|| -> std::io::Result<()> {
            let sock = UnixDatagram::unbound()?;
            if let Some(path) = &self.socket {
                sock.send_to(msg.as_bytes(), path)?;
            } else if let Some(name) = &self.abstract_name {
                use std::os::linux::net::SocketAddrExt as _;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(msg.as_bytes(), &addr)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!(error = %e, msg, "sd_notify failed");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the configuration");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
