//! `[store]`: where the database is and what one message may add to it.

use std::path::Path;

use super::raw::RawStore;
use super::validate::Validator;
use super::{ConfigError, StoreConfig};

impl Validator<'_> {
    pub(super) fn store(&self, r: &RawStore) -> Result<StoreConfig, ConfigError> {
        if r.path.trim().is_empty() {
            return Err(self.err("store", "path", "must not be empty"));
        }
        let size = |key: &str, v: &Option<toml::Value>, default: u64| match v {
            None => Ok(default),
            Some(v) => crate::config::parse_size(v).map_err(|p| self.err("store", key, p)),
        };
        let path = self.path(&r.path);
        if self.needs.check
            && let Err(problem) = writable_location(&path)
        {
            self.problem(self.err("store", "path", problem));
        }
        Ok(StoreConfig {
            path,
            max_text_per_message: size("max_text_per_message", &r.max_text_per_message, 1024 * 1024)?,
            unauthenticated_per_hour: size(
                "unauthenticated_per_hour",
                &r.unauthenticated_per_hour,
                256 * 1024 * 1024,
            )?,
        })
    }
}

/// Can the daemon create or open the database at `path`? A file that exists
/// must be a regular, writable file; otherwise the nearest folder that
/// exists must be a writable folder (the daemon creates the rest).
fn writable_location(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let writable = |p: &Path| {
        let Ok(m) = std::fs::metadata(p) else { return false };
        let me = crate::files::effective_uid();
        me == 0 || (m.uid() == me && m.mode() & 0o200 != 0) || m.mode() & 0o002 != 0 || (m.mode() & 0o020 != 0)
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "{} is a folder; name a file in it, e.g. {}/embargo.sqlite3",
                path.display(),
                path.display()
            ));
        }
        Ok(m) if !m.is_file() => return Err(format!("{} is not a regular file", path.display())),
        Ok(_) if !writable(path) => return Err(format!("{} is not writable by this user", path.display())),
        Ok(_) => return Ok(()),
        Err(_) => {}
    }
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => {
                return if writable(d) {
                    Ok(())
                } else {
                    Err(format!(
                        "the folder {} cannot be written, so the database cannot be created there",
                        d.display()
                    ))
                };
            }
            Ok(_) => {
                return Err(format!(
                    "{} is not a folder, so the database cannot be created under it",
                    d.display()
                ));
            }
            Err(_) => dir = d.parent(),
        }
    }
    Ok(())
}
