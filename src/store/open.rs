//! Opening the database: WAL mode (retried while another process holds the
//! switch), the busy handler for waiting on other writers, and owner-only
//! file permissions.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::Connection;

/// How long a statement waits for another process's lock.
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the busy handler waits before its next try: every 100 us for
/// the first 20 ms, then every 5 ms; `None` once `BUSY_TIMEOUT` is used up.
///
/// SQLite's own handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ms
/// and on between tries. Intake records one message per transaction and the
/// outbox marks each mail before and after its send; each holds the write
/// lock for a fraction of a millisecond, so with SQLite's steps a waiting
/// writer mostly slept while the lock was free, and one that kept missing it
/// waited tens of milliseconds (the outbox spent 1 ms per mail in its marks
/// while intake ran, 0.15 ms after it; measured in the issue 14 benchmark).
pub(super) fn busy_wait(tries: i32) -> Option<std::time::Duration> {
    const FAST: i32 = 200;
    let slow = (BUSY_TIMEOUT.as_millis() as i32 - 20) / 5;
    match tries {
        t if t < FAST => Some(std::time::Duration::from_micros(100)),
        t if t < FAST + slow => Some(std::time::Duration::from_millis(5)),
        _ => None,
    }
}

pub(super) fn busy_handler(tries: i32) -> bool {
    match busy_wait(tries) {
        Some(d) => {
            std::thread::sleep(d);
            true
        }
        None => false,
    }
}

/// `PRAGMA journal_mode = WAL` on a database that is not WAL yet takes an
/// exclusive lock without going through the busy handler: two processes
/// opening a fresh database at once (the daemon starting and `embargo
/// status` from a monitoring check) made one of them fail with "database is
/// locked". Retry for as long as the busy timeout would have waited.
pub(super) fn enable_wal(conn: &Connection) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("cannot switch the database to WAL mode"),
        }
    }
}

/// The database holds confidential reports: owner-only.
pub(super) fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let with_suffix = |suffix: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        std::path::PathBuf::from(s)
    };
    for p in [path.to_path_buf(), with_suffix("-wal"), with_suffix("-shm")] {
        // By path, never by opening the file: closing any descriptor of a
        // database file drops this process's POSIX locks on it (SQLite's
        // documented pitfall), and another process closing its connection
        // would then delete the live WAL. A symlink is left alone.
        if let Ok(meta) = std::fs::symlink_metadata(&p)
            && meta.file_type().is_file()
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// Opens the database read-only without writing anything next to it. While
/// the daemon runs, its `-wal` and `-shm` files exist and SQLite reads
/// through them; when it is stopped they are gone (the last connection
/// checkpoints and removes them), and a read-only connection would have to
/// create `-shm`: then the file is opened as immutable, which is exact
/// while nothing writes it.
pub(super) fn read_only(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let uri = if Path::new(&wal).exists() {
        format!("file:{}?mode=ro", uri_path(path))
    } else {
        format!("file:{}?mode=ro&immutable=1", uri_path(path))
    };
    let mut conn = Connection::open_with_flags(uri, flags)?;
    conn.busy_handler(Some(busy_handler))?;
    Ok(conn)
}

/// A path as the path of a `file:` URI (RFC 8089; SQLite's URI rules).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
