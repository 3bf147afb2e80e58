//! Turning the raw file into the typed [`Config`]: every value checked,
//! defaults filled in, paths resolved against the config's folder, secrets
//! read; every error names the key and the problem.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox as MailAddress;

use super::*;

pub(super) struct Validator<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    pub(super) base: &'a Path,
    /// What the command needs read beyond the file itself.
    pub(super) needs: Needs,
    /// Problems found so far (every one is reported, not just the first).
    pub(super) problems: std::cell::RefCell<Vec<ConfigError>>,
}

impl Validator<'_> {
    pub(super) fn err(&self, section: &str, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: locate(self.source, section, key),
            key: format!("{section}.{key}"),
            problem: problem.into(),
        }
    }

    pub(super) fn path(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { self.base.join(p) }
    }

    /// A secret (a password, a passphrase), read only when the command
    /// needs that section's secrets; otherwise empty. A problem is
    /// recorded, not returned: validation goes on.
    pub(super) fn secret(&self, section: &str, key: &str, p: &str) -> Result<super::Secret, ConfigError> {
        if !self.needs.secrets_of(section) {
            return Ok(super::Secret::default());
        }
        match crate::secrets::read(&self.path(p)) {
            Ok(text) => Ok(super::Secret::new(text)),
            Err(problem) => {
                self.problem(self.err(section, key, problem));
                Ok(super::Secret::default())
            }
        }
    }

    /// A file the config names (a template, a CA, a key): its path,
    /// checked to be readable when the command reads files. A problem is
    /// recorded, not returned.
    pub(super) fn readable_file(&self, section: &str, key: &str, p: &str) -> Result<PathBuf, ConfigError> {
        let path = self.path(p);
        if self.needs.files_of(section)
            && let Err(e) = std::fs::File::open(&path)
        {
            self.problem(self.err(section, key, format!("cannot read {}: {e}", path.display())));
        }
        Ok(path)
    }

    /// A CA file: readable and, for check-config, holding PEM certificates.
    pub(super) fn ca_file(&self, section: &str, p: &str) -> Result<PathBuf, ConfigError> {
        let path = self.readable_file(section, "ca_file", p)?;
        if self.needs.check
            && let Ok(bytes) = std::fs::read(&path)
            && let Err(problem) = crate::tls::pem_certificates(&bytes)
        {
            self.problem(self.err(section, "ca_file", format!("{}: {problem}", path.display())));
        }
        Ok(path)
    }

    pub(super) fn security(&self, section: &str, value: Option<&str>, host: &str) -> Result<Security, ConfigError> {
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

    /// Keeps a section's value, or records its problem (and returns None,
    /// so the other sections are still checked).
    fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(e);
                None
            }
        }
    }

    /// Records a problem; validation goes on, and fails at the end.
    pub(super) fn problem(&self, e: ConfigError) {
        self.problems.borrow_mut().push(e);
    }

    /// Every section checked; every problem found, in file order.
    pub(super) fn validate(&self, raw: RawConfig) -> Result<Config, Vec<ConfigError>> {
        let (config, problems) = self.build(raw);
        match config {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    /// The configuration as far as it could be built (None when a section
    /// could not be), and every problem found, in file order.
    pub(super) fn build(&self, raw: RawConfig) -> (Option<Config>, Vec<ConfigError>) {
        let imap = self.keep(self.imap(raw.imap));
        let smtp = self.keep(self.smtp(raw.smtp));
        let store = self.keep(self.store(&raw.store));
        let policy = self.policy_section(&raw.policy);
        let reply = self.keep(self.reply(raw.reply));
        let oauth = match (&imap, &smtp, &store) {
            (Some(imap), Some(smtp), Some(store)) => self.oauth_section(raw.oauth2, imap, smtp, store),
            _ => None,
        };
        let security_txt = policy::security_txt(raw.security_txt);
        let advisory = smtp
            .as_ref()
            .and_then(|smtp| self.keep(self.advisory(raw.advisory, smtp, &security_txt)));
        let openpgp = self.keep(self.openpgp(raw.openpgp));
        let team = self.keep(self.team(raw.team));
        let digest = self.keep(self.digest(raw.digest));
        let metrics = self.keep(self.metrics(raw.metrics));
        let trust = self.keep(self.trust(raw.trust));
        let triage = self.keep(self.triage(raw.triage));
        let exclude = self.keep(self.exclude(raw.exclude));
        let disclosure = self.keep(self.disclosure(raw.disclosure));
        let downstream = self.keep(self.downstream(raw.downstream));
        let cve = raw.cve.map(|c| self.keep(self.cve(c)));
        let github = raw.github.map(|g| self.keep(self.github(g)));
        let matrix = match (raw.matrix, &store) {
            (Some(m), Some(st)) => Some(self.keep(self.matrix(m, &st.path))),
            _ => None,
        };
        let mut problems = self.problems.take();
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        // The whole configuration when every section could be built.
        let config = (|| {
            Some(Config {
                file: self.file.to_owned(),
                imap: imap?,
                smtp: smtp?,
                store: store?,
                policy: policy?,
                reply: reply?,
                openpgp: openpgp?,
                team: team?,
                digest: digest?,
                security_txt,
                metrics: metrics?,
                trust: trust?,
                triage: triage?,
                exclude: exclude?,
                advisory: advisory?,
                cve: cve.map(|c| c.ok_or(())).transpose().ok()?,
                github: github.map(|g| g.ok_or(())).transpose().ok()?,
                matrix: matrix.map(|m| m.ok_or(())).transpose().ok()?,
                disclosure: disclosure?,
                downstream: downstream?,
                oauth: oauth?,
            })
        })();
        (config, problems)
    }

    /// `[policy]`: the promises' and the calendar's problems are recorded,
    /// and their defaults stand in, so the checks that need a whole
    /// configuration (templates) still run.
    fn policy_section(&self, r: &RawPolicy) -> Option<PolicyConfig> {
        Some(PolicyConfig {
            tracking_prefix: self.keep(self.prefix(r))?,
            promises: self.keep(self.promises(r)).unwrap_or_default(),
            calendar: self
                .keep(self.calendar(r))
                .or_else(|| self.calendar(&RawPolicy::default()).ok())?,
        })
    }

    /// `[oauth2]`, with what uses it and where the token file defaults to.
    fn oauth_section(
        &self,
        r: Option<super::raw::RawOAuth>,
        imap: &ImapConfig,
        smtp: &SmtpConfig,
        store: &StoreConfig,
    ) -> Option<Option<OAuthConfig>> {
        let used_by = [("imap", imap.auth), ("smtp", smtp.auth)]
            .into_iter()
            .find(|(_, a)| a.is_oauth())
            .map(|(s, _)| s);
        let store_dir = store.path.parent().unwrap_or(self.base).to_owned();
        self.keep(self.oauth(r, used_by, &store_dir))
    }

    fn prefix(&self, r: &RawPolicy) -> Result<String, ConfigError> {
        let prefix = r.tracking_prefix.clone().unwrap_or_else(|| "SEC".to_owned());
        if prefix.is_empty() || prefix.len() > 16 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(self.err(
                "policy",
                "tracking_prefix",
                "must be 1 to 16 ASCII letters or digits (it goes into subjects as [PREFIX-YYYY-NNNN])",
            ));
        }
        Ok(prefix)
    }

    fn reply(&self, r: RawReply) -> Result<ReplyConfig, ConfigError> {
        let ack = r.ack_template.unwrap_or_else(|| "ack.txt".to_owned());
        let ack_template = self.readable_file("reply", "ack_template", &ack)?;
        let cd = r
            .cannot_decrypt_template
            .unwrap_or_else(|| "cannot-decrypt.txt".to_owned());
        let cannot_decrypt_template = self.readable_file("reply", "cannot_decrypt_template", &cd)?;
        let combined_ack_template = match r.combined_ack_template {
            Some(t) => Some(self.readable_file("reply", "combined_ack_template", &t)?),
            // Beside the config if there is one; else the built-in text.
            None => Some(self.path("ack-combined.txt")).filter(|p| p.exists()),
        };
        let max_per_sender_per_day = r.max_per_sender_per_day.unwrap_or(5);
        // Unset: 50, or the plain limit when that is higher (a config from
        // before the key existed keeps working).
        let max_per_authenticated_sender_per_day = r
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
        let combine_after_secs = r.combine_after_secs.unwrap_or(3600);
        if !(1..=7 * 86400).contains(&combine_after_secs) {
            return Err(self.err("reply", "combine_after_secs", "must be between 1 and 604800 (a week)"));
        }
        Ok(ReplyConfig {
            ack_template,
            cannot_decrypt_template,
            max_per_sender_per_day,
            max_automatic_per_hour: r.max_automatic_per_hour.unwrap_or(1000),
            max_per_authenticated_sender_per_day,
            combine_after_secs,
            combined_ack_template,
            ask_for_missing: r.ask_for_missing.unwrap_or(false),
        })
    }

    fn triage(&self, r: RawTriage) -> Result<TriageConfig, ConfigError> {
        let similar_threshold = r.similar_threshold.unwrap_or(crate::config::SIMILAR_THRESHOLD);
        if !(0.0..=1.0).contains(&similar_threshold) || similar_threshold == 0.0 {
            return Err(self.err("triage", "similar_threshold", "must be above 0 and at most 1"));
        }
        let mut known_advisories = Vec::new();
        for d in &r.known_advisories {
            let path = self.path(d);
            if self.needs.files && !path.is_dir() {
                self.problem(self.err(
                    "triage",
                    "known_advisories",
                    format!("{} is not a folder (of OSV JSON files)", path.display()),
                ));
            }
            known_advisories.push(path);
        }
        Ok(TriageConfig {
            similar_threshold,
            known_advisories,
            products: r
                .products
                .iter()
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        })
    }

    pub(super) fn trust(&self, r: RawTrust) -> Result<TrustConfig, ConfigError> {
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

    pub(super) fn metrics(&self, r: RawMetrics) -> Result<MetricsConfig, ConfigError> {
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

    pub(super) fn openpgp(&self, r: RawOpenPgp) -> Result<OpenPgpConfig, ConfigError> {
        let keys: Vec<PathBuf> = r.keys.iter().map(|k| crate::secrets::resolve(&self.path(k))).collect();
        for k in keys.iter().filter(|_| self.needs.secrets_of("openpgp")) {
            if let Err(e) = std::fs::File::open(k) {
                self.problem(self.err("openpgp", "keys", format!("cannot read {}: {e}", k.display())));
            }
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

    pub(super) fn promises(&self, p: &RawPolicy) -> Result<crate::policy::Promises, ConfigError> {
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
            needs_info_close_days: days(
                "needs_info_close_days",
                p.needs_info_close_days,
                d.needs_info_close_days,
            )?,
        };
        if promises.complex_fix_days < promises.fix_days {
            return Err(self.err("policy", "complex_fix_days", "must not be shorter than policy.fix_days"));
        }
        Ok(promises)
    }

    /// A password file beside OAuth is a mistake `check-config` names.
    fn no_password_with_oauth(&self, section: &str, auth: AuthMethod, written: Option<&str>, password_file: bool) {
        if auth.is_oauth() && password_file {
            self.problem(self.err(
                section,
                "password_file",
                format!(
                    "is not used with auth = {:?} (the login is the OAuth token): remove it, or set auth = \"password\"",
                    written.unwrap_or_default()
                ),
            ));
        }
    }

    /// `imap.sent_mailbox`: a folder other than the watched one.
    fn sent_mailbox(&self, sent: Option<String>, mailbox: &str) -> Result<Option<String>, ConfigError> {
        Ok(match sent {
            Some(s) if s.trim().is_empty() => return Err(self.err("imap", "sent_mailbox", "must not be empty")),
            Some(s) if s == mailbox => {
                return Err(self.err(
                    "imap",
                    "sent_mailbox",
                    "must differ from imap.mailbox (the Sent folder holds the team's replies)",
                ));
            }
            other => other,
        })
    }

    pub(super) fn imap(&self, r: RawImap) -> Result<ImapConfig, ConfigError> {
        let security = self.security("imap", r.security.as_deref(), &r.host)?;
        let port = r.port.unwrap_or(match security {
            Security::Tls => 993,
            _ => 143,
        });
        let ca_file = match r.ca_file {
            Some(p) => Some(self.ca_file("imap", &p)?),
            None => None,
        };
        let max_message_size = match &r.max_message_size {
            None => 50 * 1024 * 1024,
            Some(v) => parse_size(v).map_err(|p| self.err("imap", "max_message_size", p))?,
        };
        // Above this the IMAP client's buffer (512 MiB) or SQLite's length
        // limit would fail on every attempt at such a message, blocking the
        // mailbox behind it.
        let problem = if max_message_size > MAX_MESSAGE_SIZE_LIMIT {
            Some((
                "max_message_size",
                "must be at most 256MiB (larger mail is recorded from its header and flagged)",
            ))
        } else if r.user.is_empty() {
            Some(("user", "must not be empty"))
        } else if r.mailbox.is_empty() {
            Some(("mailbox", "must not be empty"))
        } else {
            None
        };
        if let Some((key, what)) = problem {
            return Err(self.err("imap", key, what));
        }
        let idle_restart_secs = r.idle_restart_secs.unwrap_or(20 * 60);
        if !(1..=28 * 60).contains(&idle_restart_secs) {
            return Err(self.err(
                "imap",
                "idle_restart_secs",
                "must be between 1 and 1680 (RFC 2177: servers may drop IDLE after 30 minutes)",
            ));
        }
        let sent_mailbox = self.sent_mailbox(r.sent_mailbox.clone(), &r.mailbox)?;
        let auth = AuthMethod::parse(self, "imap", r.auth.as_deref())?;
        self.no_password_with_oauth("imap", auth, r.auth.as_deref(), r.password_file.is_some());
        let password = match (auth, &r.password_file) {
            (AuthMethod::Password, Some(p)) => self.secret("imap", "password_file", p)?,
            (AuthMethod::Password, None) => {
                return Err(self.err(
                    "imap",
                    "password_file",
                    "is required (or auth = \"xoauth2\" or \"oauthbearer\" with [oauth2])",
                ));
            }
            _ => super::Secret::default(),
        };
        Ok(ImapConfig {
            password,
            auth,
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

    pub(super) fn smtp(&self, r: RawSmtp) -> Result<SmtpConfig, ConfigError> {
        let security = self.security("smtp", r.security.as_deref(), &r.host)?;
        let port = r.port.unwrap_or(match security {
            Security::Tls => 465,
            Security::StartTls => 587,
            Security::None => 25,
        });
        let ca_file = match r.ca_file {
            Some(p) => Some(self.ca_file("smtp", &p)?),
            None => None,
        };
        let from: MailAddress = r
            .from
            .parse()
            .map_err(|e| self.err("smtp", "from", format!("`{}` is not a mail address: {e}", r.from)))?;
        let auth = AuthMethod::parse(self, "smtp", r.auth.as_deref())?;
        if auth.is_oauth() && r.user.is_none() {
            return Err(self.err(
                "smtp",
                "user",
                format!("is required with auth = {:?}", r.auth.unwrap_or_default()),
            ));
        }
        self.no_password_with_oauth("smtp", auth, r.auth.as_deref(), r.password_file.is_some());
        let password = match (&r.user, &r.password_file) {
            _ if auth.is_oauth() => None,
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
            auth,
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

pub(super) fn positive(
    v: &Validator<'_>,
    section: &str,
    key: &str,
    value: Option<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(v.err(section, key, "must be greater than 0")),
        Some(n) => Ok(n),
    }
}

pub(super) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// The largest `imap.max_message_size` accepted.
pub const MAX_MESSAGE_SIZE_LIMIT: u64 = 256 * 1024 * 1024;
