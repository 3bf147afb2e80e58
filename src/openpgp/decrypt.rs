//! Decrypting and verifying with sequoia: one call per ciphertext or detached
//! signature, bounded in output size, every failure a value.

use std::io::Read as _;

use pgp::crypto::SessionKey;
use pgp::packet::{PKESK, SKESK};
use pgp::parse::Parse as _;
use pgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError,
    VerificationHelper,
};
use pgp::policy::StandardPolicy;
use pgp::types::SymmetricAlgorithm;
use pgp::{Cert, KeyHandle};
use sequoia_openpgp as pgp;

use super::fast::{self, Fast};
use super::keys::TeamKeys;

/// What the signatures said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SigState {
    #[default]
    None,
    Good {
        signer: String,
        /// When the signature says it was made (Unix seconds): an old
        /// signed mail is not fresh consent (the relay checks its age).
        created: Option<i64>,
    },
    Bad,
    UnknownKey {
        issuers: Vec<String>,
    },
}

impl SigState {
    pub fn as_str(&self) -> &'static str {
        match self {
            SigState::None => "none",
            SigState::Good { .. } => "good",
            SigState::Bad => "bad",
            SigState::UnknownKey { .. } => "unknown-key",
        }
    }
}

/// Why a ciphertext could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Encrypted only to keys we do not hold (key ids or fingerprints).
    NoKey { recipients: Vec<String> },
    /// The plaintext is larger than `openpgp.max_decrypted_size`.
    TooLarge { cap: u64 },
    /// Broken armor, truncated data, unsupported algorithm, ...
    Broken { reason: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoKey { recipients } if recipients.is_empty() => {
                write!(f, "encrypted to none of our keys")
            }
            Failure::NoKey { recipients } => write!(
                f,
                "encrypted to none of our keys (recipients: {})",
                recipients.join(", ")
            ),
            Failure::TooLarge { cap } => {
                write!(f, "decrypted content exceeds openpgp.max_decrypted_size ({cap} bytes)")
            }
            Failure::Broken { reason } => write!(f, "cannot decrypt: {reason}"),
        }
    }
}

pub use super::fast::Cached;

pub struct Decrypted {
    pub plaintext: Vec<u8>,
    pub sig: SigState,
    /// The session key, to verify again cheaply once more keys are known.
    pub session: Option<Cached>,
}

struct Helper<'a> {
    team: &'a TeamKeys,
    certs: &'a [Cert],
    cached: Option<Cached>,
    found: Option<Cached>,
    sig: SigState,
    /// Set when the message names its recipients and none is ours (the
    /// builder drops the helper when it fails, so this lives outside it).
    not_ours: Option<&'a std::cell::RefCell<Option<Vec<String>>>>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> pgp::Result<Vec<Cert>> {
        Ok(self.certs.to_vec())
    }

    fn check(&mut self, structure: MessageStructure<'_>) -> pgp::Result<()> {
        self.sig = summarize(structure);
        Ok(())
    }
}

fn summarize(structure: MessageStructure<'_>) -> SigState {
    let (mut good, mut bad, mut unknown) = (None, false, Vec::new());
    for layer in structure {
        if let MessageLayer::SignatureGroup { results } = layer {
            for r in results {
                match r {
                    Ok(g) => {
                        let created = g
                            .sig
                            .signature_creation_time()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs() as i64);
                        good = good.or_else(|| Some((g.ka.key().fingerprint().to_hex(), created)));
                    }
                    Err(VerificationError::MissingKey { sig }) => {
                        unknown.extend(sig.get_issuers().iter().map(|h| h.to_hex()));
                    }
                    Err(_) => bad = true,
                }
            }
        }
    }
    match (good, bad) {
        (Some((signer, created)), false) => SigState::Good { signer, created },
        (_, true) => SigState::Bad,
        (None, false) if !unknown.is_empty() => SigState::UnknownKey { issuers: unknown },
        (None, false) => SigState::None,
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> pgp::Result<Option<Cert>> {
        if let Some((algo, sk)) = &self.cached
            && decrypt(*algo, sk)
        {
            self.found = Some((*algo, sk.clone()));
            return Ok(None);
        }
        if let Some(not_ours) = self.not_ours
            && let Some(named) = fast::not_ours(pkesks, self.team)
        {
            *not_ours.borrow_mut() = Some(named.iter().map(|h| h.to_hex()).collect());
            return Err(anyhow::anyhow!("encrypted to none of our keys"));
        }
        let found = fast::team_session_key(pkesks, self.team, sym_algo, |algo, sk| {
            decrypt(algo, &sk).then_some((algo, sk))
        });
        if found.is_some() {
            self.found = found;
            return Ok(None);
        }
        Err(anyhow::anyhow!("no team key decrypts this message"))
    }
}

/// How much plaintext sequoia reads ahead before handing it out (its
/// default is 25 MiB). Sizes from 16 KiB to 1 MiB measured the same for a
/// 4 KB message; 8 KiB was 2.5x slower on compressed mail (bench/README.md).
const BUFFER: usize = 1024 * 1024;

/// Decrypts one ciphertext (armored or binary): the common shape through
/// [`super::fast`], everything else through sequoia's stream decryptor.
pub fn decrypt(
    ciphertext: &[u8],
    team: &TeamKeys,
    certs: &[Cert],
    cap: u64,
    cached: Option<Cached>,
) -> Result<Decrypted, Failure> {
    decrypt_with(ciphertext, team, certs, cap, cached, true)
}

/// Decrypts one ciphertext with sequoia's stream decryptor alone: the
/// general path, and the reference the fast path is tested against.
pub fn decrypt_stream(
    ciphertext: &[u8],
    team: &TeamKeys,
    certs: &[Cert],
    cap: u64,
    cached: Option<Cached>,
) -> Result<Decrypted, Failure> {
    decrypt_with(ciphertext, team, certs, cap, cached, false)
}

fn decrypt_with(
    ciphertext: &[u8],
    team: &TeamKeys,
    certs: &[Cert],
    cap: u64,
    cached: Option<Cached>,
    try_fast: bool,
) -> Result<Decrypted, Failure> {
    if cached.is_none() && team.is_empty() {
        return Err(Failure::NoKey { recipients: Vec::new() });
    }
    let dearmored = super::armor::dearmor(ciphertext);
    let binary = dearmored.as_deref().unwrap_or(ciphertext);
    if !try_fast {
        return stream(binary, team, certs, cap, cached);
    }
    let cached = match fast::decrypt(binary, team, cap, cached.as_ref()) {
        Fast::Done { plaintext, session } => {
            return Ok(Decrypted {
                plaintext,
                sig: SigState::None,
                session: Some(session),
            });
        }
        Fast::Fallback(found) => found.or(cached),
    };
    stream(binary, team, certs, cap, cached)
}

fn stream(
    ciphertext: &[u8],
    team: &TeamKeys,
    certs: &[Cert],
    cap: u64,
    cached: Option<Cached>,
) -> Result<Decrypted, Failure> {
    let policy = StandardPolicy::new();
    let not_ours = std::cell::RefCell::new(None);
    let helper = Helper {
        team,
        certs,
        cached,
        found: None,
        sig: SigState::None,
        not_ours: Some(&not_ours),
    };
    let builder = DecryptorBuilder::from_bytes(ciphertext).map_err(broken)?;
    // The plaintext is read whole below and the signatures are only
    // recorded, never a reason to hold data back.
    let built = builder.buffer_size(BUFFER).with_policy(&policy, None, helper);
    let mut d = match built {
        Ok(d) => d,
        Err(e) => {
            return Err(match not_ours.into_inner() {
                Some(recipients) => Failure::NoKey { recipients },
                None => broken(e),
            });
        }
    };
    let mut plaintext = Vec::new();
    (&mut d)
        .take(cap.saturating_add(1))
        .read_to_end(&mut plaintext)
        .map_err(|e| broken(e.into()))?;
    if plaintext.len() as u64 > cap {
        return Err(Failure::TooLarge { cap });
    }
    let helper = d.into_helper();
    Ok(Decrypted {
        plaintext,
        sig: helper.sig,
        session: helper.found,
    })
}

/// Verifies a detached signature over `data`.
pub fn verify_detached(signature: &[u8], data: &[u8], certs: &[Cert]) -> SigState {
    let policy = StandardPolicy::new();
    let team = TeamKeys::none();
    let helper = Helper {
        team: &team,
        certs,
        cached: None,
        found: None,
        sig: SigState::None,
        not_ours: None,
    };
    let Ok(builder) = DetachedVerifierBuilder::from_bytes(signature) else {
        return SigState::Bad;
    };
    let Ok(mut v) = builder.with_policy(&policy, None, helper) else {
        return SigState::Bad;
    };
    match v.verify_bytes(data) {
        Ok(()) => v.into_helper().sig,
        Err(_) => {
            let sig = v.into_helper().sig;
            if sig == SigState::None { SigState::Bad } else { sig }
        }
    }
}

fn broken(e: anyhow::Error) -> Failure {
    // The chain's last cause is the most specific description.
    let reason = e.chain().last().map(|c| c.to_string()).unwrap_or_else(|| e.to_string());
    Failure::Broken {
        reason: crate::message::single_line(&reason).chars().take(300).collect(),
    }
}
