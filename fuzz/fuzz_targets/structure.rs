//! Structure-aware: the fuzzer's bytes are a small program that builds a
//! mail, so a few bytes become what breaks parsers: tens of thousands of
//! nested `message/rfc822` parts, multipart/digest parts that are messages
//! without saying so, thousands of sibling parts, key blocks with thousands
//! of user IDs or packets, and OpenPGP messages that decompress to tens of
//! MB. The mail goes through parsing, the OpenPGP stage (with a real team
//! key) and the storage bounds, as intake would walk it.
#![no_main]

use std::sync::OnceLock;

use embargo::openpgp::{self, TeamKeys};
use libfuzzer_sys::fuzz_target;
use sequoia_openpgp as pgp;
use pgp::cert::{CertBuilder, CipherSuite};
use pgp::serialize::SerializeInto as _;

struct Fixtures {
    team: TeamKeys,
    /// A reporter key's primary key packet, its user ID packet with the
    /// binding signature, and the rest (subkey and its binding).
    key_head: Vec<u8>,
    key_uid: Vec<u8>,
    key_tail: Vec<u8>,
    /// PGP messages to the team key: small on the wire, big once
    /// decompressed (bzip2 and zlib), armored.
    bombs: Vec<Vec<u8>>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let (cert, _) = CertBuilder::new()
            .add_userid("security@example.test")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .add_signing_subkey()
            .generate()
            .unwrap();
        let path = std::env::temp_dir().join(format!("embargo-fuzz-structure-{}.asc", std::process::id()));
        std::fs::write(&path, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let team = TeamKeys::load(&[path], None).unwrap();
        let (reporter, _) = CertBuilder::new()
            .add_userid("researcher@example.test")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let packets: Vec<Vec<u8>> = reporter
            .into_packets()
            .map(|p| pgp::Packet::from(p).to_vec().unwrap())
            .collect();
        // primary, user ID, its binding, subkey, its binding
        let key_head = packets[0].clone();
        let key_uid = [packets[1].clone(), packets[2].clone()].concat();
        let key_tail = packets[3..].concat();
        let bombs = [(pgp::types::CompressionAlgorithm::BZip2, 8 << 20), (pgp::types::CompressionAlgorithm::Zip, 4 << 20)]
            .into_iter()
            .map(|(algo, size)| bomb(&cert, algo, size))
            .collect();
        Fixtures { team, key_head, key_uid, key_tail, bombs }
    })
}

/// `size` bytes of text, compressed with `algo`, encrypted to `cert`.
fn bomb(cert: &pgp::Cert, algo: pgp::types::CompressionAlgorithm, size: usize) -> Vec<u8> {
    use pgp::serialize::stream::{Armorer, Compressor, Encryptor, LiteralWriter, Message};
    use std::io::Write as _;
    let policy = pgp::policy::StandardPolicy::new();
    let recipients = cert.keys().with_policy(&policy, None).supported().for_transport_encryption();
    let mut out = Vec::new();
    let m = Message::new(&mut out);
    let m = Armorer::new(m).build().unwrap();
    let m = Encryptor::for_recipients(m, recipients).build().unwrap();
    let m = Compressor::new(m).algo(algo).build().unwrap();
    let mut w = LiteralWriter::new(m).build().unwrap();
    let line = b"Content-Type: text/plain\r\n\r\n";
    w.write_all(line).unwrap();
    let chunk = vec![b'A'; 64 * 1024];
    for _ in 0..size / chunk.len() {
        w.write_all(&chunk).unwrap();
    }
    w.finalize().unwrap();
    out
}

/// Builds the mail the program in `data` describes, without recursion.
fn build(data: &[u8]) -> Vec<u8> {
    let f = fixtures();
    let mut out: Vec<u8> = b"From: Researcher <researcher@example.test>\r\nTo: security@example.test\r\n\
        Subject: structured\r\nMessage-ID: <s@example.test>\r\nMIME-Version: 1.0\r\n"
        .to_vec();
    // Open containers: the boundary of each multipart, None for a message.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize| -> u8 {
        let b = data.get(*i).copied().unwrap_or(0);
        *i += 1;
        b
    };
    let part_head = |open: &[Option<String>], out: &mut Vec<u8>| {
        if let Some(Some(b)) = open.last() {
            out.extend_from_slice(format!("\r\n--{b}\r\n").as_bytes());
        }
    };
    while i < data.len() && out.len() < 16 << 20 {
        let op = next(&mut i) % 9;
        let start = out.len();
        match op {
            0 => {
                part_head(&open, &mut out);
                out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
                open.push(None);
            }
            1 | 2 => {
                part_head(&open, &mut out);
                let b = format!("b{}x{}", open.len(), i);
                let kind = if op == 1 { "mixed" } else { "digest" };
                out.extend_from_slice(format!("Content-Type: multipart/{kind}; boundary=\"{b}\"\r\n\r\n").as_bytes());
                open.push(Some(b));
            }
            3 => {
                part_head(&open, &mut out);
                let n = next(&mut i) as usize * 8;
                out.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
                out.extend(std::iter::repeat_n(b'x', n));
            }
            4 => {
                // A key block with many user IDs.
                part_head(&open, &mut out);
                let n = u16::from_le_bytes([next(&mut i), next(&mut i)]) as usize;
                let mut key = f.key_head.clone();
                for _ in 0..n {
                    key.extend_from_slice(&f.key_uid);
                }
                key.extend_from_slice(&f.key_tail);
                out.extend_from_slice(b"Content-Type: application/pgp-keys\r\n\r\n");
                out.extend_from_slice(&key);
            }
            5 => {
                part_head(&open, &mut out);
                let b = &f.bombs[next(&mut i) as usize % f.bombs.len()];
                out.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
                out.extend_from_slice(b);
            }
            6 => {
                // Repeat the last op's bytes up to 255 x 256 times.
                let times = next(&mut i) as usize * 256;
                for _ in 0..times {
                    if out.len() + last.len() > 16 << 20 {
                        break;
                    }
                    out.extend_from_slice(&last);
                }
            }
            7 => {
                if let Some(Some(b)) = open.pop() {
                    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
                }
            }
            _ => {
                part_head(&open, &mut out);
                out.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
                out.extend_from_slice(&data[i.min(data.len())..(i + 64).min(data.len())]);
            }
        }
        if op != 6 {
            last = out[start..].to_vec();
        }
    }
    while let Some(c) = open.pop() {
        if let Some(b) = c {
            out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let raw = build(data);
    let Ok(m) = embargo::message::parse(&raw) else { return };
    let f = fixtures();
    let ctx = openpgp::Context { team: &f.team, known: Vec::new(), max_decrypted_size: 32 << 20 };
    let o = openpgp::open(&raw, m, &ctx);
    let _ = embargo::text::printable(&o.msg.body_text);
    for l in &o.learned {
        assert!(openpgp::pin::within_caps(&l.cert), "a key past the caps was learned");
    }
});
