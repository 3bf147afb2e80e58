//! The bot's device, created once by `embargo matrix login` and kept in the
//! state directory (`matrix/` beside the database, 0700: the session file
//! 0600, the keys in matrix-sdk's SQLite store). Only the daemon and
//! `matrix login` open that store; the other verbs ask the homeserver over
//! plain HTTP with the device's token ([`super::http`]), so they are safe
//! beside the running daemon and leave no root-owned file behind.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use matrix_sdk::Client;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::RoomOrAliasId;
use matrix_sdk::ruma::api::client::uiaa;
use matrix_sdk::store::RoomLoadSettings;

use crate::config::MatrixConfig;

pub(super) fn session_file(dir: &Path) -> PathBuf {
    dir.join("session.json")
}

async fn client(homeserver: &str, dir: &Path) -> anyhow::Result<Client> {
    Ok(Client::builder()
        .homeserver_url(homeserver)
        .sqlite_store(dir.join("store"), None)
        // Room keys (so report text) only for devices their owner's
        // cross-signing identity signed: a password alone, logged in on a
        // new device, reads nothing (MSC4153, "exclude insecure devices").
        .with_room_key_recipient_strategy(matrix_sdk_crypto::CollectStrategy::IdentityBasedStrategy)
        .build()
        .await?)
}

pub(super) fn read_session(cfg: &MatrixConfig) -> anyhow::Result<MatrixSession> {
    let file = session_file(&cfg.state_dir);
    let text = std::fs::read_to_string(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!(
            "no Matrix device yet ({} is missing): run `embargo matrix login`",
            file.display()
        ),
        _ => anyhow::anyhow!("cannot read {}: {e}", file.display()),
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a session embargo wrote", file.display()))
}

/// The device embargo logged in with, restored (the daemon).
pub async fn restore(cfg: &MatrixConfig) -> anyhow::Result<Client> {
    let session = read_session(cfg)?;
    let c = client(&cfg.homeserver, &cfg.state_dir).await?;
    c.matrix_auth()
        .restore_session(session, RoomLoadSettings::default())
        .await?;
    Ok(c)
}

/// `embargo matrix login`: creates the device, saves its session (0600),
/// bootstraps cross-signing (so operators verify the bot once) and joins
/// the room. Returns the device id. Everything is made in a fresh private
/// folder beside the database and put in place at the end (a device made
/// before is moved aside as `matrix.replaced-<time>`). Run as root, the
/// caller has become the database folder's owner first
/// ([`crate::files::become_folder_owner`]), so every file is theirs and
/// root never writes in their folder.
pub async fn login(cfg: &MatrixConfig, password: &str) -> anyhow::Result<String> {
    let parent = cfg.state_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let fresh = tempfile::Builder::new()
        .prefix(".matrix-login-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a folder in {}", parent.display()))?;
    let device = make_device(cfg, fresh.path(), password).await?;
    if cfg.state_dir.exists() {
        let aside = parent.join(format!("matrix.replaced-{}", jiff::Timestamp::now().as_second()));
        std::fs::rename(&cfg.state_dir, &aside)
            .with_context(|| format!("cannot move the old device aside to {}", aside.display()))?;
    }
    std::fs::rename(fresh.keep(), &cfg.state_dir)
        .with_context(|| format!("cannot put the device in {}", cfg.state_dir.display()))?;
    Ok(device)
}

async fn make_device(cfg: &MatrixConfig, dir: &Path, password: &str) -> anyhow::Result<String> {
    let c = client(&cfg.homeserver, dir).await?;
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
    write_private(&session_file(dir), &serde_json::to_string(&session)?)?;
    c.sync_once(SyncSettings::default().timeout(std::time::Duration::ZERO))
        .await?;
    // A new device gets a new cross-signing identity: the old one's private
    // keys stayed with the old device (there is no key backup to recover
    // them from), and an identity that does not sign this device is worth
    // nothing to the operators. After a second login they verify the bot
    // again.
    if let Err(e) = c.encryption().bootstrap_cross_signing(None).await {
        let Some(response) = e.as_uiaa_response() else {
            return Err(e).context("bootstrapping cross-signing");
        };
        let mut auth = uiaa::Password::new(
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(cfg.user_id.clone())),
            password.to_owned(),
        );
        auth.session = response.session.clone();
        c.encryption()
            .bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth)))
            .await
            .context("bootstrapping cross-signing")?;
    }
    let room = <&RoomOrAliasId>::try_from(cfg.room.as_str()).context("matrix.room")?;
    c.join_room_by_id_or_alias(room, &[])
        .await
        .with_context(|| format!("cannot join {} (invite {} to it first)", cfg.room, cfg.user_id))?;
    Ok(r.device_id.to_string())
}

/// The configured room, when the bot is in it.
pub fn joined_room(c: &Client, cfg: &MatrixConfig) -> Option<matrix_sdk::Room> {
    let room_id = match <&RoomOrAliasId>::try_from(cfg.room.as_str()) {
        Ok(r) if r.is_room_id() => Some(r.to_owned()),
        _ => None,
    };
    c.joined_rooms().into_iter().find(|r| {
        room_id.as_ref().is_some_and(|id| id.as_str() == r.room_id().as_str())
            || r.canonical_alias().is_some_and(|a| a.as_str() == cfg.room)
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
