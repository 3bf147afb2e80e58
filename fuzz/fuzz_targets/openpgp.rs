//! The OpenPGP entry points (decrypt, verify, the MIME walk) on arbitrary
//! bytes, with a real team key and a 1 MiB output cap.
#![no_main]

use std::sync::OnceLock;

use embargo::openpgp::{self, TeamKeys, decrypt};
use libfuzzer_sys::fuzz_target;
use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
use sequoia_openpgp::serialize::SerializeInto as _;

fn team() -> &'static TeamKeys {
    static TEAM: OnceLock<TeamKeys> = OnceLock::new();
    TEAM.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let (cert, _) = CertBuilder::new()
            .add_userid("security@example.test")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .add_signing_subkey()
            .generate()
            .unwrap();
        let path = std::env::temp_dir().join(format!("embargo-fuzz-{}.asc", std::process::id()));
        std::fs::write(&path, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        TeamKeys::load(&[path], None).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let team = team();
    let _ = decrypt::decrypt(data, team, &[], 1 << 20, None);
    let _ = decrypt::verify_detached(data, b"signed data", &[]);
    if let Ok(m) = embargo::message::parse(data) {
        let ctx = openpgp::Context { team, known: Vec::new(), max_decrypted_size: 1 << 20 };
        // The per-message caps (payloads, summed plaintext, MIME parts)
        // and the pinning rules on whatever keys the message carries.
        let o = openpgp::open(data, m, &ctx);
        for l in &o.learned {
            let _ = openpgp::pin::judge(None, 0, &l.cert, &o.protection);
            let _ = openpgp::pin::can_encrypt(&l.cert);
            let _ = openpgp::bound_to(&l.cert, "a@example.test");
        }
    }
});
