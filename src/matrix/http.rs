//! The verbs beside the daemon (`matrix status`, `matrix trust`,
//! `check-config --connect`) ask the homeserver over plain HTTP with the
//! device's access token: matrix-sdk's stores stay the daemon's alone
//! (a second client syncing would take the daemon's to-device messages,
//! its room keys among them).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::config::MatrixConfig;

/// What `embargo matrix status` says.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub user_id: String,
    pub device_id: String,
    pub room: String,
    pub joined: bool,
    pub encrypted: bool,
    pub cross_signing: bool,
    /// What needs the operator, in words.
    pub problems: Vec<String>,
    /// Each operator: their pinned identity and explicitly trusted devices.
    pub operators: Vec<super::trust::OperatorTrust>,
    /// The queue of posts to the room.
    pub posts: crate::store::PostStats,
}

struct Api<'a> {
    cfg: &'a MatrixConfig,
    agent: ureq::Agent,
    token: Option<String>,
}

impl<'a> Api<'a> {
    fn new(cfg: &'a MatrixConfig, token: Option<String>) -> Api<'a> {
        Api {
            cfg,
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(20)).build(),
            token,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Option<Value>> {
        let mut req = self
            .agent
            .request(method, &format!("{}/_matrix/client{path}", self.cfg.homeserver));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match result {
            Ok(r) => Ok(Some(r.into_json()?)),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Status(401, _)) => anyhow::bail!(
                "{} no longer knows embargo's device (logged out?): run `embargo matrix login` again",
                self.cfg.homeserver
            ),
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                anyhow::bail!(
                    "{} answered {code}: {}",
                    self.cfg.homeserver,
                    crate::text::printable(&text)
                )
            }
            Err(e) => anyhow::bail!("matrix.homeserver {}: {e}", self.cfg.homeserver),
        }
    }
}

fn device_api(cfg: &MatrixConfig) -> anyhow::Result<(Api<'_>, String)> {
    let session = super::client::read_session(cfg)?;
    Ok((
        Api::new(cfg, Some(session.tokens.access_token)),
        session.meta.device_id.to_string(),
    ))
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `check-config --connect`: the homeserver answers, and (once logged in)
/// knows the device's token.
pub fn probe(cfg: &MatrixConfig) -> anyhow::Result<String> {
    let versions = Api::new(cfg, None)
        .call("GET", "/versions", None)
        .context("matrix.homeserver does not answer as a Matrix homeserver")?
        .unwrap_or_default();
    let newest = versions["versions"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_owned();
    if !super::client::session_file(&cfg.state_dir).exists() {
        return Ok(format!(
            "client-server API {newest}; no device yet: run `embargo matrix login`"
        ));
    }
    let (api, _) = device_api(cfg)?;
    let who = api.call("GET", "/v3/account/whoami", None)?.unwrap_or_default();
    Ok(format!(
        "logged in as {} on device {}",
        who["user_id"].as_str().unwrap_or("?"),
        who["device_id"].as_str().unwrap_or("?")
    ))
}

/// The room's id (an alias resolved).
fn room_id(api: &Api<'_>) -> anyhow::Result<Option<String>> {
    let room = &api.cfg.room;
    if room.starts_with('!') {
        return Ok(Some(room.clone()));
    }
    let found = api.call("GET", &format!("/v3/directory/room/{}", escape(room)), None)?;
    Ok(found.and_then(|v| v["room_id"].as_str().map(str::to_owned)))
}

/// `embargo matrix status` (without the database's part).
pub fn status(cfg: &MatrixConfig) -> anyhow::Result<Status> {
    let (api, device_id) = device_api(cfg)?;
    let room = room_id(&api)?;
    let joined_rooms = api.call("GET", "/v3/joined_rooms", None)?.unwrap_or_default();
    let joined = room.as_ref().is_some_and(|r| {
        joined_rooms["joined_rooms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(r)))
    });
    let encrypted = match (&room, joined) {
        (Some(r), true) => api
            .call("GET", &format!("/v3/rooms/{}/state/m.room.encryption", escape(r)), None)?
            .is_some_and(|v| v["algorithm"].is_string()),
        _ => false,
    };
    let keys = api
        .call(
            "POST",
            "/v3/keys/query",
            Some(json!({ "device_keys": { &cfg.user_id: [] } })),
        )?
        .unwrap_or_default();
    let signed_by_identity = keys
        .pointer(&format!(
            "/device_keys/{}/{}/signatures/{}",
            pointer(&cfg.user_id),
            pointer(&device_id),
            pointer(&cfg.user_id)
        ))
        .and_then(|s| s.as_object())
        .is_some_and(|s| s.len() > 1);
    let cross_signing = keys
        .pointer(&format!("/master_keys/{}", pointer(&cfg.user_id)))
        .is_some()
        && signed_by_identity;
    let mut problems = Vec::new();
    if !joined {
        problems.push(format!(
            "the bot is not in {}: invite {} and run `embargo matrix login` again",
            cfg.room, cfg.user_id
        ));
    } else if !encrypted && cfg.require_encryption {
        problems.push(format!(
            "{} is not end-to-end encrypted: nothing is posted there (matrix.require_encryption = true); \
             turn on encryption in the room's settings",
            cfg.room
        ));
    }
    if !cross_signing {
        problems.push(
            "the bot's device is not signed by a cross-signing identity: run `embargo matrix login` again".to_owned(),
        );
    }
    Ok(Status {
        user_id: cfg.user_id.clone(),
        device_id,
        room: cfg.room.clone(),
        joined,
        encrypted,
        cross_signing,
        problems,
        operators: Vec::new(),
        posts: Default::default(),
    })
}

/// What the homeserver says an operator's keys are now.
pub struct Keys {
    pub master: Option<String>,
    pub device: Option<String>,
}

pub fn query_keys(cfg: &MatrixConfig, user: &str, device: Option<&str>) -> anyhow::Result<Keys> {
    let (api, _) = device_api(cfg)?;
    let answer = api
        .call("POST", "/v3/keys/query", Some(json!({ "device_keys": { user: [] } })))?
        .unwrap_or_default();
    let master = answer
        .pointer(&format!("/master_keys/{}/keys", pointer(user)))
        .and_then(|k| k.as_object())
        .and_then(|k| k.values().next())
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let device = device.and_then(|d| {
        answer
            .pointer(&format!(
                "/device_keys/{}/{}/keys/ed25519:{}",
                pointer(user),
                pointer(d),
                pointer(d)
            ))
            .and_then(|k| k.as_str())
            .map(str::to_owned)
    });
    Ok(Keys { master, device })
}

/// JSON pointer escaping (RFC 6901).
fn pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// `matrix status` for people.
pub fn render_status(s: &Status) -> String {
    let mut out = format!(
        "{} device {}\nroom {}: {}, {}\ncross-signing: {}\nposts: {} sent, {} waiting",
        s.user_id,
        s.device_id,
        s.room,
        if s.joined { "joined" } else { "NOT joined" },
        if s.encrypted { "encrypted" } else { "NOT encrypted" },
        if s.cross_signing { "set up" } else { "NOT set up" },
        s.posts.sent,
        s.posts.pending,
    );
    for o in &s.operators {
        let identity = match &o.identity {
            Some(k) => format!("identity {k} (pinned)"),
            None => "not seen yet (their identity is pinned at their first command)".to_owned(),
        };
        out.push_str(&format!("\noperator {}: {identity}", o.user_id));
        if !o.devices.is_empty() {
            out.push_str(&format!("; trusted devices: {}", o.devices.join(", ")));
        }
    }
    for p in &s.problems {
        out.push_str(&format!("\nproblem: {p}"));
    }
    out
}

/// `embargo matrix trust USER [DEVICE]`: pins the operator's identity as the
/// homeserver shows it now, or trusts one device; returns what to print.
pub fn trust(
    cfg: &MatrixConfig,
    user: &str,
    device: Option<&str>,
    actor: &str,
    store: impl FnOnce() -> anyhow::Result<crate::store::Store>,
) -> anyhow::Result<String> {
    if !cfg.operators.iter().any(|o| o == user) {
        anyhow::bail!(
            "{user} is not one of matrix.operators ({}): add them there first",
            cfg.operators.join(", ")
        );
    }
    let keys = query_keys(cfg, user, device)?;
    let mut store = store()?;
    match device {
        None => {
            let Some(master) = keys.master else {
                anyhow::bail!(
                    "{user} has no cross-signing identity on {}: trust one device with `embargo matrix trust {user} DEVICE_ID`",
                    cfg.homeserver
                );
            };
            store.matrix_pin_identity(user, &master, actor)?;
            Ok(format!(
                "{user}: identity {master} trusted; compare it with the master key their client shows"
            ))
        }
        Some(d) => {
            let Some(key) = keys.device else {
                anyhow::bail!(
                    "{user} has no device {d} on {} (their client shows its session id)",
                    cfg.homeserver
                );
            };
            store.matrix_trust_device(user, d, &key, actor)?;
            Ok(format!(
                "{user}: device {d} trusted, key {key}; compare it with the session key their client shows"
            ))
        }
    }
}
