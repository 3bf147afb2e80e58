//! Consistent copies of the database while the daemon runs (SQLite's online
//! backup API), and restoring one while it does not.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::Store;

/// Copies `from` into `to` page by page, letting writers in between steps.
fn copy(from: &Connection, to: &Path) -> anyhow::Result<()> {
    let mut dst = Connection::open(to).with_context(|| format!("cannot create {}", to.display()))?;
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
        if to.exists() {
            anyhow::bail!("{} exists; choose a new file", to.display());
        }
        copy(&self.conn, to)?;
        owner_only(to);
        Ok(())
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
