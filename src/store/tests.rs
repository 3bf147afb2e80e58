use jiff::SignedDuration;

use super::migrations;
use super::*;

pub(super) fn row(id: &str) -> InboundRow<'static> {
    InboundRow {
        message_id: id.into(),
        from_addr: "r@example.test".into(),
        subject: "bug".into(),
        ..InboundRow::default()
    }
}

fn src(uid: u32) -> Source {
    Source {
        mailbox: "INBOX".into(),
        uidvalidity: 1,
        uid,
    }
}

fn out(id: &str) -> Outgoing {
    Outgoing {
        kind: crate::store::MailKind::Ack,
        recipient: "r@example.test".into(),
        envelope_from: String::new(),
        message_id: id.into(),
        subject: "s".into(),
        from_addr: "security@example.test".into(),
        raw: b"raw".to_vec(),
    }
}

pub(super) fn new_report(ack_id: &'static str) -> Disposition<'static> {
    Disposition::NewReport(NewReport {
        reporter: "r@example.test".into(),
        reporter_name: String::new(),
        subject: "bug".into(),
        compose: Box::new(move |_| Ok(Some(out(ack_id)))),
        no_ack_reason: None,
        notes: vec![],
        excluded_topic: None,
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    })
}

#[test]
fn new_report_ack_and_position_commit_together() {
    let mut s = Store::open_in_memory().unwrap();
    let r = s
        .record(Some(&src(5)), &row("<a@x>"), new_report("<ack1@x>"), "SEC")
        .unwrap();
    let Recorded::NewReport {
        tracking_id,
        ack_queued,
    } = r
    else {
        panic!("{r:?}")
    };
    assert!(tracking_id.starts_with("SEC-") && tracking_id.ends_with("-0001"));
    assert!(ack_queued);
    assert_eq!(s.sync_state("INBOX").unwrap().unwrap().last_uid, 5);
    assert_eq!(
        s.outbox_due(Timestamp::now(), SignedDuration::ZERO, 10).unwrap().len(),
        1
    );
    // The same UID again (re-fetch after a crash) changes nothing.
    let again = s
        .record(Some(&src(5)), &row("<a@x>"), new_report("<ack2@x>"), "SEC")
        .unwrap();
    assert_eq!(again, Recorded::AlreadyRecorded);
    assert_eq!(
        s.outbox_due(Timestamp::now(), SignedDuration::ZERO, 10).unwrap().len(),
        1
    );
    assert_eq!(s.list_reports().unwrap().len(), 1);
}

#[test]
fn tracking_ids_count_up() {
    let mut s = Store::open_in_memory().unwrap();
    s.record(Some(&src(1)), &row("<a@x>"), new_report("<k1@x>"), "SEC")
        .unwrap();
    let r = s
        .record(Some(&src(2)), &row("<b@x>"), new_report("<k2@x>"), "SEC")
        .unwrap();
    assert!(
        matches!(r, Recorded::NewReport { ref tracking_id, .. } if tracking_id.ends_with("-0002")),
        "{r:?}"
    );
}

#[test]
fn a_compose_error_does_not_block_the_message() {
    let mut s = Store::open_in_memory().unwrap();
    let d = Disposition::NewReport(NewReport {
        reporter: "r@example.test".into(),
        reporter_name: String::new(),
        subject: "bug".into(),
        compose: Box::new(|_| {
            Err(crate::composing::Error::Recipient {
                address: "<>@".into(),
                error: "<>@".parse::<lettre::Address>().unwrap_err(),
            })
        }),
        no_ack_reason: None,
        notes: vec![],
        excluded_topic: None,
        alerts: Box::new(|_| Ok(vec![])),
        held_ack: None,
        channels: Vec::new(),
    });
    let r = s.record(Some(&src(1)), &row("<a@x>"), d, "SEC").unwrap();
    assert!(matches!(r, Recorded::NewReport { ack_queued: false, .. }));
    let id = &s.list_reports().unwrap()[0].id;
    let detail = s.show_report(id).unwrap().unwrap();
    assert!(
        detail
            .events
            .iter()
            .any(|e| e.kind == "ack-skipped" && e.detail.contains("bad recipient <>@"))
    );
}

#[test]
fn threading_lookups_find_outgoing_ids() {
    let mut s = Store::open_in_memory().unwrap();
    s.record(Some(&src(1)), &row("<a@x>"), new_report("<ack@x>"), "SEC")
        .unwrap();
    let r = s
        .report_by_message_ids(&["<nope@x>".into(), "<ack@x>".into()])
        .unwrap()
        .unwrap();
    assert_eq!(r.reporter, "r@example.test");
    assert_eq!(
        s.report_by_tracking_id(&r.tracking_id.to_lowercase())
            .unwrap()
            .unwrap()
            .id,
        r.id
    );
    assert!(s.inbound_seen("<a@x>").unwrap());
    assert!(
        !s.inbound_seen("<ack@x>").unwrap(),
        "outgoing ids are not inbound duplicates"
    );
}

#[test]
fn outbox_lifecycle_and_in_doubt_attempts() {
    let mut s = Store::open_in_memory().unwrap();
    s.record(Some(&src(1)), &row("<a@x>"), new_report("<ack@x>"), "SEC")
        .unwrap();
    let grace = SignedDuration::from_secs(60);
    let item = s.outbox_due(Timestamp::now(), grace, 10).unwrap().remove(0);
    assert!(!item.in_doubt);
    // An attempt that a crash cut short: not due again within the grace.
    s.outbox_begin(&item).unwrap();
    assert!(s.outbox_due(Timestamp::now(), grace, 10).unwrap().is_empty());
    let later = Timestamp::now() + SignedDuration::from_secs(61);
    let again = s.outbox_due(later, grace, 10).unwrap();
    assert!(again[0].in_doubt);
    // Our own copy arrives: confirmed, never sent twice.
    let r = s
        .record(Some(&src(2)), &row("<ack@x>"), Disposition::OwnCopy, "SEC")
        .unwrap();
    assert_eq!(r, Recorded::OwnCopy);
    assert!(s.outbox_due(later, grace, 10).unwrap().is_empty());
    let report = &s.list_reports().unwrap()[0];
    assert!(report.acknowledged_at.is_some());
    assert_eq!(report.messages, 1, "the copy is not part of the thread count");
    assert_eq!(s.outbox_stats().unwrap().sent, 1);
}

#[test]
fn retry_and_permanent_failure() {
    let mut s = Store::open_in_memory().unwrap();
    s.record(Some(&src(1)), &row("<a@x>"), new_report("<ack@x>"), "SEC")
        .unwrap();
    let item = s
        .outbox_due(Timestamp::now(), SignedDuration::ZERO, 10)
        .unwrap()
        .remove(0);
    let next = Timestamp::now() + SignedDuration::from_secs(30);
    s.outbox_retry(&item, next, "421 try later").unwrap();
    assert!(
        s.outbox_due(Timestamp::now(), SignedDuration::ZERO, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.outbox_next_due(SignedDuration::ZERO, None).unwrap().map(ts),
        Some(ts(next))
    );
    let item = s.outbox_due(next, SignedDuration::ZERO, 10).unwrap().remove(0);
    assert_eq!(item.attempts, 1);
    s.outbox_failed(&item, "550 no such user").unwrap();
    let stats = s.outbox_stats().unwrap();
    assert_eq!((stats.pending, stats.failed), (0, 1));
    assert!(s.list_reports().unwrap()[0].acknowledged_at.is_none());
}

#[test]
fn uidvalidity_change_keeps_position_per_validity() {
    let mut s = Store::open_in_memory().unwrap();
    s.record(
        Some(&src(9)),
        &row("<a@x>"),
        Disposition::Automatic { reason: "x".into() },
        "SEC",
    )
    .unwrap();
    s.set_sync_state(
        "INBOX",
        SyncState {
            uidvalidity: 2,
            last_uid: 0,
            ack_after: None,
        },
        "test",
    )
    .unwrap();
    // A late write for the old validity must not move the new position.
    s.advance(&src(12)).unwrap();
    let st = s.sync_state("INBOX").unwrap().unwrap();
    assert_eq!((st.uidvalidity, st.last_uid), (2, 0));
}

#[test]
fn migrations_are_idempotent_and_refuse_newer_databases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    drop(Store::open(&path).unwrap());
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap();
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

/// Every schema version this project has shipped migrates to the latest
/// with its data intact.
#[test]
fn migrations_from_every_earlier_version() {
    for version in 1..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrations::migrate_to(&mut conn, version).unwrap();
            // Columns every version has.
            conn.execute(
                "INSERT INTO reports (tracking_id, reporter, subject, received_at, created_at)
                 VALUES ('SEC-2026-0042', 'r@example.test', 'old report', '2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages (report_id, direction, message_id, received_at, kind, raw)
                 VALUES (1, 'in', '<old@x>', '2026-01-02T03:04:05Z', 'report', x'0102')",
                [],
            )
            .unwrap();
            if version >= 7 {
                // Since 7 the raw message lives in its own table.
                conn.execute("INSERT INTO message_raw (message_id, raw) VALUES (1, x'0102')", [])
                    .unwrap();
            }
            conn.execute(
                "INSERT INTO sync_state (mailbox, uidvalidity, last_uid, updated_at) VALUES ('INBOX', 7, 99, '2026-01-02T03:04:05Z')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let v: i64 = s.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, SCHEMA_VERSION, "from version {version}");
        let r = s.show_report("SEC-2026-0042").unwrap().unwrap();
        assert_eq!(r.summary.subject, "old report");
        assert_eq!(r.summary.messages, 1);
        assert_eq!(r.summary.signature, "none");
        assert_eq!(s.sync_state("INBOX").unwrap().unwrap().last_uid, 99);
        // Version 7 moved the raw message to its own table.
        let raw: Vec<u8> = s
            .conn()
            .query_row("SELECT raw FROM message_raw WHERE message_id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw, [1, 2], "from version {version}");
    }
}

/// The raw message goes in through incremental blob I/O, byte for byte,
/// inbound and outbound.
#[test]
fn raw_messages_are_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let big: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
    let mut r = row("<big@x>");
    r.raw = Some(&big);
    s.record(Some(&src(1)), &r, new_report("<ack@x>"), "SEC").unwrap();
    let mut empty = row("<empty@x>");
    empty.raw = Some(b"");
    s.record(Some(&src(2)), &empty, new_report("<ack2@x>"), "SEC").unwrap();
    let raw = |id: &str| -> Vec<u8> {
        s.conn()
            .query_row(
                "SELECT r.raw FROM message_raw r JOIN messages m ON m.id = r.message_id WHERE m.message_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert!(raw("<big@x>") == big);
    assert_eq!(raw("<empty@x>"), b"");
    assert_eq!(raw("<ack@x>"), b"raw", "the outgoing ack too");
}

/// The lookups intake makes for every message use an index, whatever the
/// history holds (a scan here made ingest 4x slower at 100k reports).
#[test]
fn per_message_lookups_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    for (sql, index) in [
        (
            "SELECT count(*) FROM outbox WHERE recipient = 'r@x' COLLATE NOCASE AND created_at >= '2026'",
            "outbox_by_recipient",
        ),
        (
            "SELECT id FROM reports WHERE tracking_id = 'SEC-2026-0001' COLLATE NOCASE",
            "reports_by_tracking_id",
        ),
    ] {
        let plan: Vec<String> = s
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{sql}: {plan:?}");
    }
}

#[test]
fn backup_is_consistent_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let mut s = Store::open(&db).unwrap();
    s.record(Some(&src(1)), &row("<a@x>"), new_report("<ack@x>"), "SEC")
        .unwrap();
    let copy = dir.path().join("copy.sqlite3");
    s.backup_to(&copy).unwrap();
    assert!(s.backup_to(&copy).is_err(), "never overwrites");
    s.record(Some(&src(2)), &row("<b@x>"), new_report("<ack2@x>"), "SEC")
        .unwrap();
    drop(s);
    Store::restore_from(&copy, &db).unwrap();
    assert_eq!(Store::open(&db).unwrap().list_reports().unwrap().len(), 1);
}

/// Found by the test suite: `embargo status` and the daemon starting on the
/// same fresh database at once; the daemon died with "database is locked".
#[test]
fn processes_opening_a_fresh_database_at_once_all_succeed() {
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&path).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e:#}");
            }
        }
    }
}

#[test]
fn atomic_commits_together_and_rolls_back_on_error_and_panic() {
    let mut s = Store::open_in_memory().unwrap();
    // An error after a write inside: nothing of it stays.
    let r: anyhow::Result<()> = s.atomic(|s| {
        s.record(Some(&src(1)), &row("<a1@x>"), new_report("<ack-a1@x>"), "SEC")?;
        anyhow::bail!("the relay failed after the report was written")
    });
    assert!(r.is_err());
    assert!(!s.inbound_seen("<a1@x>").unwrap());
    assert!(s.sync_state("INBOX").unwrap().is_none(), "the position rolled back too");
    // A nested failure rolls back the inner writes only.
    s.atomic(|s| {
        s.record(Some(&src(2)), &row("<a2@x>"), new_report("<ack-a2@x>"), "SEC")?;
        let inner: anyhow::Result<()> = s.atomic(|s| {
            s.record(Some(&src(3)), &row("<a3@x>"), new_report("<ack-a3@x>"), "SEC")?;
            anyhow::bail!("inner")
        });
        assert!(inner.is_err());
        anyhow::Ok(())
    })
    .unwrap();
    assert!(s.inbound_seen("<a2@x>").unwrap());
    assert!(!s.inbound_seen("<a3@x>").unwrap());
    // A panic rolls back and leaves the connection usable.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.atomic(|s| -> anyhow::Result<()> {
            s.record(Some(&src(4)), &row("<a4@x>"), new_report("<ack-a4@x>"), "SEC")?;
            panic!("a bug in the pipeline")
        });
    }));
    assert!(caught.is_err());
    assert!(!s.inbound_seen("<a4@x>").unwrap());
    s.record(Some(&src(5)), &row("<a5@x>"), new_report("<ack-a5@x>"), "SEC")
        .unwrap();
    assert!(s.inbound_seen("<a5@x>").unwrap());
}

#[test]
fn backup_creates_an_owner_only_file_and_never_follows_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    // A dangling symlink planted where the backup goes: the backup must not
    // create (or write) the file it points at.
    let target = dir.path().join("elsewhere");
    let link = dir.path().join("backup-link.sqlite3");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(s.backup_to(&link).is_err());
    assert!(!target.exists(), "followed the symlink");
    let existing = dir.path().join("existing.sqlite3");
    std::fs::write(&existing, b"keep me").unwrap();
    assert!(s.backup_to(&existing).is_err());
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let good = dir.path().join("good.sqlite3");
    s.backup_to(&good).unwrap();
    assert_eq!(std::fs::metadata(&good).unwrap().permissions().mode() & 0o777, 0o600);
    Store::open(&good).unwrap();
}

#[test]
fn the_hourly_cap_holds_automatic_mail_but_not_team_mail() {
    let mut s = Store::open_in_memory().unwrap();
    for i in 0..4 {
        let id = format!("<m{i}@x>");
        let ack: &'static str = Box::leak(format!("<ack{i}@x>").into_boxed_str());
        s.record(Some(&src(i + 1)), &row(&id), new_report(ack), "SEC").unwrap();
    }
    let mut team = out("<alert@x>");
    team.kind = crate::store::MailKind::Alert;
    s.enqueue_team_mail(None, &[team]).unwrap();
    let now = Timestamp::now();
    let due = s.outbox_due_capped(now, SignedDuration::ZERO, 20, 2).unwrap();
    let kinds: Vec<&str> = due.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["ack", "ack", "alert"],
        "two acks allowed, the alert never held"
    );
    for i in &due {
        s.outbox_begin(i).unwrap();
        s.outbox_sent(i, "250 OK").unwrap();
    }
    let cap = s.hourly_cap(now, 2).unwrap();
    assert_eq!(cap.allowance, Some(0));
    assert!(
        s.outbox_due_capped(now, SignedDuration::ZERO, 20, 2)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.outbox_held(now, 2).unwrap(), 2, "held, not dropped");
    // The outbox sleeps until the window frees up, not in a busy loop.
    let next = s.outbox_next_due(SignedDuration::ZERO, cap.frees_at).unwrap().unwrap();
    assert!(next >= now + SignedDuration::from_mins(59), "{next}");
    // No cap: everything goes.
    assert_eq!(s.outbox_due_capped(now, SignedDuration::ZERO, 20, 0).unwrap().len(), 2);
    assert_eq!(s.outbox_held(now, 0).unwrap(), 0);
}

#[test]
fn only_automatic_mail_counts_against_the_per_address_limit() {
    let mut s = Store::open_in_memory().unwrap();
    let since = Timestamp::now() - SignedDuration::from_hours(1);
    let mut team = Vec::new();
    for i in 0..6 {
        let mut m = out(&format!("<alert{i}@x>"));
        m.kind = if i % 2 == 0 {
            crate::store::MailKind::Alert
        } else {
            crate::store::MailKind::Digest
        };
        m.recipient = "team+alerts@example.test".into();
        team.push(m);
    }
    s.enqueue_team_mail(None, &team).unwrap();
    assert_eq!(
        s.replies_to_since("team@example.test", since).unwrap(),
        0,
        "alerts are not backscatter"
    );
    let mut refused = out("<refused@x>");
    refused.kind = crate::store::MailKind::RelayRefused;
    refused.recipient = "Team+x@Example.test".into();
    s.enqueue_team_mail(None, &[refused]).unwrap();
    assert_eq!(
        s.replies_to_since("team@example.test", since).unwrap(),
        1,
        "a +tag is the same address"
    );
    // The SQL form of the automatic kinds lists exactly the automatic ones.
    let sql = super::outbox::auto_sql();
    let automatic: Vec<_> = crate::store::MailKind::ALL
        .into_iter()
        .filter(|k| k.is_automatic())
        .collect();
    for k in &automatic {
        assert!(sql.contains(&format!("'{k}'")), "{k}");
    }
    assert_eq!(sql.matches('\'').count(), 2 * automatic.len());
}

#[test]
fn held_acknowledgements_combine_once_per_address_and_period() {
    let mut s = Store::open_in_memory().unwrap();
    let after = SignedDuration::from_secs(60);
    for i in 0..3 {
        let mut d = new_report("<unused@x>");
        if let Disposition::NewReport(NewReport { held_ack, .. }) = &mut d {
            *held_ack = Some(("r+x@example.test".to_owned(), after));
        }
        s.record(Some(&src(i + 1)), &row(&format!("<h{i}@x>")), d, "SEC")
            .unwrap();
    }
    assert_eq!(s.acks_held().unwrap(), 3);
    let now = Timestamp::now();
    assert!(s.held_acks_due(now).unwrap().is_empty(), "not before the period is up");
    let due = s.held_next_due().unwrap().unwrap();
    assert!(due > now + SignedDuration::from_secs(50));
    let groups = s.held_acks_due(due).unwrap();
    assert_eq!(groups.len(), 1, "one address (a +tag is the same address)");
    assert_eq!(groups[0].items.len(), 3);
    let mut combined = out("<combined@x>");
    combined.kind = crate::store::MailKind::AckCombined;
    s.record_combined(&groups[0], &combined, after).unwrap();
    assert_eq!(s.acks_held().unwrap(), 0);
    assert!(s.held_acks_due(due + after).unwrap().is_empty(), "nothing twice");
    // Sent: every report it carried is acknowledged.
    let item = s.outbox_due(Timestamp::now(), SignedDuration::ZERO, 10).unwrap();
    let item = item
        .iter()
        .find(|i| i.kind == crate::store::MailKind::AckCombined)
        .unwrap();
    s.outbox_begin(item).unwrap();
    s.outbox_sent(item, "250 OK").unwrap();
    assert!(s.list_reports().unwrap().iter().all(|r| r.acknowledged_at.is_some()));
}

#[test]
fn the_busy_handler_retries_often_and_gives_up_after_the_timeout() {
    let total: std::time::Duration = (0..).map_while(busy_wait).sum();
    let slack = std::time::Duration::from_millis(10);
    assert!(
        total + slack >= BUSY_TIMEOUT && total <= BUSY_TIMEOUT + slack,
        "{total:?}"
    );
    assert_eq!(busy_wait(0), Some(std::time::Duration::from_micros(100)));
}

#[test]
fn a_writer_waits_for_another_connections_lock_then_proceeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    a.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(30));
        a.conn.execute_batch("COMMIT").unwrap();
    });
    let t = std::time::Instant::now();
    b.conn
        .execute("UPDATE sync_state SET last_uid = last_uid WHERE 0", [])
        .unwrap();
    b.conn.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
    assert!(t.elapsed() >= std::time::Duration::from_millis(25), "{:?}", t.elapsed());
    holder.join().unwrap();
}

#[test]
fn unavailable_is_decided_by_the_sqlite_code() {
    use rusqlite::ffi;
    let err = |code| Error::from(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None));
    for code in [
        ffi::SQLITE_BUSY,
        ffi::SQLITE_LOCKED,
        ffi::SQLITE_FULL,
        ffi::SQLITE_IOERR,
        ffi::SQLITE_READONLY,
    ] {
        assert!(err(code).is_unavailable(), "{code}");
    }
    for code in [ffi::SQLITE_CONSTRAINT, ffi::SQLITE_TOOBIG, ffi::SQLITE_MISMATCH] {
        assert!(!err(code).is_unavailable(), "{code}");
    }
    assert!(Error::UnavailableIo(std::io::Error::other("disk")).is_unavailable());
    assert!(!Error::NotFound("SEC-1".into()).is_unavailable());
    assert_eq!(Error::NotFound("SEC-1".into()).to_string(), "no report SEC-1");
    // Into a message fault or a database fault, by type.
    assert!(matches!(
        crate::fault::Fault::from(err(ffi::SQLITE_FULL)),
        crate::fault::Fault::Database(_)
    ));
    assert!(matches!(
        crate::fault::Fault::from(err(ffi::SQLITE_TOOBIG)),
        crate::fault::Fault::Message(_)
    ));
}

#[test]
fn opening_names_what_is_wrong_in_a_variant_callers_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    match Store::open(&path) {
        Err(Error::TooNew { found: 999, known, .. }) => assert_eq!(known, super::migrations::LATEST),
        other => panic!("{:?}", other.err()),
    }
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    match Store::open(&file.join("db.sqlite3")) {
        Err(e @ Error::Open { .. }) => assert!(e.to_string().contains("cannot create the database folder"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
}
