//! Files embargo writes where another user may write too: the service's
//! state directory when the operator runs a command as root (`oauth login`,
//! `oauth import`), export folders. The service user (after any code
//! execution in the daemon) can plant a symlink or a hard link there; root
//! must never open, chmod or chown through one. So files are opened with
//! `O_NOFOLLOW`, checked on the open descriptor (a regular file with one
//! link, owned by us or the folder's owner), and changed through that
//! descriptor (`fchown`, `fchmod`), never by path.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// How [`open`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Keep its content (a lock file).
    Keep,
    /// Truncate it (an export rewritten).
    Truncate,
}

/// Opens `path` for writing (created 0600 when missing) without following
/// a symlink, and refuses anything but a regular file with one link owned
/// by this user or by the folder's owner.
pub fn open(path: &Path, existing: Existing) -> io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(format!(
                "{} is a symbolic link; embargo does not write through one (remove it)",
                path.display()
            )),
            _ => e,
        })?;
    check(&f, path)?;
    if existing == Existing::Truncate {
        f.set_len(0)?;
    }
    Ok(f)
}

/// The open file is what we meant to write: a regular file, one link, ours
/// or the folder owner's.
fn check(f: &File, path: &Path) -> io::Result<()> {
    let meta = f.metadata()?;
    let refuse = |what: &str| {
        Err(io::Error::other(format!(
            "{} {what}; embargo does not write to it (remove it and try again)",
            path.display()
        )))
    };
    if !meta.file_type().is_file() {
        return refuse("is not a regular file");
    }
    if meta.nlink() != 1 {
        return refuse("has other hard links");
    }
    let me = effective_uid();
    let folder_owner = std::fs::metadata(folder(path))?.uid();
    if meta.uid() != me && meta.uid() != folder_owner {
        return refuse(&format!(
            "belongs to uid {}, neither us nor the folder's owner",
            meta.uid()
        ));
    }
    Ok(())
}

/// Root writing into a folder someone else owns (the service's state
/// directory): the file becomes the folder owner's, through its descriptor,
/// so the service can read and lock it.
pub fn give_to_folder_owner(f: &File, path: &Path) -> io::Result<()> {
    let dir = std::fs::metadata(folder(path))?;
    if effective_uid() == 0 && dir.uid() != 0 {
        std::os::unix::fs::fchown(f, Some(dir.uid()), Some(dir.gid()))?;
    }
    Ok(())
}

/// Sets owner-only permissions on `path` if it is a regular file, through
/// a descriptor opened without following symlinks (a missing file is fine).
pub fn restrict(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if meta.file_type().is_file() && meta.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Run as root for a folder a service user owns: the process becomes that
/// user (group first, supplementary groups dropped), so what it writes
/// there is theirs and root never follows a path they control. Call it
/// after reading root-only secrets. Nothing happens for anyone else.
#[allow(unsafe_code)]
pub fn become_folder_owner(path: &Path) -> io::Result<()> {
    let dir = std::fs::metadata(path)?;
    if effective_uid() != 0 || dir.uid() == 0 {
        return Ok(());
    }
    // SAFETY: plain system calls on integers; glibc applies them to every
    // thread of the process.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(dir.gid()) != 0 || libc::setuid(dir.uid()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The process's effective user (`/proc/self` belongs to it).
pub fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_and_hard_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open(&link, Existing::Keep).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let hard = dir.path().join("hard");
        std::fs::hard_link(&target, &hard).unwrap();
        let e = open(&hard, Existing::Truncate).unwrap_err();
        assert!(e.to_string().contains("hard links"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(
            open(&fifo, Existing::Keep)
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
        // A plain file is fine, and restrict never follows a link.
        let plain = dir.path().join("plain");
        open(&plain, Existing::Keep).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(restrict(&link).is_err());
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
    }
}
