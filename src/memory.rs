//! Giving memory back once a burst is over. A backlog parses, decrypts and
//! sends thousands of mails on several threads; glibc keeps what they freed
//! in per-thread arenas and SQLite keeps its page caches, so a daemon that
//! answered 2,000 reports sat at 27 MB while it waited in IDLE
//! (bench/README.md). Once nothing has worked for a while, the caches are
//! dropped and the freed memory returned; a quiet daemon is not trimmed
//! again, and a busy one is not trimmed between batches.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set by work that allocated (a batch taken in, a drain that sent).
static BUSY: AtomicBool = AtomicBool::new(false);
/// When that work last happened, in milliseconds since `start()`.
static LAST: AtomicU64 = AtomicU64::new(0);

/// How long nothing must have worked before memory is given back.
pub const QUIET: Duration = Duration::from_secs(2);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    start().elapsed().as_millis() as u64
}

/// Something worth trimming after happened.
pub fn worked() {
    LAST.store(now_ms(), Ordering::Relaxed);
    BUSY.store(true, Ordering::Relaxed);
}

/// Something worked and then nothing for [`QUIET`]: time to drop caches
/// (SQLite's page cache) and then [`trim`]. True once per burst.
pub fn due() -> bool {
    let quiet = now_ms().saturating_sub(LAST.load(Ordering::Relaxed)) >= QUIET.as_millis() as u64;
    quiet && BUSY.swap(false, Ordering::Relaxed)
}

/// Returns freed memory to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

/// At most two malloc arenas (glibc's default is eight per core): the
/// runtime's two workers and its short-lived blocking threads otherwise
/// each leave a partly used arena behind, which [`trim`] cannot shrink
/// below its live blocks. Called once, before the runtime starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    // SAFETY: mallopt only sets a glibc tunable (under glibc's own lock).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
