//! Team decryption keys prepared once for OpenSSL, so a message costs one
//! private-key operation and nothing else of the key's.
//!
//! sequoia 2.4's OpenSSL backend rebuilds the key on every decryption: for
//! RSA from n, e, d, so without CRT (0.2-0.4x of the raw private-key rate
//! here); for Cv25519 it unseals the secret from sequoia's encrypted memory
//! and imports it into a fresh EVP key, which derives the public key (a
//! second scalar multiplication) before the one the message needs.
//! [`RsaCrt`] and [`X25519Prepared`] hold the ready OpenSSL key instead
//! (the secret then lives in OpenSSL's memory for the daemon's life, as the
//! unlocked key did in sequoia's).

use anyhow::{anyhow, bail};
use openssl::bn::{BigNum, BigNumContext};
use openssl::derive::Deriver;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::{Padding, Rsa};
use pgp::crypto::mem::Protected;
use pgp::crypto::mpi;
use pgp::crypto::{Decryptor, KeyPair, SessionKey};
use pgp::packet::Key;
use pgp::packet::key::{PublicParts, SecretParts, UnspecifiedRole};
use pgp::types::Curve;
use sequoia_openpgp as pgp;

/// A key that can decrypt, cheap to clone per message.
#[derive(Clone)]
pub enum TeamDecryptor {
    Rsa(RsaCrt),
    X25519(X25519Prepared),
    Other(KeyPair),
}

impl TeamDecryptor {
    pub fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        match self {
            TeamDecryptor::Rsa(r) => &r.public,
            TeamDecryptor::X25519(x) => &x.public,
            TeamDecryptor::Other(k) => k.public(),
        }
    }

    pub fn as_decryptor(&mut self) -> &mut dyn Decryptor {
        match self {
            TeamDecryptor::Rsa(r) => r,
            TeamDecryptor::X25519(x) => x,
            TeamDecryptor::Other(k) => k,
        }
    }
}

/// An RSA decryption key prepared once, with CRT.
#[derive(Clone)]
pub struct RsaCrt {
    public: Key<PublicParts, UnspecifiedRole>,
    rsa: Rsa<openssl::pkey::Private>,
}

impl RsaCrt {
    pub fn new(key: &Key<SecretParts, UnspecifiedRole>) -> anyhow::Result<RsaCrt> {
        let (e, n) = match key.mpis() {
            mpi::PublicKey::RSA { e, n } => (e, n),
            _ => bail!("not an RSA key"),
        };
        let secret = match key.optional_secret() {
            Some(pgp::packet::key::SecretKeyMaterial::Unencrypted(u)) => u,
            _ => bail!("the RSA secret key is still locked"),
        };
        let rsa = secret.map(|s| -> anyhow::Result<Rsa<openssl::pkey::Private>> {
            let mpi::SecretKeyMaterial::RSA { d, p, q, u } = s else {
                bail!("not RSA secret material")
            };
            let bn = |v: &[u8]| BigNum::from_slice(v);
            // OpenPGP stores u = p^-1 mod q; OpenSSL wants iqmp = q'^-1 mod p'.
            // Swapping the primes makes u exactly OpenSSL's iqmp.
            let (p1, q1) = (bn(q.value())?, bn(p.value())?);
            let mut ctx = BigNumContext::new()?;
            let one = BigNum::from_u32(1)?;
            let mut pm1 = BigNum::new()?;
            pm1.checked_sub(&p1, &one)?;
            let mut qm1 = BigNum::new()?;
            qm1.checked_sub(&q1, &one)?;
            let d_bn = bn(d.value())?;
            let mut dmp1 = BigNum::new()?;
            dmp1.nnmod(&d_bn, &pm1, &mut ctx)?;
            let mut dmq1 = BigNum::new()?;
            dmq1.nnmod(&d_bn, &qm1, &mut ctx)?;
            let rsa =
                Rsa::from_private_components(bn(n.value())?, bn(e.value())?, d_bn, p1, q1, dmp1, dmq1, bn(u.value())?)?;
            if !rsa.check_key()? {
                bail!("the RSA key fails OpenSSL's consistency check");
            }
            Ok(rsa)
        })?;
        Ok(RsaCrt {
            public: key.clone().parts_into_public(),
            rsa,
        })
    }
}

impl Decryptor for RsaCrt {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn decrypt(&mut self, ciphertext: &mpi::Ciphertext, _plaintext_len: Option<usize>) -> pgp::Result<SessionKey> {
        let mpi::Ciphertext::RSA { c } = ciphertext else {
            return Err(anyhow!("not an RSA ciphertext"));
        };
        let size = self.rsa.size() as usize;
        let c = c.value();
        if c.len() > size {
            return Err(anyhow!("RSA ciphertext longer than the modulus"));
        }
        // MPIs drop leading zeros; RSA wants the full modulus width.
        let mut input = vec![0u8; size];
        input[size - c.len()..].copy_from_slice(c);
        let mut out: pgp::crypto::mem::Protected = vec![0u8; size].into();
        let n = self
            .rsa
            .private_decrypt(&input, &mut out, Padding::PKCS1)
            .map_err(|_| anyhow!("RSA decryption failed"))?;
        Ok(SessionKey::from(&out[..n.min(size)]))
    }
}

/// A Cv25519 (legacy ECDH on Curve25519) decryption key as an OpenSSL
/// X25519 key.
#[derive(Clone)]
pub struct X25519Prepared {
    pub(super) public: Key<PublicParts, UnspecifiedRole>,
    secret: PKey<Private>,
}

impl X25519Prepared {
    /// Is this an ECDH key on Curve25519 with its secret at hand?
    pub fn fits(key: &Key<SecretParts, UnspecifiedRole>) -> bool {
        matches!(
            key.mpis(),
            mpi::PublicKey::ECDH {
                curve: Curve::Cv25519,
                ..
            }
        ) && matches!(
            key.optional_secret(),
            Some(pgp::packet::key::SecretKeyMaterial::Unencrypted(_))
        )
    }

    pub fn new(key: &Key<SecretParts, UnspecifiedRole>) -> anyhow::Result<X25519Prepared> {
        let Some(pgp::packet::key::SecretKeyMaterial::Unencrypted(u)) = key.optional_secret() else {
            bail!("the Cv25519 secret key is still locked");
        };
        let secret = u.map(|s| -> anyhow::Result<PKey<Private>> {
            let mpi::SecretKeyMaterial::ECDH { scalar } = s else {
                bail!("not ECDH secret material");
            };
            // OpenPGP keeps the scalar big-endian and may drop leading
            // zeros; X25519 wants 32 bytes little-endian.
            let mut r: Protected = scalar.value_padded(32);
            r.reverse();
            Ok(PKey::private_key_from_raw_bytes(&r, Id::X25519)?)
        })?;
        let public = key.clone().parts_into_public();
        // The prepared key must be the key it claims to be.
        let mpi::PublicKey::ECDH { q, .. } = public.mpis() else {
            bail!("not an ECDH key");
        };
        let (ours, _) = q.decode_point(&Curve::Cv25519)?;
        if secret.raw_public_key()?.as_slice() != ours {
            bail!("the Cv25519 secret does not match its public key");
        }
        Ok(X25519Prepared { public, secret })
    }
}

impl Decryptor for X25519Prepared {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn decrypt(&mut self, ciphertext: &mpi::Ciphertext, plaintext_len: Option<usize>) -> pgp::Result<SessionKey> {
        let mpi::Ciphertext::ECDH { e, .. } = ciphertext else {
            return Err(anyhow!("not an ECDH ciphertext"));
        };
        let (ephemeral, _) = e.decode_point(&Curve::Cv25519)?;
        let peer = PKey::public_key_from_raw_bytes(ephemeral, Id::X25519)?;
        let mut deriver = Deriver::new(&self.secret)?;
        deriver.set_peer(&peer)?;
        let mut shared: Protected = vec![0u8; 32].into();
        let n = deriver.derive(&mut shared)?;
        if n != 32 {
            return Err(anyhow!("X25519 gave {n} bytes"));
        }
        pgp::crypto::ecdh::decrypt_unwrap(&self.public, &shared, ciphertext, plaintext_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgp::cert::prelude::*;
    use pgp::crypto::Password;
    use pgp::policy::StandardPolicy;

    fn subkey(cert: &Cert) -> Key<SecretParts, UnspecifiedRole> {
        let policy = StandardPolicy::new();
        cert.keys()
            .with_policy(&policy, None)
            .for_transport_encryption()
            .secret()
            .next()
            .unwrap()
            .key()
            .clone()
            .role_into_unspecified()
    }

    #[test]
    fn the_prepared_key_unwraps_what_sequoias_key_pair_unwraps() {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let key = subkey(&cert);
        assert!(X25519Prepared::fits(&key));
        let mut prepared = X25519Prepared::new(&key).unwrap();
        let mut stock = key.clone().into_keypair().unwrap();
        for _ in 0..8 {
            let session = SessionKey::new(32).unwrap();
            let ct = key.parts_as_public().encrypt(&session).unwrap();
            let ours = prepared.decrypt(&ct, None).unwrap();
            let theirs = stock.decrypt(&ct, None).unwrap();
            assert_eq!(ours, theirs);
        }
        // Another key's ciphertext does not unwrap.
        let (other, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let other_ct = subkey(&other)
            .parts_as_public()
            .encrypt(&SessionKey::new(32).unwrap())
            .unwrap();
        assert!(prepared.decrypt(&other_ct, None).is_err());
        // A locked key is not prepared.
        let locked = key.encrypt_secret(&Password::from("pw")).unwrap();
        assert!(!X25519Prepared::fits(&locked));
    }
}
