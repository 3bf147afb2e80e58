//! Probe (issue 26 groundwork): two matrix-sdk clients against a local
//! Synapse exchange one Megolm-encrypted message in an encrypted room.
//! `cargo run --example matrix_probe -- URL` with users bot:botpw and
//! alice:alicepw registered (scripts/synapse).

use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::room::message::{OriginalSyncRoomMessageEvent, RoomMessageEventContent};

async fn client(url: &str, dir: &std::path::Path, user: &str, pw: &str) -> anyhow::Result<Client> {
    let c = Client::builder()
        .homeserver_url(url)
        .sqlite_store(dir.join(user), None)
        .build()
        .await?;
    c.matrix_auth()
        .login_username(user, pw)
        .initial_device_display_name(user)
        .await?;
    c.sync_once(SyncSettings::default()).await?;
    Ok(c)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args().nth(1).expect("URL");
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let bot = client(&url, dir.path(), "bot", "botpw").await?;
    let alice = client(&url, dir.path(), "alice", "alicepw").await?;
    println!("logged in: {:?}", t.elapsed());
    let room = alice.create_dm(bot.user_id().unwrap()).await?;
    let room_id: OwnedRoomId = room.room_id().to_owned();
    bot.sync_once(SyncSettings::default()).await?;
    bot.join_room_by_id(&room_id).await?;
    bot.sync_once(SyncSettings::default()).await?;
    let broom = bot.get_room(&room_id).unwrap();
    println!(
        "bot sees the room encrypted: {:?}",
        broom.latest_encryption_state().await?.is_encrypted()
    );
    broom
        .send(RoomMessageEventContent::text_plain("SEC-2026-0001: new report"))
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    alice.add_event_handler(move |ev: OriginalSyncRoomMessageEvent| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ev.content.body().to_owned());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        alice
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        if let Ok(body) = rx.try_recv() {
            println!("alice decrypted: {body:?} after {:?}", t.elapsed());
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "alice never got it");
    }
}
