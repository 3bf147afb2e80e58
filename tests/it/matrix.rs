//! The team's Matrix room against a real Synapse (scripts/synapse) beside
//! the real Dovecot and Exim: the operators are real end-to-end encrypted
//! matrix-sdk clients that read the bot's posts and send commands. The
//! attacks come first: a stranger's command, an operator's command from a
//! device their identity did not sign, a command in another room, and an
//! unencrypted room.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::EncryptionInfo;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::api::client::uiaa;
use matrix_sdk::ruma::events::AnyInitialStateEvent;
use matrix_sdk::ruma::events::room::message::{OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use crate::common::{Options, Setup, repo};
use crate::mail::report;

/// A Synapse of the test's own, destroyed on drop.
struct Homeserver {
    dir: PathBuf,
    url: String,
}

fn synapse(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(repo().join("scripts/synapse"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/synapse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Homeserver {
    fn start() -> Homeserver {
        let pid = std::process::id().to_string();
        let out = synapse(
            &["start"],
            &[
                ("SYNAPSE_USERS", "bot:botpw alice:alicepw mallory:mallorypw"),
                ("SYNAPSE_WATCH_PID", &pid),
            ],
        );
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {out}"))
                .to_owned()
        };
        Homeserver {
            dir: PathBuf::from(get("SYNAPSE_DIR")),
            url: get("SYNAPSE_URL"),
        }
    }

    fn stop(&self) {
        synapse(&["stop", self.dir.to_str().unwrap()], &[]);
    }

    fn resume(&self) {
        synapse(&["resume", self.dir.to_str().unwrap()], &[]);
    }
}

impl Drop for Homeserver {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/synapse"))
            .args(["destroy", self.dir.to_str().unwrap()])
            .output();
    }
}

/// A message a test client saw.
#[derive(Debug, Clone)]
struct Seen {
    room: OwnedRoomId,
    sender: OwnedUserId,
    body: String,
    encrypted: bool,
    thread_root: Option<OwnedEventId>,
}

/// An end-to-end encrypted client (an operator, a stranger).
struct Person {
    client: Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

impl Person {
    /// Logs in a new device; `cross_sign`: bootstraps (or, for a second
    /// device, does not touch) the user's cross-signing identity.
    async fn login(hs: &Homeserver, user: &str, pw: &str, cross_sign: bool) -> Person {
        let dir = tempfile::tempdir().unwrap();
        let client = Client::builder()
            .homeserver_url(&hs.url)
            .sqlite_store(dir.path(), None)
            .build()
            .await
            .unwrap();
        client
            .matrix_auth()
            .login_username(user, pw)
            .initial_device_display_name(user)
            .await
            .unwrap();
        client.sync_once(SyncSettings::default()).await.unwrap();
        if cross_sign {
            bootstrap(&client, user, pw, false).await;
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        client.add_event_handler(
            move |ev: OriginalSyncRoomMessageEvent, room: matrix_sdk::Room, info: Option<EncryptionInfo>| {
                let s = s.clone();
                async move {
                    let thread_root = match &ev.content.relates_to {
                        Some(Relation::Thread(t)) => Some(t.event_id.clone()),
                        _ => None,
                    };
                    s.lock().unwrap().push(Seen {
                        room: room.room_id().to_owned(),
                        sender: ev.sender.clone(),
                        body: ev.content.body().to_owned(),
                        encrypted: info.is_some(),
                        thread_root,
                    });
                }
            },
        );
        Person {
            client,
            seen,
            _dir: dir,
        }
    }

    async fn create_room(&self, encrypted: bool, invite: &[&str]) -> OwnedRoomId {
        let mut req = CreateRoom::new();
        req.invite = invite.iter().map(|u| u.parse().unwrap()).collect();
        if encrypted {
            let ev: Raw<AnyInitialStateEvent> = Raw::new(&serde_json::json!({
                "type": "m.room.encryption",
                "state_key": "",
                "content": { "algorithm": "m.megolm.v1.aes-sha2" }
            }))
            .unwrap()
            .cast_unchecked();
            req.initial_state = vec![ev];
        }
        let room = self.client.create_room(req).await.unwrap();
        self.client.sync_once(SyncSettings::default()).await.unwrap();
        room.room_id().to_owned()
    }

    async fn join(&self, room: &OwnedRoomId) {
        self.client.sync_once(SyncSettings::default()).await.unwrap();
        self.client.join_room_by_id(room).await.unwrap();
        self.client.sync_once(SyncSettings::default()).await.unwrap();
    }

    async fn say(&self, room: &OwnedRoomId, text: &str) -> OwnedEventId {
        self.client.sync_once(SyncSettings::default()).await.unwrap();
        let r = self.client.get_room(room).unwrap();
        r.send(RoomMessageEventContent::text_plain(text))
            .await
            .unwrap()
            .response
            .event_id
    }

    /// Syncs until a message matches `want`.
    async fn wait_for(&self, timeout: Duration, want: impl Fn(&Seen) -> bool) -> Seen {
        match self.try_wait_for(timeout, want).await {
            Some(s) => s,
            None => panic!("not seen within {timeout:?}; seen: {:#?}", self.seen.lock().unwrap()),
        }
    }

    async fn try_wait_for(&self, timeout: Duration, want: impl Fn(&Seen) -> bool) -> Option<Seen> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(s) = self.seen.lock().unwrap().iter().find(|s| want(s)) {
                return Some(s.clone());
            }
            if Instant::now() >= until {
                return None;
            }
            let _ = self
                .client
                .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
                .await;
        }
    }

    /// Syncs for a while; what arrived.
    async fn settle(&self, d: Duration) -> Vec<Seen> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let _ = self
                .client
                .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
                .await;
        }
        self.seen.lock().unwrap().clone()
    }
}

async fn bootstrap(client: &Client, user: &str, pw: &str, reset: bool) {
    let enc = client.encryption();
    let password = |session: Option<String>| {
        let mut auth = uiaa::Password::new(
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(format!("@{user}:localhost"))),
            pw.to_owned(),
        );
        auth.session = session;
        Some(uiaa::AuthData::Password(auth))
    };
    if reset {
        // New cross-signing keys, as after "reset your identity".
        if let Some(handle) = enc.reset_cross_signing().await.unwrap() {
            let matrix_sdk::encryption::CrossSigningResetAuthType::Uiaa(u) = handle.auth_type() else {
                panic!("not UIA");
            };
            let session = u.session.clone();
            handle.auth(password(session)).await.unwrap();
        }
        return;
    }
    if let Err(e) = enc.bootstrap_cross_signing_if_needed(None).await {
        let response = e.as_uiaa_response().expect("UIA").clone();
        enc.bootstrap_cross_signing_if_needed(password(response.session.clone()))
            .await
            .unwrap();
    }
}

/// embargo with `[matrix]` for `room`, its device logged in.
fn embargo_for(hs: &Homeserver, room: &OwnedRoomId, extra: &str) -> Setup {
    let s = Setup::with(Options {
        extra: format!(
            "\n[matrix]\nhomeserver = \"{}\"\nuser_id = \"@bot:localhost\"\npassword_file = \"matrix.pass\"\n\
             room = \"{room}\"\noperators = [\"@alice:localhost\"]\n{extra}",
            hs.url
        ),
        ..Default::default()
    });
    let pass = s.dir.path().join("matrix.pass");
    std::fs::write(&pass, "botpw\n").unwrap();
    std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = s.embargo(&["matrix", "login"]);
    assert!(
        out.status.success(),
        "matrix login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn db(s: &Setup) -> rusqlite::Connection {
    rusqlite::Connection::open(s.dir.path().join("embargo.sqlite3")).unwrap()
}

/// The report's tracking id, once the daemon recorded it.
fn wait_report(s: &Setup, subject: &str) -> String {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = s.reports().iter().find(|r| r["subject"] == subject) {
            return r["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < until, "no report {subject:?}: {}", s.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn state(s: &Setup, id: &str) -> String {
    let out = s.embargo(&["reports", "show", id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["state"].as_str().unwrap().to_owned()
}

fn timeline(s: &Setup, id: &str) -> Vec<serde_json::Value> {
    let out = s.embargo(&["reports", "show", id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"].as_array().unwrap().clone()
}

fn posted_bodies(seen: &[Seen], needle: &str) -> usize {
    seen.iter()
        .filter(|m| m.sender.as_str() == "@bot:localhost" && m.body.contains(needle))
        .count()
}

fn sent_at(conn: &rusqlite::Connection, sql: &str, id: &str) -> jiff::Timestamp {
    let t: String = conn.query_row(sql, [id], |r| r.get(0)).unwrap();
    t.parse().unwrap()
}

#[test]
fn a_report_is_posted_to_the_encrypted_room_and_only_an_operators_verified_device_commands() {
    let hs = Homeserver::start();
    let rt = runtime();
    // matrix-sdk's clients are dropped inside the runtime.
    let _in_rt = rt.enter();
    let alice = rt.block_on(Person::login(&hs, "alice", "alicepw", true));
    let mallory = rt.block_on(Person::login(&hs, "mallory", "mallorypw", true));
    let room = rt.block_on(alice.create_room(true, &["@bot:localhost", "@mallory:localhost"]));
    rt.block_on(mallory.join(&room));
    let s = embargo_for(&hs, &room, "");
    let status = s.embargo(&["matrix", "status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|_| panic!("matrix status: {}", String::from_utf8_lossy(&status.stderr)));
    assert_eq!(
        (st["joined"].as_bool(), st["encrypted"].as_bool()),
        (Some(true), Some(true)),
        "{st}"
    );
    let _d = s.daemon();

    s.stack.deliver(
        "researcher@example.test",
        "security@example.test",
        &report("m1@example.test", "Stored XSS in the room list", "Steps: ..."),
    );
    let id = wait_report(&s, "Stored XSS in the room list");
    // The operator's client decrypts the post.
    let post = rt.block_on(alice.wait_for(Duration::from_secs(60), |m| {
        m.sender.as_str() == "@bot:localhost" && m.body.contains(&format!("New report {id}"))
    }));
    assert!(post.encrypted, "{post:?}");
    assert!(post.body.contains("Stored XSS in the room list") && post.body.contains("researcher@example.test"));
    assert!(post.body.contains("First response due"), "{}", post.body);
    // Within 2 s of the acknowledgement.
    let conn = db(&s);
    let ack = sent_at(
        &conn,
        "SELECT o.sent_at FROM outbox o JOIN reports r ON r.id = o.report_id WHERE r.tracking_id = ?1 AND o.kind = 'ack'",
        &id,
    );
    let posted = sent_at(
        &conn,
        "SELECT p.sent_at FROM posts p JOIN reports r ON r.id = p.report_id WHERE r.tracking_id = ?1 AND p.kind = 'new-report'",
        &id,
    );
    let gap = posted.duration_since(ack).abs();
    assert!(
        gap <= jiff::SignedDuration::from_secs(2),
        "post {posted} vs acknowledgement {ack}"
    );

    // A stranger in the room: answered with why, nothing changes.
    let cmd = rt.block_on(mallory.say(&room, &format!("!embargo state {id} fixing")));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("not an operator"), "{}", answer.body);
    assert_eq!(state(&s, &id), "new");

    // The operator's new device, not signed by her identity: refused.
    let alice2 = rt.block_on(Person::login(&hs, "alice", "alicepw", false));
    let cmd = rt.block_on(alice2.say(&room, &format!("!embargo state {id} fixing")));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("not signed by"), "{}", answer.body);
    assert_eq!(state(&s, &id), "new");

    // A command in another room the bot is in: refused there.
    let other = rt.block_on(alice.create_room(true, &["@bot:localhost"]));
    join_as_bot(&s, &hs, &other);
    let cmd = rt.block_on(alice.say(&other, &format!("!embargo state {id} fixing")));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("count only in"), "{}", answer.body);
    assert_eq!(answer.room, other);
    assert_eq!(state(&s, &id), "new");

    // The operator, from her cross-signed device: done, answered in a thread.
    let cmd = rt.block_on(alice.say(&room, &format!("!embargo state {id} triaged --note \"reproduced\"")));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("new -> triaged"), "{}", answer.body);
    assert_eq!(state(&s, &id), "triaged");
    let events = timeline(&s, &id);
    // Every command about the report is on its timeline, the refused ones too.
    let commands: Vec<_> = events.iter().filter(|e| e["kind"] == "room-command").collect();
    assert_eq!(commands.len(), 4, "{commands:#?}");
    assert!(
        commands
            .iter()
            .any(|e| e["actor"] == "matrix:@mallory:localhost" && e["detail"].as_str().unwrap().contains("refused"))
    );
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == "matrix:@alice:localhost" && e["kind"] == "state" && e["new"] == "triaged"),
        "{events:#?}"
    );

    // Trusted explicitly, the second device counts too.
    let dev2 = rt.block_on(async { alice2.client.device_id().unwrap().to_string() });
    let out = s.embargo(&["matrix", "trust", "@alice:localhost", &dev2]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmd = rt.block_on(alice2.say(&room, &format!("!embargo complex {id}")));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("complex"), "{}", answer.body);
    let summary = s.embargo(&["reports", "show", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(v["complex"], true);
}

/// The bot's answer to the command `cmd` (the daemon's log when none comes).
fn answer_to(rt: &tokio::runtime::Runtime, s: &Setup, who: &Person, cmd: &OwnedEventId) -> Seen {
    rt.block_on(who.try_wait_for(Duration::from_secs(60), |m| m.thread_root.as_ref() == Some(cmd)))
        .unwrap_or_else(|| panic!("no answer to {cmd}; the daemon said:\n{}", s.daemon_log()))
}

/// The bot joins another room (as an operator might have made it do).
fn join_as_bot(s: &Setup, hs: &Homeserver, room: &OwnedRoomId) {
    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("matrix/session.json")).unwrap()).unwrap();
    let token = session["access_token"]
        .as_str()
        .or(session["tokens"]["access_token"].as_str())
        .unwrap_or_else(|| panic!("no access token in {session}"));
    ureq::post(&format!(
        "{}/_matrix/client/v3/join/{}",
        hs.url,
        urlencode(room.as_str())
    ))
    .set("Authorization", &format!("Bearer {token}"))
    .send_json(serde_json::json!({}))
    .unwrap();
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_homeserver_outage_delays_posts_and_loses_none() {
    let hs = Homeserver::start();
    let rt = runtime();
    // matrix-sdk's clients are dropped inside the runtime.
    let _in_rt = rt.enter();
    let alice = rt.block_on(Person::login(&hs, "alice", "alicepw", true));
    let room = rt.block_on(alice.create_room(true, &["@bot:localhost"]));
    let s = embargo_for(&hs, &room, "");
    let _d = s.daemon();
    // The daemon's first sync, then the homeserver goes away for a minute.
    std::thread::sleep(Duration::from_secs(3));
    hs.stop();
    let stopped = Instant::now();
    for (n, subject) in [(1, "Outage report one"), (2, "Outage report two")] {
        s.stack.deliver(
            "researcher@example.test",
            "security@example.test",
            &report(&format!("outage{n}@example.test"), subject, "details"),
        );
    }
    let one = wait_report(&s, "Outage report one");
    let two = wait_report(&s, "Outage report two");
    let left = Duration::from_secs(60).saturating_sub(stopped.elapsed());
    std::thread::sleep(left);
    hs.resume();
    rt.block_on(alice.wait_for(Duration::from_secs(90), |m| {
        m.body.contains(&format!("New report {one}"))
    }));
    rt.block_on(alice.wait_for(Duration::from_secs(30), |m| {
        m.body.contains(&format!("New report {two}"))
    }));
    let seen = rt.block_on(alice.settle(Duration::from_secs(5)));
    assert_eq!(posted_bodies(&seen, &format!("New report {one}")), 1, "{seen:#?}");
    assert_eq!(posted_bodies(&seen, &format!("New report {two}")), 1, "{seen:#?}");
}

#[test]
fn a_command_is_handled_once_across_a_kill_after_its_sync() {
    let hs = Homeserver::start();
    let rt = runtime();
    // matrix-sdk's clients are dropped inside the runtime.
    let _in_rt = rt.enter();
    let alice = rt.block_on(Person::login(&hs, "alice", "alicepw", true));
    let room = rt.block_on(alice.create_room(true, &["@bot:localhost"]));
    let s = embargo_for(&hs, &room, "");
    s.stack.deliver(
        "researcher@example.test",
        "security@example.test",
        &report("kill1@example.test", "Kill test report", "details"),
    );
    s.stack.wait_inbox("security@example.test", 1, Duration::from_secs(30));
    s.once();
    let id = wait_report(&s, "Kill test report");
    for (point, state_to, n) in [("matrix-command", "triaged", 1), ("matrix-handled", "fixing", 2)] {
        let mut d = s.daemon_with_env(&[("EMBARGO_FAULT_ABORT_AT", point)]);
        // Let the daemon make its first sync before the command is sent.
        std::thread::sleep(Duration::from_secs(3));
        let cmd = rt.block_on(alice.say(&room, &format!("!embargo state {id} {state_to}")));
        let until = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = d.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < until,
                "the daemon did not abort at {point}: {}",
                s.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(!status.success(), "{point}");
        let _d = s.daemon();
        let answer = answer_to(&rt, &s, &alice, &cmd);
        assert!(answer.body.contains(state_to), "{}", answer.body);
        let seen = rt.block_on(alice.settle(Duration::from_secs(4)));
        let answers = seen.iter().filter(|m| m.thread_root.as_ref() == Some(&cmd)).count();
        assert_eq!(answers, 1, "{seen:#?}");
        let changes = timeline(&s, &id)
            .iter()
            .filter(|e| e["actor"] == "matrix:@alice:localhost" && e["kind"] == "state")
            .count();
        assert_eq!(changes, n, "{point}");
        assert_eq!(state(&s, &id), state_to);
    }
}

#[test]
fn an_unencrypted_room_gets_no_report_text() {
    let hs = Homeserver::start();
    let rt = runtime();
    // matrix-sdk's clients are dropped inside the runtime.
    let _in_rt = rt.enter();
    let alice = rt.block_on(Person::login(&hs, "alice", "alicepw", true));
    let room = rt.block_on(alice.create_room(false, &["@bot:localhost"]));
    let s = embargo_for(&hs, &room, "");
    s.stack.deliver(
        "researcher@example.test",
        "security@example.test",
        &report("plain1@example.test", "Secret bug in the login", "details"),
    );
    s.stack.wait_inbox("security@example.test", 1, Duration::from_secs(30));
    s.once();
    let id = wait_report(&s, "Secret bug in the login");
    let seen = rt.block_on(alice.settle(Duration::from_secs(3)));
    assert_eq!(posted_bodies(&seen, &id), 0, "{seen:#?}");
    let status = s.embargo(&["matrix", "status"]);
    assert_eq!(status.status.code(), Some(1));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("not end-to-end encrypted"), "{text}");
    // With require_encryption = false: the tracking id and deadlines only.
    let cfg = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, format!("{cfg}require_encryption = false\n")).unwrap();
    s.once();
    let post = rt.block_on(alice.wait_for(Duration::from_secs(30), |m| {
        m.body.contains(&format!("New report {id}"))
    }));
    assert!(!post.encrypted);
    assert!(post.body.contains("First response due"), "{}", post.body);
    assert!(
        !post.body.contains("Secret bug") && !post.body.contains("researcher@"),
        "{}",
        post.body
    );
}

#[test]
fn a_changed_identity_is_refused_until_the_operator_trusts_it() {
    let hs = Homeserver::start();
    let rt = runtime();
    // matrix-sdk's clients are dropped inside the runtime.
    let _in_rt = rt.enter();
    let alice = rt.block_on(Person::login(&hs, "alice", "alicepw", true));
    let room = rt.block_on(alice.create_room(true, &["@bot:localhost"]));
    let s = embargo_for(&hs, &room, "");
    let _d = s.daemon();
    std::thread::sleep(Duration::from_secs(3));
    let cmd = rt.block_on(alice.say(&room, "!embargo list"));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("pinned at first sight"), "{}", answer.body);
    // Her identity replaced (as an attacker with her password could).
    rt.block_on(bootstrap(&alice.client, "alice", "alicepw", true));
    let cmd = rt.block_on(alice.say(&room, "!embargo list"));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("identity changed"), "{}", answer.body);
    let out = s.embargo(&["matrix", "trust", "@alice:localhost"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmd = rt.block_on(alice.say(&room, "!embargo list"));
    let answer = answer_to(&rt, &s, &alice, &cmd);
    assert!(answer.body.contains("No open report"), "{}", answer.body);
}
