//! `[imap] auth`, `[smtp] auth` and `[oauth2]`: logging in with OAuth 2.0
//! (SASL XOAUTH2 or OAUTHBEARER, RFC 7628) where password logins are off
//! (Microsoft 365, Google Workspace).

use std::path::PathBuf;

use super::ConfigError;
use super::validate::Validator;

/// How embargo logs in to the IMAP or SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Password,
    XOAuth2,
    OAuthBearer,
}

impl AuthMethod {
    pub(super) fn parse(v: &Validator<'_>, section: &str, s: Option<&str>) -> Result<AuthMethod, ConfigError> {
        Ok(match s.unwrap_or("password") {
            "password" => AuthMethod::Password,
            "xoauth2" => AuthMethod::XOAuth2,
            "oauthbearer" => AuthMethod::OAuthBearer,
            other => {
                return Err(v.err(
                    section,
                    "auth",
                    format!("{other:?}: one of \"password\", \"xoauth2\", \"oauthbearer\""),
                ));
            }
        })
    }

    pub fn is_oauth(self) -> bool {
        self != AuthMethod::Password
    }

    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            AuthMethod::Password => "PLAIN",
            AuthMethod::XOAuth2 => "XOAUTH2",
            AuthMethod::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// The validated `[oauth2]` table.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub token_url: String,
    /// For `embargo oauth login` (RFC 8628).
    pub device_authorization_url: Option<String>,
    pub client_id: String,
    /// None: a public client (no secret).
    pub client_secret: Option<super::Secret>,
    pub scope: String,
    /// The refresh token (mode 0600), rewritten atomically when the
    /// provider rotates it. Default: beside the database.
    pub refresh_token_file: PathBuf,
    /// An extra trust anchor for the provider's TLS certificate.
    pub ca_file: Option<PathBuf>,
}

/// A provider's token URL, device authorization URL and scope.
type Preset = (Option<String>, Option<String>, Option<String>);

/// Microsoft 365: the identity platform's v2 endpoints for `tenant`.
const MICROSOFT_SCOPE: &str =
    "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access";
/// Google Workspace.
const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_DEVICE_URL: &str = "https://oauth2.googleapis.com/device/code";
const GOOGLE_SCOPE: &str = "https://mail.google.com/";

impl Validator<'_> {
    pub(super) fn oauth(
        &self,
        r: Option<super::raw::RawOAuth>,
        used_by: Option<&str>,
        store_dir: &std::path::Path,
    ) -> Result<Option<OAuthConfig>, ConfigError> {
        let r = match (r, used_by) {
            (None, None) => return Ok(None),
            (None, Some(section)) => {
                return Err(self.err(
                    section,
                    "auth",
                    "needs an [oauth2] table (provider or token_url, client_id, ...)",
                ));
            }
            (Some(r), _) => r,
        };
        let err = |key: &str, p: String| self.err("oauth2", key, p);
        let (token, device, scope) = self.preset(&r)?;
        if r.tenant.is_some() && r.provider.as_deref() != Some("microsoft") {
            return Err(err("tenant", "goes with provider = \"microsoft\"".to_owned()));
        }
        let token_url = r.token_url.or(token).ok_or_else(|| {
            err(
                "token_url",
                "is required (or provider = \"microsoft\" / \"google\")".to_owned(),
            )
        })?;
        self.endpoint("token_url", &token_url)?;
        let device_authorization_url = r.device_authorization_url.or(device);
        if let Some(u) = &device_authorization_url {
            self.endpoint("device_authorization_url", u)?;
        }
        let client_id = r.client_id.unwrap_or_default();
        if client_id.trim().is_empty() {
            return Err(err(
                "client_id",
                "is required (the app registration's client id)".to_owned(),
            ));
        }
        let scope = r
            .scope
            .or(scope)
            .ok_or_else(|| err("scope", "is required without a provider".to_owned()))?;
        let client_secret = match &r.client_secret_file {
            Some(p) => Some(self.secret("oauth2", "client_secret_file", p)?),
            None => None,
        };
        let refresh_token_file = match &r.refresh_token_file {
            Some(p) => self.path(p),
            None => store_dir.join("oauth2-refresh-token"),
        };
        let ca_file = match r.ca_file {
            Some(p) => Some(self.ca_file("oauth2", &p)?),
            None => None,
        };
        Ok(Some(OAuthConfig {
            token_url,
            device_authorization_url,
            client_id,
            client_secret,
            scope,
            refresh_token_file,
            ca_file,
        }))
    }

    /// The URLs and scope a `provider` stands for.
    fn preset(&self, r: &super::raw::RawOAuth) -> Result<Preset, ConfigError> {
        Ok(match r.provider.as_deref() {
            None => (None, None, None),
            Some("microsoft") => {
                let tenant = r.tenant.clone().unwrap_or_else(|| "organizations".to_owned());
                if tenant.is_empty()
                    || !tenant
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err(self.err("oauth2", "tenant", format!("{tenant:?} is not a tenant id or domain")));
                }
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                (
                    Some(format!("{base}/token")),
                    Some(format!("{base}/devicecode")),
                    Some(MICROSOFT_SCOPE.to_owned()),
                )
            }
            Some("google") => (
                Some(GOOGLE_TOKEN_URL.to_owned()),
                Some(GOOGLE_DEVICE_URL.to_owned()),
                Some(GOOGLE_SCOPE.to_owned()),
            ),
            Some(other) => {
                return Err(self.err("oauth2", "provider", format!("{other:?}: \"microsoft\" or \"google\"")));
            }
        })
    }

    /// https, or http to a loopback address (a local provider).
    fn endpoint(&self, key: &str, url: &str) -> Result<(), ConfigError> {
        self.https_endpoint("oauth2", key, url)
    }
}
