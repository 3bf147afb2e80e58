//! Keeping the team informed, through the real servers: alerts, the digest
//! (also rendered in headless Chromium), hall of fame, security.txt.

use std::process::Command;
use std::time::Duration;

use crate::common::*;
use crate::gpg::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const WAIT: Duration = Duration::from_secs(30);

/// A setup with a team key, `[team] notify`, and optionally member keys.
fn setup(member_keys: bool) -> (Setup, Gpg) {
    let k = keys();
    let member = Gpg::new();
    member.import(&k.reporter_secret); // stands in for a team member's key
    member.import(&k.team_cv_public);
    let mut extra = format!("\n[team]\nnotify = [\"{TEAM}\"]\n");
    if member_keys {
        extra.push_str("keys = [\"member.asc\"]\n");
    }
    extra.push_str("\n[openpgp]\nkeys = [\"team.sec.asc\"]\n\n[security_txt]\npolicy = \"https://example.test/security-policy\"\nacknowledgments = \"https://example.test/hall-of-fame\"\npreferred_languages = \"en, de\"\n");
    let s = Setup::with(Options {
        extra,
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    std::fs::write(s.dir.path().join("member.asc"), &k.reporter_public).unwrap();
    (s, member)
}

#[test]
fn alert_is_encrypted_to_member_keys_and_carries_the_report() {
    let (s, member) = setup(true);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("alert1@example.test", "Stored XSS in comments", "SECRET-STEPS-77"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let alert = s.stack.wait_inbox(TEAM, 1, WAIT).remove(0);
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    assert!(
        header(&alert, "Content-Type")
            .unwrap()
            .starts_with("multipart/encrypted")
    );
    assert_eq!(header(&alert, "Subject").unwrap(), format!("[{id}] New report"));
    assert!(!alert.contains("SECRET-STEPS-77"));
    let out = member.run(&["--status-fd", "2", "--decrypt"], armored_block(&alert).as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(
        plain.contains("SECRET-STEPS-77") && plain.contains(&id) && plain.contains("Response due"),
        "{plain}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("GOODSIG"));
}

#[test]
fn without_member_keys_the_alert_holds_no_content_and_says_so() {
    let (s, _member) = setup(false);
    let k = keys();
    let g = reporter_gpg();
    let ct = g.ok(&["--armor", "--encrypt", "-r", &k.team_cv_fpr], b"Content-Type: text/plain; protected-headers=\"v1\"\r\nSubject: Secret subject SUBJ-55\r\n\r\nSECRET-BODY-55\r\n");
    s.stack.deliver(RESEARCHER, SECURITY, &pgp_mime("From: researcher@example.test\r\nTo: security@example.test\r\nSubject: ...\r\nMessage-ID: <enc-alert@example.test>\r\n", &ct));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let alert = s.stack.wait_inbox(TEAM, 1, WAIT).remove(0);
    assert!(
        !alert.contains("SECRET-BODY-55") && !alert.contains("SUBJ-55"),
        "{alert}"
    );
    assert!(alert.contains("not included"), "{alert}");
    // Excluded and automatic mail make no alert.
    let (subject, body) = (
        "Missing DMARC record",
        "No DMARC record, email spoofing is possible. Bounty?",
    );
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("beg-alert@example.test", subject, body));
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        "From: MAILER-DAEMON@example.test\r\nSubject: bounce\r\nMessage-ID: <bounce-alert@x>\r\n\r\nx\r\n",
    );
    s.stack.wait_for(SECURITY, "<beg-alert@example.test>", WAIT);
    s.stack.wait_for(SECURITY, "<bounce-alert@x>", WAIT);
    s.once();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.stack.inbox(TEAM).len(), 1);
}

#[test]
fn digest_arrives_and_renders_in_a_real_browser() {
    let (s, member) = setup(true);
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("d1@example.test", "Overdue one", "x"));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(TEAM, 1, WAIT); // the alert
    // Ten business days later the report is overdue.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 15);
    let now = later.to_string();
    let html = s.embargo(&["digest", "--dry-run", "--html", "--now", &now]);
    assert!(html.status.success(), "{}", String::from_utf8_lossy(&html.stderr));
    let html = String::from_utf8(html.stdout).unwrap();
    let text = String::from_utf8(s.embargo(&["digest", "--dry-run", "--now", &now]).stdout).unwrap();
    assert!(text.contains("OVERDUE (1)") && text.contains("Overdue one"), "{text}");

    // Headless Chromium renders it; the overdue row is there, in red.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("digest.html");
    std::fs::write(&page, &html).unwrap();
    let png = dir.path().join("digest.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=900,700",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/install-deps installs it)");
    assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let red = buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| p[0] > 180 && p[1] < 90 && p[2] < 90)
        .count();
    let pink = buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| p[0] == 0xff && p[1] == 0xeb && p[2] == 0xe9)
        .count();
    assert!(red > 200, "the overdue heading and row text are red ({red} red pixels)");
    assert!(pink > 2000, "the overdue row has its red background ({pink} pixels)");
    let dom = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile2").display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dom.stdout).contains("Overdue one"));

    // --send: to the team, encrypted to the member key, multipart/alternative inside.
    let out = s.embargo(&["digest", "--send"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mails = s.stack.wait_inbox(TEAM, 2, WAIT);
    let digest = mails
        .iter()
        .find(|m| header(m, "Subject").unwrap_or_default().contains("Daily digest"))
        .unwrap();
    let out = member.run(&["--decrypt"], armored_block(digest).as_bytes());
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.contains("multipart/alternative") && plain.contains("text/html") && plain.contains("Overdue one"));
}

#[test]
fn a_missed_digest_is_sent_once_when_the_daemon_returns() {
    let (s, _member) = setup(false);
    s.stack
        .deliver(RESEARCHER, SECURITY, &report("m1@example.test", "Something", "x"));
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(TEAM, 1, WAIT);
    // The last digest was two days ago: today's slot was missed.
    let db = rusqlite::Connection::open(s.dir.path().join("embargo.sqlite3")).unwrap();
    let two_days_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48)).to_string();
    db.execute(
        "INSERT INTO digest_state (id, last_sent_at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET last_sent_at = ?1",
        [&two_days_ago],
    )
    .unwrap();
    drop(db);
    let mut d = s.daemon();
    let mails = s.stack.wait_inbox(TEAM, 2, WAIT);
    assert!(
        mails
            .iter()
            .any(|m| header(m, "Subject").unwrap_or_default().contains("Daily digest"))
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    let mut d = s.daemon();
    std::thread::sleep(Duration::from_secs(3));
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    assert_eq!(s.stack.inbox(TEAM).len(), 2, "sent once");
}

#[test]
fn hall_of_fame_and_security_txt() {
    let (s, member) = setup(false);
    for (id, subject) in [
        ("h1@example.test", "Fixed and credited"),
        ("h2@example.test", "Fixed, declined"),
        ("h3@example.test", "Credited, not fixed"),
    ] {
        s.stack.deliver(RESEARCHER, SECURITY, &report(id, subject, "x"));
    }
    s.stack.wait_inbox(SECURITY, 3, WAIT);
    s.once();
    let ids: Vec<String> = s
        .reports()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let ok = |args: &[&str]| assert!(s.embargo(args).status.success(), "{args:?}");
    ok(&[
        "reports",
        "credit",
        &ids[0],
        "--name",
        "Rita Researcher",
        "--url",
        "https://rita.example.test",
    ]);
    ok(&["reports", "fixed", &ids[0], "--date", "2026-11-20"]);
    ok(&["reports", "credit", &ids[1], "--no-credit"]);
    ok(&["reports", "fixed", &ids[1]]);
    ok(&["reports", "credit", &ids[2], "--name", "Not Yet"]);
    let md = String::from_utf8(s.embargo(&["hall-of-fame", "--format", "md"]).stdout).unwrap();
    assert!(
        md.contains("[Rita Researcher](https://rita.example.test) (2026-11)"),
        "{md}"
    );
    assert!(!md.contains("Not Yet") && !md.contains("declined"));
    let json: serde_json::Value =
        serde_json::from_slice(&s.embargo(&["hall-of-fame", "--format", "json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    let html = String::from_utf8(s.embargo(&["hall-of-fame", "--format", "html"]).stdout).unwrap();
    assert!(
        html.contains("<a href=\"https:") && html.contains("rita.example.test") && html.contains("Rita Researcher"),
        "{html}"
    );
    assert!(!html.contains("Fixed and credited"), "no vulnerability details");

    let txt = String::from_utf8(s.embargo(&["security-txt"]).stdout).unwrap();
    let k = keys();
    for want in [
        "Contact: mailto:security@example.test".to_owned(),
        format!("Encryption: openpgp4fpr:{}", k.team_cv_fpr),
        "Policy: https://example.test/security-policy".to_owned(),
        "Acknowledgments: https://example.test/hall-of-fame".to_owned(),
        "Preferred-Languages: en, de".to_owned(),
    ] {
        assert!(txt.contains(&want), "missing {want:?} in {txt}");
    }
    let expires = txt.lines().find_map(|l| l.strip_prefix("Expires: ")).unwrap();
    let expires: jiff::Timestamp = expires.parse().unwrap();
    let left = expires.duration_since(jiff::Timestamp::now());
    assert!(left > jiff::SignedDuration::from_hours(24 * 300) && left < jiff::SignedDuration::from_hours(24 * 365));
    let signed = s.embargo(&["security-txt", "--sign"]);
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let signed = String::from_utf8(signed.stdout).unwrap();
    assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    let out = member.run(&["--status-fd", "2", "--verify"], signed.as_bytes());
    let status = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && status.contains("GOODSIG") && status.contains(&k.team_cv_fpr),
        "{status}"
    );
}

/// The configuration is one value swapped as a whole on SIGHUP,
/// and the digest scheduler reads the swapped one: a reload that moves
/// `digest.at` to a time already past today and changes `[team] notify`
/// sends the digest at once, to the new address (the daemon read both once
/// at start before: the digest waited for the old slot, to the old list).
#[test]
fn a_reload_moves_the_digest_and_its_recipients() {
    const OTHER: &str = "other@example.test";
    let london = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let now = jiff::Timestamp::now().to_zoned(london);
    let later = (&now + jiff::SignedDuration::from_hours(6))
        .strftime("%H:%M")
        .to_string();
    let earlier = (&now - jiff::SignedDuration::from_mins(30))
        .strftime("%H:%M")
        .to_string();
    let section = |notify: &str, at: &str| {
        format!("\n[team]\nnotify = [\"{notify}\"]\n\n[digest]\nat = \"{at}\"\nsend_empty = true\n")
    };
    let s = Setup::with(Options {
        extra: section(OTHER, &later),
        ..Options::default()
    });
    s.once();
    let db = rusqlite::Connection::open(s.dir.path().join("embargo.sqlite3")).unwrap();
    let hour_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    db.execute(
        "INSERT INTO digest_state (id, last_sent_at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET last_sent_at = ?1",
        [&hour_ago],
    )
    .unwrap();
    drop(db);
    let mut d = s.daemon();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        s.stack.inbox(OTHER).is_empty() && s.stack.inbox(TEAM).is_empty(),
        "no digest is due yet"
    );
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        text.replace(&section(OTHER, &later), &section(TEAM, &earlier)),
    )
    .unwrap();
    d.signal("HUP");
    let mails = s.stack.wait_inbox(TEAM, 1, WAIT);
    assert!(
        header(&mails[0], "Subject")
            .unwrap_or_default()
            .contains("Daily digest"),
        "{}",
        mails[0]
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
    assert!(s.stack.inbox(OTHER).is_empty(), "the old list got nothing");
}
