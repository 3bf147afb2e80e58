//! The URLs of the APIs embargo calls (OAuth, CVE Services, GitHub).

use super::ConfigError;
use super::validate::{Validator, is_loopback};

impl Validator<'_> {
    /// An API's URL: https, or http to a loopback address (a local
    /// provider or test server).
    pub(super) fn https_endpoint(&self, section: &str, key: &str, url: &str) -> Result<(), ConfigError> {
        let host = url
            .strip_prefix("http://")
            .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
        let ok = url.starts_with("https://")
            || host.is_some_and(|h| {
                let without_port = match h.rsplit_once(':') {
                    Some((name, port)) if port.parse::<u16>().is_ok() => name,
                    _ => h,
                };
                is_loopback(without_port)
            });
        if ok {
            Ok(())
        } else {
            Err(self.err(
                section,
                key,
                format!("{url:?} must be an https URL (http only to a loopback address)"),
            ))
        }
    }
}
