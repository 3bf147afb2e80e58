//! The team's end-to-end encrypted Matrix room (issue 26; work in progress
//! on this branch): the bot's device, created once by `embargo matrix
//! login` and kept in the state directory (its session 0600, its keys in
//! matrix-sdk's SQLite store), and what `embargo matrix status` says.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use matrix_sdk::Client;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::RoomOrAliasId;
use matrix_sdk::ruma::api::client::uiaa;
use matrix_sdk::store::RoomLoadSettings;

use crate::config::MatrixConfig;

fn session_file(cfg: &MatrixConfig) -> PathBuf {
    cfg.state_dir.join("session.json")
}

/// One sync that returns at once (no long poll).
fn quick() -> SyncSettings {
    SyncSettings::default().timeout(std::time::Duration::ZERO)
}

async fn client(cfg: &MatrixConfig) -> anyhow::Result<Client> {
    // The device's keys live here: private to the service user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.state_dir)
        .with_context(|| format!("cannot create {}", cfg.state_dir.display()))?;
    Ok(Client::builder()
        .homeserver_url(&cfg.homeserver)
        .sqlite_store(cfg.state_dir.join("store"), None)
        .build()
        .await?)
}

/// The device embargo logged in with, restored.
pub async fn restore(cfg: &MatrixConfig) -> anyhow::Result<Client> {
    let file = session_file(cfg);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "no Matrix device yet ({} is missing): run `embargo matrix login`",
            file.display()
        )
    })?;
    let session: MatrixSession = serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?;
    let c = client(cfg).await?;
    c.matrix_auth()
        .restore_session(session, RoomLoadSettings::default())
        .await?;
    Ok(c)
}

/// `embargo matrix login`: creates the device, saves its session (0600),
/// bootstraps cross-signing (so operators verify the bot once) and joins
/// the room. Returns the device id.
pub async fn login(cfg: &MatrixConfig) -> anyhow::Result<String> {
    let password =
        crate::secrets::read(&cfg.password_file).map_err(|p| anyhow::anyhow!("matrix.password_file: {p}"))?;
    let password = password.trim();
    let c = client(cfg).await?;
    let r = c
        .matrix_auth()
        .login_username(&cfg.user_id, password)
        .initial_device_display_name("embargo")
        .await
        .with_context(|| {
            format!(
                "{} refused the login of {} (check matrix.user_id and matrix.password_file)",
                cfg.homeserver, cfg.user_id
            )
        })?;
    let session = c.matrix_auth().session().context("no session after the login")?;
    write_private(&session_file(cfg), &serde_json::to_string(&session)?)?;
    c.sync_once(quick()).await?;
    if let Err(e) = c.encryption().bootstrap_cross_signing_if_needed(None).await {
        let Some(response) = e.as_uiaa_response() else {
            return Err(e).context("bootstrapping cross-signing");
        };
        let mut auth = uiaa::Password::new(
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(cfg.user_id.clone())),
            password.to_owned(),
        );
        auth.session = response.session.clone();
        c.encryption()
            .bootstrap_cross_signing_if_needed(Some(uiaa::AuthData::Password(auth)))
            .await
            .context("bootstrapping cross-signing")?;
    }
    let room = <&RoomOrAliasId>::try_from(cfg.room.as_str()).context("matrix.room")?;
    c.join_room_by_id_or_alias(room, &[])
        .await
        .with_context(|| format!("cannot join {} (invite {} to it first)", cfg.room, cfg.user_id))?;
    Ok(r.device_id.to_string())
}

/// What `embargo matrix status` says.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub user_id: String,
    pub device_id: String,
    pub room: String,
    pub joined: bool,
    pub encrypted: bool,
    pub cross_signing: bool,
}

pub async fn status(cfg: &MatrixConfig) -> anyhow::Result<Status> {
    let c = restore(cfg).await?;
    c.sync_once(quick()).await?;
    let room_id = match <&RoomOrAliasId>::try_from(cfg.room.as_str()) {
        Ok(r) if r.is_room_id() => Some(r.to_owned()),
        _ => None,
    };
    let room = c.joined_rooms().into_iter().find(|r| {
        room_id.as_ref().is_some_and(|id| id.as_str() == r.room_id().as_str())
            || r.canonical_alias().is_some_and(|a| a.as_str() == cfg.room)
    });
    let encrypted = match &room {
        Some(r) => r.latest_encryption_state().await?.is_encrypted(),
        None => false,
    };
    let cross_signing = c
        .encryption()
        .cross_signing_status()
        .await
        .is_some_and(|s| s.is_complete());
    Ok(Status {
        user_id: cfg.user_id.clone(),
        device_id: c.device_id().map(|d| d.to_string()).unwrap_or_default(),
        room: cfg.room.clone(),
        joined: room.is_some(),
        encrypted,
        cross_signing,
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
