//! Secret files (passwords, later key passphrases). Read once at start.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Reads a secret file, trimming one trailing newline. Warns when the file is
/// readable by group or others: a password should be readable by embargo only.
pub fn read_secret(path: &Path) -> io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            "secret file is readable by group or others; chmod 600 it"
        );
    }
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}
