//! Secret files (passwords, later key passphrases). Read once at start.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where a secret file really is: under systemd, `LoadCredential=NAME:...`
/// puts it into `$CREDENTIALS_DIRECTORY/NAME`; a configured path whose file
/// name is such a credential is read from there.
pub fn resolve(path: &Path) -> std::path::PathBuf {
    if let (Some(dir), Some(name)) = (std::env::var_os("CREDENTIALS_DIRECTORY"), path.file_name()) {
        let candidate = Path::new(&dir).join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    path.to_owned()
}

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
