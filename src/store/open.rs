//! Opening the database: WAL mode (retried while another process holds the
//! switch), the busy handler for waiting on other writers, and owner-only
//! file permissions.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::Connection;

use super::{Store, migrations};

/// How long a statement waits for another process's lock.
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the busy handler waits before its next try: every 100 us for
/// the first 20 ms, then every 5 ms; `None` once `BUSY_TIMEOUT` is used up.
///
/// SQLite's own handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ms
/// and on between tries. Intake commits a few milliseconds of messages at a
/// time and the outbox marks each mail before and after its send; each
/// holds the write lock for at most that long, so with SQLite's steps a waiting
/// writer mostly slept while the lock was free, and one that kept missing it
/// waited tens of milliseconds (the outbox spent 1 ms per mail in its marks
/// while intake ran, 0.15 ms after it; measured in the answered-backlog benchmark).
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
    let conn = Connection::open_with_flags(uri, flags)?;
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

/// Root running a team verb while the daemon is stopped: SQLite has just
/// created the `-wal` and `-shm` files, owned by root, and the service's
/// user could not open them next time. They get the database file's owner
/// (by path without following links: `lchown`).
pub(super) fn give_sidecars_to_owner(path: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(db) = std::fs::symlink_metadata(path) else {
        return;
    };
    if crate::files::effective_uid() != 0 || db.uid() == 0 {
        return;
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if let Ok(m) = std::fs::symlink_metadata(&p)
            && m.file_type().is_file()
            && m.uid() == 0
        {
            let _ = std::os::unix::fs::lchown(&p, Some(db.uid()), Some(db.gid()));
        }
    }
}

/// How the CLI opens the database ([`Store::open_existing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: no file is created or changed.
    ReadOnly,
    ReadWrite,
}

/// Why the CLI could not open the database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no database at {}", path.display())]
    Missing { path: std::path::PathBuf },
    #[error("{} is not a file", path.display())]
    NotAFile { path: std::path::PathBuf },
    #[error("{} is not an embargo database (it holds no schema version)", path.display())]
    NotEmbargo { path: std::path::PathBuf },
    #[error(
        "the database at {} has schema version {found} and this embargo uses {wanted}: {}",
        path.display(),
        if found < wanted {
            "restart the daemon (`systemctl restart embargo`) with this version; it migrates the database on start"
        } else {
            "it was written by a newer embargo; run that version's command, or restore a backup"
        }
    )]
    Version {
        path: std::path::PathBuf,
        found: i64,
        wanted: i64,
    },
    #[error("cannot open the database {}: {error}", path.display())]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("cannot open the database {}: {error}", path.display())]
    Sqlite {
        path: std::path::PathBuf,
        error: rusqlite::Error,
    },
}

impl Store {
    /// Opens a database that must already exist, at this binary's schema
    /// version, for the CLI: it never creates or migrates one (a mistyped
    /// `store.path` must not leave an empty database behind), and
    /// [`Access::ReadOnly`] changes nothing on disk.
    pub fn open_existing(path: &Path, access: Access) -> std::result::Result<Store, OpenError> {
        let sqlite = |error: rusqlite::Error| OpenError::Sqlite {
            path: path.to_owned(),
            error,
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(OpenError::NotAFile { path: path.to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenError::Missing { path: path.to_owned() });
            }
            Err(e) => {
                return Err(OpenError::Io {
                    path: path.to_owned(),
                    error: e,
                });
            }
        }
        let connect = || -> std::result::Result<Connection, OpenError> {
            match access {
                Access::ReadOnly => read_only(path).map_err(sqlite),
                Access::ReadWrite => {
                    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
                    conn.busy_handler(Some(busy_handler)).map_err(sqlite)?;
                    conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
                    conn.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite)?;
                    conn.pragma_update(None, "temp_store", "MEMORY").map_err(sqlite)?;
                    Ok(conn)
                }
            }
        };
        // The daemon may be creating or upgrading it right now: it migrates
        // within milliseconds of opening the file, one committed step per
        // version, so a reader can see any version on the way (a new
        // connection each try: a read-only one may have opened the file as
        // immutable).
        let wanted = migrations::LATEST as i64;
        let (mut conn, mut found) = (connect()?, 0i64);
        for attempt in 0..50 {
            found = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(sqlite)?;
            if found >= wanted || attempt == 49 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            conn = connect()?;
        }
        if found == 0 {
            return Err(OpenError::NotEmbargo { path: path.to_owned() });
        }
        if found != wanted {
            return Err(OpenError::Version {
                path: path.to_owned(),
                found,
                wanted,
            });
        }
        if access == Access::ReadWrite {
            give_sidecars_to_owner(path);
        }
        let store = Store { conn };
        store.conn.set_prepared_statement_cache_capacity(64);
        Ok(store)
    }
}
