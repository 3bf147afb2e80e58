//! Decryption benchmark (`cargo bench --bench decrypt`): in one run, on the
//! same gpg-made messages, embargo's own decrypt path for RSA-4096 and
//! Cv25519 team keys, sequoia's stock RSA path, `gpg --decrypt` as a
//! subprocess, and the machine's raw private-key rates (`openssl speed
//! rsa4096` and `ecdhx25519`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use embargo::openpgp::TeamKeys;
use embargo::openpgp::decrypt;
use pgp::crypto::SessionKey;
use pgp::packet::{PKESK, SKESK};
use pgp::parse::Parse as _;
use pgp::parse::stream::{DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper};
use pgp::policy::StandardPolicy;
use pgp::types::SymmetricAlgorithm;
use pgp::{Cert, KeyHandle};
use sequoia_openpgp as pgp;

mod common;
use common::Gpg;

const MESSAGES: usize = 20;
const RUN: Duration = Duration::from_secs(3);

fn generate(g: &Gpg, uid: &str, rsa: bool) -> String {
    let params = if rsa {
        format!(
            "%no-protection\nKey-Type: RSA\nKey-Length: 4096\nSubkey-Type: RSA\nSubkey-Length: 4096\nName-Email: {uid}\n%commit\n"
        )
    } else {
        format!(
            "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nName-Email: {uid}\n%commit\n"
        )
    };
    g.run(&["--gen-key"], params.as_bytes());
    uid.to_owned()
}

fn rate(mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < RUN {
        f(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// sequoia's stock path: a KeyPair per key, unlocked once, through the
/// openssl backend (no CRT).
struct Stock(Vec<pgp::crypto::KeyPair>);

impl VerificationHelper for Stock {
    fn get_certs(&mut self, _: &[KeyHandle]) -> pgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }
    fn check(&mut self, _: MessageStructure<'_>) -> pgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Stock {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _: &[SKESK],
        sym: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> pgp::Result<Option<Cert>> {
        for p in pkesks {
            for k in self.0.iter_mut() {
                if let Some((a, sk)) = p.decrypt(k, sym)
                    && decrypt(a, &sk)
                {
                    return Ok(None);
                }
            }
        }
        Err(anyhow::anyhow!("no key"))
    }
}

fn stock_keys(secret: &[u8]) -> Vec<pgp::crypto::KeyPair> {
    let cert = Cert::from_bytes(secret).unwrap();
    cert.keys()
        .secret()
        .filter(|k| k.key().pk_algo().for_encryption())
        .map(|k| k.key().clone().into_keypair().unwrap())
        .collect()
}

fn openssl_rsa4096() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa4096"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 4096 bits 0.005512s 0.000086s    181.4  11627.9"
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("rsa 4096 bits") || l.contains("rsa  4096 bits"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.get(fields.len().checked_sub(2)?)?.parse().ok()
}

/// The machine's raw X25519 rate (`openssl speed ecdhx25519`): one shared
/// secret per operation, the one private-key operation a Cv25519 message
/// needs.
fn openssl_x25519() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "ecdhx25519"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // " 253 bits ecdh (X25519)   0.0000s  32153.6"
    let line = text.lines().rev().find(|l| l.contains("(X25519)"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful: only run when asked to bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let g = Gpg::new();
    let rsa = generate(&g, "team-rsa@example.test", true);
    let cv = generate(&g, "team-cv@example.test", false);
    let plaintext: Vec<u8> = (0..4096u32).map(|i| b'a' + (i % 26) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let policy = StandardPolicy::new();
    println!(
        "# embargo decryption benchmark: {MESSAGES} gpg-made ~4 KB messages per key, {} s per row\n",
        RUN.as_secs()
    );
    println!("| team key | path | decryptions/s |");
    println!("|---|---|---|");
    let mut results = Vec::new();
    let profile = std::env::var("DECRYPT_PROFILE").ok();
    for (name, uid) in [("RSA-4096", &rsa), ("Cv25519", &cv)] {
        if profile.as_ref().is_some_and(|p| p != name) {
            continue;
        }
        let msgs: Vec<Vec<u8>> = (0..MESSAGES)
            .map(|_| g.run(&["--armor", "-e", "-r", uid], &plaintext))
            .collect();
        let secret = g.run(&["--armor", "--export-secret-keys", uid], b"");
        let key_file = dir.path().join(format!("{name}.asc"));
        std::fs::write(&key_file, &secret).unwrap();
        std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let team = TeamKeys::load(&[key_file], None).unwrap();
        let ours = rate(|i| {
            let d = decrypt::decrypt(&msgs[i % MESSAGES], &team, &[], 1 << 20, None).unwrap();
            assert_eq!(d.plaintext.len(), plaintext.len());
        });
        println!("| {name} | embargo (decrypt::decrypt) | {ours:.0} |");
        // The same messages through sequoia's stream decryptor alone (the
        // path for everything but the common shape), with embargo's key.
        let streamed = rate(|i| {
            let d = decrypt::decrypt_stream(&msgs[i % MESSAGES], &team, &[], 1 << 20, None).unwrap();
            assert_eq!(d.plaintext.len(), plaintext.len());
        });
        println!("| {name} | embargo's key, sequoia's stream decryptor (decrypt::decrypt_stream) | {streamed:.0} |");
        // `DECRYPT_PROFILE=Cv25519` (or RSA-4096): only embargo's path for
        // that key, for `perf record`.
        if profile.is_some() {
            return;
        }
        let mut stock = Stock(stock_keys(&secret));
        let stock_rate = rate(|i| {
            // Same buffer size as embargo's path, so only the key differs.
            let mut d = DecryptorBuilder::from_bytes(&msgs[i % MESSAGES][..])
                .unwrap()
                .buffer_size(1 << 20)
                .with_policy(&policy, None, Stock(std::mem::take(&mut stock.0)))
                .unwrap();
            let mut out = Vec::new();
            std::io::copy(&mut d, &mut out).unwrap();
            stock.0 = d.into_helper().0;
        });
        println!("| {name} | sequoia stock KeyPair (openssl backend) | {stock_rate:.0} |");
        let gpg_rate = {
            let start = Instant::now();
            for m in &msgs {
                g.run(&["--decrypt"], m);
            }
            MESSAGES as f64 / start.elapsed().as_secs_f64()
        };
        println!("| {name} | gpg --decrypt subprocess | {gpg_rate:.0} |");
        results.push((name, ours, gpg_rate));
    }
    let raw = openssl_rsa4096();
    match raw {
        Some(r) => println!("| RSA-4096 | raw private-key op (openssl speed rsa4096) | {r:.0} |"),
        None => println!("| RSA-4096 | raw private-key op (openssl speed rsa4096) | n/a |"),
    }
    let raw_x = openssl_x25519();
    match raw_x {
        Some(r) => println!("| Cv25519 | raw X25519 op (openssl speed ecdhx25519) | {r:.0} |"),
        None => println!("| Cv25519 | raw X25519 op (openssl speed ecdhx25519) | n/a |"),
    }
    println!();
    for (name, ours, gpg) in &results {
        println!("{name}: embargo / gpg = {:.1}x", ours / gpg);
    }
    if let (Some(r), Some((_, ours, _))) = (raw, results.first()) {
        println!(
            "RSA-4096: embargo / raw private-key rate = {:.2}x (target >= 0.8)",
            ours / r
        );
    }
    if let (Some(r), Some((_, ours, _))) = (raw_x, results.get(1)) {
        println!("Cv25519: embargo / raw X25519 rate = {:.2}x (target >= 0.5)", ours / r);
    }
    if let Some((_, ours, gpg)) = results.get(1) {
        println!(
            "Cv25519: target >= 10x gpg: {}",
            if ours / gpg >= 10.0 { "met" } else { "NOT met" }
        );
    }
}
