//! What both benchmarks need: gpg in a throw-away home. (A directory with
//! `mod.rs`, so cargo does not take it for a benchmark of its own.)
#![allow(dead_code)] // each benchmark uses a part

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub mod smtp;

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

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
