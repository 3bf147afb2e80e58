//! Bad configs give a clear error naming the key, the problem and the line.

use std::process::{Command, Stdio};

use crate::common::*;

fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    copy_templates(dir.path());
    std::fs::write(dir.path().join("pw"), "pw").unwrap();
    let cfg = dir.path().join("embargo.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(&*BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "[imap]\nhost = \"127.0.0.1\"\nport = 993\nuser = \"s@example.test\"\npassword_file = \"pw\"\n\n\
[smtp]\nhost = \"127.0.0.1\"\nfrom = \"s@example.test\"\n\n[store]\npath = \"db.sqlite3\"\n";

#[test]
fn a_good_config_passes() {
    let (code, err) = check(GOOD);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unknown_key_names_key_and_line() {
    let (code, err) = check(&GOOD.replace("port = 993", "port = 993\nhots = \"x\""));
    assert_eq!(code, 2);
    assert!(
        err.contains("imap.hots") && err.contains("line 4") && err.contains("unknown field"),
        "{err}"
    );
}

#[test]
fn plaintext_to_a_remote_host_is_refused() {
    let (code, err) = check(&GOOD.replace(
        "host = \"127.0.0.1\"\nport = 993",
        "host = \"mail.example.org\"\nport = 143\nsecurity = \"none\"",
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("imap.security") && err.contains("loopback") && err.contains("line 4"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_key() {
    let (code, err) = check(&GOOD.replace("port = 993", "port = \"imaps\""));
    assert_eq!(code, 2);
    assert!(err.contains("imap.port") && err.contains("line 3"), "{err}");
    let (code, err) = check(&GOOD.replace("from = \"s@example.test\"", "from = \"not an address\""));
    assert_eq!(code, 2);
    assert!(err.contains("smtp.from"), "{err}");
    let (code, err) = check(&GOOD.replace("password_file = \"pw\"", "password_file = \"missing\""));
    assert_eq!(code, 2);
    assert!(err.contains("imap.password_file") && err.contains("missing"), "{err}");
    let (code, err) = check(&GOOD.replace("[store]\npath = \"db.sqlite3\"\n", ""));
    assert_eq!(code, 2);
    assert!(err.contains("store"), "{err}");
}

#[test]
fn the_shipped_example_config_is_valid_against_the_demo_stack_layout() {
    // The example names /tmp/embargo-demo files; check everything else.
    let text = std::fs::read_to_string(repo().join("config/embargo.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    let stack = Stack::start();
    std::fs::copy(stack.ca(), dir.path().join("tls/ca.pem")).unwrap();
    std::fs::write(dir.path().join("secrets/imap.pass"), "x").unwrap();
    std::fs::write(dir.path().join("secrets/smtp.pass"), "x").unwrap();
    // The demo's key is unprotected, like the one made here.
    std::fs::write(dir.path().join("secrets/team.sec.asc"), team_key(None)).unwrap();
    std::fs::set_permissions(
        dir.path().join("secrets/team.sec.asc"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    copy_templates(dir.path());
    let cfg = dir.path().join("embargo.toml");
    std::fs::write(&cfg, text.replace("/tmp/embargo-demo", &d)).unwrap();
    let out = Command::new(&*BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn check_with_key(key: &[u8], mode: u32, passphrase: Option<&str>) -> (i32, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    copy_templates(dir.path());
    std::fs::write(dir.path().join("pw"), "pw").unwrap();
    std::fs::write(dir.path().join("team.sec.asc"), key).unwrap();
    std::fs::set_permissions(dir.path().join("team.sec.asc"), std::fs::Permissions::from_mode(mode)).unwrap();
    let mut text = format!("{GOOD}\n[openpgp]\nkeys = [\"team.sec.asc\"]\n");
    if let Some(p) = passphrase {
        std::fs::write(dir.path().join("team.pass"), p).unwrap();
        text.push_str("passphrase_file = \"team.pass\"\n");
    }
    let cfg = dir.path().join("embargo.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(&*BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn team_key(passphrase: Option<&str>) -> Vec<u8> {
    use sequoia_openpgp::cert::CertBuilder;
    use sequoia_openpgp::serialize::SerializeInto as _;
    let (cert, _) = CertBuilder::general_purpose(Some("security@example.test"))
        .set_password(passphrase.map(Into::into))
        .generate()
        .unwrap();
    cert.as_tsk().armored().to_vec().unwrap()
}

#[test]
fn team_keys_readable_by_others_or_locked_are_refused() {
    let key = team_key(Some("correct horse"));
    let (code, err) = check_with_key(&key, 0o644, Some("correct horse"));
    assert_eq!(code, 2);
    assert!(
        err.contains("team.sec.asc") && err.contains("readable by group or others"),
        "{err}"
    );
    let (code, err) = check_with_key(&key, 0o600, None);
    assert_eq!(code, 2);
    assert!(err.contains("team.sec.asc") && err.contains("passphrase"), "{err}");
    let (code, err) = check_with_key(&key, 0o600, Some("wrong"));
    assert_eq!(code, 2);
    assert!(err.contains("team.sec.asc") && err.contains("cannot unlock"), "{err}");
    let (code, err) = check_with_key(&key, 0o600, Some("correct horse"));
    assert_eq!(code, 0, "{err}");
}
