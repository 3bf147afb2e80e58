//! GnuPG at test time: keys generated in temporary GNUPGHOMEs (nothing that
//! protects anything is committed), messages made with the real `gpg`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A GNUPGHOME with its own agent; killed and removed on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gpg").tempdir_in("/tmp").unwrap();
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        Gpg { home }
    }

    pub fn run(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--yes",
                "--no-tty",
                "--quiet",
                "--trust-model",
                "always",
                "--pinentry-mode",
                "loopback",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed (scripts/test installs it)");
        {
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(input);
        }
        child.wait_with_output().unwrap()
    }

    pub fn ok(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let out = self.run(args, input);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Generates an unprotected key; returns its fingerprint.
    pub fn generate(&self, uid: &str, algo: &str) -> String {
        let params = match algo {
            "rsa4096" => format!(
                "%no-protection\nKey-Type: RSA\nKey-Length: 4096\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 4096\n\
                 Subkey-Usage: encrypt\nName-Real: Test\nName-Email: {uid}\nExpire-Date: 0\n%commit\n"
            ),
            _ => format!(
                "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\n\
                 Subkey-Usage: encrypt\nName-Real: Test\nName-Email: {uid}\nExpire-Date: 0\n%commit\n"
            ),
        };
        self.ok(&["--gen-key"], params.as_bytes());
        self.fingerprint(uid)
    }

    pub fn fingerprint(&self, uid: &str) -> String {
        let out = String::from_utf8(self.ok(&["--with-colons", "--list-keys", uid], b"")).unwrap();
        out.lines()
            .find(|l| l.starts_with("fpr:"))
            .unwrap()
            .split(':')
            .nth(9)
            .unwrap()
            .to_owned()
    }

    pub fn export_public(&self, who: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export", who], b"")
    }

    pub fn export_secret(&self, who: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export-secret-keys", who], b"")
    }

    pub fn import(&self, key: &[u8]) {
        self.ok(&["--import"], key);
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .stderr(Stdio::null())
            .status();
    }
}

/// Keys shared by all tests of this process (RSA-4096 generation is slow).
pub struct Keys {
    pub team_rsa_secret: Vec<u8>,
    pub team_rsa_public: Vec<u8>,
    pub team_rsa_fpr: String,
    pub team_cv_secret: Vec<u8>,
    pub team_cv_public: Vec<u8>,
    pub team_cv_fpr: String,
    pub reporter_secret: Vec<u8>,
    pub reporter_public: Vec<u8>,
    pub reporter_fpr: String,
    pub stranger_public: Vec<u8>,
    pub stranger_fpr: String,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let g = Gpg::new();
        let team_rsa_fpr = g.generate("security-rsa@example.test", "rsa4096");
        let team_cv_fpr = g.generate("security@example.test", "cv25519");
        let reporter_fpr = g.generate("researcher@example.test", "cv25519");
        let stranger_fpr = g.generate("unrelated@example.org", "cv25519");
        Keys {
            team_rsa_secret: g.export_secret(&team_rsa_fpr),
            team_rsa_public: g.export_public(&team_rsa_fpr),
            team_cv_secret: g.export_secret(&team_cv_fpr),
            team_cv_public: g.export_public(&team_cv_fpr),
            reporter_secret: g.export_secret(&reporter_fpr),
            reporter_public: g.export_public(&reporter_fpr),
            stranger_public: g.export_public(&stranger_fpr),
            team_rsa_fpr,
            team_cv_fpr,
            reporter_fpr,
            stranger_fpr,
        }
    })
}

/// The reporter's gpg: their secret key and the team's public keys.
pub fn reporter_gpg() -> Gpg {
    let k = keys();
    let g = Gpg::new();
    g.import(&k.reporter_secret);
    g.import(&k.team_rsa_public);
    g.import(&k.team_cv_public);
    g.import(&k.stranger_public);
    g
}

/// Writes a team key file (mode 0600) for embargo's config.
pub fn write_key(dir: &Path, name: &str, armored: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, armored).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// A PGP/MIME (RFC 3156) message around armored ciphertext.
pub fn pgp_mime(headers: &str, armored: &[u8]) -> String {
    format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"BOUND\"\r\n\r\n\
         This is an OpenPGP/MIME encrypted message\r\n--BOUND\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --BOUND\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n{}\r\n--BOUND--\r\n",
        String::from_utf8_lossy(armored)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
    )
}

/// The same, as Exchange/Outlook mangle it (multipart/mixed, an empty text
/// part first).
pub fn mangled(headers: &str, armored: &[u8]) -> String {
    format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"MIX\"\r\n\r\n\
         --MIX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\n\
         --MIX\r\nContent-Type: application/pgp-encrypted\r\nContent-Disposition: attachment; filename=\"PGPMIME Versions Identification\"\r\n\r\nVersion: 1\r\n\r\n\
         --MIX\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Disposition: attachment; filename=\"encrypted.asc\"\r\n\r\n{}\r\n--MIX--\r\n",
        String::from_utf8_lossy(armored)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
    )
}

/// An inner MIME entity: text, optionally with the reporter's key and a file.
pub fn entity(text: &str, key: Option<&[u8]>, attachment: Option<(&str, &str)>) -> Vec<u8> {
    let mut s = String::from(
        "Content-Type: multipart/mixed; boundary=\"IN\"\r\n\r\n--IN\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    s.push_str(text);
    s.push_str("\r\n");
    if let Some(k) = key {
        s.push_str("--IN\r\nContent-Type: application/pgp-keys; name=\"key.asc\"\r\nContent-Disposition: attachment; filename=\"key.asc\"\r\n\r\n");
        s.push_str(&String::from_utf8_lossy(k).replace("\r\n", "\n").replace('\n', "\r\n"));
        s.push_str("\r\n");
    }
    if let Some((name, body)) = attachment {
        s.push_str(&format!("--IN\r\nContent-Type: text/x-python; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n"));
    }
    s.push_str("--IN--\r\n");
    s.into_bytes()
}

/// The armored PGP message inside a mail (as Dovecot stored it).
pub fn armored_block(text: &str) -> String {
    let start = text.find("-----BEGIN PGP MESSAGE-----").expect("an armored message");
    let end = text[start..].find("-----END PGP MESSAGE-----").unwrap() + start + "-----END PGP MESSAGE-----".len();
    text[start..end].replace("\r\n", "\n")
}

/// A mail as its recipient reads it: decrypted with their gpg when encrypted.
pub fn readable(g: &Gpg, mail: &str) -> String {
    if !mail.contains("-----BEGIN PGP MESSAGE-----") {
        return mail.to_owned();
    }
    // gpg exits non-zero when it cannot check the (team key's) signature;
    // the plaintext is there all the same.
    String::from_utf8_lossy(&g.run(&["--decrypt"], armored_block(mail).as_bytes()).stdout).into_owned()
}

pub fn autocrypt(g: &Gpg, fpr: &str, addr: &str) -> String {
    let binary = g.ok(&["--export", fpr], b"");
    format!(
        "Autocrypt: addr={addr}; keydata={}\r\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, binary)
    )
}
