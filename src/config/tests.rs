use std::path::Path;

use super::*;

fn with_files(text: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    std::fs::write(dir.path().join("ack.txt"), "{{ tracking_id }}").unwrap();
    std::fs::write(dir.path().join("cannot-decrypt.txt"), "{{ problem }}").unwrap();
    for t in ["out-of-scope.txt", "digest.txt", "digest.html", "alert.txt"] {
        std::fs::write(dir.path().join(t), "{{ team }}").unwrap();
    }
    let path = dir.path().join("embargo.toml");
    let r = parse(&path, text);
    (dir, r)
}

const MINIMAL: &str = "[imap]\nhost = \"imap.example.org\"\nuser = \"s@example.org\"\npassword_file = \"pw\"\n\n\
[smtp]\nhost = \"smtp.example.org\"\nfrom = \"Team <s@example.org>\"\n\n[store]\npath = \"db.sqlite3\"\n";

#[test]
fn defaults_and_relative_paths() {
    let (dir, cfg) = with_files(MINIMAL);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.imap.port, 993);
    assert_eq!(cfg.imap.security, Security::Tls);
    assert_eq!(&*cfg.imap.password, "secret");
    assert_eq!(cfg.imap.mailbox, "INBOX");
    assert_eq!(cfg.smtp.port, 465);
    assert!(cfg.smtp.user.is_none());
    assert_eq!(cfg.store.path, dir.path().join("db.sqlite3"));
    assert_eq!(cfg.reply.ack_template, dir.path().join("ack.txt"));
    assert_eq!(cfg.policy.tracking_prefix, "SEC");
    assert_eq!(cfg.policy.promises.response_business_days, 5);
    assert!(cfg.smtp.copy_to_self);
}

#[test]
fn starttls_ports() {
    let text = MINIMAL
        .replace(
            "host = \"imap.example.org\"",
            "host = \"imap.example.org\"\nsecurity = \"starttls\"",
        )
        .replace(
            "host = \"smtp.example.org\"",
            "host = \"smtp.example.org\"\nsecurity = \"starttls\"",
        );
    let cfg = with_files(&text).1.unwrap();
    assert_eq!(cfg.imap.port, 143);
    assert_eq!(cfg.smtp.port, 587);
}

#[test]
fn plaintext_only_on_loopback() {
    let e = with_files(&MINIMAL.replace(
        "host = \"imap.example.org\"",
        "host = \"imap.example.org\"\nsecurity = \"none\"",
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "imap.security");
    assert_eq!(e.line, Some(3));
    for host in ["127.0.0.1", "::1", "localhost", "[::1]"] {
        let text = MINIMAL.replace(
            "host = \"imap.example.org\"",
            &format!("host = \"{host}\"\nsecurity = \"none\""),
        );
        assert!(with_files(&text).1.is_ok(), "{host}");
    }
}

#[test]
fn errors_name_key_and_line() {
    let e = with_files(&MINIMAL.replace("[store]\n", "[store]\ncolour = \"red\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "store.colour");
    assert_eq!(e.line, Some(11));
    assert!(e.problem.contains("unknown field"), "{e}");
    let e = with_files(&MINIMAL.replace("[imap]\n", "[imap]\nport = 99999\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "imap.port");
    let e = with_files(&format!("{MINIMAL}[policy]\ntracking_prefix = \"SEC 1\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "policy.tracking_prefix");
    let e = with_files(&format!("{MINIMAL}[policy]\nfix_days = 100\ncomplex_fix_days = 90\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "policy.complex_fix_days");
    let e = with_files(&MINIMAL.replace(
        "from = \"Team <s@example.org>\"",
        "from = \"Team <s@example.org>\"\nuser = \"u\"",
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "smtp.password_file");
    let shown = e.to_string();
    assert!(
        shown.contains("embargo.toml") && shown.contains("smtp.password_file"),
        "{shown}"
    );
}

#[test]
fn missing_section() {
    let e = with_files("[imap]\nhost = \"x\"\nuser = \"u\"\npassword_file = \"pw\"\n")
        .1
        .unwrap_err();
    assert!(e.problem.contains("smtp"), "{e}");
}

#[test]
fn sizes() {
    assert_eq!(parse_size_str("25MiB"), Ok(25 * 1024 * 1024));
    assert_eq!(parse_size_str("10 MB"), Ok(10_000_000));
    assert_eq!(parse_size_str("512"), Ok(512));
    assert!(parse_size_str("lots").is_err());
    assert!(parse_size_str("5 parsecs").is_err());
    assert!(parse_size_str("0").is_err());
    assert!(parse_size_str("99999999999GiB").is_err());
}

/// A limit the fetch or the database could not honour would block the
/// mailbox on the first such message: refused at load time instead.
#[test]
fn max_message_size_is_capped() {
    let text = MINIMAL.replace(
        "password_file = \"pw\"",
        "password_file = \"pw\"\nmax_message_size = \"1GiB\"",
    );
    let e = with_files(&text).1.unwrap_err();
    assert_eq!(e.key, "imap.max_message_size", "{e}");
    assert!(e.problem.contains("256MiB"), "{e}");
    let text = MINIMAL.replace(
        "password_file = \"pw\"",
        "password_file = \"pw\"\nmax_message_size = \"256MiB\"",
    );
    assert_eq!(with_files(&text).1.unwrap().imap.max_message_size, 256 << 20);
}

#[test]
fn sent_mailbox() {
    let with = |extra: &str| {
        with_files(&MINIMAL.replace("password_file = \"pw\"", &format!("password_file = \"pw\"\n{extra}"))).1
    };
    let cfg = with_files(MINIMAL).1.unwrap();
    assert_eq!((cfg.imap.sent_mailbox, cfg.imap.sent_poll_secs), (None, 60));
    let cfg = with("sent_mailbox = \"Sent\"\nsent_poll_secs = 30").unwrap();
    assert_eq!(
        (cfg.imap.sent_mailbox.as_deref(), cfg.imap.sent_poll_secs),
        (Some("Sent"), 30)
    );
    for (extra, problem) in [
        ("sent_mailbox = \"INBOX\"", "must differ from imap.mailbox"),
        ("sent_mailbox = \" \"", "must not be empty"),
        ("sent_poll_secs = 0", "greater than 0"),
    ] {
        let e = with(extra).unwrap_err();
        assert!(
            e.key.starts_with("imap.sent_") && e.problem.contains(problem),
            "{extra}: {e}"
        );
    }
}

#[test]
fn metrics_listen() {
    let with = |section: &str| with_files(&format!("{MINIMAL}\n[metrics]\n{section}\n")).1;
    assert_eq!(with_files(MINIMAL).1.unwrap().metrics.listen, None);
    let cfg = with("listen = \"127.0.0.1:9466\"").unwrap();
    assert_eq!(cfg.metrics.listen, Some("127.0.0.1:9466".parse().unwrap()));
    assert!(with("listen = \"[::1]:9466\"").is_ok());
    for (value, problem) in [
        ("0.0.0.0:9466", "not a loopback address"),
        ("192.0.2.1:9466", "not a loopback address"),
        ("localhost", "is not an address and port"),
        ("127.0.0.1", "is not an address and port"),
    ] {
        let e = with(&format!("listen = \"{value}\"")).unwrap_err();
        assert!(
            e.key == "metrics.listen" && e.problem.contains(problem) && e.line.is_some(),
            "{value}: {e}"
        );
    }
    let e = with("port = 9466").unwrap_err();
    assert!(e.to_string().contains("port"), "{e}");
}

#[test]
fn unreadable_config_file() {
    let e = load(Path::new("/nonexistent/embargo.toml")).unwrap_err();
    assert!(e.problem.contains("cannot read"), "{e}");
}

#[test]
fn reply_limits_name_their_keys() {
    let (_d, cfg) = with_files(MINIMAL);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.reply.max_per_authenticated_sender_per_day, 50);
    assert_eq!(cfg.reply.combine_after_secs, 3600);
    assert_eq!(cfg.reply.max_automatic_per_hour, 1000);
    assert_eq!(
        cfg.reply.combined_ack_template, None,
        "the built-in template when the file is absent"
    );
    let (_d, high) = with_files(&format!("{MINIMAL}[reply]\nmax_per_sender_per_day = 100\n"));
    assert_eq!(
        high.unwrap().reply.max_per_authenticated_sender_per_day,
        100,
        "an older config with a high plain limit still loads"
    );
    let e = with_files(&format!(
        "{MINIMAL}[reply]\nmax_per_sender_per_day = 10\nmax_per_authenticated_sender_per_day = 5\n"
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "reply.max_per_authenticated_sender_per_day");
    let e = with_files(&format!("{MINIMAL}[reply]\ncombine_after_secs = 0\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "reply.combine_after_secs");
    let e = with_files(&format!("{MINIMAL}[reply]\ncombined_ack_template = \"nope.txt\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "reply.combined_ack_template");
    let e = with_files(&format!("{MINIMAL}[trust]\nauthserv_id = \"mx example\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "trust.authserv_id");
}

#[test]
fn smtp_connections_default_and_range() {
    assert_eq!(with_files(MINIMAL).1.unwrap().smtp.connections, 8);
    let with = |n: &str| {
        with_files(&MINIMAL.replace(
            "from = \"Team <s@example.org>\"",
            &format!("from = \"Team <s@example.org>\"\nconnections = {n}"),
        ))
        .1
    };
    assert_eq!(with("1").unwrap().smtp.connections, 1);
    assert_eq!(with("16").unwrap().smtp.connections, 16);
    for bad in ["0", "17"] {
        let e = with(bad).unwrap_err();
        assert_eq!(e.key, "smtp.connections", "{e}");
        assert!(e.problem.contains("between 1 and 16"), "{e}");
    }
}

#[test]
fn advisory_and_downstream_defaults_and_errors_name_the_key() {
    let cfg = with_files(MINIMAL).1.unwrap();
    assert_eq!(cfg.advisory.publisher, "Team");
    assert_eq!(cfg.advisory.namespace, "https://example.org");
    assert_eq!(cfg.advisory.vendor, "Team");
    assert_eq!(cfg.disclosure.max_embargo_days, 14);
    assert!(cfg.downstream.is_empty());

    let e = with_files(&format!("{MINIMAL}\n[advisory]\ncna_org_id = \"not-a-uuid\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "advisory.cna_org_id");
    let e = with_files(&format!(
        "{MINIMAL}\n[advisory]\nurl = \"https://example.org/advisories\"\n"
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "advisory.url");
    assert!(e.problem.contains("{id}"), "{e}");
    let e = with_files(&format!("{MINIMAL}\n[disclosure]\nmax_embargo_days = 0\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "disclosure.max_embargo_days");
    let two = "\n[[downstream]]\nname = \"A\"\naddress = \"a@distro.example\"\n\n[[downstream]]\nname = \"B\"\naddress = \"not an address\"\n";
    let e = with_files(&format!("{MINIMAL}{two}")).1.unwrap_err();
    assert_eq!(e.key, "downstream.address (entry 2)");
    let keyed = "\n[[downstream]]\nname = \"A\"\naddress = \"a@distro.example\"\nkey = \"missing.asc\"\n";
    let e = with_files(&format!("{MINIMAL}{keyed}")).1.unwrap_err();
    assert_eq!(e.key, "downstream.key (entry 1)");
    assert!(e.problem.contains("missing.asc"), "{e}");
}

#[test]
fn oauth_presets_and_errors_name_the_key() {
    let oauth_imap = MINIMAL.replace("password_file = \"pw\"", "auth = \"xoauth2\"");
    let e = with_files(&oauth_imap).1.unwrap_err();
    assert_eq!(e.key, "imap.auth");
    assert!(e.problem.contains("[oauth2]"), "{e}");

    let ms = format!(
        "{oauth_imap}\n[oauth2]\nprovider = \"microsoft\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"abc\"\n"
    );
    let (dir, cfg) = with_files(&ms);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.imap.auth, AuthMethod::XOAuth2);
    assert!(cfg.imap.password.is_empty());
    let o = cfg.oauth.unwrap();
    assert_eq!(
        o.token_url,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert!(o.scope.contains("IMAP.AccessAsUser.All") && o.scope.contains("offline_access"));
    assert_eq!(o.refresh_token_file, dir.path().join("oauth2-refresh-token"));
    assert!(o.client_secret.is_none());

    let google = format!("{oauth_imap}\n[oauth2]\nprovider = \"google\"\nclient_id = \"abc\"\n");
    assert_eq!(
        with_files(&google).1.unwrap().oauth.unwrap().scope,
        "https://mail.google.com/"
    );

    for (extra, key) in [
        ("provider = \"yahoo\"\nclient_id = \"a\"", "oauth2.provider"),
        (
            "token_url = \"http://login.example.org/token\"\nclient_id = \"a\"\nscope = \"s\"",
            "oauth2.token_url",
        ),
        (
            "token_url = \"https://login.example.org/token\"\nscope = \"s\"",
            "oauth2.client_id",
        ),
        (
            "token_url = \"https://login.example.org/token\"\nclient_id = \"a\"",
            "oauth2.scope",
        ),
        (
            "provider = \"google\"\ntenant = \"x\"\nclient_id = \"a\"",
            "oauth2.tenant",
        ),
    ] {
        let e = with_files(&format!("{oauth_imap}\n[oauth2]\n{extra}\n")).1.unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
    let loopback = format!(
        "{oauth_imap}\n[oauth2]\ntoken_url = \"http://127.0.0.1:8080/token\"\nclient_id = \"a\"\nscope = \"s\"\n"
    );
    assert!(with_files(&loopback).1.is_ok(), "http to loopback is allowed");
    let e = with_files(&MINIMAL.replace("[store]", "auth = \"xoauth2\"\n\n[store]"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "smtp.user", "{e}");
}

/// The production example the Debian package installs as
/// /etc/embargo/embargo.toml parses, with nothing under /tmp.
#[test]
fn the_packaged_example_config_parses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/embargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("/tmp"), "no demo paths");
    let cfg = crate::config::parse_for(&path, &text, crate::config::Needs::NOTHING)
        .unwrap_or_else(|e| panic!("{}", e.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")));
    assert_eq!(cfg.store.path, std::path::Path::new("/var/lib/embargo/embargo.sqlite3"));
}

#[test]
fn cve_and_github_tables_name_the_key_and_keep_their_secrets_out_of_debug() {
    let cve = "\n[cve]\norg = \"example\"\nuser = \"cna@example.org\"\napi_key_file = \"pw\"\n";
    let cfg = with_files(&format!("{MINIMAL}{cve}")).1.unwrap();
    let c = cfg.cve.as_ref().unwrap();
    assert_eq!(c.api_url, CVE_PRODUCTION);
    assert_eq!(&*c.api_key, "secret");
    assert!(!c.reserve_on_triage);
    let dump = format!("{cfg:?}");
    assert!(!dump.contains("\"secret"), "no secret in a Debug dump: {dump}");
    let e = with_files(&format!("{MINIMAL}\n[cve]\norg = \"example\"\napi_key_file = \"pw\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "cve.user");
    let e = with_files(&format!("{MINIMAL}{cve}api_url = \"http://cve.example.org/api\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "cve.api_url");
    assert!(e.problem.contains("https"), "{e}");
    let ok = with_files(&format!("{MINIMAL}{cve}api_url = \"http://127.0.0.1:8080/api/\"\n"))
        .1
        .unwrap();
    assert_eq!(ok.cve.unwrap().api_url, "http://127.0.0.1:8080/api");
    let e = with_files(&format!(
        "{MINIMAL}\n[cve]\norg = \"example\"\nuser = \"u\"\napi_key_file = \"missing.key\"\n"
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "cve.api_key_file");
    assert!(e.problem.contains("missing.key not found"), "{e}");

    let gh = with_files(&format!(
        "{MINIMAL}\n[github]\ntoken_file = \"pw\"\nrepository = \"example/server\"\n"
    ))
    .1
    .unwrap();
    assert_eq!(gh.github.as_ref().unwrap().api_url, GITHUB_API);
    let e = with_files(&format!(
        "{MINIMAL}\n[github]\ntoken_file = \"pw\"\nrepository = \"example\"\n"
    ))
    .1
    .unwrap_err();
    assert_eq!(e.key, "github.repository");
    let e = with_files(&format!("{MINIMAL}\n[github]\nrepository = \"a/b\"\n"))
        .1
        .unwrap_err();
    assert_eq!(e.key, "github.token_file");
}
