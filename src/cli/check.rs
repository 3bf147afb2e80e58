//! `embargo check-config`: everything `run` would refuse, found offline and
//! reported at once (values, files, secrets, certificates, the database's
//! location, templates rendered against a sample report, team and
//! downstream keys, the OAuth token), each with the file, line, key, what
//! is wrong and the fix. Exit 0 only when `run` would start.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config, ConfigError};

pub fn check_config(path: &Path, connect: bool) -> anyhow::Result<ExitCode> {
    let (cfg, mut problems) = config::check(path);
    if let Some(cfg) = &cfg {
        problems.extend(deep(cfg));
    }
    if problems.is_empty()
        && let Some(cfg) = cfg
    {
        if connect && !connections(&cfg)? {
            return Ok(ExitCode::from(2));
        }
        outln!(
            "{}: OK (imap {}:{} mailbox {}, smtp {}:{}, store {}, {} team key file(s))",
            path.display(),
            cfg.imap.host,
            cfg.imap.port,
            cfg.imap.mailbox,
            cfg.smtp.host,
            cfg.smtp.port,
            cfg.store.path.display(),
            cfg.openpgp.keys.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("embargo: config error: {p}");
    }
    eprintln!(
        "embargo: {} problem{} in {}; `embargo run` would not start",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        path.display()
    );
    Ok(ExitCode::from(2))
}

/// What needs the whole configuration: templates rendered against sample
/// values, keys loaded and unlocked, the OAuth token file.
fn deep(cfg: &Config) -> Vec<ConfigError> {
    let problem = |section: &str, key: &str, what: String| ConfigError {
        file: cfg.file.clone(),
        line: config::line_of(cfg, section, key),
        key: format!("{section}.{key}"),
        problem: what,
    };
    let mut out = Vec::new();
    for (key, e) in crate::reply::check_templates(
        &cfg.reply.ack_template,
        &cfg.reply.cannot_decrypt_template,
        &cfg.exclude,
    ) {
        let (section, name) = key.split_once('.').unwrap_or(("reply", key.as_str()));
        let name = name.split(' ').next().unwrap_or(name);
        out.push(ConfigError {
            key: key.clone(),
            ..problem(section, name, e.to_string())
        });
    }
    if let Err(e) = crate::reply::combined::check_template(cfg) {
        out.push(problem("reply", "combined_ack_template", e.to_string()));
    }
    if let Err(e) = crate::digest::alert::check_template(&cfg.digest.alert_template) {
        out.push(problem(
            "digest",
            "alert_template",
            format!("{} does not render: {e}", cfg.digest.alert_template.display()),
        ));
    }
    out.extend(digest_templates(cfg, &problem));
    out.extend(notice_templates(cfg));
    if let Err(e) = crate::openpgp::TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref()) {
        out.push(problem("openpgp", "keys", format!("{e:#}")));
    }
    match crate::pipeline::downstream_certs(cfg) {
        Err(e) => out.push(problem("downstream", "key", format!("{e:#}"))),
        Ok(certs) => {
            for (address, cert) in certs {
                if !crate::openpgp::pin::can_encrypt(&cert) {
                    out.push(problem(
                        "downstream",
                        "key",
                        format!("the key for {address} cannot encrypt (expired, revoked, or no encryption subkey)"),
                    ));
                }
            }
        }
    }
    // Every advisory file is read as the daemon will: one that is not an
    // OSV advisory is named (the daemon skips it and says so in its log).
    let folders: Vec<_> = cfg
        .triage
        .known_advisories
        .iter()
        .filter(|d| d.is_dir())
        .cloned()
        .collect();
    if !folders.is_empty() {
        let loaded = crate::similar::known::Known::load(&folders, &cfg.triage.products);
        for p in loaded.problems.iter().take(20) {
            out.push(problem("triage", "known_advisories", p.clone()));
        }
    }
    if let Some(o) = &cfg.oauth
        && !o.refresh_token_file.exists()
    {
        out.push(problem(
            "oauth2",
            "refresh_token_file",
            format!(
                "{} does not exist yet: run `embargo oauth login` (or `embargo oauth import`) once before starting the daemon",
                o.refresh_token_file.display()
            ),
        ));
    }
    out
}

/// The digest's text and HTML templates, against the digest of an empty
/// database.
fn digest_templates(cfg: &Config, problem: &dyn Fn(&str, &str, String) -> ConfigError) -> Vec<ConfigError> {
    let Ok(store) = crate::store::Store::open_in_memory() else {
        return Vec::new();
    };
    let now = jiff::Timestamp::now();
    let Ok(d) = crate::digest::build(
        &store,
        &cfg.policy.calendar,
        &cfg.policy.promises,
        "Security Team",
        None,
        now,
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, path) in [
        ("text_template", &cfg.digest.text_template),
        ("html_template", &cfg.digest.html_template),
    ] {
        if let Err(e) = crate::text::render_file(path, &d) {
            out.push(problem(
                "digest",
                key,
                format!("{} does not render: {e}", path.display()),
            ));
        }
    }
    out
}

/// The team notices beside the config file, against a sample report (a
/// missing one only matters to `--notify`, which names it then).
fn notice_templates(cfg: &Config) -> Vec<ConfigError> {
    let dir = cfg.file.parent().unwrap_or(Path::new("."));
    let sample = crate::report::ReportSummary::sample();
    let ctx = crate::conversation::notice_context(cfg, &sample, true, "sample reason", Some("CVE-2027-0001"), true);
    crate::conversation::NOTICE_TEMPLATES
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.exists())
        .filter_map(|path| {
            let e = crate::text::render_file(&path, &ctx).err()?;
            Some(ConfigError {
                file: cfg.file.clone(),
                line: None,
                key: String::new(),
                problem: format!("{} does not render: {e}", path.display()),
            })
        })
        .collect()
}

/// `--connect`: logs in to IMAP and SMTP as the daemon would, and reads
/// from CVE Services and GitHub when configured; each result in plain
/// words. Whether all worked.
fn connections(cfg: &Config) -> anyhow::Result<bool> {
    let timeout = std::time::Duration::from_secs(cfg.imap.timeout_secs.min(30));
    // One access token for both, when either logs in with OAuth: getting it
    // is the token endpoint's check.
    let token = match &cfg.oauth {
        Some(o) => match crate::oauth::TokenSource::new(o).and_then(|t| Ok(t.refresh_now()?)) {
            Ok(a) => {
                outln!(
                    "oauth2 {}: OK (an access token, valid until {})",
                    o.token_url,
                    cfg.policy.calendar.human(a.expires_at)
                );
                Some(a.token)
            }
            Err(e) => {
                eprintln!("embargo: oauth2 {}: {e:#}", o.token_url);
                return Ok(false);
            }
        },
        None => None,
    };
    let imap = probe_imap(cfg, token.as_ref(), timeout)?;
    let smtp = probe_smtp(cfg, token.as_ref(), timeout)?;
    let apis = probe_apis(cfg)?;
    let matrix = probe_matrix(cfg)?;
    Ok(imap && smtp && apis && matrix)
}

/// `[matrix]`: the homeserver answers, and knows the device's token.
fn probe_matrix(cfg: &Config) -> anyhow::Result<bool> {
    let Some(m) = &cfg.matrix else {
        return Ok(true);
    };
    match crate::matrix::http::probe(m) {
        Ok(line) => {
            outln!("matrix {}: OK ({line})", m.homeserver);
            Ok(true)
        }
        Err(e) => {
            eprintln!("embargo: matrix {}: {e:#}", m.homeserver);
            Ok(false)
        }
    }
}

/// `[cve]` and `[github]`: one read with the configured credentials each
/// (the CNA's organisation; the repository's advisories).
fn probe_apis(cfg: &Config) -> anyhow::Result<bool> {
    let mut ok = true;
    if let Some(c) = &cfg.cve {
        let api = crate::publish::cve_api::CveApi::new(c)?;
        match api.org_id() {
            Ok(id) => outln!("cve {}: OK (organisation {}, orgId {id})", c.api_url, c.org),
            Err(e) => {
                eprintln!("embargo: cve {}: {e}", c.api_url);
                ok = false;
            }
        }
    }
    if let Some(g) = &cfg.github
        && let Some(repo) = &g.repository
    {
        let api = crate::publish::github_api::GithubApi::new(g)?;
        let r = crate::publish::http::Request::get(
            format!("/repos/{repo}/security-advisories"),
            format!("the repository {repo}"),
        )
        .query("per_page", "1");
        match api.api.send(&r) {
            Ok(_) => outln!("github {}: OK (the advisories of {repo} are readable)", g.api_url),
            Err(e) => {
                eprintln!("embargo: github {}: {e}", g.api_url);
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// Logs in to IMAP as the daemon would; whether it worked (said either way).
fn probe_imap(
    cfg: &Config,
    token: Option<&crate::oauth::Secret>,
    timeout: std::time::Duration,
) -> anyhow::Result<bool> {
    use crate::probe::{Endpoint, Login, probe};
    let imap = Endpoint {
        section: "imap",
        host: cfg.imap.host.clone(),
        port: cfg.imap.port,
        security: cfg.imap.security,
    };
    let login = match (token, cfg.imap.auth.is_oauth()) {
        (Some(t), true) => Login::OAuth {
            mechanism: cfg.imap.auth,
            user: &cfg.imap.user,
            token: t,
        },
        _ => Login::Password {
            user: &cfg.imap.user,
            password: &cfg.imap.password,
        },
    };
    Ok(
        match probe(
            &imap,
            crate::tls::client_config(cfg.imap.ca_file.as_deref())?,
            login,
            timeout,
        ) {
            Ok(()) => {
                outln!("imap {}:{}: OK (logged in as {})", imap.host, imap.port, cfg.imap.user);
                true
            }
            Err(f) => {
                eprintln!("embargo: imap: {}", f.explain(&imap));
                false
            }
        },
    )
}

/// Connects (and logs in, with a user) to SMTP as the outbox would.
fn probe_smtp(
    cfg: &Config,
    token: Option<&crate::oauth::Secret>,
    timeout: std::time::Duration,
) -> anyhow::Result<bool> {
    use crate::probe::{Endpoint, Login, probe};
    let smtp = Endpoint {
        section: "smtp",
        host: cfg.smtp.host.clone(),
        port: cfg.smtp.port,
        security: cfg.smtp.security,
    };
    let user = cfg.smtp.user.as_deref().unwrap_or_default();
    let login = match (token, cfg.smtp.auth.is_oauth(), &cfg.smtp.password) {
        (Some(t), true, _) => Login::OAuth {
            mechanism: cfg.smtp.auth,
            user,
            token: t,
        },
        (_, _, Some(p)) => Login::Password { user, password: p },
        _ => Login::None,
    };
    Ok(
        match probe(
            &smtp,
            crate::tls::client_config(cfg.smtp.ca_file.as_deref())?,
            login,
            timeout,
        ) {
            Ok(()) => {
                outln!("smtp {}:{}: OK", smtp.host, smtp.port);
                true
            }
            Err(f) => {
                eprintln!("embargo: smtp: {}", f.explain(&smtp));
                false
            }
        },
    )
}
