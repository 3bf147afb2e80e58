//! What every stage needs besides the store, built once from the config
//! (and again, as a whole, on SIGHUP): the team's identity and keys, the
//! reply templates, the promises, the excluded topics, the alert setup, the
//! members' keys, and a cache of parsed reporter certificates.

use std::sync::Arc;

use lettre::message::Mailbox as MailAddress;
use sequoia_openpgp::Cert;
use sequoia_openpgp::parse::Parse as _;

use crate::config::Config;
use crate::openpgp::TeamKeys;
use crate::policy::Promises;
use crate::reply::Templates;
use crate::triage::Identity;

/// Everything the pipeline needs besides the store; built from the config.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub me: Identity,
    pub from: MailAddress,
    pub templates: Templates,
    pub promises: Promises,
    pub max_per_sender_per_day: u32,
    pub team: Arc<TeamKeys>,
    pub max_decrypted_size: u64,
    /// Excluded topics, in order.
    pub topics: Vec<crate::triage::exclude::Topic>,
    /// New-report alerts to the team (None: `[team] notify` is empty).
    pub alerts: Option<Arc<crate::digest::alert::AlertSetup>>,
    /// Team members' public keys (`[team] keys`): signatures on relayed mail.
    pub members: Vec<Cert>,
    /// `[[downstream]]` keys by address: their replies' signatures.
    pub downstream: Vec<(String, Cert)>,
    /// Parsed reporter certificates.
    pub certs: CertCache,
    /// `[triage] known_advisories`, read when first needed (a new
    /// pipeline, on SIGHUP, reads them again).
    pub known: KnownAdvisories,
    pub config: Arc<Config>,
}

impl Pipeline {
    /// Loads templates and unlocks the team keys (once, here).
    pub fn from_config(cfg: &Config) -> anyhow::Result<Pipeline> {
        let team = TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?;
        crate::reply::combined::check_template(cfg)?;
        Ok(Pipeline {
            me: identity(cfg),
            from: cfg.smtp.from.clone(),
            templates: Templates::load(
                &cfg.reply.ack_template,
                &cfg.reply.cannot_decrypt_template,
                &cfg.exclude,
            )?,
            topics: cfg.exclude.clone(),
            promises: cfg.policy.promises,
            max_per_sender_per_day: cfg.reply.max_per_sender_per_day,
            team: Arc::new(team),
            max_decrypted_size: cfg.openpgp.max_decrypted_size,
            alerts: crate::digest::alert::AlertSetup::from_config(cfg)?,
            members: cfg
                .team
                .keys
                .iter()
                .map(|k| Cert::from_file(k).map(|c| c.strip_secret_key_material()))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("team.keys: {e}"))?,
            downstream: downstream_certs(cfg)?,
            certs: CertCache::default(),
            known: KnownAdvisories::default(),
            config: Arc::new(cfg.clone()),
        })
    }
}

/// Who we are, from the config: our address, the tracking prefix, the
/// team's and the downstream recipients' addresses.
pub fn identity(cfg: &Config) -> Identity {
    Identity {
        address: cfg.smtp.from.email.to_string(),
        prefix: cfg.policy.tracking_prefix.clone(),
        team: cfg.team.members.clone(),
        downstream: cfg.downstream.iter().map(|d| d.address.clone()).collect(),
    }
}

/// The `[[downstream]]` recipients' keys, by address.
pub fn downstream_certs(cfg: &Config) -> anyhow::Result<Vec<(String, Cert)>> {
    cfg.downstream
        .iter()
        .filter_map(|d| d.key.as_ref().map(|k| (d, k)))
        .map(|(d, k)| {
            let cert = Cert::from_file(k)
                .map_err(|e| anyhow::anyhow!("downstream.key of {}: {}: {e}", d.name, k.display()))?;
            Ok((d.address.clone(), cert.strip_secret_key_material()))
        })
        .collect()
}

/// The published advisories of `[triage] known_advisories`, loaded once.
#[derive(Clone, Default)]
pub struct KnownAdvisories(Arc<std::sync::OnceLock<crate::similar::known::Known>>);

impl std::fmt::Debug for KnownAdvisories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownAdvisories")
    }
}

impl KnownAdvisories {
    /// The advisories; the first call reads the folders and logs what it
    /// could not read (each file, named), once.
    pub fn get(&self, cfg: &Config) -> &crate::similar::known::Known {
        self.0.get_or_init(|| {
            let dirs = &cfg.triage.known_advisories;
            if dirs.is_empty() {
                return Default::default();
            }
            let loaded = crate::similar::known::Known::load(dirs, &cfg.triage.products);
            for p in loaded.problems.iter().take(20) {
                tracing::warn!("triage.known_advisories: {p}");
            }
            if loaded.problems.len() > 20 {
                tracing::warn!("triage.known_advisories: {} more problems", loaded.problems.len() - 20);
            }
            tracing::info!(advisories = loaded.known.len(), "known advisories read");
            loaded.known
        })
    }
}

/// Parsed certificates by the hash of their bytes: the reporter's pinned
/// key is parsed once, not on every message (bounded; cleared when full).
#[derive(Clone, Default)]
pub struct CertCache(Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], Cert>>>);

impl std::fmt::Debug for CertCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertCache")
    }
}

impl CertCache {
    const MAX: usize = 1024;

    pub fn parse(&self, bytes: &[u8]) -> Option<Cert> {
        use sha2::Digest as _;
        let key: [u8; 32] = sha2::Sha256::digest(bytes).into();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            return Some(c.clone());
        }
        let cert = Cert::from_bytes(bytes).ok()?;
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(key, cert.clone());
        Some(cert)
    }
}
