//! `[disclosure]` and `[[downstream]]`: the packagers and distributions
//! warned under embargo ahead of a release, and how long an embargo may
//! last.

use std::path::PathBuf;

use super::ConfigError;
use super::validate::Validator;

/// `[disclosure]`.
#[derive(Debug, Clone)]
pub struct DisclosureConfig {
    /// A downstream notice's release date may be at most this many days
    /// ahead (default 14, the limit of the distros list); `--force REASON`
    /// past it.
    pub max_embargo_days: u32,
}

impl Default for DisclosureConfig {
    fn default() -> Self {
        DisclosureConfig { max_embargo_days: 14 }
    }
}

/// One `[[downstream]]` recipient.
#[derive(Debug, Clone)]
pub struct Downstream {
    pub name: String,
    pub address: String,
    /// Their public key file: notices are encrypted to it, and a reply
    /// signed by it is authenticated. None: notices only with
    /// `--allow-cleartext`.
    pub key: Option<PathBuf>,
}

impl Validator<'_> {
    pub(super) fn disclosure(&self, r: super::raw::RawDisclosure) -> Result<DisclosureConfig, ConfigError> {
        let days = r.max_embargo_days.unwrap_or(14);
        if !(1..=90).contains(&days) {
            return Err(self.err("disclosure", "max_embargo_days", "must be between 1 and 90"));
        }
        Ok(DisclosureConfig { max_embargo_days: days })
    }

    pub(super) fn downstream(&self, list: Vec<super::raw::RawDownstream>) -> Result<Vec<Downstream>, ConfigError> {
        let mut out: Vec<Downstream> = Vec::new();
        for (i, r) in list.into_iter().enumerate() {
            let key = |k: &str| format!("{k} (entry {})", i + 1);
            if r.name.trim().is_empty() {
                return Err(self.err("downstream", &key("name"), "must not be empty"));
            }
            let address: lettre::Address = r
                .address
                .parse()
                .map_err(|e| self.err("downstream", &key("address"), format!("{:?}: {e}", r.address)))?;
            let address = address.to_string();
            if out.iter().any(|d| d.address.eq_ignore_ascii_case(&address)) {
                return Err(self.err("downstream", &key("address"), format!("{address} is listed twice")));
            }
            let key_file = match r.key {
                Some(k) => Some(self.readable_file("downstream", &key("key"), &k)?),
                None => None,
            };
            out.push(Downstream {
                name: r.name,
                address,
                key: key_file,
            });
        }
        Ok(out)
    }
}
