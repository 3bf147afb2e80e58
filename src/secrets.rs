//! Secret files (passwords, later key passphrases). Read once at start.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where a secret file really is: under systemd, `LoadCredential=NAME:...`
/// puts it into `$CREDENTIALS_DIRECTORY/NAME`; a configured path whose file
/// name is such a credential is read from there.
pub fn resolve(path: &Path) -> std::path::PathBuf {
    candidates(path)
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| path.to_owned())
}

/// Where a secret file is looked for, in order: `$CREDENTIALS_DIRECTORY`
/// (the service, under systemd), the configured path, and `credentials/`
/// beside it (where the unit's `LoadCredential=` lines take them from, so
/// the team's CLI run as root finds them too).
pub fn candidates(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let (Some(dir), Some(name)) = (std::env::var_os("CREDENTIALS_DIRECTORY"), path.file_name()) {
        out.push(Path::new(&dir).join(name));
    }
    out.push(path.to_owned());
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        out.push(dir.join("credentials").join(name));
    }
    out
}

/// Reads a secret file named in the config (`configured`, resolved against
/// the config's folder): from `$CREDENTIALS_DIRECTORY` under systemd, else
/// the path itself. A problem says every place looked and how the file
/// gets there.
pub fn read(configured: &Path) -> Result<String, String> {
    let name = configured
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY");
    let path = resolve(configured);
    match read_secret(&path) {
        Ok(text) if text.is_empty() => Err(format!("{} is empty", path.display())),
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let places: Vec<String> = candidates(configured).iter().map(|p| p.display().to_string()).collect();
            let looked = format!(
                "looked in {}{}",
                places.join(", "),
                if creds.is_none() {
                    " ($CREDENTIALS_DIRECTORY is not set: not started by systemd)"
                } else {
                    ""
                }
            );
            Err(format!(
                "{name} not found: {looked}. The service gets it through LoadCredential={name}:...; run the \
                 team's commands that need it as the service does (see DEPLOY.md, \"The team's CLI\")"
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(format!(
            "{}: permission denied: the file is for the service's user; run this command as that user \
             (see DEPLOY.md, \"The team's CLI\")",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
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
