//! Numbered schema migrations. Each runs in one transaction that also moves
//! `PRAGMA user_version` forward; a migration is never edited once shipped.

use rusqlite::Connection;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE sync_state (
        mailbox     TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        last_uid    INTEGER NOT NULL DEFAULT 0,
        -- Mail that arrived before this time is recorded but not answered:
        -- set on the first start against a mailbox with history.
        ack_after   TEXT,
        updated_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE tracking_counter (
        prefix TEXT NOT NULL,
        year   INTEGER NOT NULL,
        last   INTEGER NOT NULL,
        PRIMARY KEY (prefix, year)
    ) STRICT;

    CREATE TABLE reports (
        id              INTEGER PRIMARY KEY,
        tracking_id     TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL DEFAULT 'new',
        reporter        TEXT NOT NULL,
        reporter_name   TEXT NOT NULL DEFAULT '',
        subject         TEXT NOT NULL DEFAULT '',
        received_at     TEXT NOT NULL,
        acknowledged_at TEXT,
        excluded_topic  TEXT,
        encrypted       INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL
    ) STRICT;

    CREATE TABLE messages (
        id          INTEGER PRIMARY KEY,
        report_id   INTEGER REFERENCES reports(id),
        direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        mailbox     TEXT,
        uidvalidity INTEGER,
        uid         INTEGER,
        message_id  TEXT NOT NULL,
        from_addr   TEXT NOT NULL DEFAULT '',
        to_addr     TEXT NOT NULL DEFAULT '',
        subject     TEXT NOT NULL DEFAULT '',
        date        TEXT,
        received_at TEXT NOT NULL,
        size        INTEGER NOT NULL DEFAULT 0,
        kind        TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        raw         BLOB
    ) STRICT;
    CREATE UNIQUE INDEX messages_by_uid ON messages (mailbox, uidvalidity, uid) WHERE uid IS NOT NULL;
    CREATE INDEX messages_by_message_id ON messages (message_id);
    CREATE INDEX messages_by_report ON messages (report_id);

    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        report_id  INTEGER REFERENCES reports(id),
        message_id INTEGER REFERENCES messages(id),
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL,
        kind       TEXT NOT NULL,
        old_value  TEXT,
        new_value  TEXT,
        detail     TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX events_by_report ON events (report_id);

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        report_id       INTEGER REFERENCES reports(id),
        message_row     INTEGER REFERENCES messages(id),
        kind            TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        envelope_from   TEXT NOT NULL DEFAULT '',
        message_id      TEXT NOT NULL,
        raw             BLOB NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        -- Set just before handing the mail to the SMTP server, cleared on a
        -- definite answer. Still set after a restart: the outcome is in
        -- doubt (RFC 1047) until our own copy shows up in the mailbox.
        attempt_started_at TEXT,
        last_error      TEXT NOT NULL DEFAULT '',
        created_at      TEXT NOT NULL,
        sent_at         TEXT
    ) STRICT;
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_by_recipient ON outbox (recipient, created_at);
    "#,
    // 2: OpenPGP: per-message protection, reporter keys.
    r#"
    ALTER TABLE reports ADD COLUMN signature TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE messages ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN signature TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE messages ADD COLUMN signer TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN decryption TEXT NOT NULL DEFAULT '';
    -- The readable text: decrypted when the message was encrypted.
    ALTER TABLE messages ADD COLUMN body TEXT NOT NULL DEFAULT '';
    "#,
    // 3: the policy's clocks, the team's lifecycle, credit.
    r#"
    ALTER TABLE reports ADD COLUMN complex INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE reports ADD COLUMN first_response_at TEXT;
    ALTER TABLE reports ADD COLUMN fixed_at TEXT;
    ALTER TABLE reports ADD COLUMN disclosed_at TEXT;
    ALTER TABLE reports ADD COLUMN last_reporter_at TEXT;
    ALTER TABLE reports ADD COLUMN last_team_at TEXT;
    -- '' (not known yet), 'yes' or 'no'.
    ALTER TABLE reports ADD COLUMN credit TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN credit_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN credit_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN merged_into TEXT;
    UPDATE reports SET last_reporter_at = received_at;
    "#,
    // 4: what the running daemon last said about itself (`embargo status`).
    r#"
    CREATE TABLE daemon_status (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        pid           INTEGER NOT NULL,
        version       TEXT NOT NULL,
        started_at    TEXT NOT NULL,
        heartbeat_at  TEXT NOT NULL,
        imap_state    TEXT NOT NULL,
        last_fetch_at TEXT,
        last_error    TEXT NOT NULL DEFAULT ''
    ) STRICT;
    "#,
    // 5: the daily digest.
    r#"
    CREATE TABLE digest_state (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        last_sent_at TEXT NOT NULL
    ) STRICT;
    "#,
    // 6: the conversation: agreed disclosure dates, relayed team mail.
    r#"
    ALTER TABLE reports ADD COLUMN disclose_on TEXT;
    CREATE TABLE relayed (
        hash       TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        report_id  INTEGER REFERENCES reports(id),
        at         TEXT NOT NULL
    ) STRICT;
    CREATE TABLE reporter_keys (
        address     TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        cert        BLOB NOT NULL,
        source      TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        PRIMARY KEY (address, fingerprint)
    ) STRICT;
    "#,
    // 7: the raw message in a table of its own, as the only column, so a
    // large one is written in chunks through incremental blob I/O instead
    // of being copied whole into a record (25 MB peak RSS).
    r#"
    CREATE TABLE message_raw (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id),
        raw        BLOB NOT NULL
    ) STRICT;
    INSERT INTO message_raw (message_id, raw) SELECT id, raw FROM messages WHERE raw IS NOT NULL;
    UPDATE messages SET raw = NULL WHERE raw IS NOT NULL;
    "#,
    // 8: indexes in the collation the lookups use. The per-sender limit
    // counts replies with `recipient = ? COLLATE NOCASE`, which the BINARY
    // index could not serve: every message scanned the whole outbox (found
    // by the growth benchmark once its history had acks: 953 msg/s with
    // nothing stored, 224 msg/s with 100k reports).
    r#"
    DROP INDEX outbox_by_recipient;
    CREATE INDEX outbox_by_recipient ON outbox (recipient COLLATE NOCASE, created_at);
    CREATE INDEX reports_by_tracking_id ON reports (tracking_id COLLATE NOCASE);
    "#,
    // 9: How each inbound sender was authenticated (signature,
    // dmarc, none), and credit wishes from unauthenticated mail kept as
    // proposals for the team to confirm.
    r#"
    ALTER TABLE messages ADD COLUMN auth TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE reports ADD COLUMN credit_proposal TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN credit_proposal_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN credit_proposal_url TEXT NOT NULL DEFAULT '';
    -- Reporter keys are pinned on first use. Before, the newest key won;
    -- the key in use (most recently seen) stays pinned, others become
    -- candidates for the team to accept.
    ALTER TABLE reporter_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'pinned'
        CHECK (status IN ('pinned', 'candidate', 'replaced'));
    UPDATE reporter_keys SET status = 'candidate' WHERE EXISTS (
        SELECT 1 FROM reporter_keys k WHERE k.address = reporter_keys.address
          AND (k.last_seen > reporter_keys.last_seen
               OR (k.last_seen = reporter_keys.last_seen AND k.fingerprint > reporter_keys.fingerprint)));
    -- Rate limits count user+tag@domain as user@domain (message::address_key).
    ALTER TABLE outbox ADD COLUMN recipient_key TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET recipient_key = lower(
        CASE WHEN instr(substr(recipient, 1, instr(recipient, '@') - 1), '+') > 0
             THEN substr(recipient, 1, instr(recipient, '+') - 1) || substr(recipient, instr(recipient, '@'))
             ELSE recipient END);
    CREATE INDEX outbox_by_recipient_key ON outbox (recipient_key, created_at);
    -- The hourly cap on automatic mail counts what was sent in the last hour.
    CREATE INDEX outbox_by_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
    "#,
    // 10: Acknowledgements past the per-sender limit are held and
    // go out combined, one per address per period, never dropped.
    r#"
    CREATE TABLE held_acks (
        id            INTEGER PRIMARY KEY,
        report_id     INTEGER NOT NULL REFERENCES reports(id),
        recipient     TEXT NOT NULL,
        recipient_key TEXT NOT NULL,
        held_at       TEXT NOT NULL,
        due_at        TEXT NOT NULL,
        -- The combined acknowledgement that carried it (NULL: still held).
        combined_message_id TEXT
    ) STRICT;
    CREATE INDEX held_acks_waiting ON held_acks (due_at) WHERE combined_message_id IS NULL;
    CREATE INDEX held_acks_by_key ON held_acks (recipient_key) WHERE combined_message_id IS NULL;
    CREATE INDEX held_acks_by_combined ON held_acks (combined_message_id);
    -- The day's excluded reports, listed in every alert and digest.
    CREATE INDEX reports_by_state ON reports (state, created_at);
    "#,
    // 11: The advisory kept with a report: its TOML document as
    // the team (or a tool) last saved it; every save is also an event.
    r#"
    CREATE TABLE advisories (
        report_id  INTEGER PRIMARY KEY REFERENCES reports(id),
        document   TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
    ) STRICT;
    "#,
    // 12: Embargoed notices to downstream recipients: what was
    // sent to whom, the release it announced, and their acknowledgement.
    r#"
    CREATE TABLE downstream_notices (
        id             INTEGER PRIMARY KEY,
        report_id      INTEGER NOT NULL REFERENCES reports(id),
        name           TEXT NOT NULL,
        address        TEXT NOT NULL COLLATE NOCASE,
        message_id     TEXT NOT NULL,
        release_at     TEXT NOT NULL,
        encrypted      INTEGER NOT NULL,
        -- Why the notice went out anyway: cleartext allowed, a release
        -- beyond the embargo limit (empty: nothing unusual).
        exceptions     TEXT NOT NULL DEFAULT '',
        notified_at    TEXT NOT NULL,
        notified_by    TEXT NOT NULL,
        acknowledged_at TEXT,
        ack_message_id TEXT,
        ack_auth       TEXT
    ) STRICT;
    CREATE INDEX downstream_by_report ON downstream_notices (report_id, address);
    "#,
    // 13: the message a run of the daemon starts on, so a message that
    // kills the process (stack overflow, out of memory) is found and
    // recorded as failed instead of killing every restart.
    r#"
    CREATE TABLE intake_attempts (
        mailbox     TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        uid         INTEGER NOT NULL,
        run_id      TEXT NOT NULL,
        -- Earlier runs that started on this message and died before it
        -- was recorded.
        deaths      INTEGER NOT NULL,
        started_at  TEXT NOT NULL
    ) STRICT;
    -- A key pinned on first sight proves only that its holder wrote first.
    -- It speaks for the report it came with (report_id), and for any report
    -- once vouched: pinned from mail our MTA authenticated by DMARC, or
    -- accepted by the team.
    ALTER TABLE reporter_keys ADD COLUMN vouched INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE reporter_keys ADD COLUMN report_id INTEGER;
    -- What unauthenticated senders stored per clock hour (raw and text),
    -- against store.unauthenticated_per_hour.
    CREATE TABLE storage_hours (
        hour  TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL
    ) STRICT;
    "#,
    // 14: triage at volume. Each report's terms (similar::terms of its
    // decrypted text) and how many reports hold each term, written in the
    // transaction that records the report or the follow-up; what the report
    // is missing (a checklist); the time a report waited for its reporter
    // (needs-info), which the fix clock does not count.
    r#"
    CREATE TABLE report_terms (
        term      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        report_id INTEGER NOT NULL REFERENCES reports(id),
        PRIMARY KEY (term, kind, report_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX report_terms_by_report ON report_terms (report_id);
    CREATE TABLE term_df (
        term TEXT NOT NULL,
        kind TEXT NOT NULL,
        df   INTEGER NOT NULL,
        PRIMARY KEY (term, kind)
    ) STRICT, WITHOUT ROWID;
    ALTER TABLE reports ADD COLUMN missing TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN waiting_since TEXT;
    ALTER TABLE reports ADD COLUMN waited_secs INTEGER NOT NULL DEFAULT 0;
    "#,
    // 15: publishing through CVE Services and GitHub. Each CVE id a report
    // holds and its state as the API last said it; the reports whose move
    // to triaged asks for an id (`[cve] reserve_on_triage`), queued by a
    // trigger so that every way into triaged (the CLI, the team's mail)
    // queues; each request in flight, so that a run that died between the
    // server's answer and its own write finds what the server made instead
    // of making a second; the GitHub advisory of a report.
    r#"
    CREATE TABLE cve_ids (
        cve_id       TEXT PRIMARY KEY,
        report_id    INTEGER NOT NULL REFERENCES reports(id),
        state        TEXT NOT NULL,
        reserved_at  TEXT,
        published_at TEXT,
        rejected_at  TEXT,
        checked_at   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX cve_ids_by_report ON cve_ids (report_id);
    CREATE TABLE cve_wanted (
        report_id  INTEGER PRIMARY KEY REFERENCES reports(id),
        queued_at  TEXT NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    TEXT NOT NULL,
        last_error TEXT
    ) STRICT;
    CREATE TRIGGER cve_wanted_on_triage AFTER UPDATE OF state ON reports
    WHEN NEW.state = 'triaged' AND OLD.state <> 'triaged'
    BEGIN
        INSERT OR IGNORE INTO cve_wanted (report_id, queued_at, next_at)
        VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
    END;
    CREATE TABLE publish_intents (
        report_id  INTEGER NOT NULL REFERENCES reports(id),
        action     TEXT NOT NULL,
        started_at TEXT NOT NULL,
        PRIMARY KEY (report_id, action)
    ) STRICT;
    CREATE TABLE ghsa (
        report_id        INTEGER PRIMARY KEY REFERENCES reports(id),
        ghsa_id          TEXT NOT NULL,
        repository       TEXT NOT NULL,
        state            TEXT NOT NULL,
        cve_id           TEXT,
        cve_requested_at TEXT,
        html_url         TEXT,
        checked_at       TEXT NOT NULL
    ) STRICT;
    "#,
    // 16: posts to the team's chat channels (the Matrix room), queued in
    // the transaction that causes them and sent exactly once (the row id is
    // the channel's transaction id); operational alerts open at the moment;
    // the Matrix sync position, the room events handled, the operators'
    // pinned identities and explicitly trusted devices.
    r#"
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        report_id INTEGER REFERENCES reports(id),
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        body TEXT NOT NULL DEFAULT '',
        thread_root TEXT,
        room TEXT,
        created_at TEXT NOT NULL,
        next_attempt TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at TEXT,
        event_id TEXT,
        UNIQUE (channel, key)
    );
    CREATE INDEX posts_due ON posts (channel, next_attempt) WHERE sent_at IS NULL;
    CREATE TABLE open_alerts (
        key TEXT PRIMARY KEY,
        since TEXT NOT NULL
    );
    CREATE TABLE matrix_sync (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        next_batch TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE matrix_events (
        event_id TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        handled_at TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE TABLE matrix_identities (
        user_id TEXT PRIMARY KEY,
        master_key TEXT NOT NULL,
        pinned_at TEXT NOT NULL,
        by TEXT NOT NULL
    );
    CREATE TABLE matrix_devices (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        ed25519 TEXT NOT NULL,
        trusted_at TEXT NOT NULL,
        by TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id)
    );
    "#,
];

/// The schema version this binary writes.
pub const LATEST: usize = MIGRATIONS.len();

/// Brings the database to [`LATEST`]. Refuses a database from a newer embargo.
pub fn migrate(conn: &mut Connection) -> Result<(), Failure> {
    migrate_to(conn, LATEST)
}

/// Why a database could not be brought up to date.
#[derive(Debug)]
pub enum Failure {
    /// Written by a newer embargo.
    TooNew { found: usize },
    /// This step failed (and was rolled back).
    Step { version: usize, error: rusqlite::Error },
}

/// Brings the database to `target` (tests build every earlier version).
pub(crate) fn migrate_to(conn: &mut Connection, target: usize) -> Result<(), Failure> {
    let step = |version: usize| move |error: rusqlite::Error| Failure::Step { version, error };
    let current: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(step(0))? as usize;
    if current > LATEST {
        return Err(Failure::TooNew { found: current });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let version = i + 1;
        // IMMEDIATE takes the write lock first; then look again, since a
        // second process (the CLI next to the daemon) may have migrated.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(step(version))?;
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(step(version))?;
        if now as usize >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(step(version))?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(step(version))?;
        tx.commit().map_err(step(version))?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}
