//! Consistent copies of the database while the daemon runs (SQLite's online
//! backup API), and restoring one while it does not.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::Store;

/// Copies `from` into `to` page by page, letting writers in between steps.
/// `to` must be a new file: it is created owner-only (0600) at open, an
/// existing path (a symlink too, even a dangling one) is refused, and SQLite
/// then opens exactly that file without following symlinks.
fn copy(from: &Connection, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        // create_new already refuses any existing path (symlinks too);
        // O_NOFOLLOW also covers a symlink swapped in for the last component.
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)
        .with_context(|| format!("cannot create {} (it must not exist yet)", to.display()))?;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut dst = Connection::open_with_flags(to, flags).with_context(|| format!("cannot open {}", to.display()))?;
    {
        let b = Backup::new(from, &mut dst)?;
        b.run_to_completion(256, Duration::from_millis(5), None)?;
    }
    let ok: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        anyhow::bail!("the copy in {} fails the integrity check: {ok}", to.display());
    }
    Ok(())
}

fn owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

impl Store {
    /// `embargo backup PATH`: safe while the daemon writes.
    pub fn backup_to(&self, to: &Path) -> anyhow::Result<()> {
        if to.symlink_metadata().is_ok() {
            anyhow::bail!("{} exists; choose a new file", to.display());
        }
        copy(&self.conn, to)
    }

    /// `embargo restore PATH`: replaces the database with a backup (the
    /// daemon must be stopped). The backup is checked first.
    pub fn restore_from(path: &Path, db: &Path) -> anyhow::Result<()> {
        let src = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let ok: String = src.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            anyhow::bail!("{} fails the integrity check: {ok}", path.display());
        }
        let mut dst = Connection::open(db)?;
        {
            let b = Backup::new(&src, &mut dst)?;
            b.run_to_completion(256, Duration::from_millis(0), None)?;
        }
        owner_only(db);
        // Bring an older backup to this version's schema.
        drop(dst);
        Store::open(db)?;
        Ok(())
    }
}
