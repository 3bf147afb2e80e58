//! Reporter keys, pinned on first use. The first key embargo learns for an
//! address is the one it encrypts to. A different key later (anyone can
//! forge `From:` and attach a key) waits as a candidate until the pinned key
//! vouches for it (the mail is signed by the pinned key, or the new key
//! carries a certification by it) or the team accepts it
//! (`embargo keys accept ADDRESS FINGERPRINT`).

use pgp::Cert;
use pgp::policy::StandardPolicy;
use sequoia_openpgp as pgp;

use super::{Protection, SigState};

/// At most this many candidate keys are kept per address.
pub const MAX_CANDIDATES: usize = 3;
/// A certificate larger than this (serialized), or with more user IDs or
/// subkeys than these, is not learned at all.
pub const MAX_CERT_BYTES: usize = 64 * 1024;
pub const MAX_USERIDS: usize = 32;
pub const MAX_SUBKEYS: usize = 32;

/// What becomes of a key a message carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first key for the address: pinned.
    Pin,
    /// The pinned key itself (perhaps with new subkeys or a new expiry):
    /// merged into the stored copy.
    Refresh,
    /// A new key the pinned key vouched for: pinned, the old one retired.
    Replace,
    /// Kept, never used until the team accepts it.
    Candidate,
    /// Too many candidates for this address already.
    Ignore,
}

/// Judges one learned key against what is pinned for its address.
pub fn judge(pinned: Option<&Cert>, candidates: usize, new: &Cert, protection: &Protection) -> Verdict {
    let Some(pinned) = pinned else {
        return Verdict::Pin;
    };
    if pinned.fingerprint() == new.fingerprint() {
        return Verdict::Refresh;
    }
    if signed_by(protection, pinned) || certified_by(new, pinned) {
        return Verdict::Replace;
    }
    if candidates >= MAX_CANDIDATES {
        return Verdict::Ignore;
    }
    Verdict::Candidate
}

/// The message's whole-content signature is by a key of `cert`.
fn signed_by(protection: &Protection, cert: &Cert) -> bool {
    match &protection.signature {
        SigState::Good { signer, .. } => cert.keys().any(|k| k.key().fingerprint().to_hex() == *signer),
        _ => false,
    }
}

/// A user ID of `new` carries a valid certification made by a key of `by`.
fn certified_by(new: &Cert, by: &Cert) -> bool {
    let primary = new.primary_key().key();
    new.userids().any(|ua| {
        ua.certifications().any(|sig| {
            by.keys()
                .any(|k| sig.clone().verify_userid_binding(k.key(), primary, ua.userid()).is_ok())
        })
    })
}

/// Whether a certificate can be encrypted to: valid under the standard
/// policy, not revoked, with a live encryption-capable (sub)key. A
/// certificate that cannot is never used, so a reply never ends up
/// encrypted to the team key alone.
pub fn can_encrypt(cert: &Cert) -> bool {
    let policy = StandardPolicy::new();
    let Ok(valid) = cert.with_policy(&policy, None) else {
        return false;
    };
    if valid.alive().is_err() || matches!(valid.revocation_status(), pgp::types::RevocationStatus::Revoked(_)) {
        return false;
    }
    valid
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .for_storage_encryption()
        .next()
        .is_some()
}

/// Whether a certificate is small enough to learn and keep.
pub fn within_caps(cert: &Cert) -> bool {
    use pgp::serialize::MarshalInto as _;
    cert.userids().count() <= MAX_USERIDS
        && cert.keys().subkeys().count() <= MAX_SUBKEYS
        && cert.serialized_len() <= MAX_CERT_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgp::cert::CertBuilder;
    use pgp::packet::signature::SignatureBuilder;
    use pgp::types::SignatureType;

    fn cert(uid: &str) -> Cert {
        CertBuilder::new()
            .add_userid(uid)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap()
            .0
    }

    /// `new` with its first user ID certified by `by`'s primary key.
    fn certified(new: &Cert, by: &Cert) -> Cert {
        let mut signer = by
            .primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .into_keypair()
            .unwrap();
        let uid = new.userids().next().unwrap().userid().clone();
        let sig = SignatureBuilder::new(SignatureType::GenericCertification)
            .sign_userid_binding(&mut signer, new.primary_key().key(), &uid)
            .unwrap();
        new.clone()
            .insert_packets(vec![pgp::Packet::from(uid), sig.into()])
            .unwrap()
            .0
    }

    #[test]
    fn first_pins_same_refreshes_others_wait_and_vouched_ones_replace() {
        let a = cert("r@example.test");
        let b = cert("r@example.test");
        let none = Protection::default();
        assert_eq!(judge(None, 0, &a, &none), Verdict::Pin);
        assert_eq!(judge(Some(&a), 0, &a, &none), Verdict::Refresh);
        assert_eq!(judge(Some(&a), 0, &b, &none), Verdict::Candidate);
        assert_eq!(judge(Some(&a), MAX_CANDIDATES, &b, &none), Verdict::Ignore);
        // Signed by the pinned key: it vouches for the new key.
        let signer = a.keys().next().unwrap().key().fingerprint().to_hex();
        let signed = Protection {
            signature: SigState::Good { signer, created: None },
            ..Protection::default()
        };
        assert_eq!(judge(Some(&a), 0, &b, &signed), Verdict::Replace);
        // Or the new key carries a certification by the pinned key.
        assert_eq!(judge(Some(&a), 0, &certified(&b, &a), &none), Verdict::Replace);
        // A certification by someone else does not vouch.
        let c = cert("c@example.test");
        let b3 = certified(&b, &c);
        assert_eq!(judge(Some(&a), 0, &b3, &none), Verdict::Candidate);
    }

    #[test]
    fn sign_only_certificates_are_not_for_encryption() {
        let sign_only = CertBuilder::new()
            .add_userid("s@example.test")
            .add_signing_subkey()
            .generate()
            .unwrap()
            .0;
        assert!(!can_encrypt(&sign_only));
        assert!(can_encrypt(&cert("e@example.test")));
        assert!(within_caps(&sign_only));
    }
}
