//! The operator's and the team's first week: commands that touch only what
//! they need, every config problem at once, plain words, pipes.

use std::process::{Command, Stdio};

use crate::common::*;

/// Runs embargo with `config` and `args`; (exit code, stdout, stderr).
fn run(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(&*BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A mistyped `store.path`: every read-only verb says where it looked and
/// what creates the database, exits 2, and leaves nothing behind (it used
/// to migrate a new empty database and say "No reports yet").
#[test]
fn a_read_only_verb_on_a_mistyped_store_path_creates_nothing() {
    let s = Setup::new();
    s.once();
    let text = std::fs::read_to_string(&s.config).unwrap();
    let typo = s.dir.path().join("emabrgo.sqlite3");
    std::fs::write(
        &s.config,
        text.replace("path = \"embargo.sqlite3\"", "path = \"emabrgo.sqlite3\""),
    )
    .unwrap();
    for args in [
        &["reports", "list"][..],
        &["reports", "show", "SEC-2026-0001"],
        &["status"],
        &["messages"],
        &["hall-of-fame"],
        &["digest", "--dry-run"],
        &["advisory", "show", "SEC-2026-0001"],
        &["reports", "state", "SEC-2026-0001", "triaged"],
    ] {
        let (code, out, err) = run(&s.config, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        // `status`, a monitoring check, says it on standard output (critical).
        let said = format!("{out}{err}");
        assert!(
            said.contains(&format!("no database at {}", typo.display())) && said.contains("store.path"),
            "{args:?}: {said}"
        );
        assert!(!err.contains("migrated"), "{args:?}: {err}");
        assert!(
            !typo.exists() && !s.dir.path().join("emabrgo.sqlite3-wal").exists(),
            "{args:?} created it"
        );
    }
}

/// The team's read-only verbs need neither the CA file nor any password:
/// under systemd those are the service's (LoadCredential=). A read-only
/// verb changes nothing on disk, not even a -shm file.
#[test]
fn read_only_verbs_work_without_the_ca_and_secret_files() {
    let s = Setup::new();
    s.stack.deliver(
        "researcher@example.test",
        "security@example.test",
        &report("ro@example.test", "Read-only", "x"),
    );
    s.stack
        .wait_inbox("security@example.test", 1, std::time::Duration::from_secs(30));
    s.once();
    let text = std::fs::read_to_string(&s.config).unwrap();
    let gone = s.dir.path().join("elsewhere");
    std::fs::create_dir(&gone).unwrap();
    std::fs::rename(s.dir.path().join("imap.pass"), gone.join("imap.pass")).unwrap();
    std::fs::rename(s.dir.path().join("smtp.pass"), gone.join("smtp.pass")).unwrap();
    std::fs::write(
        &s.config,
        text.replace(&s.stack.ca().display().to_string(), "/nonexistent/ca.pem"),
    )
    .unwrap();
    let listing = |dir: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name(),
                    e.metadata().unwrap().len(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = listing(s.dir.path());
    let id = {
        let (code, out, err) = run(&s.config, &["reports", "list", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for args in [
        &["reports", "list"][..],
        &["reports", "show", &id],
        &["status"],
        &["messages"],
        &["hall-of-fame"],
        &["digest", "--dry-run"],
        &["backup", s.dir.path().join("../backup-ro.sqlite3").to_str().unwrap()],
    ] {
        let (code, out, err) = run(&s.config, args);
        assert!(
            code == 0 || (args[0] == "status" && code <= 2),
            "{args:?}: {code} {out}{err}"
        );
        assert!(!err.contains("ca.pem") && !err.contains(".pass"), "{args:?}: {err}");
        assert!(!err.contains(" INFO "), "no log lines in a verb's output: {err}");
    }
    let _ = std::fs::remove_file(s.dir.path().join("../backup-ro.sqlite3"));
    assert_eq!(before, listing(s.dir.path()), "a read-only verb changed the folder");
    // A verb that sends names where it looked for the password it lacks.
    let (code, _, err) = run(&s.config, &["reports", "reply", &id, "--file", "/dev/null"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("smtp.pass not found") && err.contains("looked in"),
        "{err}"
    );
    assert!(!err.contains("imap.pass"), "it does not need the IMAP password: {err}");
}

/// Five different mistakes in one file: check-config names all five, each
/// with its line and key, and exits 2 (it used to stop at the first, and
/// said OK to some `run` refuses).
#[test]
fn check_config_lists_every_problem_at_once() {
    let s = Setup::new();
    let dir = s.dir.path();
    std::fs::write(dir.join("not-pem.pem"), "hello\n").unwrap();
    std::fs::create_dir(dir.join("a-folder")).unwrap();
    std::fs::write(
        dir.join("bad-ack.txt"),
        "Hello,\n\nyour report {{ report.id }} is in.\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&s.config).unwrap();
    let text = text
        // 1. a CA file that is not PEM
        .replacen(
            &s.stack.ca().display().to_string(),
            &dir.join("not-pem.pem").display().to_string(),
            1,
        )
        // 2. store.path a folder
        .replace("path = \"embargo.sqlite3\"", "path = \"a-folder\"")
        // 3. a template with an undefined variable
        .replace("ack_template = \"ack.txt\"", "ack_template = \"bad-ack.txt\"")
        // 4. a missing password file
        .replacen("password_file = \"smtp.pass\"", "password_file = \"smtp.pw\"", 1)
        // 5. a bad timezone
        .replace("timezone = \"Europe/London\"", "timezone = \"Europe/Lodnon\"");
    std::fs::write(&s.config, text).unwrap();
    let (code, out, err) = run(&s.config, &["check-config"]);
    assert_eq!(code, 2, "{out}{err}");
    for needle in [
        "imap.ca_file",
        "PEM certificate",
        "store.path",
        "is a folder",
        "bad-ack.txt",
        "undefined variable `report.id`",
        "line 3",
        "smtp.password_file",
        "smtp.pw not found",
        "policy.timezone",
        "5 problems",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(!err.contains("Error {"), "{err}");
}

/// What people pipe: `| head` ends quietly with exit 0.
#[test]
fn verbs_end_quietly_when_the_pipe_closes() {
    let s = Setup::new();
    for i in 0..40 {
        s.stack.deliver(
            "researcher@example.test",
            "security@example.test",
            &report(
                &format!("pipe{i}@example.test"),
                &format!("Report {i} {}", "x".repeat(200)),
                "x",
            ),
        );
    }
    s.stack
        .wait_inbox("security@example.test", 40, std::time::Duration::from_secs(60));
    s.once();
    for (args, head) in [
        (vec!["completions", "bash"], "head -1"),
        (vec!["reports", "list", "--json"], "head -c 10"),
        (vec!["reports", "list"], "head -1"),
        (vec!["man"], "head -1"),
    ] {
        let cmd = format!(
            "set -o pipefail; {} --config {} {} | {head} >/dev/null",
            *BIN,
            s.config.display(),
            args.join(" ")
        );
        let out = Command::new("bash").arg("-c").arg(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A team in Berlin reads Berlin times: the deadlines in `reports list`
/// and `reports show` are local with the zone's abbreviation and weekday,
/// `--date` means that day in Berlin, and `--overdue` lists what is late
/// in business days. JSON stays RFC 3339 UTC.
#[test]
fn berlin_reads_berlin_times() {
    let s = Setup::new();
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("timezone = \"Europe/London\"", "timezone = \"Europe/Berlin\""),
    )
    .unwrap();
    s.stack.append_old(
        "security@example.test",
        "security-pw",
        &format!(
            "Return-Path: <researcher@example.test>\r\n{}",
            report("old@example.test", "Reported three weeks ago", "x")
        ),
        21,
    );
    s.stack.deliver(
        "researcher@example.test",
        "security@example.test",
        &report("fresh@example.test", "Reported today", "x"),
    );
    s.stack
        .wait_inbox("security@example.test", 2, std::time::Duration::from_secs(30));
    s.once();
    let (code, out, err) = run(&s.config, &["reports", "list", "--overdue"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Reported three weeks ago") && !out.contains("Reported today"),
        "{out}"
    );
    assert!(
        out.contains("response overdue by") && out.contains("business days"),
        "{out}"
    );
    let (_, out, _) = run(&s.config, &["reports", "list", "--open", "--color", "never"]);
    let fresh = out.lines().find(|l| l.contains("Reported today")).unwrap();
    assert!(
        fresh.contains("CET") && !fresh.contains("Z "),
        "local, with the zone: {fresh}"
    );
    assert!(
        ["Mon", "Tue", "Wed", "Thu", "Fri"].iter().any(|d| fresh.contains(d)),
        "with the weekday: {fresh}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when asked: {out}");
    let (_, json, _) = run(&s.config, &["reports", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let due = v[1]["response_due"].as_str().unwrap();
    assert!(due.ends_with('Z'), "JSON stays UTC: {due}");
    assert_eq!(v[0]["next_due"]["overdue"], true, "{v}");
    let id = v[1]["id"].as_str().unwrap().to_owned();
    let (code, out, err) = run(&s.config, &["reports", "fixed", &id, "--date", "2026-12-06"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fixed Sun 6 Dec 2026 00:00 CET"), "{out}");
    let (_, out, _) = run(&s.config, &["reports", "show", &id]);
    assert!(out.contains("CET") && !out.contains("T23:59:59Z"), "{out}");
    let (code, _, err) = run(&s.config, &["reports", "list", "--state", "nonsense"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nonsense") && err.contains("triaged"),
        "names the states: {err}"
    );
}

/// `check-config --connect` against the real servers: a port that speaks
/// SMTP, TLS against a STARTTLS port (and STARTTLS against a TLS port), a
/// CA embargo does not know, a wrong password: each explained in plain
/// words naming the key to fix (it used to print Rust debug output such as
/// `Error(Error { input: [109, 97, ...], code: Tag })`).
#[test]
fn check_config_connect_explains_each_failure_in_plain_words() {
    let s = Setup::new();
    let good = std::fs::read_to_string(&s.config).unwrap();
    let (code, out, err) = run(&s.config, &["check-config", "--connect"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imap") && out.contains("OK (logged in as security@example.test)"),
        "{out}"
    );
    let imaps = format!("port = {}", s.stack.port("IMAPS"));
    let cases: Vec<(String, &str)> = vec![
        (
            good.replacen(&imaps, &format!("port = {}", s.stack.port("SMTP")), 1),
            "speaks SMTP, not IMAP: check imap.port",
        ),
        (
            good.replacen(&imaps, &format!("port = {}", s.stack.port("IMAP")), 1),
            "answered in clear text, not TLS: that port wants STARTTLS (set imap.security = \"starttls\")",
        ),
        (
            good.replacen(&format!("ca_file = \"{}\"\n", s.stack.ca().display()), "", 1),
            "signed by an issuer embargo does not trust: set imap.ca_file",
        ),
        (
            {
                std::fs::write(s.dir.path().join("wrong.pass"), "not-the-password").unwrap();
                good.replacen("password_file = \"imap.pass\"", "password_file = \"wrong.pass\"", 1)
            },
            "refused the login",
        ),
        (
            good.replace(
                &format!("port = {}\nsecurity = \"tls\"", s.stack.port("SMTPS")),
                &format!("port = {}\nsecurity = \"starttls\"", s.stack.port("SMTPS")),
            ),
            "expects TLS from the first byte; set smtp.security = \"tls\"",
        ),
    ];
    let mut seen = Vec::new();
    for (text, expected) in cases {
        std::fs::write(&s.config, &text).unwrap();
        let (code, out, err) = run(&s.config, &["check-config", "--connect"]);
        assert_eq!(code, 2, "{expected}: {out}{err}");
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
        assert!(!err.contains("Error {") && !err.contains("Os {"), "{err}");
        seen.push(err);
    }
    seen.dedup();
    assert_eq!(seen.len(), 5, "five distinct explanations");
    // The daemon says the same in its log (once) and in `status`.
    std::fs::write(
        &s.config,
        good.replacen(&imaps, &format!("port = {}", s.stack.port("SMTP")), 1),
    )
    .unwrap();
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("security = \"tls\"", "security = \"none\""),
    )
    .unwrap();
    let d = s.daemon();
    wait_until(
        std::time::Duration::from_secs(20),
        || s.daemon_log().contains("speaks SMTP, not IMAP"),
        || s.daemon_log(),
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let log = s.daemon_log();
    assert_eq!(log.matches("speaks SMTP, not IMAP").count(), 1, "said once: {log}");
    assert!(!log.contains("Error {"), "{log}");
    let (_, out, _) = run(&s.config, &["status"]);
    assert!(out.contains("speaks SMTP, not IMAP"), "{out}");
    drop(d);
}
