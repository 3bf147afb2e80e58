//! `embargo config show`: the effective configuration, as `postconf` and
//! `doveconf` print theirs: every key with its value, or its default,
//! paths resolved against the config's folder, where each secret would be
//! read from; never a secret itself.

use std::process::ExitCode;

use crate::config::Config;
use crate::config::keys::{KEYS, Key};

/// One line of the effective configuration.
#[derive(serde::Serialize)]
struct Setting {
    key: String,
    value: String,
    /// Not set in the file: the default applies.
    default: bool,
}

pub(super) fn show(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(&cfg.file)?;
    let file: toml::Table = toml::from_str(&source)?;
    let mut out = Vec::new();
    for k in KEYS {
        out.extend(settings(cfg, &file, k));
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "# {} (the effective configuration; secrets are never printed)",
        cfg.file.display()
    );
    for s in &out {
        if s.default {
            outln!("{} = {}  # default", s.key, s.value);
        } else {
            outln!("{} = {}", s.key, s.value);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The setting(s) of one key: arrays of tables give one per entry.
fn settings(cfg: &Config, file: &toml::Table, k: &Key) -> Vec<Setting> {
    let (section, name) = k.name.split_once('.').unwrap_or(("", k.name));
    if let Some(array) = section.strip_suffix("[]") {
        let entries = file.get(array).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        return entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let v = e.get(name);
                Setting {
                    key: format!("{array}[{i}].{name}"),
                    value: v.map(|v| render(cfg, k, v)).unwrap_or_else(|| k.default.to_owned()),
                    default: v.is_none(),
                }
            })
            .collect();
    }
    let v = file.get(section).and_then(|s| s.get(name));
    let value = match (v, computed(cfg, k.name)) {
        (Some(v), _) => render(cfg, k, v),
        (None, Some(c)) => c,
        (None, None) => k.default.to_owned(),
    };
    vec![Setting {
        key: k.name.to_owned(),
        value,
        default: v.is_none(),
    }]
}

/// A value as written, with a path resolved, or a secret's location.
fn render(cfg: &Config, k: &Key, v: &toml::Value) -> String {
    let dir = cfg.file.parent().unwrap_or(std::path::Path::new("."));
    let resolve = |p: &str| dir.join(p).display().to_string();
    let pathish = k.name.ends_with("_file") || k.name.ends_with("_template") || k.name == "store.path";
    match v {
        toml::Value::String(s) if k.secret => {
            let path = dir.join(s);
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            format!(
                "(secret, not shown: read from $CREDENTIALS_DIRECTORY/{name} under systemd, else {})",
                path.display()
            )
        }
        toml::Value::String(s) if pathish => format!("{:?}", resolve(s)),
        toml::Value::Array(a) if k.name.ends_with(".keys") => {
            let files: Vec<String> = a
                .iter()
                .filter_map(|v| v.as_str())
                .map(|p| format!("{:?}", resolve(p)))
                .collect();
            format!("[{}]", files.join(", "))
        }
        other => other.to_string(),
    }
}

/// Defaults that depend on other keys, from the validated configuration.
fn computed(cfg: &Config, key: &str) -> Option<String> {
    let q = |s: &str| format!("{s:?}");
    Some(match key {
        "imap.port" => cfg.imap.port.to_string(),
        "smtp.port" => cfg.smtp.port.to_string(),
        "store.path" => q(&cfg.store.path.display().to_string()),
        "reply.ack_template" => q(&cfg.reply.ack_template.display().to_string()),
        "reply.cannot_decrypt_template" => q(&cfg.reply.cannot_decrypt_template.display().to_string()),
        "reply.max_per_authenticated_sender_per_day" => cfg.reply.max_per_authenticated_sender_per_day.to_string(),
        "reply.combined_ack_template" => match &cfg.reply.combined_ack_template {
            Some(p) => q(&p.display().to_string()),
            None => "(built in)".to_owned(),
        },
        "digest.text_template" => q(&cfg.digest.text_template.display().to_string()),
        "digest.html_template" => q(&cfg.digest.html_template.display().to_string()),
        "digest.alert_template" => q(&cfg.digest.alert_template.display().to_string()),
        "policy.timezone" => q(cfg.policy.calendar.tz.iana_name().unwrap_or("UTC")),
        "advisory.publisher" => q(&cfg.advisory.publisher),
        "advisory.namespace" => q(&cfg.advisory.namespace),
        "advisory.vendor" => q(&cfg.advisory.vendor),
        "oauth2.token_url" => q(&cfg.oauth.as_ref()?.token_url),
        "oauth2.device_authorization_url" => q(cfg.oauth.as_ref()?.device_authorization_url.as_deref()?),
        "oauth2.scope" => q(&cfg.oauth.as_ref()?.scope),
        "oauth2.refresh_token_file" => q(&cfg.oauth.as_ref()?.refresh_token_file.display().to_string()),
        _ => return None,
    })
}
