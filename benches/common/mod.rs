//! What both benchmarks need: gpg in a throw-away home. (A directory with
//! `mod.rs`, so cargo does not take it for a benchmark of its own.)
#![allow(dead_code)] // each benchmark uses a part

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs gpg in `home` (batch, no trust questions) and returns its stdout.
pub fn gpg(home: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--yes", "--quiet", "--trust-model", "always"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "gpg {args:?}");
    out.stdout
}

/// A temporary gpg home under /tmp (short socket paths); its agent is
/// stopped on drop.
pub struct Gpg(tempfile::TempDir);

impl Gpg {
    pub fn new() -> Gpg {
        let d = tempfile::Builder::new().prefix("bench-gpg").tempdir_in("/tmp").unwrap();
        std::fs::set_permissions(d.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        Gpg(d)
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn run(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        gpg(self.path(), args, input)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path())
            .args(["--kill", "all"])
            .status();
    }
}
