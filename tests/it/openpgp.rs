//! OpenPGP through the real servers, with messages made by GnuPG.

use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::common::*;
use crate::gpg::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

/// A setup whose config loads `team_secret` as the team key.
fn setup_with_key(team_secret: &[u8]) -> Setup {
    let s = Setup::with(Options {
        extra: "\n[openpgp]\nkeys = [\"team.sec.asc\"]\n".into(),
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", team_secret);
    s
}

/// Decrypts an ack with the reporter's gpg; returns (plaintext, status).
fn gpg_decrypt(g: &Gpg, ack: &str) -> (String, String) {
    let out = g.run(&["--status-fd", "2", "--decrypt"], armored_block(ack).as_bytes());
    assert!(
        out.status.success(),
        "gpg --decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn headers(extra: &str) -> String {
    format!(
        "From: Rita Researcher <researcher@example.test>\r\nTo: security@example.test\r\nSubject: ...\r\n\
         Message-ID: <{}@example.test>\r\n{extra}",
        rand_id()
    )
}

fn rand_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}.{nanos}.{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn pgp_mime_report_from_gpg_gets_an_encrypted_signed_ack() {
    let k = keys();
    let g = reporter_gpg();
    let s = setup_with_key(&k.team_cv_secret);
    // Signed and encrypted, protected subject inside, an attachment, and the
    // reporter's key in an Autocrypt header.
    let inner = String::from_utf8(entity(
        "Stored XSS, SECRET-4711, steps below.",
        None,
        Some(("poc.py", "print('x')")),
    ))
    .unwrap();
    let inner = inner.replacen(
        "Content-Type: multipart/mixed; boundary=\"IN\"\r\n",
        "Content-Type: multipart/mixed; boundary=\"IN\"; protected-headers=\"v1\"\r\nSubject: XSS in the admin panel\r\n",
        1,
    );
    let ct = g.ok(
        &[
            "--armor",
            "--sign",
            "-u",
            &k.reporter_fpr,
            "--encrypt",
            "-r",
            &k.team_cv_fpr,
        ],
        inner.as_bytes(),
    );
    let binary = g.ok(&["--export", &k.reporter_fpr], b"");
    let keydata = base64::engine::general_purpose::STANDARD.encode(binary);
    let folded: Vec<&str> = keydata
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let autocrypt = format!(
        "Autocrypt: addr=researcher@example.test; keydata=\r\n {}\r\n",
        folded.join("\r\n ")
    );
    s.stack
        .deliver(RESEARCHER, SECURITY, &pgp_mime(&headers(&autocrypt), &ct));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();

    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let r = &s.reports()[0];
    let id = r["id"].as_str().unwrap();
    assert_eq!(r["encrypted"], true, "{r}");
    assert_eq!(r["signature"], "good", "{r}");
    assert_eq!(r["subject"], "XSS in the admin panel", "the protected subject");
    assert!(
        header(&ack, "Content-Type").unwrap().starts_with("multipart/encrypted"),
        "{ack}"
    );
    assert_eq!(
        header(&ack, "Subject").unwrap(),
        format!("[{id}]"),
        "only the tag in the outer subject"
    );
    assert!(
        !ack.contains("SECRET-4711") && !ack.contains("admin panel"),
        "nothing leaks in cleartext"
    );
    assert!(
        header(&ack, "Autocrypt")
            .unwrap()
            .contains("addr=security@example.test")
    );

    let (plain, status) = gpg_decrypt(&g, &ack);
    assert!(plain.contains(id) && plain.contains("protected-headers"), "{plain}");
    assert!(
        plain.contains(&format!("Subject: [{id}] XSS in the admin panel")),
        "{plain}"
    );
    assert!(status.contains("GOODSIG"), "{status}");
    assert!(status.contains(&k.team_cv_fpr), "signed by the team key: {status}");

    let keys_out = s.embargo(&["keys", "list", "--json"]);
    assert!(
        keys_out.status.success(),
        "{}",
        String::from_utf8_lossy(&keys_out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&keys_out.stdout).unwrap();
    assert_eq!(v["team"][0]["fingerprint"], k.team_cv_fpr.as_str());
    assert_eq!(v["reporters"][0]["address"], RESEARCHER);
    assert_eq!(v["reporters"][0]["fingerprint"], k.reporter_fpr.as_str());
    assert_eq!(v["reporters"][0]["source"], "autocrypt");
}

#[test]
fn rsa_inline_pgp_with_hidden_recipients_and_an_attached_key() {
    let k = keys();
    let g = reporter_gpg();
    let s = setup_with_key(&k.team_rsa_secret);
    let ct = g.ok(
        &[
            "--armor",
            "--encrypt",
            "--throw-keyids",
            "-r",
            &k.stranger_fpr,
            "-r",
            &k.team_rsa_fpr,
        ],
        b"Inline report: SQL injection in /search, SECRET-99",
    );
    let raw = format!(
        "{}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\n{}\r\n\
         --M\r\nContent-Type: application/pgp-keys; name=\"key.asc\"\r\n\r\n{}\r\n--M--\r\n",
        headers(""),
        String::from_utf8_lossy(&ct).replace('\n', "\r\n"),
        String::from_utf8_lossy(&k.reporter_public).replace('\n', "\r\n"),
    );
    s.stack.deliver(RESEARCHER, SECURITY, &raw);
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let r = &s.reports()[0];
    assert_eq!(r["encrypted"], true);
    assert_eq!(r["signature"], "none");
    let (plain, status) = gpg_decrypt(&g, &ack);
    assert!(plain.contains(r["id"].as_str().unwrap()));
    assert!(
        status.contains("GOODSIG") && status.contains(&k.team_rsa_fpr),
        "{status}"
    );
    let show = s.embargo(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(d["thread"][0]["encrypted"], true);
}

#[test]
fn exchange_mangled_pgp_mime_decrypts_and_the_ack_is_signed() {
    let k = keys();
    let g = reporter_gpg();
    let s = setup_with_key(&k.team_cv_secret);
    let ct = g.ok(
        &["--armor", "--encrypt", "-r", &k.team_cv_fpr],
        &entity("mangled but fine", None, None),
    );
    s.stack.deliver(RESEARCHER, SECURITY, &mangled(&headers(""), &ct));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let ack = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    assert_eq!(s.reports()[0]["encrypted"], true);
    // No reporter key known: signed, not encrypted.
    let ct_header = header(&ack, "Content-Type").unwrap();
    assert!(ct_header.starts_with("multipart/signed"), "{ct_header}");
    let boundary = ct_header
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    // Dovecot stores LF line endings; the signature is over CRLF.
    let ack = ack.replace("\r\n", "\n");
    let body = ack.split_once("\n\n").unwrap().1;
    let open = format!("--{boundary}\n");
    let first = body.find(&open).unwrap() + open.len();
    let close = body[first..].find(&format!("\n--{boundary}")).unwrap() + first;
    let signed = body[first..close].replace('\n', "\r\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), signed).unwrap();
    let sig_start = body.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let sig_end = body.find("-----END PGP SIGNATURE-----").unwrap() + "-----END PGP SIGNATURE-----".len();
    std::fs::write(dir.path().join("sig.asc"), &body[sig_start..sig_end]).unwrap();
    let out = g.run(
        &[
            "--status-fd",
            "2",
            "--verify",
            dir.path().join("sig.asc").to_str().unwrap(),
            dir.path().join("data").to_str().unwrap(),
        ],
        b"",
    );
    let status = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && status.contains("GOODSIG"), "{status}");
}

#[test]
fn mail_to_a_key_we_do_not_hold_gets_told_which_key_to_use() {
    let k = keys();
    let g = reporter_gpg();
    let s = setup_with_key(&k.team_cv_secret);
    let ct = g.ok(
        &["--armor", "--encrypt", "-r", &k.stranger_fpr],
        b"wrong key, SECRET-1234",
    );
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &format!(
            "{}Content-Type: text/plain\r\n\r\n{}",
            headers(""),
            String::from_utf8_lossy(&ct)
        ),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let reply = s.stack.wait_inbox(RESEARCHER, 1, WAIT).remove(0);
    let r = &s.reports()[0];
    assert_eq!(r["encrypted"], true, "it still counts as a report");
    assert!(reply.contains(&k.team_cv_fpr), "names the key to use: {reply}");
    assert!(
        !reply.contains("SECRET-1234") && !reply.contains("BEGIN PGP MESSAGE"),
        "quotes nothing"
    );
    let show = s.embargo(&["reports", "show", r["id"].as_str().unwrap()]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("cannot-decrypt") && text.contains("none of our keys"),
        "{text}"
    );
}

#[test]
fn hostile_pgp_is_recorded_never_fatal_and_memory_stays_bounded() {
    let k = keys();
    let g = reporter_gpg();
    let s = setup_with_key(&k.team_cv_secret);
    // Garbled armor: a real ciphertext cut in half.
    let ct = g.ok(&["--armor", "--encrypt", "-r", &k.team_cv_fpr], b"truncated");
    let half = String::from_utf8_lossy(&ct[..ct.len() / 2]).into_owned();
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &format!("{}Subject: garbled\r\n\r\n{half}", headers("")),
    );
    // Bad signature: a signed part whose text was changed afterwards.
    let sig = g.ok(
        &["--armor", "--detach-sign", "-u", &k.reporter_fpr],
        b"Content-Type: text/plain\r\n\r\noriginal\r\n",
    );
    let bad = format!(
        "{}Autocrypt: addr=researcher@example.test; keydata={}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\nContent-Type: text/plain\r\n\r\ntampered\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--S--\r\n",
        headers(""),
        base64::engine::general_purpose::STANDARD.encode(g.ok(&["--export", &k.reporter_fpr], b"")),
        String::from_utf8_lossy(&sig).replace('\n', "\r\n")
    );
    s.stack.deliver(RESEARCHER, SECURITY, &bad);
    // A 1 GiB compression bomb (zlib, ~1.8 MB on the wire).
    let bomb = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "head -c 1073741824 /dev/zero | gpg --batch --trust-model always -z 9 --compress-algo zlib --armor -e -r {}",
            k.team_cv_fpr
        ))
        .env("GNUPGHOME", g.home.path())
        .output()
        .unwrap();
    assert!(bomb.status.success());
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &format!("{}\r\n{}", headers(""), String::from_utf8_lossy(&bomb.stdout)),
    );
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after-hostile@example.test", "still alive", "x"),
    );
    s.stack.wait_inbox(SECURITY, 4, WAIT);

    let mut d = s.daemon();
    let start = Instant::now();
    let mut peak_kb = 0u64;
    while s.reports().len() < 4 {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", s.daemon_log());
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", d.pid())) {
            for line in status.lines().filter(|l| l.starts_with("VmHWM:")) {
                peak_kb = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", d.pid())) {
        for line in status.lines().filter(|l| l.starts_with("VmHWM:")) {
            peak_kb = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
    }
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0), "{}", s.daemon_log());
    assert!(peak_kb > 0 && peak_kb < 160 * 1024, "peak RSS {peak_kb} kB");

    let shown: Vec<serde_json::Value> = s
        .reports()
        .iter()
        .map(|r| {
            let out = s.embargo(&["reports", "show", r["id"].as_str().unwrap(), "--json"]);
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let decryption = |d: &serde_json::Value| d["thread"][0]["decryption"].as_str().unwrap_or("").to_owned();
    assert!(
        shown.iter().any(|d| decryption(d).contains("cannot decrypt")),
        "garbled armor recorded"
    );
    assert!(
        shown.iter().any(|d| decryption(d).contains("max_decrypted_size")),
        "the bomb is flagged"
    );
    assert!(shown.iter().any(|d| d["signature"] == "bad"), "bad signature recorded");
    assert!(shown.iter().any(|d| d["subject"] == "still alive"));
}
