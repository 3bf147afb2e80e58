//! Every key of the configuration file, with its default and meaning: the
//! one list `embargo config show`, the `embargo.toml(5)` man page and
//! docs/configuration.md are made from. A test checks it against the keys
//! the parser accepts ([`accepted`]), so no key goes undocumented.

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// `section.key`; `exclude[].topic` for arrays of tables.
    pub name: &'static str,
    /// The default, as a person reads it ("" when the key is required).
    pub default: &'static str,
    pub meaning: &'static str,
    /// Names a file holding a secret: never printed, only where it is read.
    pub secret: bool,
}

const fn key(name: &'static str, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default,
        meaning,
        secret: false,
    }
}

const fn secret(name: &'static str, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default,
        meaning,
        secret: true,
    }
}

/// Every key, in the order of the example config.
pub const KEYS: &[Key] = &[
    key("imap.host", "", "the IMAP server's name (the name on its certificate)"),
    key("imap.port", "993 with tls, 143 otherwise", "the IMAP port"),
    key(
        "imap.security",
        "\"tls\"",
        "\"tls\" (TLS from the first byte), \"starttls\", or \"none\" (only to a loopback address)",
    ),
    key(
        "imap.ca_file",
        "none",
        "an extra trust anchor (PEM) beside the public web PKI, for a private CA",
    ),
    key("imap.user", "", "the login"),
    secret(
        "imap.password_file",
        "",
        "the file holding the password (a warning if group or others can read it); under systemd LoadCredential=; not with OAuth",
    ),
    key(
        "imap.auth",
        "\"password\"",
        "\"password\", \"xoauth2\" or \"oauthbearer\" (OAuth 2.0 with [oauth2])",
    ),
    key("imap.mailbox", "\"INBOX\"", "the watched mailbox"),
    key(
        "imap.max_message_size",
        "\"50MiB\"",
        "bytes, or \"25MiB\"/\"10MB\"; larger mail is recorded from its header and flagged; at most \"256MiB\"",
    ),
    key(
        "imap.timeout_secs",
        "60",
        "the timeout of every IMAP command outside IDLE",
    ),
    key(
        "imap.idle_restart_secs",
        "1200",
        "IDLE is re-issued this often (1 to 1680; RFC 2177)",
    ),
    key(
        "imap.poll_interval_secs",
        "60",
        "how often to poll when the server has no IDLE",
    ),
    key("imap.reconnect_max_secs", "300", "the cap of the reconnect backoff"),
    key(
        "imap.first_start_ack_hours",
        "24",
        "on the very first start, mail older than this is imported without acknowledgement",
    ),
    key(
        "imap.sent_mailbox",
        "none",
        "the security address's Sent folder (e.g. \"Sent\"): replies to a reporter filed there count as the team's response",
    ),
    key(
        "imap.sent_poll_secs",
        "60",
        "how often the Sent folder is read (its own IMAP connection)",
    ),
    key("smtp.host", "", "the SMTP server for everything embargo sends"),
    key("smtp.port", "465 with tls, 587 with starttls, 25", "the SMTP port"),
    key("smtp.security", "\"tls\"", "as imap.security"),
    key("smtp.ca_file", "none", "as imap.ca_file"),
    key(
        "smtp.user",
        "none",
        "the AUTH login (with password_file, or with OAuth the mailbox address)",
    ),
    secret(
        "smtp.password_file",
        "none",
        "the AUTH password's file; with smtp.user; not with OAuth",
    ),
    key("smtp.auth", "\"password\"", "as imap.auth"),
    key(
        "smtp.from",
        "",
        "\"Example Security Team <security@example.org>\": the From of everything embargo sends, and its own address for loop detection",
    ),
    key("smtp.timeout_secs", "60", "the timeout of every SMTP step"),
    key(
        "smtp.retry_max_secs",
        "900",
        "the cap of the retry backoff after a temporary failure",
    ),
    key(
        "smtp.copy_to_self",
        "true",
        "send every automatic mail to smtp.from too, to confirm a send a crash left in doubt",
    ),
    key(
        "smtp.in_doubt_grace_secs",
        "600",
        "how long to wait for that copy before sending an in-doubt mail again",
    ),
    key(
        "smtp.connections",
        "8",
        "SMTP connections the outbox sends over at once (1 to 16)",
    ),
    key(
        "store.path",
        "",
        "the SQLite database (created 0600 by the daemon: it holds confidential reports)",
    ),
    key(
        "store.max_text_per_message",
        "\"1MiB\"",
        "the most decrypted text kept of one message (its first bytes; also at most 8 times the message's size, or 64 KiB); the rest is cut with a note",
    ),
    key(
        "store.unauthenticated_per_hour",
        "\"256MiB\"",
        "what mail from unauthenticated senders may add to the database per clock hour; past it such mail keeps 4 KiB of text and no raw copy",
    ),
    key(
        "policy.tracking_prefix",
        "\"SEC\"",
        "tracking ids look like PREFIX-2026-0001",
    ),
    key(
        "policy.response_business_days",
        "5",
        "the promised first response, in business days",
    ),
    key("policy.fix_days", "90", "the promised fix, in days"),
    key(
        "policy.complex_fix_days",
        "120",
        "the fix for an especially complex issue, in days",
    ),
    key(
        "policy.details_delay_days",
        "30",
        "how long after the fix technical details may be held back",
    ),
    key(
        "policy.timezone",
        "\"UTC\"",
        "the IANA time zone of the business-day calendar and of every time people read",
    ),
    key(
        "policy.weekend",
        "[\"saturday\", \"sunday\"]",
        "days that are not business days",
    ),
    key(
        "policy.holidays",
        "[]",
        "dates (\"2026-12-25\") that are not business days",
    ),
    key(
        "policy.needs_info_close_days",
        "30",
        "a report waiting this long for its reporter (needs-info) is proposed for closing in the digest",
    ),
    key("reply.ack_template", "\"ack.txt\"", "the acknowledgement's template"),
    key(
        "reply.cannot_decrypt_template",
        "\"cannot-decrypt.txt\"",
        "the reply to mail that cannot be decrypted",
    ),
    key(
        "reply.combined_ack_template",
        "\"ack-combined.txt\" if present, else built in",
        "the combined acknowledgement's template",
    ),
    key(
        "reply.max_per_sender_per_day",
        "5",
        "automatic replies to one address per 24 hours (user+tag@domain counts as user@domain); past it acknowledgements are combined",
    ),
    key(
        "reply.max_per_authenticated_sender_per_day",
        "50 (or max_per_sender_per_day if higher)",
        "the same for a sender whose address is proven",
    ),
    key(
        "reply.combine_after_secs",
        "3600",
        "past the limit, held acknowledgements go out as one combined mail per address this long after the first",
    ),
    key(
        "reply.ask_for_missing",
        "false",
        "the acknowledgement lists what the report lacks (product, version, steps, impact, proof of concept)",
    ),
    key(
        "reply.max_automatic_per_hour",
        "1000",
        "automatic mail leaving per hour, all addresses together; the rest waits in the outbox (0: no cap)",
    ),
    key(
        "openpgp.keys",
        "[]",
        "the team's secret key files (mode 0600); all decrypt, the first signs; under systemd LoadCredential=",
    ),
    secret(
        "openpgp.passphrase_file",
        "none",
        "the passphrase of protected team keys",
    ),
    key(
        "openpgp.max_decrypted_size",
        "\"32MiB\"",
        "decrypted and decompressed content of one message above this is refused and flagged (at most \"256MiB\")",
    ),
    key(
        "team.members",
        "[]",
        "addresses whose authenticated mail in a thread is the team's response, and whose signed mail the relay carries",
    ),
    key(
        "team.notify",
        "[]",
        "where alerts and digests go (empty: none are sent)",
    ),
    key(
        "team.keys",
        "[]",
        "the members' public key files: alerts and digests are encrypted to them, relayed mail is verified with them",
    ),
    key(
        "triage.similar_threshold",
        "0.18",
        "similar reports and advisories scoring at least this (above 0, at most 1) are suggested to the team; \
         0.18 was chosen on the labelled set (docs/how-it-works.md)",
    ),
    key(
        "triage.known_advisories",
        "[]",
        "folders of OSV JSON files (published advisories) a report may match",
    ),
    key(
        "triage.products",
        "[]",
        "your product names (lower-case): they count as naming what is affected (the checklist), and two \
         reports naming different ones are less alike",
    ),
    key(
        "trust.authserv_id",
        "none",
        "the authserv-id your MTA writes in Authentication-Results: its dmarc=pass proves the sender",
    ),
    key("digest.at", "\"08:00\"", "the local time of the daily digest"),
    key("digest.send_empty", "false", "send a digest even with nothing to say"),
    key("digest.text_template", "\"digest.txt\"", "the digest's text template"),
    key("digest.html_template", "\"digest.html\"", "the digest's HTML template"),
    key(
        "digest.alert_template",
        "\"alert.txt\"",
        "the new-report alert's template",
    ),
    key("security_txt.policy", "none", "security.txt Policy (RFC 9116)"),
    key("security_txt.encryption", "none", "security.txt Encryption"),
    key(
        "security_txt.acknowledgments",
        "none",
        "security.txt Acknowledgments (the hall of fame's page)",
    ),
    key(
        "security_txt.preferred_languages",
        "none",
        "security.txt Preferred-Languages",
    ),
    key("security_txt.canonical", "none", "security.txt Canonical"),
    key(
        "metrics.listen",
        "none (off)",
        "the Prometheus endpoint, e.g. \"127.0.0.1:9466\" (loopback only)",
    ),
    key(
        "exclude[].topic",
        "the built-in spf-dmarc",
        "the name of an excluded topic ([[exclude]])",
    ),
    key("exclude[].reply_template", "", "its out-of-scope reply's template"),
    key(
        "exclude[].anchors",
        "built in for spf-dmarc",
        "words one of which the mail must contain",
    ),
    key(
        "exclude[].phrases",
        "built in for spf-dmarc",
        "phrases that make the topic",
    ),
    key(
        "exclude[].min_phrases",
        "1 (2 for spf-dmarc)",
        "distinct phrases needed",
    ),
    key(
        "exclude[].records",
        "built in for spf-dmarc",
        "words that say the mail is about DNS records",
    ),
    key(
        "exclude[].unless",
        "built in for spf-dmarc",
        "phrases that say it is a real report after all",
    ),
    key(
        "advisory.publisher",
        "the name in smtp.from",
        "the publishing team (CSAF publisher)",
    ),
    key(
        "advisory.namespace",
        "the origin of security_txt.policy, else https:// and smtp.from's domain",
        "a URL the publisher controls (CSAF)",
    ),
    key(
        "advisory.vendor",
        "the publisher",
        "the vendor of the affected products (CVE)",
    ),
    key(
        "advisory.cna_org_id",
        "none",
        "the CNA's orgId (a UUID) for CVE records",
    ),
    key(
        "advisory.url",
        "none",
        "where an advisory is published, with {id} (the tracking id) or {cve}",
    ),
    key(
        "advisory.github_repo",
        "none",
        "owner/name for the gh api command printed with the GitHub payload",
    ),
    key("advisory.md_template", "built in", "the Markdown advisory's template"),
    key("advisory.html_template", "built in", "the HTML advisory's template"),
    key(
        "disclosure.max_embargo_days",
        "14",
        "a downstream notice's release may be at most this far ahead",
    ),
    key(
        "downstream[].name",
        "",
        "a packager or distribution warned ahead of a release ([[downstream]])",
    ),
    key("downstream[].address", "", "where its notice goes"),
    key(
        "downstream[].key",
        "none",
        "its public key file; without one, notices need --allow-cleartext",
    ),
    key(
        "oauth2.provider",
        "none",
        "\"microsoft\" (with tenant) or \"google\": fills in the URLs and scopes",
    ),
    key("oauth2.tenant", "\"organizations\"", "the Microsoft tenant"),
    key(
        "oauth2.token_url",
        "from the provider",
        "the token endpoint (https; http only to loopback)",
    ),
    key(
        "oauth2.device_authorization_url",
        "from the provider",
        "the device endpoint for `embargo oauth login` (RFC 8628)",
    ),
    key("oauth2.client_id", "", "the app registration's client id"),
    secret("oauth2.client_secret_file", "none", "a confidential client's secret"),
    key("oauth2.scope", "from the provider", "the scopes asked for"),
    key(
        "oauth2.refresh_token_file",
        "oauth2-refresh-token beside store.path",
        "where the refresh token lives (0600)",
    ),
    key("oauth2.ca_file", "none", "an extra trust anchor for the provider's TLS"),
    key(
        "cve.api_url",
        "\"https://cveawg.mitre.org/api\" (production)",
        "CVE Services; its test instance is https://cveawg-test.mitre.org/api (https; http only to loopback)",
    ),
    key(
        "cve.org",
        "",
        "your CNA's short name (CVE-API-ORG); its orgId comes from the API",
    ),
    key("cve.user", "", "the CVE Services user (CVE-API-USER)"),
    secret("cve.api_key_file", "", "the user's API key (CVE-API-KEY)"),
    key(
        "cve.reserve_on_triage",
        "false",
        "reserve a CVE id when a report moves to triaged (from the CLI or the team's mail)",
    ),
    key("cve.ca_file", "none", "an extra trust anchor for the API's TLS"),
    key(
        "github.api_url",
        "\"https://api.github.com\"",
        "GitHub's REST API (GitHub Enterprise: https://HOST/api/v3)",
    ),
    secret(
        "github.token_file",
        "",
        "a fine-grained token with \"Repository security advisories: read and write\"",
    ),
    key(
        "github.repository",
        "none",
        "owner/name for repository security advisories (an advisory may name its own github_repository)",
    ),
    key("github.ca_file", "none", "an extra trust anchor for the API's TLS"),
    key(
        "matrix.homeserver",
        "",
        "the homeserver's URL (https; http only to loopback)",
    ),
    key("matrix.user_id", "", "the bot account, e.g. \"@embargo:example.org\""),
    secret(
        "matrix.password_file",
        "",
        "the bot's password, read once by `embargo matrix login` (the device then keeps its token)",
    ),
    key("matrix.room", "", "the team's room: !id:server or #alias:server"),
    key("matrix.operators", "[]", "Matrix user ids whose commands count"),
    key(
        "matrix.require_encryption",
        "true",
        "report text is posted only to an encrypted room",
    ),
];

/// docs/configuration.md: every key, by section (a test keeps the file
/// equal to this).
pub fn markdown() -> String {
    let mut t = String::from(
        "# Configuration reference\n\n\
         One TOML file: `/etc/embargo/embargo.toml` (or `--config FILE`, or `EMBARGO_CONFIG`). Relative paths \
         resolve against its folder; unknown keys are errors. `embargo check-config` lists every problem at once \
         with its line, key and fix, and `--connect` logs in to the servers; `embargo config show` prints what is \
         in effect. Sizes are bytes or strings such as `\"25MiB\"`. A secret file is named by file name and read \
         from `$CREDENTIALS_DIRECTORY` first (systemd's `LoadCredential=`), else beside the config. The same list \
         is the man page `embargo.toml(5)` (`embargo man embargo.toml`). Generated from `src/config/keys.rs`.\n",
    );
    let mut section = "";
    for k in KEYS {
        let s = k.name.split('.').next().unwrap_or("");
        if s != section {
            section = s;
            let title = match s.strip_suffix("[]") {
                Some(a) => format!("[[{a}]]"),
                None => format!("[{s}]"),
            };
            t.push_str(&format!(
                "\n## `{title}`\n\n| key | default | meaning |\n|---|---|---|\n"
            ));
        }
        let default = if k.default.is_empty() {
            "required".to_owned()
        } else {
            format!("`{}`", k.default)
        };
        let meaning = if k.secret {
            format!("{} (a secret: never printed)", k.meaning)
        } else {
            k.meaning.to_owned()
        };
        t.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.name,
            default.replace('|', "\\|"),
            meaning.replace('|', "\\|")
        ));
    }
    t
}

/// The keys the parser accepts, as `section.key` (`section[].key` inside
/// arrays of tables), found by walking the raw config's serde definition.
pub fn accepted() -> Vec<String> {
    super::recorder::fields::<super::raw::RawConfig>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No key goes undocumented, and none is documented that the parser
    /// does not take.
    #[test]
    fn every_key_the_parser_takes_is_documented_once() {
        let accepted = accepted();
        assert!(accepted.len() > 80, "{accepted:?}");
        let documented: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        for a in &accepted {
            assert!(
                documented.contains(&a.as_str()),
                "config key {a} is not in config::keys::KEYS"
            );
        }
        for d in &documented {
            assert!(
                accepted.iter().any(|a| a == d),
                "KEYS documents {d}, which the parser does not take"
            );
            assert_eq!(documented.iter().filter(|x| x == &d).count(), 1, "{d} twice");
        }
        assert!(KEYS.iter().all(|k| !k.meaning.is_empty()));
    }

    /// docs/configuration.md is the list above (UPDATE_GOLDEN=1 writes it).
    #[test]
    fn the_configuration_reference_is_the_key_list() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let text = markdown();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            text,
            "docs/configuration.md differs from config::keys::KEYS (UPDATE_GOLDEN=1 to write it)"
        );
    }
}
