//! The fast decryption path (`openpgp::fast`) against sequoia's stream
//! decryptor, on mail made by gpg in every shape it writes: the same
//! plaintext, signature state or failure from both, and the fast path taken
//! exactly where the shape is the common one.

use embargo::openpgp::decrypt::{self, Decrypted, Failure};
use embargo::openpgp::{TeamKeys, fast};
use sequoia_openpgp::Cert;
use sequoia_openpgp::parse::Parse as _;

use crate::gpg::{keys, reporter_gpg, write_key};

const TEAM_CV: &str = "security@example.test";
const TEAM_RSA: &str = "security-rsa@example.test";
const STRANGER: &str = "unrelated@example.org";

fn team() -> (tempfile::TempDir, TeamKeys) {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let cv = write_key(dir.path(), "cv.asc", &k.team_cv_secret);
    let rsa = write_key(dir.path(), "rsa.asc", &k.team_rsa_secret);
    let team = TeamKeys::load(&[cv, rsa], None).unwrap();
    (dir, team)
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"embargo report line\n"[i % 20]).collect()
}

/// Bytes that do not compress (so the output is as large as the input).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// gpg's output for `plaintext`: from a pipe (partial body lengths) when
/// small, from a file when large (gpg's stdout would fill while its stdin is
/// still being written).
fn encrypt(g: &crate::gpg::Gpg, args: &[&str], plaintext: &[u8]) -> Vec<u8> {
    if plaintext.len() < 16 * 1024 {
        return g.ok(args, plaintext);
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&input, plaintext).unwrap();
    let mut all = args.to_vec();
    all.extend(["-o", output.to_str().unwrap(), input.to_str().unwrap()]);
    g.ok(&all, b"");
    std::fs::read(output).unwrap()
}

type Outcome = Result<(Vec<u8>, String), Failure>;

fn outcome(r: Result<Decrypted, Failure>) -> Outcome {
    r.map(|d| {
        assert!(d.session.is_some(), "a decrypted message keeps its session key");
        (d.plaintext, d.sig.as_str().to_owned())
    })
}

fn summary(o: &Outcome) -> String {
    match o {
        Ok((plaintext, sig)) => format!("{} bytes, signature {sig}", plaintext.len()),
        Err(e) => e.to_string(),
    }
}

/// Decrypts with both paths, asserts they agree, and says whether the fast
/// path finished on its own.
fn both(team: &TeamKeys, certs: &[Cert], ciphertext: &[u8], cap: u64) -> (Outcome, bool) {
    let fast = outcome(decrypt::decrypt(ciphertext, team, certs, cap, None));
    let stream = outcome(decrypt::decrypt_stream(ciphertext, team, certs, cap, None));
    match (&fast, &stream) {
        (Err(Failure::Broken { .. }), Err(Failure::Broken { .. })) => {}
        _ => assert!(
            fast == stream,
            "the fast path and sequoia disagree: {} against {}",
            summary(&fast),
            summary(&stream)
        ),
    }
    // Armored input is dearmored by `decrypt`; the fast path takes binary.
    let binary = if ciphertext.starts_with(b"-----") {
        let mut out = Vec::new();
        let mut r =
            sequoia_openpgp::armor::Reader::from_bytes(ciphertext, sequoia_openpgp::armor::ReaderMode::Tolerant(None));
        std::io::Read::read_to_end(&mut r, &mut out).unwrap();
        out
    } else {
        ciphertext.to_vec()
    };
    let took = matches!(fast::decrypt(&binary, team, cap, None), fast::Fast::Done { .. });
    (fast, took)
}

#[test]
fn every_shape_gpg_writes_decrypts_the_same_both_ways() {
    let (_dir, team) = team();
    let g = reporter_gpg();
    let reporter = Cert::from_bytes(&keys().reporter_public).unwrap();
    let small = text(4096);
    // (what, gpg arguments, plaintext, the fast path finishes)
    let cases: Vec<(&str, Vec<&str>, Vec<u8>, bool)> = vec![
        (
            "default (ZIP, partial lengths)",
            vec!["-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "zlib",
            vec!["--compress-algo", "zlib", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "bzip2",
            vec!["--compress-algo", "bzip2", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "uncompressed",
            vec!["--compress-algo", "none", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "AES-128",
            vec!["--cipher-algo", "AES", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "AES-192",
            vec!["--cipher-algo", "AES192", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "Camellia (sequoia's)",
            vec!["--cipher-algo", "CAMELLIA256", "-r", TEAM_CV],
            small.clone(),
            false,
        ),
        (
            "hidden recipient",
            vec!["--throw-keyids", "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        (
            "another recipient first",
            vec!["-r", STRANGER, "-r", TEAM_CV],
            small.clone(),
            true,
        ),
        ("RSA-4096 team key", vec!["-r", TEAM_RSA], small.clone(), true),
        ("signed (sequoia's)", vec!["-s", "-r", TEAM_CV], small.clone(), false),
        ("empty", vec!["-r", TEAM_CV], Vec::new(), true),
        ("2 MB incompressible", vec!["-r", TEAM_CV], noise(2 << 20), true),
        ("binary, not armored", vec!["-r", TEAM_CV], small.clone(), true),
    ];
    for (what, args, plaintext, fast_expected) in cases {
        let mut full = vec!["-e"];
        if what != "binary, not armored" {
            full.push("--armor");
        }
        full.extend(args);
        let ciphertext = encrypt(&g, &full, &plaintext);
        let (out, took) = both(&team, std::slice::from_ref(&reporter), &ciphertext, 4 << 20);
        let (got, sig) = out.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got, plaintext, "{what}");
        let signed = what.starts_with("signed");
        assert_eq!(sig, if signed { "good" } else { "none" }, "{what}");
        assert_eq!(took, fast_expected, "{what}: fast path taken");
    }
}

#[test]
fn a_file_with_its_name_and_definite_lengths() {
    let (_dir, team) = team();
    let g = reporter_gpg();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poc.txt");
    std::fs::write(&path, text(3000)).unwrap();
    let path = path.to_str().unwrap();
    let ciphertext = g.ok(&["-e", "--armor", "-r", TEAM_CV, "-o", "-", path], b"");
    let (out, took) = both(&team, &[], &ciphertext, 1 << 20);
    assert_eq!(out.unwrap().0, text(3000));
    assert!(took);
}

#[test]
fn failures_are_the_same_failures() {
    let (_dir, team) = team();
    let g = reporter_gpg();
    // Encrypted to someone else only: NoKey naming the recipient, both ways.
    let theirs = g.ok(&["-e", "--armor", "-r", STRANGER], &text(100));
    let (out, took) = both(&team, &[], &theirs, 1 << 20);
    assert!(
        matches!(out, Err(Failure::NoKey { ref recipients }) if recipients.len() == 1),
        "{out:?}"
    );
    assert!(!took);
    // Above the cap, compressed and not: TooLarge.
    for compress in ["zip", "none"] {
        let big = encrypt(&g, &["-e", "--compress-algo", compress, "-r", TEAM_CV], &noise(100_000));
        let (out, took) = both(&team, &[], &big, 50_000);
        assert_eq!(out, Err(Failure::TooLarge { cap: 50_000 }), "{compress}");
        assert!(!took, "{compress}");
    }
    // A compression bomb stops at the cap.
    let bomb = encrypt(&g, &["-e", "--compress-algo", "zlib", "-r", TEAM_CV], &vec![0; 8 << 20]);
    let (out, _) = both(&team, &[], &bomb, 1 << 20);
    assert_eq!(out, Err(Failure::TooLarge { cap: 1 << 20 }));
    // One flipped byte in the encrypted data: the MDC fails, nothing is
    // returned, both ways.
    let good = g.ok(&["-e", "--compress-algo", "none", "-r", TEAM_CV], &text(4096));
    for at in [good.len() - 10, good.len() - 30, good.len() / 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let (out, took) = both(&team, &[], &bad, 1 << 20);
        assert!(matches!(out, Err(Failure::Broken { .. })), "flipped at {at}: {out:?}");
        assert!(!took);
    }
    // Cut short.
    let (out, took) = both(&team, &[], &good[..good.len() - 5], 1 << 20);
    assert!(matches!(out, Err(Failure::Broken { .. })), "{out:?}");
    assert!(!took);
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A packet with a new-format header, the length written in the form `form`
/// picks (one, two or five bytes, or partial body lengths).
fn new_packet(tag: u8, body: &[u8], form: usize) -> Vec<u8> {
    let mut out = vec![0xC0 | tag];
    match form % 4 {
        0 if body.len() < 192 => out.push(body.len() as u8),
        1 if (192..8384).contains(&body.len()) => {
            let l = body.len() - 192;
            out.extend([(l >> 8) as u8 + 192, l as u8]);
        }
        3 if body.len() >= 512 => {
            // 512-byte chunks, then the rest with a five-byte length.
            let mut rest = body;
            while rest.len() >= 512 {
                out.push(224 + 9);
                out.extend_from_slice(&rest[..512]);
                rest = &rest[512..];
            }
            out.push(255);
            out.extend((rest.len() as u32).to_be_bytes());
            out.extend_from_slice(rest);
            return out;
        }
        _ => {
            out.push(255);
            out.extend((body.len() as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
    out
}

/// The content of a SEIPD packet: a literal packet, maybe compressed, maybe
/// damaged, maybe with something before or after it.
fn content(rng: &mut Rng) -> Vec<u8> {
    let data_len = [0, 1, 100, 700, 5000][rng.below(5)];
    let data = if rng.below(2) == 0 {
        text(data_len)
    } else {
        rng.bytes(data_len)
    };
    let name_len = rng.below(3) * 4;
    let mut body = vec![[b'b', b't', b'u', b'x'][rng.below(4)], name_len as u8];
    body.extend(rng.bytes(name_len + 4));
    body.extend(&data);
    let mut packets = new_packet(11, &body, rng.below(4));
    if rng.below(3) > 0 {
        let algo = rng.below(4) as u8;
        let compressed = match algo {
            1 => {
                let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut z, &packets).unwrap();
                z.finish().unwrap()
            }
            2 => {
                let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut z, &packets).unwrap();
                z.finish().unwrap()
            }
            3 => {
                let mut z = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                std::io::Write::write_all(&mut z, &packets).unwrap();
                z.finish().unwrap()
            }
            _ => packets.clone(),
        };
        let mut body = vec![algo];
        body.extend(compressed);
        packets = if rng.below(2) == 0 {
            // Legacy format, indeterminate length, as gpg writes it.
            let mut p = vec![0x80 | (8 << 2) | 3];
            p.extend(body);
            p
        } else {
            new_packet(8, &body, rng.below(4))
        };
    }
    // Damage: flipped bytes, a cut, bytes after, a packet before.
    for _ in 0..rng.below(4).saturating_sub(1) {
        if !packets.is_empty() {
            let at = rng.below(packets.len());
            packets[at] ^= 1 << rng.below(8);
        }
    }
    match rng.below(8) {
        0 if !packets.is_empty() => packets.truncate(rng.below(packets.len())),
        1 => {
            let n = 1 + rng.below(3);
            packets.extend(rng.bytes(n));
        }
        2 => {
            let mut marker = new_packet(10, b"PGP", 0);
            marker.extend(packets);
            packets = marker;
        }
        _ => {}
    }
    packets
}

/// A message to the team's Cv25519 key with `content` inside a valid SEIPD
/// v1 (AES-256, correct MDC): what a sender who writes odd packets sends.
fn seal(rng: &mut Rng, content: &[u8]) -> Vec<u8> {
    use sequoia_openpgp::crypto::SessionKey;
    use sequoia_openpgp::packet::pkesk::PKESK3;
    use sequoia_openpgp::serialize::Serialize as _;
    use sequoia_openpgp::types::SymmetricAlgorithm;
    let cert = Cert::from_bytes(&keys().team_cv_public).unwrap();
    let policy = sequoia_openpgp::policy::StandardPolicy::new();
    let subkey = cert
        .keys()
        .with_policy(&policy, None)
        .for_transport_encryption()
        .next()
        .unwrap();
    let key = rng.bytes(32);
    let pkesk =
        PKESK3::for_recipient(SymmetricAlgorithm::AES256, &SessionKey::from(key.clone()), subkey.key()).unwrap();
    let mut out = Vec::new();
    sequoia_openpgp::Packet::from(pkesk).serialize(&mut out).unwrap();
    let mut plain = rng.bytes(16);
    plain.extend([plain[14], plain[15]]);
    plain.extend_from_slice(content);
    plain.extend([0xD3, 0x14]);
    let mdc = openssl::sha::sha1(&plain);
    plain.extend(mdc);
    let mut c = openssl::symm::Crypter::new(
        openssl::symm::Cipher::aes_256_cfb128(),
        openssl::symm::Mode::Encrypt,
        &key,
        Some(&[0; 16]),
    )
    .unwrap();
    let mut body = vec![0; plain.len() + 16];
    let n = c.update(&plain, &mut body).unwrap();
    body.truncate(n);
    body.insert(0, 1);
    out.extend(new_packet(18, &body, rng.below(4)));
    out
}

#[test]
fn odd_packets_inside_a_valid_seipd_decrypt_the_same_both_ways() {
    let (_dir, team) = team();
    let mut fast_taken = 0;
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let inner = content(&mut rng);
        let message = seal(&mut rng, &inner);
        let cap = [1 << 20, 3000][rng.below(2)];
        let fast = outcome(decrypt::decrypt(&message, &team, &[], cap, None));
        let stream = outcome(decrypt::decrypt_stream(&message, &team, &[], cap, None));
        match (&fast, &stream) {
            (Err(Failure::Broken { .. }), Err(Failure::Broken { .. })) => {}
            _ => assert!(
                fast == stream,
                "seed {seed}: the fast path and sequoia disagree: {} against {}",
                summary(&fast),
                summary(&stream)
            ),
        }
        fast_taken += usize::from(matches!(
            fast::decrypt(&message, &team, cap, None),
            fast::Fast::Done { .. }
        ));
    }
    // The generator makes the common shape often enough to matter.
    assert!(fast_taken > 300, "fast path finished {fast_taken} times");
}
