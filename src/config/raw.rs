//! The configuration as written in the file: serde structs that refuse
//! unknown keys; `config::Validator` turns them into the typed `Config`.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) imap: RawImap,
    pub(super) smtp: RawSmtp,
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) policy: RawPolicy,
    #[serde(default)]
    pub(super) reply: RawReply,
    #[serde(default)]
    pub(super) openpgp: RawOpenPgp,
    #[serde(default)]
    pub(super) team: super::policy::RawTeam,
    #[serde(default)]
    pub(super) exclude: Vec<super::policy::RawExclude>,
    #[serde(default)]
    pub(super) digest: super::policy::RawDigest,
    #[serde(default)]
    pub(super) security_txt: super::policy::RawSecurityTxt,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) trust: RawTrust,
    #[serde(default)]
    pub(super) triage: RawTriage,
    #[serde(default)]
    pub(super) advisory: RawAdvisory,
    #[serde(default)]
    pub(super) disclosure: RawDisclosure,
    #[serde(default)]
    pub(super) downstream: Vec<RawDownstream>,
    pub(super) oauth2: Option<RawOAuth>,
    pub(super) cve: Option<RawCve>,
    pub(super) github: Option<RawGithub>,
    pub(super) matrix: Option<RawMatrix>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    pub(super) authserv_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpenPgp {
    #[serde(default)]
    pub(super) keys: Vec<String>,
    pub(super) passphrase_file: Option<String>,
    pub(super) max_decrypted_size: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImap {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) user: String,
    pub(super) password_file: Option<String>,
    pub(super) auth: Option<String>,
    #[serde(default = "default_mailbox")]
    pub(super) mailbox: String,
    pub(super) max_message_size: Option<toml::Value>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) idle_restart_secs: Option<u64>,
    pub(super) poll_interval_secs: Option<u64>,
    pub(super) reconnect_max_secs: Option<u64>,
    pub(super) first_start_ack_hours: Option<u64>,
    pub(super) sent_mailbox: Option<String>,
    pub(super) sent_poll_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) auth: Option<String>,
    pub(super) from: String,
    pub(super) timeout_secs: Option<u64>,
    pub(super) retry_max_secs: Option<u64>,
    pub(super) copy_to_self: Option<bool>,
    pub(super) in_doubt_grace_secs: Option<u64>,
    pub(super) connections: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: String,
    pub(super) max_text_per_message: Option<toml::Value>,
    pub(super) unauthenticated_per_hour: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) tracking_prefix: Option<String>,
    pub(super) response_business_days: Option<u32>,
    pub(super) needs_info_close_days: Option<u32>,
    pub(super) fix_days: Option<u32>,
    pub(super) complex_fix_days: Option<u32>,
    pub(super) details_delay_days: Option<u32>,
    pub(super) timezone: Option<String>,
    pub(super) weekend: Option<Vec<String>>,
    pub(super) holidays: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReply {
    pub(super) ack_template: Option<String>,
    pub(super) cannot_decrypt_template: Option<String>,
    pub(super) max_per_sender_per_day: Option<u32>,
    pub(super) max_automatic_per_hour: Option<u32>,
    pub(super) max_per_authenticated_sender_per_day: Option<u32>,
    pub(super) combine_after_secs: Option<u64>,
    pub(super) combined_ack_template: Option<String>,
    pub(super) ask_for_missing: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTriage {
    pub(super) similar_threshold: Option<f64>,
    #[serde(default)]
    pub(super) known_advisories: Vec<String>,
    #[serde(default)]
    pub(super) products: Vec<String>,
}

pub(super) fn default_mailbox() -> String {
    "INBOX".to_owned()
}

/// `[oauth2]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth {
    pub(super) provider: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) device_authorization_url: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret_file: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) refresh_token_file: Option<String>,
    pub(super) ca_file: Option<String>,
}

/// `[advisory]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdvisory {
    pub(super) publisher: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) vendor: Option<String>,
    pub(super) cna_org_id: Option<String>,
    pub(super) url: Option<String>,
    pub(super) github_repo: Option<String>,
    pub(super) md_template: Option<String>,
    pub(super) html_template: Option<String>,
}

/// `[disclosure]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDisclosure {
    pub(super) max_embargo_days: Option<u32>,
}

/// One `[[downstream]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDownstream {
    pub(super) name: String,
    pub(super) address: String,
    pub(super) key: Option<String>,
}

/// `[cve]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCve {
    pub(super) api_url: Option<String>,
    pub(super) org: Option<String>,
    pub(super) user: Option<String>,
    pub(super) api_key_file: Option<String>,
    pub(super) reserve_on_triage: Option<bool>,
    pub(super) ca_file: Option<String>,
}

/// `[github]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGithub {
    pub(super) api_url: Option<String>,
    pub(super) token_file: Option<String>,
    pub(super) repository: Option<String>,
    pub(super) ca_file: Option<String>,
}

/// `[matrix]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatrix {
    pub(super) homeserver: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) room: Option<String>,
    #[serde(default)]
    pub(super) operators: Vec<String>,
    pub(super) require_encryption: Option<bool>,
}
