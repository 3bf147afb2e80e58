//! Signing and encrypting outgoing mail as PGP/MIME (RFC 3156).

use std::io::Write as _;

use base64::Engine as _;
use pgp::Cert;
use pgp::armor;
use pgp::crypto::KeyPair;
use pgp::policy::StandardPolicy;
use pgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use pgp::types::HashAlgorithm;
use sequoia_openpgp as pgp;

use super::{Error, Result};

/// A multipart body and the Content-Type header value that goes with it.
pub struct Wrapped {
    pub content_type: String,
    pub body: Vec<u8>,
}

fn boundary() -> String {
    use rand::Rng as _;
    format!("embargo-{:024x}", rand::rng().random::<u128>() >> 32)
}

/// `multipart/signed` around `entity` (a complete MIME entity, CRLF line
/// endings), with a detached SHA-256 signature by `signer`.
pub fn sign(entity: &[u8], signer: KeyPair) -> Result<Wrapped> {
    let mut sig = Vec::new();
    (|| -> anyhow::Result<()> {
        let message = Message::new(&mut sig);
        let message = Armorer::new(message).kind(armor::Kind::Signature).build()?;
        let mut w = Signer::new(message, signer)?
            .hash_algo(HashAlgorithm::SHA256)?
            .detached()
            .build()?;
        w.write_all(entity)?;
        w.finalize()
    })()
    .map_err(|e| Error::crypto("signing", e))?;
    let b = boundary();
    let mut body = Vec::with_capacity(entity.len() + sig.len() + 512);
    body.extend_from_slice(
        format!("This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--{b}\r\n").as_bytes(),
    );
    body.extend_from_slice(entity);
    body.extend_from_slice(
        format!(
            "\r\n--{b}\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
             Content-Description: OpenPGP digital signature\r\n\
             Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&crlf(&sig));
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Ok(Wrapped {
        content_type: format!(
            "multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"{b}\""
        ),
        body,
    })
}

/// `multipart/encrypted` holding `entity`, signed by `signer` when given,
/// encrypted to every usable encryption key of `recipients`.
pub fn encrypt(entity: &[u8], signer: Option<KeyPair>, recipients: &[Cert]) -> Result<Wrapped> {
    let policy = StandardPolicy::new();
    let valid: Vec<_> = recipients
        .iter()
        .filter_map(|c| c.with_policy(&policy, None).ok())
        .collect();
    let keys: Vec<Recipient<'_>> = valid
        .iter()
        .flat_map(|v| {
            v.keys()
                .supported()
                .alive()
                .revoked(false)
                .for_transport_encryption()
                .for_storage_encryption()
        })
        .map(|ka| ka.into())
        .collect();
    if keys.is_empty() {
        return Err(Error::NoRecipientKey);
    }
    let mut armored = Vec::new();
    (|| -> anyhow::Result<()> {
        let message = Message::new(&mut armored);
        let message = Armorer::new(message).build()?;
        let message = Encryptor::for_recipients(message, keys).build()?;
        let message = match signer {
            Some(s) => Signer::new(message, s)?.hash_algo(HashAlgorithm::SHA256)?.build()?,
            None => message,
        };
        let mut w = LiteralWriter::new(message).build()?;
        w.write_all(entity)?;
        w.finalize()
    })()
    .map_err(|e| Error::crypto("encrypting", e))?;
    let b = boundary();
    let mut body = Vec::with_capacity(armored.len() + 512);
    body.extend_from_slice(
        format!(
            "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--{b}\r\n\
             Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\n\
             Version: 1\r\n\r\n--{b}\r\n\
             Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
             Content-Description: OpenPGP encrypted message\r\n\
             Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&crlf(&armored));
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Ok(Wrapped {
        content_type: format!("multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"{b}\""),
        body,
    })
}

/// The value of our `Autocrypt:` header (Autocrypt Level 1 §2.1); the key
/// data is broken into space-separated chunks so the header can be folded.
pub fn autocrypt_value(addr: &str, cert_bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert_bytes);
    let chunks: Vec<&str> = b64
        .as_bytes()
        .chunks(72)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!("addr={addr}; prefer-encrypt=mutual; keydata={}", chunks.join(" "))
}

/// Armor with CRLF line endings and no trailing line break (the caller
/// adds the one before the boundary).
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = super::crlf(data);
    while out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// `text` clearsigned with the team key (security.txt, RFC 9116 §2.3;
/// the advisory announcements).
pub fn clearsign(text: &str, team: &super::TeamKeys) -> anyhow::Result<String> {
    let signer = team
        .signer()
        .ok_or_else(|| anyhow::anyhow!("no team signing key is configured ([openpgp] keys)"))?;
    let mut out = Vec::new();
    {
        let message = Message::new(&mut out);
        let mut w = Signer::new(message, signer)?.cleartext().build()?;
        w.write_all(text.as_bytes())?;
        w.finalize()?;
    }
    Ok(String::from_utf8(out)?)
}
