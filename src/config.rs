//! Configuration: TOML parsed into a raw struct (`deny_unknown_fields`), then
//! validated into the typed [`Config`]. Every error names the key, the problem
//! and, where it can be found, the line.
//!
//! Relative paths resolve against the folder of the config file.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox as MailAddress;
use serde::Deserialize;

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
    pub password: String,
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
    pub password: Option<String>,
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
}

#[derive(Debug, Clone)]
pub struct OpenPgpConfig {
    /// Team secret key files; all are tried for decryption, the first signs.
    pub keys: Vec<PathBuf>,
    pub passphrase: Option<String>,
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
    /// Excluded topics, in order.
    pub exclude: Vec<crate::triage::exclude::Topic>,
}

// ---- raw, as written in the file -------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    imap: RawImap,
    smtp: RawSmtp,
    store: RawStore,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    reply: RawReply,
    #[serde(default)]
    openpgp: RawOpenPgp,
    #[serde(default)]
    team: policy::RawTeam,
    #[serde(default)]
    exclude: Vec<policy::RawExclude>,
    #[serde(default)]
    digest: policy::RawDigest,
    #[serde(default)]
    security_txt: policy::RawSecurityTxt,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    trust: RawTrust,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    authserv_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOpenPgp {
    #[serde(default)]
    keys: Vec<String>,
    passphrase_file: Option<String>,
    max_decrypted_size: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    ca_file: Option<String>,
    user: String,
    password_file: String,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    max_message_size: Option<toml::Value>,
    timeout_secs: Option<u64>,
    idle_restart_secs: Option<u64>,
    poll_interval_secs: Option<u64>,
    reconnect_max_secs: Option<u64>,
    first_start_ack_hours: Option<u64>,
    sent_mailbox: Option<String>,
    sent_poll_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    ca_file: Option<String>,
    user: Option<String>,
    password_file: Option<String>,
    from: String,
    timeout_secs: Option<u64>,
    retry_max_secs: Option<u64>,
    copy_to_self: Option<bool>,
    in_doubt_grace_secs: Option<u64>,
    connections: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    tracking_prefix: Option<String>,
    response_business_days: Option<u32>,
    fix_days: Option<u32>,
    complex_fix_days: Option<u32>,
    details_delay_days: Option<u32>,
    timezone: Option<String>,
    weekend: Option<Vec<String>>,
    holidays: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReply {
    ack_template: Option<String>,
    cannot_decrypt_template: Option<String>,
    max_per_sender_per_day: Option<u32>,
    max_automatic_per_hour: Option<u32>,
    max_per_authenticated_sender_per_day: Option<u32>,
    combine_after_secs: Option<u64>,
    combined_ack_template: Option<String>,
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}

/// Reads, parses and validates a config file. Reads the password files and
/// templates it names (so a missing one is reported now), touches no network.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, true)
}

/// For the commands that only read the database (reports, status, backup):
/// everything is validated except the secret files, which under systemd are
/// only readable by the service (`LoadCredential=`); passwords stay empty.
pub fn load_offline(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, false)
}

fn load_with(path: &Path, secrets: bool) -> Result<Config, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        key: String::new(),
        problem: format!("cannot read the config file: {e}"),
    })?;
    parse_with(path, &source, secrets)
}

/// Parses and validates config text as if it were read from `path`.
pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
    parse_with(path, source, true)
}

fn parse_with(path: &Path, source: &str, secrets: bool) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(source).map_err(|e| toml_error(path, source, &e))?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let v = Validator {
        file: path,
        source,
        base: &base,
        secrets,
    };
    v.validate(raw)
}

struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
    /// Read secret files (false: `load_offline`).
    secrets: bool,
}

impl Validator<'_> {
    fn err(&self, section: &str, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: locate(self.source, section, key),
            key: format!("{section}.{key}"),
            problem: problem.into(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { self.base.join(p) }
    }

    fn secret(&self, section: &str, key: &str, p: &str) -> Result<String, ConfigError> {
        if !self.secrets {
            return Ok(String::new());
        }
        let path = crate::secrets::resolve(&self.path(p));
        let text = crate::secrets::read_secret(&path)
            .map_err(|e| self.err(section, key, format!("{}: {e}", path.display())))?;
        if text.is_empty() {
            return Err(self.err(section, key, format!("{} is empty", path.display())));
        }
        Ok(text)
    }

    fn readable_file(&self, section: &str, key: &str, p: &str) -> Result<PathBuf, ConfigError> {
        let path = self.path(p);
        std::fs::File::open(&path)
            .map_err(|e| self.err(section, key, format!("cannot read {}: {e}", path.display())))?;
        Ok(path)
    }

    fn security(&self, section: &str, value: Option<&str>, host: &str) -> Result<Security, ConfigError> {
        let sec = match value.unwrap_or("tls") {
            "tls" => Security::Tls,
            "starttls" => Security::StartTls,
            "none" => Security::None,
            other => {
                return Err(self.err(
                    section,
                    "security",
                    format!("`{other}` is not one of \"tls\", \"starttls\", \"none\""),
                ));
            }
        };
        if sec == Security::None && !is_loopback(host) {
            return Err(self.err(
                section,
                "security",
                format!(
                    "\"none\" sends the password in clear text; it is only allowed to a loopback address, not `{host}`"
                ),
            ));
        }
        Ok(sec)
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let imap = self.imap(raw.imap)?;
        let smtp = self.smtp(raw.smtp)?;
        if raw.store.path.trim().is_empty() {
            return Err(self.err("store", "path", "must not be empty"));
        }
        let store = StoreConfig {
            path: self.path(&raw.store.path),
        };
        let prefix = raw.policy.tracking_prefix.clone().unwrap_or_else(|| "SEC".to_owned());
        if prefix.is_empty() || prefix.len() > 16 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(self.err(
                "policy",
                "tracking_prefix",
                "must be 1 to 16 ASCII letters or digits (it goes into subjects as [PREFIX-YYYY-NNNN])",
            ));
        }
        let ack = raw.reply.ack_template.unwrap_or_else(|| "ack.txt".to_owned());
        let ack_template = self.readable_file("reply", "ack_template", &ack)?;
        let cd = raw
            .reply
            .cannot_decrypt_template
            .unwrap_or_else(|| "cannot-decrypt.txt".to_owned());
        let cannot_decrypt_template = self.readable_file("reply", "cannot_decrypt_template", &cd)?;
        let combined_ack_template = match raw.reply.combined_ack_template {
            Some(t) => Some(self.readable_file("reply", "combined_ack_template", &t)?),
            None => self
                .readable_file("reply", "combined_ack_template", "ack-combined.txt")
                .ok(),
        };
        let max_per_sender_per_day = raw.reply.max_per_sender_per_day.unwrap_or(5);
        // Unset: 50, or the plain limit when that is higher (a config from
        // before the key existed keeps working).
        let max_per_authenticated_sender_per_day = raw
            .reply
            .max_per_authenticated_sender_per_day
            .unwrap_or(50.max(max_per_sender_per_day));
        if max_per_authenticated_sender_per_day < max_per_sender_per_day {
            return Err(self.err(
                "reply",
                "max_per_authenticated_sender_per_day",
                format!(
                    "{max_per_authenticated_sender_per_day} is below reply.max_per_sender_per_day \
                     ({max_per_sender_per_day}): a proven sender gets at least as many"
                ),
            ));
        }
        let combine_after_secs = raw.reply.combine_after_secs.unwrap_or(3600);
        if !(1..=7 * 86400).contains(&combine_after_secs) {
            return Err(self.err("reply", "combine_after_secs", "must be between 1 and 604800 (a week)"));
        }
        let reply = ReplyConfig {
            ack_template,
            cannot_decrypt_template,
            max_per_sender_per_day,
            max_automatic_per_hour: raw.reply.max_automatic_per_hour.unwrap_or(1000),
            max_per_authenticated_sender_per_day,
            combine_after_secs,
            combined_ack_template,
        };
        Ok(Config {
            file: self.file.to_owned(),
            imap,
            smtp,
            store,
            policy: PolicyConfig {
                tracking_prefix: prefix,
                promises: self.promises(&raw.policy)?,
                calendar: self.calendar(&raw.policy)?,
            },
            reply,
            openpgp: self.openpgp(raw.openpgp)?,
            team: self.team(raw.team)?,
            digest: self.digest(raw.digest)?,
            security_txt: policy::security_txt(raw.security_txt),
            metrics: self.metrics(raw.metrics)?,
            trust: self.trust(raw.trust)?,
            exclude: self.exclude(raw.exclude)?,
        })
    }

    fn trust(&self, r: RawTrust) -> Result<TrustConfig, ConfigError> {
        let Some(id) = r.authserv_id else {
            return Ok(TrustConfig::default());
        };
        let id = id.trim().to_ascii_lowercase();
        let ok = !id.is_empty()
            && id.len() <= 255
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(self.err(
                "trust",
                "authserv_id",
                format!(
                    "`{id}` is not an authserv-id: give the host name your MTA writes first in its \
                     Authentication-Results headers, e.g. \"mx.example.org\""
                ),
            ));
        }
        Ok(TrustConfig { authserv_id: Some(id) })
    }

    fn metrics(&self, r: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let Some(listen) = r.listen else {
            return Ok(MetricsConfig::default());
        };
        let addr: std::net::SocketAddr = listen.trim().parse().map_err(|_| {
            self.err(
                "metrics",
                "listen",
                format!("`{listen}` is not an address and port such as \"127.0.0.1:9466\" or \"[::1]:9466\""),
            )
        })?;
        if !addr.ip().is_loopback() {
            return Err(self.err(
                "metrics",
                "listen",
                format!(
                    "`{listen}` is not a loopback address; the endpoint has no authentication, so it listens on \
                     127.0.0.1 or ::1 only (put a reverse proxy in front to reach it from elsewhere)"
                ),
            ));
        }
        Ok(MetricsConfig { listen: Some(addr) })
    }

    fn openpgp(&self, r: RawOpenPgp) -> Result<OpenPgpConfig, ConfigError> {
        let keys: Vec<PathBuf> = r.keys.iter().map(|k| crate::secrets::resolve(&self.path(k))).collect();
        for k in keys.iter().filter(|_| self.secrets) {
            std::fs::File::open(k)
                .map_err(|e| self.err("openpgp", "keys", format!("cannot read {}: {e}", k.display())))?;
        }
        let passphrase = match r.passphrase_file {
            Some(p) => Some(self.secret("openpgp", "passphrase_file", &p)?),
            None => None,
        };
        let max_decrypted_size = match &r.max_decrypted_size {
            None => 32 * 1024 * 1024,
            Some(v) => parse_size(v).map_err(|p| self.err("openpgp", "max_decrypted_size", p))?,
        };
        if max_decrypted_size > MAX_MESSAGE_SIZE_LIMIT {
            // The sum of a message's plaintexts is stored as its text: past
            // SQLite's length limit that message could never be recorded.
            return Err(self.err(
                "openpgp",
                "max_decrypted_size",
                "must be at most 256MiB (it bounds the decrypted text of one message, all its parts together)",
            ));
        }
        Ok(OpenPgpConfig {
            keys,
            passphrase,
            max_decrypted_size,
        })
    }

    fn promises(&self, p: &RawPolicy) -> Result<crate::policy::Promises, ConfigError> {
        let d = crate::policy::Promises::default();
        let days = |key: &str, v: Option<u32>, default: u32| match v {
            Some(0) => Err(self.err("policy", key, "must be greater than 0")),
            Some(n) if n > 3650 => Err(self.err("policy", key, "must be at most 3650")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let promises = crate::policy::Promises {
            response_business_days: days(
                "response_business_days",
                p.response_business_days,
                d.response_business_days,
            )?,
            fix_days: days("fix_days", p.fix_days, d.fix_days)?,
            complex_fix_days: days("complex_fix_days", p.complex_fix_days, d.complex_fix_days)?,
            details_delay_days: days("details_delay_days", p.details_delay_days, d.details_delay_days)?,
        };
        if promises.complex_fix_days < promises.fix_days {
            return Err(self.err("policy", "complex_fix_days", "must not be shorter than policy.fix_days"));
        }
        Ok(promises)
    }

    fn imap(&self, r: RawImap) -> Result<ImapConfig, ConfigError> {
        let security = self.security("imap", r.security.as_deref(), &r.host)?;
        let port = r.port.unwrap_or(match security {
            Security::Tls => 993,
            _ => 143,
        });
        let ca_file = match r.ca_file {
            Some(p) => Some(self.readable_file("imap", "ca_file", &p)?),
            None => None,
        };
        let max_message_size = match &r.max_message_size {
            None => 50 * 1024 * 1024,
            Some(v) => parse_size(v).map_err(|p| self.err("imap", "max_message_size", p))?,
        };
        if max_message_size > MAX_MESSAGE_SIZE_LIMIT {
            // Above this the IMAP client's buffer (512 MiB) or SQLite's
            // length limit would fail on every attempt at such a message,
            // blocking the mailbox behind it.
            return Err(self.err(
                "imap",
                "max_message_size",
                "must be at most 256MiB (larger mail is recorded from its header and flagged)",
            ));
        }
        if r.user.is_empty() {
            return Err(self.err("imap", "user", "must not be empty"));
        }
        if r.mailbox.is_empty() {
            return Err(self.err("imap", "mailbox", "must not be empty"));
        }
        let idle_restart_secs = r.idle_restart_secs.unwrap_or(20 * 60);
        if !(1..=28 * 60).contains(&idle_restart_secs) {
            return Err(self.err(
                "imap",
                "idle_restart_secs",
                "must be between 1 and 1680 (RFC 2177: servers may drop IDLE after 30 minutes)",
            ));
        }
        let sent_mailbox = match r.sent_mailbox {
            Some(s) if s.trim().is_empty() => return Err(self.err("imap", "sent_mailbox", "must not be empty")),
            Some(s) if s == r.mailbox => {
                return Err(self.err(
                    "imap",
                    "sent_mailbox",
                    "must differ from imap.mailbox (the Sent folder holds the team's replies)",
                ));
            }
            other => other,
        };
        Ok(ImapConfig {
            password: self.secret("imap", "password_file", &r.password_file)?,
            host: r.host,
            port,
            security,
            ca_file,
            user: r.user,
            mailbox: r.mailbox,
            max_message_size,
            timeout_secs: positive(self, "imap", "timeout_secs", r.timeout_secs, 60)?,
            idle_restart_secs,
            poll_interval_secs: positive(self, "imap", "poll_interval_secs", r.poll_interval_secs, 60)?,
            reconnect_max_secs: positive(self, "imap", "reconnect_max_secs", r.reconnect_max_secs, 300)?,
            first_start_ack_hours: r.first_start_ack_hours.unwrap_or(24),
            sent_poll_secs: positive(self, "imap", "sent_poll_secs", r.sent_poll_secs, 60)?,
            sent_mailbox,
        })
    }

    fn smtp(&self, r: RawSmtp) -> Result<SmtpConfig, ConfigError> {
        let security = self.security("smtp", r.security.as_deref(), &r.host)?;
        let port = r.port.unwrap_or(match security {
            Security::Tls => 465,
            Security::StartTls => 587,
            Security::None => 25,
        });
        let ca_file = match r.ca_file {
            Some(p) => Some(self.readable_file("smtp", "ca_file", &p)?),
            None => None,
        };
        let from: MailAddress = r
            .from
            .parse()
            .map_err(|e| self.err("smtp", "from", format!("`{}` is not a mail address: {e}", r.from)))?;
        let password = match (&r.user, &r.password_file) {
            (Some(_), Some(p)) => Some(self.secret("smtp", "password_file", p)?),
            (Some(_), None) => {
                return Err(self.err("smtp", "password_file", "is required when smtp.user is set"));
            }
            (None, Some(_)) => {
                return Err(self.err("smtp", "user", "is required when smtp.password_file is set"));
            }
            (None, None) => None,
        };
        Ok(SmtpConfig {
            host: r.host,
            port,
            security,
            ca_file,
            user: r.user,
            password,
            from,
            timeout_secs: positive(self, "smtp", "timeout_secs", r.timeout_secs, 60)?,
            retry_max_secs: positive(self, "smtp", "retry_max_secs", r.retry_max_secs, 900)?,
            copy_to_self: r.copy_to_self.unwrap_or(true),
            in_doubt_grace_secs: positive(self, "smtp", "in_doubt_grace_secs", r.in_doubt_grace_secs, 600)?,
            connections: match r.connections {
                None => 8,
                Some(n @ 1..=16) => n as usize,
                Some(n) => return Err(self.err("smtp", "connections", format!("must be between 1 and 16, not {n}"))),
            },
        })
    }
}

fn positive(v: &Validator<'_>, section: &str, key: &str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(v.err(section, key, "must be greater than 0")),
        Some(n) => Ok(n),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// The largest `imap.max_message_size` accepted.
pub const MAX_MESSAGE_SIZE_LIMIT: u64 = 256 * 1024 * 1024;

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

mod policy;
#[cfg(test)]
mod tests;
