//! Configuration: TOML parsed into a raw struct (`deny_unknown_fields`), then
//! validated into the typed [`Config`]. Every error names the key, the problem
//! and, where it can be found, the line.
//!
//! Relative paths resolve against the folder of the config file.

use std::fmt;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox as MailAddress;

pub use advisory::{AdvisoryConfig, is_uuid_v4};
pub use disclosure::{DisclosureConfig, Downstream};
pub use matrix::MatrixConfig;
pub use oauth::{AuthMethod, OAuthConfig};
pub use publish::{CVE_PRODUCTION, CVE_TEST, CveConfig, GITHUB_API, GithubConfig, is_repository};

use raw::{RawConfig, RawImap, RawMetrics, RawOpenPgp, RawPolicy, RawReply, RawSmtp, RawTriage, RawTrust};
use validate::Validator;

/// What a command needs beyond the config file's own values: which
/// sections' secrets it reads, whether it reads the files the config names
/// (templates, CA and key files), and whether it checks deeply
/// (`check-config`: certificates parse, the database location is
/// writable). A read-only verb needs nothing: a missing CA file or password
/// never stops `reports list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    pub imap: bool,
    pub smtp: bool,
    pub openpgp: bool,
    pub oauth: bool,
    /// The CVE Services API key (`[cve] api_key_file`).
    pub cve: bool,
    /// The GitHub token (`[github] token_file`).
    pub github: bool,
    pub files: bool,
    pub check: bool,
}

impl Needs {
    /// Nothing but the file: the read-only verbs.
    pub const NOTHING: Needs = Needs {
        imap: false,
        smtp: false,
        openpgp: false,
        oauth: false,
        cve: false,
        github: false,
        files: false,
        check: false,
    };
    /// What the daemon reads at start (the CVE key: it reserves ids for
    /// reports the team's mail moves to triaged; never the GitHub token).
    pub const RUN: Needs = Needs {
        imap: true,
        smtp: true,
        openpgp: true,
        oauth: true,
        cve: true,
        github: false,
        files: true,
        check: false,
    };
    /// `check-config`: everything `run` reads, and deeper.
    pub const CHECK: Needs = Needs {
        check: true,
        github: true,
        ..Needs::RUN
    };
    /// Talking to CVE Services and GitHub (`cve ...`, `advisory publish`).
    pub const PUBLISH: Needs = Needs {
        cve: true,
        github: true,
        files: true,
        ..Needs::NOTHING
    };
    /// Sending mail from the CLI: SMTP and the team key (signing), the
    /// templates; never the IMAP password.
    pub const SEND: Needs = Needs {
        smtp: true,
        openpgp: true,
        oauth: true,
        files: true,
        ..Needs::NOTHING
    };
    /// Signing or decrypting without sending.
    pub const KEYS: Needs = Needs {
        openpgp: true,
        files: true,
        ..Needs::NOTHING
    };

    /// Whether the files a section names (CA, keys, templates) are read.
    pub(crate) fn files_of(&self, section: &str) -> bool {
        match section {
            "imap" | "smtp" | "openpgp" | "oauth2" | "cve" | "github" => self.secrets_of(section) && self.files,
            _ => self.files,
        }
    }

    pub(crate) fn secrets_of(&self, section: &str) -> bool {
        match section {
            "imap" => self.imap,
            "smtp" => self.smtp,
            "openpgp" => self.openpgp,
            "oauth2" => self.oauth,
            "cve" => self.cve,
            "github" => self.github,
            _ => self.files,
        }
    }
}

/// A secret read from a file the config names (a password, a passphrase,
/// an API key): used as a `str`, never shown by a `Debug` dump.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "(none)"
        } else {
            "(a secret, not shown)"
        })
    }
}

/// A configuration error: `file:line: key: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.problem)
        } else {
            write!(f, ": key `{}`: {}", self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connect, then STARTTLS before anything else.
    StartTls,
    /// No TLS at all: only allowed to a loopback address.
    None,
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    /// Empty with OAuth.
    pub password: Secret,
    pub auth: AuthMethod,
    pub mailbox: String,
    /// Messages larger than this (RFC822.SIZE) are recorded, not downloaded.
    pub max_message_size: u64,
    /// Timeout for every command outside IDLE.
    pub timeout_secs: u64,
    /// IDLE is re-issued after this long (RFC 2177: well inside 29 minutes).
    pub idle_restart_secs: u64,
    /// Polling interval when the server has no IDLE.
    pub poll_interval_secs: u64,
    /// Cap of the reconnect backoff.
    pub reconnect_max_secs: u64,
    /// On the very first start against a mailbox, messages older than this
    /// are imported without an acknowledgement.
    pub first_start_ack_hours: u64,
    /// The security address's Sent folder: replies the team sends from it
    /// (a shared mailbox in a mail client) count as the team's response.
    pub sent_mailbox: Option<String>,
    /// How often the Sent folder is looked at.
    pub sent_poll_secs: u64,
}

/// Where a long-running task reads the configuration that is current now
/// (the daemon swaps it as a whole on SIGHUP).
pub type ConfigSource = std::sync::Arc<dyn Fn() -> std::sync::Arc<Config> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub auth: AuthMethod,
    pub from: MailAddress,
    pub timeout_secs: u64,
    /// Cap of the retry backoff for temporary failures.
    pub retry_max_secs: u64,
    /// Send every automatic mail to our own address too, so a send whose
    /// outcome a crash left in doubt can be confirmed from the mailbox.
    pub copy_to_self: bool,
    /// How long to wait for that copy before sending an in-doubt mail again.
    pub in_doubt_grace_secs: u64,
    /// SMTP connections the outbox sends over at once (1-16).
    pub connections: usize,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// The most decrypted text kept for one message (the first bytes;
    /// also at most 8 times the message's own size, or 64 KiB).
    pub max_text_per_message: u64,
    /// What mail from unauthenticated senders may add to the database in
    /// one clock hour (raw message and text); past it, such mail keeps 4 KiB
    /// of text and its raw copy stays on the IMAP server only.
    pub unauthenticated_per_hour: u64,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub tracking_prefix: String,
    pub promises: crate::policy::Promises,
    pub calendar: crate::policy::Calendar,
}

#[derive(Debug, Clone, Default)]
pub struct TeamConfig {
    /// Addresses whose mail into a thread counts as the team's response.
    pub members: Vec<String>,
    /// Where alerts and digests go.
    pub notify: Vec<String>,
    /// Members' public keys: alerts and digests are encrypted to them.
    pub keys: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// Local time (policy timezone) of the daily digest.
    pub at: jiff::civil::Time,
    /// Send a digest even when there is nothing to say.
    pub send_empty: bool,
    pub text_template: PathBuf,
    pub html_template: PathBuf,
    pub alert_template: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct SecurityTxtConfig {
    pub policy: Option<String>,
    pub encryption: Option<String>,
    pub acknowledgments: Option<String>,
    pub preferred_languages: Option<String>,
    pub canonical: Option<String>,
}

/// `[trust]`: what embargo may take as proof of a sender's address.
#[derive(Debug, Clone, Default)]
pub struct TrustConfig {
    /// The authserv-id with which the operator's own MTA writes
    /// `Authentication-Results` (RFC 8601); unset: DMARC/DKIM verdicts are
    /// not used and only signatures authenticate a sender.
    pub authserv_id: Option<String>,
}

/// `[metrics]`: the Prometheus text endpoint, off unless `listen` is set.
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    /// A loopback address and port, e.g. 127.0.0.1:9466.
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct ReplyConfig {
    pub ack_template: PathBuf,
    /// The reply to mail embargo could not decrypt (wrong key, broken).
    pub cannot_decrypt_template: PathBuf,
    /// At most this many automatic replies to one address per 24 hours
    /// (`user+tag@domain` counts as `user@domain`).
    pub max_per_sender_per_day: u32,
    /// At most this many automatic mails (acknowledgements, out-of-scope
    /// and cannot-decrypt replies, relay explanations) leave per hour, all
    /// addresses together; beyond it they wait in the outbox. 0: no cap.
    pub max_automatic_per_hour: u32,
    /// The per-address limit for a sender whose address is proven (a
    /// signature by their pinned key, DMARC at our MTA, or a reply citing an
    /// acknowledgement we sent to that address).
    pub max_per_authenticated_sender_per_day: u32,
    /// Past the limit, acknowledgements are held and sent as one combined
    /// acknowledgement per address this long after the first held one.
    pub combine_after_secs: u64,
    /// The combined acknowledgement's template (None: the built-in one,
    /// `config/ack-combined.txt`; an install from before it existed keeps
    /// working without the file).
    pub combined_ack_template: Option<PathBuf>,
    /// The acknowledgement lists what the report lacks (the checklist).
    pub ask_for_missing: bool,
}

/// `[triage]`: suggestions for the team, never decisions.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    /// Similar reports at or above this score are suggested.
    pub similar_threshold: f64,
    /// Folders of OSV JSON files: published advisories a report may match.
    pub known_advisories: Vec<PathBuf>,
    /// Product names (lower-case) that count as naming what is affected.
    pub products: Vec<String>,
}

/// The score from which a report is suggested as similar.
pub const SIMILAR_THRESHOLD: f64 = crate::similar::THRESHOLD;

#[derive(Debug, Clone)]
pub struct OpenPgpConfig {
    /// Team secret key files; all are tried for decryption, the first signs.
    pub keys: Vec<PathBuf>,
    pub passphrase: Option<Secret>,
    /// Decrypted (and decompressed) content above this is refused.
    pub max_decrypted_size: u64,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    pub reply: ReplyConfig,
    pub openpgp: OpenPgpConfig,
    pub team: TeamConfig,
    pub digest: DigestConfig,
    pub security_txt: SecurityTxtConfig,
    pub metrics: MetricsConfig,
    pub trust: TrustConfig,
    pub triage: TriageConfig,
    /// Excluded topics, in order.
    pub exclude: Vec<crate::triage::exclude::Topic>,
    pub advisory: AdvisoryConfig,
    /// `[cve]`: publishing through CVE Services (a CNA's account).
    pub cve: Option<CveConfig>,
    /// `[github]`: repository security advisories.
    pub github: Option<GithubConfig>,
    /// `[matrix]`: the team's encrypted room.
    pub matrix: Option<MatrixConfig>,
    pub disclosure: DisclosureConfig,
    /// Packagers and distributions warned ahead of a release, in order.
    pub downstream: Vec<Downstream>,
    /// `[oauth2]`, when IMAP or SMTP logs in with OAuth.
    pub oauth: Option<OAuthConfig>,
}

/// Reads, parses and validates a config file as the daemon does: reads the
/// password files and templates it names (so a missing one is reported
/// now), touches no network. The first problem, if any.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_for(path, Needs::RUN).map_err(first)
}

/// Reads and validates a config file for a command that `needs` so much:
/// every problem found, in file order.
pub fn load_for(path: &Path, needs: Needs) -> Result<Config, Vec<ConfigError>> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            problem: format!("cannot read the config file: {e}"),
        }]
    })?;
    parse_for(path, &source, needs)
}

/// Parses and validates config text as if it were read from `path`.
pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
    parse_for(path, source, Needs::RUN).map_err(first)
}

fn first(mut problems: Vec<ConfigError>) -> ConfigError {
    problems.truncate(1);
    problems.pop().unwrap_or_else(|| ConfigError {
        file: PathBuf::new(),
        line: None,
        key: String::new(),
        problem: "invalid configuration".to_owned(),
    })
}

/// `check-config`: the configuration as far as it can be built (so the
/// checks that need it, templates and keys, run too) and every problem.
pub fn check(path: &Path) -> (Option<Config>, Vec<ConfigError>) {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                vec![ConfigError {
                    file: path.to_owned(),
                    line: None,
                    key: String::new(),
                    problem: format!("cannot read the config file: {e}"),
                }],
            );
        }
    };
    let raw: RawConfig = match toml::from_str(&source) {
        Ok(r) => r,
        Err(e) => return (None, vec![toml_error(path, &source, &e)]),
    };
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let v = Validator {
        file: path,
        source: &source,
        base: &base,
        needs: Needs::CHECK,
        problems: Default::default(),
    };
    v.build(raw)
}

/// The line of `key` in `[section]` of the config file, for problems found
/// after validation (a template that does not render).
pub fn line_of(cfg: &Config, section: &str, key: &str) -> Option<usize> {
    std::fs::read_to_string(&cfg.file)
        .ok()
        .and_then(|s| locate(&s, section, key))
}

/// Parses and validates config text for a command that `needs` so much.
pub fn parse_for(path: &Path, source: &str, needs: Needs) -> Result<Config, Vec<ConfigError>> {
    let raw: RawConfig = toml::from_str(source).map_err(|e| vec![toml_error(path, source, &e)])?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let v = Validator {
        file: path,
        source,
        base: &base,
        needs,
        problems: Default::default(),
    };
    v.validate(raw)
}

/// Sizes: an integer (bytes) or a string like "25MiB", "512KiB", "1GiB", "10MB".
pub fn parse_size(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(n) if *n > 0 => Ok(*n as u64),
        toml::Value::String(s) => parse_size_str(s),
        _ => Err("must be a positive number of bytes or a string such as \"25MiB\"".to_owned()),
    }
}

fn parse_size_str(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` does not start with a number"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!("`{s}` is not a usable size")),
        Some(v) => Ok(v),
    }
}

/// Turns a toml error into one that names the key and the line.
fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> ConfigError {
    let (line, key) = match e.span() {
        Some(span) => {
            let line = source[..span.start.min(source.len())].matches('\n').count() + 1;
            (Some(line), key_at(source, span.start))
        }
        None => (None, String::new()),
    };
    ConfigError {
        file: path.to_owned(),
        line,
        key,
        problem: e.message().trim().to_owned(),
    }
}

/// The dotted key of the line holding byte offset `at`: `section.key`.
fn key_at(source: &str, at: usize) -> String {
    let at = at.min(source.len());
    let line_start = source[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = source[line_start..].lines().next().unwrap_or("");
    let section = source[..line_start]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            (l.starts_with('[') && l.ends_with(']')).then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        })
        .unwrap_or_default();
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return trimmed.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
    }
    let key = trimmed.split('=').next().unwrap_or("").trim();
    match (section.is_empty(), key.is_empty()) {
        (_, true) => section,
        (true, false) => key.to_owned(),
        (false, false) => format!("{section}.{key}"),
    }
}

/// The line of `key = ...` inside `[section]`, if the file has one.
fn locate(source: &str, section: &str, key: &str) -> Option<usize> {
    let mut in_section = false;
    let mut section_line = None;
    for (i, line) in source.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t.trim_matches(|c| c == '[' || c == ']').trim() == section;
            if in_section {
                section_line = Some(i + 1);
            }
            continue;
        }
        if in_section && t.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    section_line
}

mod advisory;
mod disclosure;
mod endpoint;
pub mod keys;
mod matrix;
mod oauth;
mod policy;
mod publish;
mod raw;
mod recorder;
mod store;
#[cfg(test)]
mod tests;
mod validate;
