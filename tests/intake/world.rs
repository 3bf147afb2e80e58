//! The in-process tier's harness: embargo's whole pipeline (`intake`) over
//! an in-memory store, fed raw RFC 5322 bytes as the operator's MTA would
//! hand them over, with the outbox delivered into per-address mailboxes
//! instead of an SMTP server. No Dovecot, no Exim, no root: what only the
//! servers show (IMAP, SMTP, TLS, crashes, OAuth, full disks) stays in
//! `tests/it`.
//!
//! The names follow `tests/it`'s harness (`deliver`, `deliver_as`,
//! `inbox`, `reports`) so a decision test reads the same in both tiers.

#![allow(dead_code)]

use std::collections::BTreeMap;

use embargo::config::{self, Config, Needs};
use embargo::intake::{Arrival, intake};
use embargo::pipeline::Pipeline;
use embargo::store::{Recorded, Source, Store};
use jiff::{SignedDuration, Timestamp};

pub const RESEARCHER: &str = "researcher@example.test";
pub const SECURITY: &str = "security@example.test";
pub const TEAM: &str = "team@example.test";
pub const LEAD: &str = "lead@example.test";
/// What the test stack's MTA writes in Authentication-Results.
pub const AUTHSERV_ID: &str = "mail.example.test";
/// A greeting the stack's MTA passes DMARC for (as in scripts/mailstack).
pub const DMARC_PASS: &str = "dmarc-pass.example";

/// One embargo installation: its config folder, its pipeline, its store
/// and the mail it has sent so far, by recipient.
pub struct World {
    pub dir: tempfile::TempDir,
    pub cfg: Config,
    pub p: Pipeline,
    pub store: Store,
    sent: BTreeMap<String, Vec<String>>,
    uid: u32,
    /// The last arrival time: arrivals are now, but at least one second
    /// apart (the store keeps seconds, so a thread's order is its arrival
    /// order).
    clock: Timestamp,
}

/// What one delivered message did: the store's answer and the mail it
/// queued (the acknowledgement, alerts, relays, refusals).
#[derive(Debug)]
pub struct Outcome {
    pub recorded: Recorded,
    pub queued: Vec<Queued>,
}

#[derive(Debug, Clone)]
pub struct Queued {
    pub kind: String,
    pub to: String,
    pub raw: String,
}

impl Outcome {
    /// The tracking id the message was recorded under, if any.
    pub fn id(&self) -> Option<&str> {
        match &self.recorded {
            Recorded::NewReport { tracking_id, .. } | Recorded::FollowUp { tracking_id } => Some(tracking_id),
            _ => None,
        }
    }

    /// The kinds of mail queued, in order (`ack`, `alert`, `relay`, ...).
    pub fn kinds(&self) -> Vec<&str> {
        self.queued.iter().map(|q| q.kind.as_str()).collect()
    }
}

/// The config the integration tests use, with `extra` appended; the mail
/// servers are never contacted.
pub fn config_text(extra: &str, max_per_sender: u32) -> String {
    format!(
        "[imap]\nhost = \"127.0.0.1\"\nport = 9\nsecurity = \"none\"\nuser = \"security@example.test\"\n\
         password_file = \"imap.pass\"\nmailbox = \"INBOX\"\n\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = 9\nsecurity = \"none\"\n\
         from = \"Example Security Team <security@example.test>\"\n\n\
         [store]\npath = \"embargo.sqlite3\"\n\n\
         [policy]\ntracking_prefix = \"SEC\"\ntimezone = \"Europe/London\"\nholidays = [\"2026-12-25\", \"2026-12-28\"]\n\n\
         [reply]\nack_template = \"ack.txt\"\nmax_per_sender_per_day = {max_per_sender}\n{extra}"
    )
}

impl World {
    pub fn new() -> World {
        World::with("")
    }

    /// A world whose config has `extra` appended; `files` are written into
    /// the config folder first (keys, advisories), as `(name, bytes)`.
    pub fn with_files(extra: &str, files: &[(&str, &[u8])]) -> World {
        World::build(extra, files, 10_000)
    }

    /// The same with `[reply] max_per_sender_per_day`.
    pub fn build(extra: &str, files: &[(&str, &[u8])], max_per_sender: u32) -> World {
        let dir = tempfile::tempdir().unwrap();
        crate::mail::copy_templates(dir.path());
        std::fs::write(dir.path().join("imap.pass"), "unused").unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        }
        let path = dir.path().join("embargo.toml");
        let text = config_text(extra, max_per_sender);
        std::fs::write(&path, &text).unwrap();
        let needs = Needs {
            openpgp: true,
            files: true,
            ..Needs::NOTHING
        };
        let cfg = config::parse_for(&path, &text, needs).unwrap_or_else(|problems| {
            panic!(
                "config: {}",
                problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
            )
        });
        let p = Pipeline::from_config(&cfg).unwrap_or_else(|e| panic!("pipeline: {e:#}"));
        World {
            dir,
            cfg,
            p,
            store: Store::open_in_memory().unwrap(),
            sent: BTreeMap::new(),
            uid: 0,
            clock: Timestamp::now() - SignedDuration::from_secs(1),
        }
    }

    pub fn with(extra: &str) -> World {
        World::with_files(extra, &[])
    }

    /// A message as the stack's MTA delivers it from a client that greeted
    /// with an ordinary name: `dmarc=none` for its From domain, the
    /// envelope sender in Return-Path.
    pub fn deliver(&mut self, mail_from: &str, raw: &str) -> Outcome {
        self.deliver_as("test.example", mail_from, raw)
    }

    /// The same from a client greeting with `helo`; `DMARC_PASS` passes
    /// DMARC for the From domain (as the operator's MX would for a sender
    /// whose domain passes).
    pub fn deliver_as(&mut self, helo: &str, mail_from: &str, raw: &str) -> Outcome {
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        let from_domain = crate::header(&raw, "From")
            .map(|f| {
                let addr = f.rsplit_once('<').map(|(_, a)| a.trim_end_matches('>')).unwrap_or(&f);
                addr.rsplit_once('@')
                    .map(|(_, d)| d.trim().to_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let verdict = if helo == DMARC_PASS { "pass (p=reject)" } else { "none" };
        let stamped = format!(
            "Return-Path: <{mail_from}>\r\nDelivered-To: {SECURITY}\r\n\
             Authentication-Results: {AUTHSERV_ID}; dmarc={verdict} header.from={from_domain}\r\n\
             Received: from {helo} ([127.0.0.1]) by {AUTHSERV_ID} with esmtp; Mon, 07 Dec 2026 10:00:00 +0000\r\n{raw}"
        );
        self.clock = Timestamp::now().max(self.clock + SignedDuration::from_secs(1));
        self.arrive(stamped.as_bytes(), self.clock)
    }

    /// The bytes exactly as given, as the IMAP server would hand them over,
    /// arriving at `at`.
    pub fn arrive(&mut self, raw: &[u8], at: Timestamp) -> Outcome {
        self.uid += 1;
        let before = self.queued_ids();
        let arrival = Arrival {
            raw,
            source: Some(Source {
                mailbox: "INBOX".to_owned(),
                uidvalidity: 1,
                uid: self.uid,
            }),
            internal_date: Some(at),
            ack_after: None,
        };
        let recorded = intake(&mut self.store, &self.p, &arrival).unwrap_or_else(|e| panic!("intake: {e}"));
        let queued = self
            .pending()
            .into_iter()
            .filter(|i| !before.contains(&i.id))
            .map(|i| Queued {
                kind: i.kind.to_string(),
                to: i.recipient.clone(),
                raw: String::from_utf8_lossy(&i.raw).into_owned(),
            })
            .collect();
        Outcome { recorded, queued }
    }

    fn pending(&self) -> Vec<embargo::store::OutboxItem> {
        self.store
            .outbox_due(
                Timestamp::now() + SignedDuration::from_hours(24 * 400),
                SignedDuration::ZERO,
                100_000,
            )
            .unwrap()
    }

    fn queued_ids(&self) -> Vec<i64> {
        self.pending().iter().map(|i| i.id).collect()
    }

    /// Sends everything queued (each marked sent as after the server's 250)
    /// and returns what `user` has received so far, oldest first.
    pub fn inbox(&mut self, user: &str) -> Vec<String> {
        self.flush();
        self.sent.get(&user.to_ascii_lowercase()).cloned().unwrap_or_default()
    }

    /// Delivers the outbox into the recipients' mailboxes.
    pub fn flush(&mut self) {
        for item in self.pending() {
            self.store.outbox_begin(&item).unwrap();
            self.store.outbox_sent(&item, "250 OK (in-process)").unwrap();
            self.sent
                .entry(item.recipient.to_ascii_lowercase())
                .or_default()
                .push(String::from_utf8_lossy(&item.raw).into_owned());
        }
    }

    /// Every report, as `reports list --json` prints it.
    pub fn reports(&self) -> Vec<serde_json::Value> {
        let mut list = self.store.list_reports().unwrap();
        for r in &mut list {
            embargo::policy::annotate(
                r,
                &self.cfg.policy.calendar,
                &self.cfg.policy.promises,
                Timestamp::now(),
            );
        }
        list.iter()
            .map(|r| serde_json::to_value(embargo::cli::json::Report::from(r)).unwrap())
            .collect()
    }

    /// One report by its subject, as `reports list --json` prints it.
    pub fn report(&self, subject: &str) -> serde_json::Value {
        self.reports()
            .into_iter()
            .find(|r| r["subject"] == subject)
            .unwrap_or_else(|| panic!("no report with the subject {subject:?}"))
    }

    /// `reports show ID --json`.
    pub fn show(&self, id: &str) -> serde_json::Value {
        let mut d = self
            .store
            .show_report(id)
            .unwrap()
            .unwrap_or_else(|| panic!("no report {id}"));
        embargo::policy::annotate(
            &mut d.summary,
            &self.cfg.policy.calendar,
            &self.cfg.policy.promises,
            Timestamp::now(),
        );
        d.similar = self
            .store
            .suggest_for(id, self.cfg.triage.similar_threshold, self.p.known.get(&self.cfg), 5)
            .unwrap();
        serde_json::to_value(embargo::cli::json::Detail::from(&d)).unwrap()
    }
}

impl World {
    /// `digest --dry-run`'s text.
    pub fn digest(&self) -> String {
        embargo::digest::preview(&self.store, &self.cfg, Timestamp::now())
            .unwrap()
            .0
    }

    /// What `user` received whose Subject contains `needle`.
    pub fn received_with_subject(&mut self, user: &str, needle: &str) -> Vec<String> {
        self.inbox(user)
            .into_iter()
            .filter(|m| crate::header(m, "Subject").unwrap_or_default().contains(needle))
            .collect()
    }
}

impl World {
    /// The daemon's periodic step for held acknowledgements, as if run at
    /// `now` (no waiting for a period to pass).
    pub fn combine_at(&mut self, now: Timestamp) -> usize {
        embargo::held_acks::queue_due(&mut self.store, &self.p, now).unwrap()
    }
}

impl World {
    /// What one message did, in one line a person can read and a test can
    /// compare: how it was recorded (with the reason for mail that is not a
    /// report), the report's state, and the mail it queued.
    pub fn decide(&mut self, mail_from: &str, raw: &str) -> String {
        let out = self.deliver(mail_from, raw);
        let mut line = match &out.recorded {
            Recorded::NewReport { tracking_id, .. } => {
                format!("new report {tracking_id} ({})", self.state_of(tracking_id))
            }
            Recorded::FollowUp { tracking_id } => {
                format!("follow-up to {tracking_id} ({})", self.state_of(tracking_id))
            }
            other => {
                let row = self.store.unreported_messages(1).unwrap().remove(0);
                let what = format!("{other:?}").to_lowercase();
                format!("{what}: {}", row.reason)
            }
        };
        let queued: Vec<String> = out.queued.iter().map(|q| format!("{} to {}", q.kind, q.to)).collect();
        if !queued.is_empty() {
            line.push_str("; queued ");
            line.push_str(&queued.join(", "));
        }
        line
    }

    fn state_of(&self, id: &str) -> String {
        self.show(id)["state"].as_str().unwrap_or_default().to_owned()
    }
}

/// Data-driven decisions (rust-analyzer's `check(input, expect)`): each
/// case's mail goes through `intake` in a fresh world seeded with one
/// report (SEC-2026-0001, Message-ID `<seed@example.test>`), and the
/// one-line outcome must read `expect`.
pub fn check(mail_from: &str, raw: &str, expect: &str) {
    let mut w = World::with(&format!("\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\n"));
    w.deliver(
        RESEARCHER,
        &crate::report("seed@example.test", "Seed report", "The seed."),
    );
    let got = w.decide(mail_from, raw);
    assert_eq!(got, expect, "\nfor the mail:\n{raw}");
}
