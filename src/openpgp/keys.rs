//! The team's secret keys: loaded and unlocked once at start (S2K costs
//! ~250 ms per unlock here), never per message.
//!
//! Decryption keys are prepared once for OpenSSL (`super::prepared`): RSA
//! with its CRT parameters, Cv25519 as a ready X25519 key; other algorithms
//! use sequoia's `KeyPair`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pgp::cert::prelude::*;
use pgp::crypto::mpi;
use pgp::crypto::{KeyPair, Password};
use pgp::packet::Key;
use pgp::packet::key::{SecretParts, UnspecifiedRole};
use pgp::parse::Parse as _;
use pgp::policy::StandardPolicy;
use pgp::serialize::Serialize as _;
use pgp::types::{KeyFlags, PublicKeyAlgorithm};
use pgp::{Cert, Fingerprint, KeyHandle};
use sequoia_openpgp as pgp;
use serde::Serialize;

use super::prepared::{RsaCrt, TeamDecryptor, X25519Prepared};
use super::{Error, Result};

/// One loaded team key, as `keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TeamKeyInfo {
    pub fingerprint: String,
    pub algorithm: String,
    pub expiry: Option<String>,
    pub user_ids: Vec<String>,
    pub file: String,
}

/// The team's keys, unlocked.
pub struct TeamKeys {
    certs: Vec<(Cert, PathBuf)>,
    decryptors: Vec<TeamDecryptor>,
    signer: Option<KeyPair>,
}

impl std::fmt::Debug for TeamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamKeys").field("keys", &self.certs.len()).finish()
    }
}

impl TeamKeys {
    /// No keys: nothing can be decrypted, nothing is signed.
    pub fn none() -> TeamKeys {
        TeamKeys {
            certs: Vec::new(),
            decryptors: Vec::new(),
            signer: None,
        }
    }

    /// Loads and unlocks every key in `files`. Errors name the file.
    pub fn load(files: &[PathBuf], passphrase: Option<&str>) -> Result<TeamKeys> {
        let policy = StandardPolicy::new();
        let mut keys = TeamKeys::none();
        for file in files {
            check_permissions(file)?;
            let certs: Vec<Cert> = CertParser::from_file(file)
                .map_err(|e| Error::key(file, format!("not an OpenPGP key file: {e:#}")))?
                .collect::<pgp::Result<_>>()
                .map_err(|e| Error::key(file, format!("cannot parse the key: {e:#}")))?;
            if certs.is_empty() {
                return Err(Error::key(file, "holds no key"));
            }
            for cert in certs {
                keys.add(cert, file, passphrase, &policy)?;
            }
        }
        Ok(keys)
    }

    fn add(&mut self, cert: Cert, file: &Path, passphrase: Option<&str>, policy: &StandardPolicy) -> Result<()> {
        let fpr = cert.fingerprint();
        let mut unlocked = Vec::new();
        for ka in cert.keys().secret() {
            let key = ka.key().clone();
            let key = if key.has_unencrypted_secret() {
                key
            } else {
                let Some(pass) = passphrase else {
                    return Err(Error::key(
                        file,
                        format!("key {fpr} is passphrase-protected but openpgp.passphrase_file is not set"),
                    ));
                };
                key.decrypt_secret(&Password::from(pass))
                    .map_err(|_| Error::key(file, format!("cannot unlock key {fpr} with the configured passphrase")))?
            };
            unlocked.push(key);
        }
        if unlocked.is_empty() {
            return Err(Error::key(
                file,
                format!("key {fpr} holds no secret key material (export it with --export-secret-keys)"),
            ));
        }
        let valid = cert.with_policy(policy, None).ok();
        let can = |k: &Key<SecretParts, UnspecifiedRole>, flags: &KeyFlags| -> bool {
            valid
                .as_ref()
                .and_then(|v| v.keys().key_handle(k.key_handle()).next())
                .and_then(|ka| ka.key_flags())
                .map(|f| !(&f & flags).is_empty())
                .unwrap_or(false)
        };
        let enc = KeyFlags::empty().set_storage_encryption().set_transport_encryption();
        for key in &unlocked {
            // Decrypt with every key that may ever have been an encryption
            // key (also expired ones: old mail still arrives).
            let flagged = can(key, &enc);
            let raw_capable = key.pk_algo().for_encryption();
            if flagged || (valid.is_none() && raw_capable) {
                let d = match key.pk_algo() {
                    #[allow(deprecated)]
                    PublicKeyAlgorithm::RSAEncryptSign | PublicKeyAlgorithm::RSAEncrypt => {
                        TeamDecryptor::Rsa(RsaCrt::new(key).map_err(|e| Error::key(file, format!("key {fpr}: {e:#}")))?)
                    }
                    PublicKeyAlgorithm::ECDH if X25519Prepared::fits(key) => TeamDecryptor::X25519(
                        X25519Prepared::new(key).map_err(|e| Error::key(file, format!("key {fpr}: {e:#}")))?,
                    ),
                    _ => TeamDecryptor::Other(
                        key.clone()
                            .into_keypair()
                            .map_err(|e| Error::key(file, format!("key {fpr}: {e:#}")))?,
                    ),
                };
                self.decryptors.push(d);
            }
        }
        if self.signer.is_none()
            && let Some(v) = &valid
            && let Some(ka) = v.keys().for_signing().alive().revoked(false).next()
            && let Some(key) = unlocked.iter().find(|k| k.fingerprint() == ka.key().fingerprint())
        {
            self.signer = Some(
                key.clone()
                    .into_keypair()
                    .map_err(|e| Error::key(file, format!("key {fpr}: {e:#}")))?,
            );
        }
        self.certs.push((cert, file.to_owned()));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Fresh decryptors for one message.
    pub fn decryptors(&self) -> Vec<TeamDecryptor> {
        self.decryptors.clone()
    }

    pub fn signer(&self) -> Option<KeyPair> {
        self.signer.clone()
    }

    /// The primary team key (the first loaded), public parts only.
    pub fn primary(&self) -> Option<Cert> {
        self.certs.first().map(|(c, _)| c.clone().strip_secret_key_material())
    }

    pub fn primary_fingerprint(&self) -> Option<Fingerprint> {
        self.certs.first().map(|(c, _)| c.fingerprint())
    }

    /// Does any team key have this handle (primary or subkey)?
    pub fn holds(&self, handle: &KeyHandle) -> bool {
        self.certs
            .iter()
            .any(|(c, _)| c.keys().any(|k| k.key().key_handle().aliases(handle)))
    }

    /// The primary key as minimal public certificate bytes (for Autocrypt).
    pub fn primary_public_bytes(&self) -> Option<Vec<u8>> {
        let cert = self.primary()?;
        let mut out = Vec::new();
        cert.serialize(&mut out).ok()?;
        Some(out)
    }

    pub fn info(&self) -> Vec<TeamKeyInfo> {
        let policy = StandardPolicy::new();
        self.certs
            .iter()
            .map(|(c, file)| TeamKeyInfo {
                fingerprint: c.fingerprint().to_hex(),
                algorithm: algorithm(c.primary_key().key()),
                expiry: c
                    .with_policy(&policy, None)
                    .ok()
                    .and_then(|v| v.primary_key().key_expiration_time())
                    .map(|t| crate::report::ts(jiff::Timestamp::try_from(t).unwrap_or_default())),
                user_ids: c
                    .userids()
                    .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
                    .collect(),
                file: file.display().to_string(),
            })
            .collect()
    }
}

pub fn algorithm<P: pgp::packet::key::KeyParts, R: pgp::packet::key::KeyRole>(key: &Key<P, R>) -> String {
    match key.mpis().bits() {
        Some(bits) if matches!(key.mpis(), mpi::PublicKey::RSA { .. }) => format!("RSA-{bits}"),
        _ => match key.mpis() {
            mpi::PublicKey::EdDSA { curve, .. }
            | mpi::PublicKey::ECDSA { curve, .. }
            | mpi::PublicKey::ECDH { curve, .. } => {
                format!("{} {curve}", key.pk_algo())
            }
            _ => key.pk_algo().to_string(),
        },
    }
}

/// A secret key file readable by group or others is refused.
fn check_permissions(file: &Path) -> Result<()> {
    let meta = std::fs::metadata(file).map_err(|e| Error::key(file, format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::key(
            file,
            format!(
                "the secret key file is readable by group or others (mode {:o}); chmod 600 it",
                mode & 0o777
            ),
        ));
    }
    Ok(())
}
