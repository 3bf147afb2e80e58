//! OAuth 2.0 for IMAP and SMTP logins (SASL XOAUTH2 and OAUTHBEARER,
//! RFC 7628): the refresh token on disk, the access token in memory, and
//! the device authorization grant (RFC 8628) of `embargo oauth login`.
//!
//! The access token is cached and refreshed a minute before it expires,
//! and again when a server refuses it. A refresh happens under an exclusive
//! lock on `<refresh_token_file>.lock`, so the daemon and a CLI command
//! never spend the same refresh token twice (providers that rotate refresh
//! tokens, as Microsoft's does, would refuse the second). A rotated refresh
//! token is written to disk atomically (0600, fsync, rename) before the new
//! access token is used: a crash right after a refresh never loses the only
//! valid refresh token.
//!
//! No token is ever logged, at any level: they live in [`Secret`], whose
//! `Debug` and `Display` print `[redacted]`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::config::OAuthConfig;

/// A token. Prints as `[redacted]`; `expose` gives the text to whoever
/// must send it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the refresh token or the client for good
    /// (revoked consent, `invalid_grant`, `invalid_client`): a person must
    /// log in again. Intake pauses; the mail stays on the server.
    #[error("the OAuth provider refused the refresh token ({0}); run `embargo oauth login`")]
    Rejected(String),
    #[error("no OAuth refresh token in {}; run `embargo oauth login`", .0.display())]
    NoRefreshToken(PathBuf),
    /// The token endpoint cannot be reached or failed (5xx): retried.
    #[error("the OAuth token endpoint is unavailable: {0}")]
    Unavailable(String),
}

impl OAuthError {
    /// Only a person can fix it (`embargo oauth login`).
    pub fn needs_login(&self) -> bool {
        !matches!(self, OAuthError::Unavailable(_))
    }
}

/// An access token and what came with it.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Secret,
    pub expires_at: Timestamp,
    /// The scopes the provider granted (empty when it did not say).
    pub scope: String,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Access tokens for one `[oauth2]` configuration, shared by the IMAP
/// loop and the outbox.
pub struct TokenSource {
    cfg: OAuthConfig,
    agent: ureq::Agent,
    cache: tokio::sync::Mutex<Option<Access>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.cfg.token_url)
            .finish()
    }
}

/// Refreshed this long before the provider's expiry.
const MARGIN: SignedDuration = SignedDuration::from_secs(60);

impl TokenSource {
    pub fn new(cfg: &OAuthConfig) -> anyhow::Result<Arc<TokenSource>> {
        Ok(Arc::new(TokenSource {
            agent: agent(cfg)?,
            cfg: cfg.clone(),
            cache: tokio::sync::Mutex::new(None),
        }))
    }

    /// For the IMAP and SMTP logins of `cfg`, if either uses OAuth.
    pub fn for_config(cfg: &crate::config::Config) -> anyhow::Result<Option<Arc<TokenSource>>> {
        cfg.oauth.as_ref().map(TokenSource::new).transpose()
    }

    /// A valid access token: the cached one while it has more than a minute
    /// left, else a fresh one.
    pub async fn token(&self) -> Result<Secret, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(a) = cache.as_ref()
            && a.expires_at > Timestamp::now() + MARGIN
        {
            return Ok(a.token.clone());
        }
        let (cfg, agent) = (self.cfg.clone(), self.agent.clone());
        let fresh = tokio::task::spawn_blocking(move || refresh(&cfg, &agent))
            .await
            .map_err(|e| OAuthError::Unavailable(format!("the refresh task failed: {e}")))??;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// The server refused the token: the next `token()` refreshes.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// A refresh now, whatever is cached (`embargo oauth status`).
    pub fn refresh_now(&self) -> Result<Access, OAuthError> {
        refresh(&self.cfg, &self.agent)
    }
}

fn agent(cfg: &OAuthConfig) -> anyhow::Result<ureq::Agent> {
    Ok(ureq::AgentBuilder::new()
        .tls_config(crate::tls::client_config(cfg.ca_file.as_deref())?)
        .timeout(Duration::from_secs(30))
        .redirects(0)
        .build())
}

/// POSTs a form to the token endpoint; the parsed success, or the
/// provider's error.
fn post(agent: &ureq::Agent, url: &str, form: &[(&str, &str)]) -> Result<TokenResponse, Posted> {
    match agent.post(url).set("Accept", "application/json").send_form(form) {
        Ok(resp) => {
            let body = resp.into_string().map_err(|e| Posted::Transport(e.to_string()))?;
            serde_json::from_str(&body)
                .map_err(|e| Posted::Transport(format!("the answer is not a token response: {e}")))
        }
        Err(ureq::Error::Status(code, resp)) => {
            let body = resp.into_string().unwrap_or_default();
            match serde_json::from_str::<ErrorResponse>(&body) {
                Ok(e) => Err(Posted::Refused {
                    code,
                    error: e.error,
                    description: e.error_description.unwrap_or_default(),
                }),
                Err(_) => Err(Posted::Transport(format!("HTTP {code}"))),
            }
        }
        Err(e) => Err(Posted::Transport(e.to_string())),
    }
}

/// What a POST to the token endpoint came to, short of success.
enum Posted {
    Refused {
        code: u16,
        error: String,
        description: String,
    },
    Transport(String),
}

/// Spends the refresh token on disk for an access token, under the lock;
/// a rotated refresh token is on disk before this returns.
fn refresh(cfg: &OAuthConfig, agent: &ureq::Agent) -> Result<Access, OAuthError> {
    let _lock = FileLock::exclusive(&lock_path(&cfg.refresh_token_file))
        .map_err(|e| OAuthError::Unavailable(format!("cannot lock the refresh token: {e}")))?;
    let refresh_token = read_refresh_token(&cfg.refresh_token_file)?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", cfg.client_id.as_str()),
        ("scope", cfg.scope.as_str()),
    ];
    if let Some(s) = &cfg.client_secret {
        form.push(("client_secret", &**s));
    }
    let t = match post(agent, &cfg.token_url, &form) {
        Ok(t) => t,
        Err(Posted::Refused {
            code,
            error,
            description,
        }) if code < 500 => {
            return Err(OAuthError::Rejected(
                format!("{error}: {description}").trim_end_matches(": ").to_owned(),
            ));
        }
        Err(Posted::Refused { code, error, .. }) => {
            return Err(OAuthError::Unavailable(format!("HTTP {code} {error}")));
        }
        Err(Posted::Transport(e)) => return Err(OAuthError::Unavailable(e)),
    };
    if let Some(new) = t.refresh_token.as_deref().filter(|n| *n != refresh_token.expose()) {
        write_refresh_token(&cfg.refresh_token_file, new)
            .map_err(|e| OAuthError::Unavailable(format!("cannot store the rotated refresh token: {e}")))?;
        tracing::info!("the OAuth provider rotated the refresh token; stored");
    }
    Ok(access(t))
}

fn access(t: TokenResponse) -> Access {
    Access {
        token: Secret(t.access_token),
        expires_at: Timestamp::now() + SignedDuration::from_secs(t.expires_in.unwrap_or(3600).min(86_400 * 365) as i64),
        scope: t.scope.unwrap_or_default(),
    }
}

fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    file.with_file_name(name)
}

fn read_refresh_token(path: &Path) -> Result<Secret, OAuthError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Secret(s.trim().to_owned())),
        Ok(_) => Err(OAuthError::NoRefreshToken(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OAuthError::NoRefreshToken(path.to_owned())),
        Err(e) => Err(OAuthError::Unavailable(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Replaces the refresh token atomically: a new file (0600) written and
/// synced, renamed over the old one, the folder synced. Run as root into a
/// folder someone else owns (the service's state directory), the file gets
/// the folder's owner, so the service can read it.
pub fn write_refresh_token(path: &Path, token: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A new file of a random name (O_EXCL, 0600): nothing planted under a
    // name we would choose is ever written through.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    {
        let mut f = tmp.as_file();
        f.write_all(token.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        crate::files::give_to_folder_owner(f, path)?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// An exclusive `flock` held for the guard's life.
struct FileLock(std::fs::File);

impl FileLock {
    fn exclusive(path: &Path) -> std::io::Result<FileLock> {
        let f = crate::files::open(path, crate::files::Existing::Keep)?;
        crate::files::give_to_folder_owner(&f, path)?;
        f.lock()?;
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The SASL initial response for XOAUTH2 (Google's and Microsoft's) or
/// OAUTHBEARER (RFC 7628 §3.1), before base64.
pub fn sasl_response(
    mechanism: crate::config::AuthMethod,
    user: &str,
    host: &str,
    port: u16,
    token: &Secret,
) -> String {
    match mechanism {
        crate::config::AuthMethod::OAuthBearer => format!(
            "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {}\x01\x01",
            user.replace('=', "=3D").replace(',', "=2C"),
            token.expose()
        ),
        _ => format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose()),
    }
}

/// `embargo oauth import`: a refresh token obtained elsewhere (a provider
/// whose device flow does not offer the mail scopes), stored under the lock
/// and proven by one refresh.
pub fn import(cfg: &OAuthConfig, token: &str) -> anyhow::Result<Access> {
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        anyhow::bail!("standard input holds no refresh token (one line, no spaces)");
    }
    {
        let _lock = FileLock::exclusive(&lock_path(&cfg.refresh_token_file))?;
        write_refresh_token(&cfg.refresh_token_file, token)?;
    }
    Ok(refresh(cfg, &agent(cfg)?)?)
}

/// The device authorization endpoint's answer (RFC 8628 §3.2).
#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    verification_uri: Option<String>,
    /// Microsoft's older name.
    verification_url: Option<String>,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// `embargo oauth login`: the device authorization grant. Prints where to
/// go and the code, polls until the person approved (or refused, or the
/// code expired), stores the refresh token.
pub fn device_login(cfg: &OAuthConfig, out: &mut dyn std::io::Write) -> anyhow::Result<Access> {
    let url = cfg
        .device_authorization_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("oauth2.device_authorization_url is not set"))?;
    let agent = agent(cfg)?;
    let mut form = vec![("client_id", cfg.client_id.as_str()), ("scope", cfg.scope.as_str())];
    if let Some(s) = &cfg.client_secret {
        form.push(("client_secret", &**s));
    }
    let d: DeviceResponse = match agent.post(url).set("Accept", "application/json").send_form(&form) {
        Ok(r) => serde_json::from_str(&r.into_string()?)?,
        Err(ureq::Error::Status(code, r)) => anyhow::bail!(
            "the device authorization endpoint refused: HTTP {code} {}",
            r.into_string().unwrap_or_default()
        ),
        Err(e) => anyhow::bail!("cannot reach {url}: {e}"),
    };
    let at = d
        .verification_uri_complete
        .clone()
        .or(d.verification_uri.clone())
        .or(d.verification_url.clone())
        .unwrap_or_default();
    writeln!(
        out,
        "To let embargo read and send as this mailbox, open\n\n  {at}\n\nand enter the code  {}\n",
        d.user_code
    )?;
    writeln!(
        out,
        "Waiting for you to approve (up to {} minutes)...",
        d.expires_in.div_ceil(60)
    )?;
    out.flush()?;
    let t = poll_device(cfg, &agent, &d)?;
    let refresh = t
        .refresh_token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the provider gave no refresh token: is offline_access in oauth2.scope?"))?;
    {
        let _lock = FileLock::exclusive(&lock_path(&cfg.refresh_token_file))?;
        write_refresh_token(&cfg.refresh_token_file, &refresh)?;
    }
    Ok(access(t))
}

/// Polls the token endpoint at the interval the provider asked for (slower
/// when it says `slow_down`) until the login is approved, refused or expired.
fn poll_device(cfg: &OAuthConfig, agent: &ureq::Agent, d: &DeviceResponse) -> anyhow::Result<TokenResponse> {
    let mut interval = Duration::from_secs(d.interval.unwrap_or(5).max(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(d.expires_in);
    let mut poll = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", d.device_code.as_str()),
        ("client_id", cfg.client_id.as_str()),
    ];
    if let Some(s) = &cfg.client_secret {
        poll.push(("client_secret", &**s));
    }
    loop {
        std::thread::sleep(interval);
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the code expired before it was approved; run `embargo oauth login` again");
        }
        match post(agent, &cfg.token_url, &poll) {
            Ok(t) => return Ok(t),
            Err(Posted::Refused { error, .. }) if error == "authorization_pending" => {}
            Err(Posted::Refused { error, .. }) if error == "slow_down" => interval += Duration::from_secs(5),
            Err(Posted::Refused { error, description, .. }) => {
                anyhow::bail!("the login was not completed: {error} {description}")
            }
            Err(Posted::Transport(e)) => anyhow::bail!("cannot reach {}: {e}", cfg.token_url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let s = Secret("at-very-secret".into());
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let a = Access {
            token: s.clone(),
            expires_at: Timestamp::now(),
            scope: String::new(),
        };
        assert!(!format!("{a:?}").contains("very-secret"));
    }

    #[test]
    fn sasl_initial_responses() {
        let t = Secret("tok".into());
        assert_eq!(
            sasl_response(
                crate::config::AuthMethod::XOAuth2,
                "s@example.org",
                "imap.example.org",
                993,
                &t
            ),
            "user=s@example.org\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            sasl_response(
                crate::config::AuthMethod::OAuthBearer,
                "a,b=c@example.org",
                "imap.example.org",
                993,
                &t
            ),
            "n,a=a=2Cb=3Dc@example.org,\x01host=imap.example.org\x01port=993\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn the_refresh_token_is_replaced_atomically_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rt");
        write_refresh_token(&p, "one").unwrap();
        write_refresh_token(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        assert_eq!(read_refresh_token(&p).unwrap().expose(), "two");
        assert!(matches!(
            read_refresh_token(&dir.path().join("none")),
            Err(OAuthError::NoRefreshToken(_))
        ));
    }
}
