//! Unit tests with keys and messages made by sequoia itself (the gpg
//! interop tests live in tests/it/openpgp.rs).

use std::io::Write as _;
use std::path::PathBuf;

use pgp::cert::{CertBuilder, CipherSuite};
use pgp::policy::StandardPolicy;
use pgp::serialize::SerializeInto as _;
use pgp::serialize::stream::{Armorer, Compressor, Encryptor, LiteralWriter, Message};
use pgp::types::CompressionAlgorithm;
use sequoia_openpgp as pgp;

use super::*;
use crate::message::parse;

fn cert(uid: &str, suite: CipherSuite) -> Cert {
    CertBuilder::new()
        .add_userid(uid)
        .set_cipher_suite(suite)
        .add_signing_subkey()
        .add_transport_encryption_subkey()
        .generate()
        .unwrap()
        .0
}

fn team_keys(c: &Cert) -> (tempfile::TempDir, TeamKeys) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("team.sec.asc");
    std::fs::write(&path, c.as_tsk().armored().to_vec().unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keys = TeamKeys::load(&[path], None).unwrap();
    (dir, keys)
}

/// A raw mail around a PGP/MIME (or signed) body.
fn mail(w: &compose::Wrapped, extra_parts: Option<&str>) -> Vec<u8> {
    let head = "Return-Path: <r@example.test>\r\nFrom: r@example.test\r\nTo: s@example.test\r\nSubject: outer\r\n\
                Message-ID: <m@example.test>\r\nMIME-Version: 1.0\r\n";
    match extra_parts {
        None => format!("{head}Content-Type: {}\r\n\r\n{}", w.content_type, String::from_utf8_lossy(&w.body)).into_bytes(),
        Some(extra) => format!(
            "{head}Content-Type: multipart/mixed; boundary=\"OUT\"\r\n\r\n--OUT\r\n{extra}\r\n--OUT\r\nContent-Type: {}\r\n\r\n{}\r\n--OUT--\r\n",
            w.content_type,
            String::from_utf8_lossy(&w.body)
        )
        .into_bytes(),
    }
}

fn open_raw(raw: &[u8], team: &TeamKeys, known: Vec<Cert>, cap: u64) -> Opened {
    open(
        raw,
        parse(raw).unwrap(),
        &Context {
            team,
            known,
            max_decrypted_size: cap,
        },
    )
}

const ENTITY: &[u8] = b"Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: inner subject\r\n\r\nthe secret report\r\n";

#[test]
fn rsa_crt_decryptor_decrypts_what_sequoia_encrypts() {
    let team = cert("security@example.test", CipherSuite::RSA2k);
    let (_d, keys) = team_keys(&team);
    let w = compose::encrypt(ENTITY, None, std::slice::from_ref(&team)).unwrap();
    let o = open_raw(&mail(&w, None), &keys, vec![], 1 << 20);
    assert!(o.protection.encrypted);
    assert_eq!(o.protection.failure, None);
    assert!(o.msg.body_text.contains("the secret report"), "{}", o.msg.body_text);
    assert_eq!(o.msg.subject, "inner subject");
}

#[test]
fn signed_and_encrypted_verifies_with_a_known_key() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let reporter = cert("r@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let (_d2, reporter_keys) = team_keys(&reporter);
    let w = compose::encrypt(ENTITY, reporter_keys.signer(), std::slice::from_ref(&team)).unwrap();
    let raw = mail(&w, None);
    let unknown = open_raw(&raw, &keys, vec![], 1 << 20);
    assert!(
        matches!(unknown.protection.signature, SigState::UnknownKey { .. }),
        "{:?}",
        unknown.protection.signature
    );
    let known = open_raw(&raw, &keys, vec![reporter.clone().strip_secret_key_material()], 1 << 20);
    assert!(
        matches!(known.protection.signature, SigState::Good { .. }),
        "{:?}",
        known.protection.signature
    );
}

#[test]
fn cleartext_around_ciphertext_is_never_mixed_in() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let w = compose::encrypt(ENTITY, None, std::slice::from_ref(&team)).unwrap();
    let raw = mail(
        &w,
        Some("Content-Type: text/plain\r\n\r\nINJECTED <img src=\"http://evil/"),
    );
    let o = open_raw(&raw, &keys, vec![], 1 << 20);
    assert!(o.msg.body_text.contains("the secret report"));
    assert!(!o.msg.body_text.contains("INJECTED"), "EFAIL: {}", o.msg.body_text);
    assert!(
        o.protection.notes.iter().any(|n| n.contains("cleartext")),
        "{:?}",
        o.protection.notes
    );
}

#[test]
fn a_signed_part_does_not_vouch_for_unsigned_parts() {
    let reporter = cert("r@example.test", CipherSuite::Cv25519);
    let (_d, reporter_keys) = team_keys(&reporter);
    let entity = b"Content-Type: text/plain\r\n\r\nsigned text\r\n";
    let w = compose::sign(entity, reporter_keys.signer().unwrap()).unwrap();
    let public = vec![reporter.clone().strip_secret_key_material()];
    let none = TeamKeys::none();
    let whole = open_raw(&mail(&w, None), &none, public.clone(), 1 << 20);
    assert!(
        matches!(whole.protection.signature, SigState::Good { .. }),
        "{:?}",
        whole.protection.signature
    );
    let nested = open_raw(
        &mail(&w, Some("Content-Type: text/plain\r\n\r\nunsigned addition")),
        &none,
        public.clone(),
        1 << 20,
    );
    assert_eq!(nested.protection.signature, SigState::None);
    assert!(
        nested
            .protection
            .notes
            .iter()
            .any(|n| n.contains("not counted as signed"))
    );
    // Tampering with the signed text makes it bad.
    let mut tampered = String::from_utf8(mail(&w, None)).unwrap();
    tampered = tampered.replacen("signed text", "signed TEXT", 1);
    let bad = open_raw(tampered.as_bytes(), &none, public, 1 << 20);
    assert_eq!(bad.protection.signature, SigState::Bad);
}

#[test]
fn compression_bombs_stop_at_the_cap() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let policy = StandardPolicy::new();
    let recipients: Vec<_> = team
        .keys()
        .with_policy(&policy, None)
        .for_transport_encryption()
        .map(pgp::serialize::stream::Recipient::from)
        .collect();
    let mut sink = Vec::new();
    {
        let m = Armorer::new(Message::new(&mut sink)).build().unwrap();
        let m = Encryptor::for_recipients(m, recipients).build().unwrap();
        let m = Compressor::new(m).algo(CompressionAlgorithm::Zip).build().unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..16 {
            w.write_all(&zeros).unwrap();
        }
        w.finalize().unwrap();
    }
    assert!(sink.len() < 200_000, "a bomb: {} bytes for 16 MiB", sink.len());
    let raw = [&b"Return-Path: <r@x>\r\nFrom: r@x\r\nSubject: s\r\n\r\n"[..], &sink].concat();
    let o = open_raw(&raw, &keys, vec![], 1 << 20);
    assert_eq!(o.protection.failure, Some(Failure::TooLarge { cap: 1 << 20 }));
    assert_eq!(o.msg.body_text, "", "nothing of it is used");
}

#[test]
fn wrong_key_and_garbage_are_values_not_panics() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let other = cert("other@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let w = compose::encrypt(ENTITY, None, std::slice::from_ref(&other)).unwrap();
    let o = open_raw(&mail(&w, None), &keys, vec![], 1 << 20);
    assert!(matches!(o.protection.failure, Some(Failure::NoKey { ref recipients }) if !recipients.is_empty()));
    assert_eq!(o.msg.body_text, "");

    let garbage = b"From: r@x\r\nReturn-Path: <r@x>\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA!!!not base64\r\n-----END PGP MESSAGE-----\r\n";
    let o = open_raw(garbage, &keys, vec![], 1 << 20);
    assert!(o.protection.encrypted);
    assert!(
        matches!(
            o.protection.failure,
            Some(Failure::Broken { .. }) | Some(Failure::NoKey { .. })
        ),
        "{:?}",
        o.protection.failure
    );
    for junk in [
        &b"-----BEGIN PGP MESSAGE-----"[..],
        b"\x85\x01\x0c\x03",
        b"-----BEGIN PGP MESSAGE-----\n\n=AAAA\n",
    ] {
        let _ = decrypt::decrypt(junk, &keys, &[], 1 << 20, None);
        let _ = decrypt::verify_detached(junk, b"data", &[]);
    }
}

#[test]
fn keys_are_learned_only_for_the_sender() {
    let reporter = cert("r@example.test", CipherSuite::Cv25519);
    let stranger = cert("x@example.org", CipherSuite::Cv25519);
    let bytes = |c: &Cert| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, c.to_vec().unwrap());
    let raw = format!(
        "Return-Path: <r@example.test>\r\nFrom: r@example.test\r\nAutocrypt: addr=r@example.test; keydata={}\r\n\
         Autocrypt: addr=x@example.org; keydata={}\r\nSubject: s\r\n\r\nhi\r\n",
        bytes(&reporter),
        bytes(&stranger)
    );
    let o = open_raw(raw.as_bytes(), &TeamKeys::none(), vec![], 1 << 20);
    assert_eq!(o.learned.len(), 1);
    assert_eq!(o.learned[0].fingerprint, reporter.fingerprint().to_hex());
    assert!(!o.learned[0].cert.is_tsk(), "public parts only");
}

#[test]
fn key_files_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.sec.asc");
    std::fs::write(&path, team.as_tsk().armored().to_vec().unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = TeamKeys::load(std::slice::from_ref(&path), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("team.sec.asc") && err.contains("readable by group or others"),
        "{err}"
    );
    // A public key alone is not a team key.
    std::fs::write(&path, team.armored().to_vec().unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = TeamKeys::load(&[path], None).unwrap_err().to_string();
    assert!(err.contains("no secret key"), "{err}");
}

#[test]
fn rsa_4096_pgp_mime_from_sequoia_decrypts() {
    let team = cert("security@example.test", CipherSuite::RSA4k);
    let (_d, keys) = team_keys(&team);
    let w = compose::encrypt(ENTITY, None, std::slice::from_ref(&team)).unwrap();
    let o = open_raw(&mail(&w, None), &keys, vec![], 1 << 20);
    assert_eq!(o.protection.failure, None);
    assert!(o.msg.body_text.contains("the secret report"));
}

#[test]
fn a_third_child_of_multipart_signed_makes_it_unsigned() {
    let reporter = cert("r@example.test", CipherSuite::Cv25519);
    let (_d, reporter_keys) = team_keys(&reporter);
    let w = compose::sign(ENTITY, reporter_keys.signer().unwrap()).unwrap();
    let public = vec![reporter.clone().strip_secret_key_material()];
    let none = TeamKeys::none();
    let whole = open_raw(&mail(&w, None), &none, public.clone(), 1 << 20);
    assert!(matches!(whole.protection.signature, SigState::Good { .. }));
    assert_eq!(
        whole.protection.signed_subject.as_deref(),
        Some("inner subject"),
        "the protected subject of the signed entity"
    );
    // The same signed message with a third child appended by someone else.
    let raw = String::from_utf8(mail(&w, None)).unwrap();
    let boundary = raw
        .split("boundary=\"")
        .nth(1)
        .and_then(|b| b.split('"').next())
        .unwrap()
        .to_owned();
    let end = format!("--{boundary}--");
    let tampered = raw.replacen(
        &end,
        &format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\nADDED\r\n{end}"),
        1,
    );
    let o = open_raw(tampered.as_bytes(), &none, public, 1 << 20);
    assert_eq!(o.protection.signature, SigState::None);
    assert_eq!(o.protection.signed_subject, None);
    assert!(
        o.protection
            .notes
            .iter()
            .any(|n| n.contains("outside its signed entity"))
    );
}

#[test]
fn each_ciphertext_is_decrypted_once_and_the_budget_is_summed() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let w = compose::encrypt(ENTITY, None, std::slice::from_ref(&team)).unwrap();
    let armored = String::from_utf8_lossy(&w.body);
    let block = &armored[armored.find("-----BEGIN PGP MESSAGE-----").unwrap()..];
    let block = &block[..block.find("-----END PGP MESSAGE-----").unwrap() + 25];
    // 200 control parts, all pointing at the same ciphertext.
    let one = String::from_utf8(mail(&w, None)).unwrap();
    let control_at = one.find("Content-Type: application/pgp-encrypted").unwrap();
    let boundary_at = one[..control_at].rfind("--").unwrap();
    let next = control_at + one[control_at..].find("\r\n--").unwrap() + 2;
    let control = one[boundary_at..next].to_owned();
    let raw = format!("{}{}{}", &one[..boundary_at], control.repeat(200), &one[boundary_at..]);
    assert!(raw.matches("application/pgp-encrypted").count() > 200);
    let o = open_raw(raw.as_bytes(), &keys, vec![], 1 << 20);
    assert_eq!(o.protection.failure, None);
    assert_eq!(
        o.msg.body_text.matches("the secret report").count(),
        1,
        "decrypted once"
    );
    // Two different ciphertexts: the cap applies to their sum.
    let w2 = compose::encrypt(
        b"Content-Type: text/plain\r\n\r\nsecond part\r\n",
        None,
        std::slice::from_ref(&team),
    )
    .unwrap();
    let armored2 = String::from_utf8_lossy(&w2.body);
    let block2 = &armored2[armored2.find("-----BEGIN PGP MESSAGE-----").unwrap()..];
    let block2 = &block2[..block2.find("-----END PGP MESSAGE-----").unwrap() + 25];
    let two = format!("Return-Path: <r@x.test>\r\nFrom: r@x.test\r\nSubject: s\r\n\r\n{block}\r\n{block2}\r\n");
    let both = open_raw(two.as_bytes(), &keys, vec![], 1 << 20);
    assert!(both.msg.body_text.contains("second part"));
    let cap = (ENTITY.len() + 10) as u64;
    let capped = open_raw(two.as_bytes(), &keys, vec![], cap);
    assert_eq!(capped.protection.failure, Some(Failure::TooLarge { cap }));
}

#[test]
fn deeply_nested_mime_is_not_searched() {
    let team = cert("security@example.test", CipherSuite::Cv25519);
    let (_d, keys) = team_keys(&team);
    let mut raw = String::from("Return-Path: <r@x.test>\r\nFrom: r@x.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n");
    for i in 0..40 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
    for i in (0..40).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    let o = open_raw(raw.as_bytes(), &keys, vec![], 1 << 20);
    assert!(
        o.protection.notes.iter().any(|n| n.contains("nested")),
        "{:?}",
        o.protection.notes
    );
    assert!(!o.protection.encrypted);
}
