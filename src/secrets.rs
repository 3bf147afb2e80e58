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
            let looked = match &creds {
                Some(dir) => format!(
                    "looked in {} and {}",
                    Path::new(dir).join(&name).display(),
                    configured.display()
                ),
                None => format!(
                    "looked in {} ($CREDENTIALS_DIRECTORY is not set: not started by systemd)",
                    configured.display()
                ),
            };
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
