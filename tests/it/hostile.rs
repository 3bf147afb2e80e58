//! The attacker's view, round two: mail that tries to stop the mailbox,
//! make embargo spend memory and disk, pin keys for proven addresses, echo
//! decrypted text back, or smuggle markup and terminal escapes into what
//! people read. Each attack is built with real tools (Python's email
//! package, gpg) and sent through Exim; each failed on the build before its
//! fix. The ones intake decides alone (keys brought by mail, the decryption
//! oracle) moved to `tests/intake/keys.rs`.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(60);

/// Runs `tests/data/attacks.py` and returns what it wrote.
pub fn attack(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(repo().join("tests/data/attacks.py"))
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "attacks.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn messages(s: &Setup) -> Vec<serde_json::Value> {
    let out = s.embargo(&["messages", "--json", "--limit", "100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_deeply_nested_mail_is_recorded_as_failed_and_the_report_behind_it_is_answered() {
    let s = Setup::new();
    let nested = attack(&["nested", "50000", "Eve <eve@example.test>", "<nested@example.test>"]);
    assert!(nested.len() < 3 * 1024 * 1024, "the attack fits under 3 MB");
    s.stack
        .deliver("eve@example.test", SECURITY, &String::from_utf8(nested).unwrap());
    s.stack.wait_for(SECURITY, "<nested@example.test>", WAIT);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after@example.test", "XSS behind the well", "steps"),
    );
    s.stack.wait_for(SECURITY, "<after@example.test>", WAIT);
    let mut d = s.daemon();
    s.stack.wait_for(RESEARCHER, "<after@example.test>", WAIT);
    assert_eq!(
        d.child.try_wait().unwrap(),
        None,
        "the daemon is alive: {}",
        s.daemon_log()
    );
    let reports = s.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["subject"], "XSS behind the well");
    let failed: Vec<_> = messages(&s).into_iter().filter(|m| m["kind"] == "failed").collect();
    assert_eq!(failed.len(), 1, "the nested mail is recorded as failed: {failed:?}");
    let reason = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("nested"), "the reason says why: {reason}");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

/// A message that kills the process outright (no panic: an abort, as a
/// stack overflow or the OOM killer does) is met again by every restart.
/// After two runs died on it, the next records it as failed unread and
/// takes in the mail behind it. The abort is injected (debug builds only,
/// `EMBARGO_FAULT_ABORT`) because no mail is known to crash embargo now.
#[test]
fn a_message_that_kills_the_daemon_is_given_up_after_two_deaths() {
    given_up(false, 2..=2);
}

/// The same with an innocent report in front of it: the first run dies in
/// a group of several messages (one transaction) and cannot tell which;
/// the next takes them one at a time, records the innocent one and dies on
/// the poison, which is then given up after two deaths of its own: three
/// deaths. (On a loaded machine the group's 10 ms can close before the
/// poison is reached; the innocent report then commits alone and two runs
/// die. Either way it is recorded and acknowledged once and the poison is
/// the one failure.)
#[test]
fn a_message_that_kills_the_daemon_behind_another_is_named_exactly() {
    given_up(true, 2..=3);
}

fn given_up(innocent_first: bool, runs_dying: std::ops::RangeInclusive<usize>) {
    let s = Setup::new();
    if innocent_first {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report("before@example.test", "The report before it", "steps"),
        );
        s.stack.wait_for(SECURITY, "<before@example.test>", WAIT);
    }
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("poison@example.test", "Poison POISON-7f3a", "x"),
    );
    s.stack.wait_for(SECURITY, "<poison@example.test>", WAIT);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("behind@example.test", "The report behind it", "steps"),
    );
    s.stack.wait_for(SECURITY, "<behind@example.test>", WAIT);
    let env = [("EMBARGO_FAULT_ABORT", "POISON-7f3a")];
    let mut deaths = 0;
    // systemd's Restart=on-failure, by hand. The run that gets past the
    // message is kept: an acknowledgement cut short by a death goes out
    // again once `in_doubt_grace_secs` has passed, from that run.
    let mut survivor = None;
    for _ in 0..6 {
        let mut d = s.daemon_with_env(&env);
        let start = std::time::Instant::now();
        let died = loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                break Some(status);
            }
            let answered = s
                .stack
                .inbox(RESEARCHER)
                .iter()
                .any(|m| m.contains("<behind@example.test>"));
            if answered || start.elapsed() > Duration::from_secs(30) {
                break None; // still running: it got past the message
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        match died {
            Some(status) => {
                assert!(status.code().is_none(), "killed by a signal, not an exit: {status:?}");
                deaths += 1;
            }
            None => {
                survivor = Some(d);
                break;
            }
        }
    }
    assert!(
        runs_dying.contains(&deaths),
        "runs that died on the message before one went on: {deaths}, expected {runs_dying:?}: {}",
        s.daemon_log()
    );
    let mut d = survivor.expect("a run got past the message");
    s.stack.wait_for(RESEARCHER, "<behind@example.test>", WAIT);
    let mut subjects: Vec<String> = s
        .reports()
        .iter()
        .map(|r| r["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    subjects.sort();
    let mut expected = vec!["The report behind it".to_owned()];
    if innocent_first {
        expected.insert(0, "The report before it".to_owned());
        // Recorded once, acknowledged once, though a run died after it.
        wait_until(
            WAIT,
            || {
                s.stack
                    .inbox(RESEARCHER)
                    .iter()
                    .any(|m| m.contains("<before@example.test>"))
            },
            || format!("no acknowledgement of the report before it: {}", s.daemon_log()),
        );
        // Nothing left to send (a second copy would come from there).
        wait_until(
            WAIT,
            || {
                let out = s.embargo(&["status", "--json"]);
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                v["outbox_pending"] == 0
            },
            || format!("the outbox never emptied: {}", s.daemon_log()),
        );
        let acks = s
            .stack
            .inbox(RESEARCHER)
            .iter()
            .filter(|m| m.contains("<before@example.test>"))
            .count();
        assert_eq!(acks, 1, "one acknowledgement of the report before it");
    }
    assert_eq!(subjects, expected);
    let failed: Vec<_> = messages(&s).into_iter().filter(|m| m["kind"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("stopped 2 times"),
        "{failed:?}"
    );
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0));
}

/// Whether `text` carries anything that would steer a terminal.
fn steers_a_terminal(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c < ' ' && c != '\n' && c != '\t' && c != '\r')
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

/// Terminal escapes (OSC 52 sets the clipboard, CSI moves the cursor) and
/// bidi overrides in a From's quoted local part, a Message-ID, a subject
/// and a credit line, with markup (`<img onerror>`, a `javascript:` link) in
/// the credit: none of it reaches a log line, a CLI verb's output, the
/// digest, the hall of fame or the advisory exports as it came. Built with
/// Python's email package's raw bytes, sent through Exim.
#[test]
fn escapes_and_markup_from_mail_reach_no_terminal_browser_or_file() {
    let s = Setup::with(Options {
        extra: "\n[team]\nmembers = [\"team@example.test\"]\nnotify = [\"team@example.test\"]\n".to_owned(),
        ..Options::default()
    });
    let osc52 = "\u{1b}]52;c;ZXZpbA==\u{7}";
    let mail = format!(
        "From: \"Mallory {osc52}\" <\"x{osc52}\"@example.test>\r\nTo: {SECURITY}\r\n\
         Subject: =?UTF-8?B?{}?=\r\nMessage-ID: <id\u{1b}[2J@evil.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nSteps to reproduce: open the page.\r\n",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "XSS \u{1b}[2J\u{9b}31m in gpj.\u{202e}exe".as_bytes()
        )
    );
    s.stack.deliver("researcher@example.test", SECURITY, &mail);
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let run = s.once();
    outputs.push((
        "run --once log".into(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    ));
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    let credit = format!(
        "From: \"Mallory {osc52}\" <\"x{osc52}\"@example.test>\r\nTo: {SECURITY}\r\nSubject: Re: [{id}]\r\n\
         Message-ID: <credit\u{1b}[2J@evil.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Credit: <img src=x onerror=alert(1)> [x](javascript:alert(1)) \u{1b}[31mred\u{202e}txt.exe https://evil.example/\"onmouseover=\"alert(1)\r\n"
    );
    s.stack.deliver("researcher@example.test", SECURITY, &credit);
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    let run = s.once();
    outputs.push((
        "run --once log".into(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    ));
    let ok = |args: &[&str]| {
        let out = s.embargo(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + String::from_utf8_lossy(&out.stderr).as_ref()
    };
    ok(&["reports", "credit", &id, "--accept"]);
    ok(&["reports", "fixed", &id]);
    for args in [
        vec!["reports", "list"],
        vec!["reports", "show", &id],
        vec!["messages"],
        vec!["digest", "--dry-run"],
        vec!["digest", "--dry-run", "--html"],
        vec!["keys", "list"],
        vec!["hall-of-fame", "--format", "md"],
        vec!["hall-of-fame", "--format", "html"],
    ] {
        outputs.push((args.join(" "), ok(&args)));
    }
    // The first draft of the advisory credits the reporter as they asked.
    let editor = s.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^summary = \"\"/summary = \"s\"/; s/^product = \"\"/product = \"Example\"/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(&*BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["advisory", "edit", &id])
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for format in ["md", "html"] {
        outputs.push((
            format!("advisory export {format}"),
            ok(&["advisory", "export", &id, "--format", format, "--draft"]),
        ));
    }
    // The team's alert (a mail people read in a terminal client too).
    for m in s.stack.wait_inbox("team@example.test", 1, WAIT) {
        outputs.push(("alert".into(), m));
    }
    for (what, text) in &outputs {
        if let Some(c) = steers_a_terminal(text) {
            panic!("{what} carries {c:?}:\n{text}");
        }
        let published = what.contains("hall-of-fame") || what.contains("advisory") || what.contains("--html");
        if !published {
            continue; // a terminal shows markup as text
        }
        assert!(!text.contains("<img"), "{what} carries raw markup:\n{text}");
        if what.contains("md") {
            assert!(
                !text.contains("](javascript"),
                "{what} carries a javascript: link:\n{text}"
            );
        }
        assert!(
            !text.contains("href=\"javascript"),
            "{what} carries a javascript: link:\n{text}"
        );
        assert!(
            !text.contains("\"onmouseover"),
            "{what} breaks out of an attribute:\n{text}"
        );
    }
    let hof = &outputs.iter().find(|(w, _)| w == "hall-of-fame --format md").unwrap().1;
    assert!(
        hof.contains("Mallory") || hof.contains("img"),
        "the credit is listed:\n{hof}"
    );
}

/// Bytes of the database and its write-ahead log.
fn db_bytes(s: &Setup) -> u64 {
    ["embargo.sqlite3", "embargo.sqlite3-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(s.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Small mails that decompress to 30 MB each (bzip2, encrypted to the
/// team's published key with gpg): before the fix every byte of that text
/// was stored and quoted in the team's alert. Now one message keeps a
/// bounded head (with a line saying what was cut), unauthenticated senders
/// together store at most `store.unauthenticated_per_hour`, and the alert
/// quotes 16 KiB and points at the rest.
#[test]
fn compression_bombs_cannot_fill_the_disk_or_the_teams_inbox() {
    use crate::common::setup_with_member;
    use crate::gpg::{Gpg, keys, pgp_mime, reporter_gpg};
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate("team@example.test", "cv25519");
    let s = setup_with_member(&member.export_public(&member_fpr));
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("[store]\n", "[store]\nunauthenticated_per_hour = \"600KiB\"\n"),
    )
    .unwrap();
    let g = reporter_gpg();
    let bomb = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "(printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'; \
              yes 'GET /_matrix/client/v3/rooms/!x:example.org/report HTTP/1.1' | head -c 31000000) | \
             gpg --batch --trust-model always -z 9 --compress-algo bzip2 --armor -e -r {}",
            k.team_cv_fpr
        ))
        .env("GNUPGHOME", g.home.path())
        .output()
        .unwrap();
    assert!(bomb.status.success());
    assert!(
        bomb.stdout.len() < 64 * 1024,
        "a small mail: {} bytes",
        bomb.stdout.len()
    );
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("first@example.test", "A first report", "x"),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    let before = db_bytes(&s);
    for i in 0..4 {
        let head =
            format!("From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <bomb{i}@evil.example>\r\n");
        s.stack.deliver(RESEARCHER, SECURITY, &pgp_mime(&head, &bomb.stdout));
    }
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("behind-bombs@example.test", "Behind the bombs", "steps"),
    );
    s.stack.wait_inbox(SECURITY, 6, WAIT);
    s.once();
    let grown = db_bytes(&s) - before;
    assert!(grown < 3 * 1024 * 1024, "the database grew by {grown} bytes");
    let reports = s.reports();
    assert_eq!(reports.len(), 6, "every mail is a report: {reports:?}");
    let bombs: Vec<String> = reports
        .iter()
        .filter(|r| r["encrypted"] == true)
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bombs.len(), 4);
    let shown = |id: &str| String::from_utf8(s.embargo(&["reports", "show", id]).stdout).unwrap();
    assert!(
        shown(&bombs[0]).contains("not kept (store.max_text_per_message"),
        "{}",
        shown(&bombs[0])
    );
    assert!(
        bombs.iter().any(|id| shown(id).contains("stays on the IMAP server")),
        "past the hourly budget the raw message is not kept"
    );
    assert!(
        s.stack
            .wait_for(RESEARCHER, "<behind-bombs@example.test>", WAIT)
            .contains("Behind the bombs")
    );
    let alerts = s.stack.wait_inbox("team@example.test", 6, WAIT);
    for a in &alerts {
        assert!(a.len() < 200 * 1024, "an alert of {} bytes", a.len());
    }
}

/// Peak resident memory of a process so far, in kB.
fn peak_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A key whose user ID (and its binding signature) is repeated 120,000
/// times, attached to a report (a 28 MB mail, built with gpg and Python):
/// before the fix the daemon went to 1.2 GB while sequoia built the
/// certificate, past the shipped unit's MemoryMax=768M, so systemd would
/// kill it on every restart. Keys are bounded before they are parsed.
#[test]
fn a_key_with_a_hundred_thousand_user_ids_is_not_parsed_whole() {
    use crate::gpg::Gpg;
    let s = Setup::new();
    let g = Gpg::new();
    let fpr = g.generate(RESEARCHER, "cv25519");
    let key = s.dir.path().join("key.asc");
    std::fs::write(&key, g.export_public(&fpr)).unwrap();
    let big = s.dir.path().join("big.asc");
    std::fs::write(&big, attack(&["many-uids", key.to_str().unwrap(), "120000"])).unwrap();
    let mail = attack(&["keymail", RESEARCHER, "<bigkey@evil.example>", big.to_str().unwrap()]);
    assert!(mail.len() > 20_000_000, "{} bytes", mail.len());
    s.stack.deliver(RESEARCHER, SECURITY, &String::from_utf8(mail).unwrap());
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("after-key@example.test", "After the key", "x"),
    );
    s.stack.wait_for(SECURITY, "<after-key@example.test>", WAIT);
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    let mut d = s.daemon();
    let mut peak = 0;
    wait_until(
        Duration::from_secs(120),
        || {
            peak = peak.max(peak_kb(d.pid()));
            s.reports().len() >= 2
        },
        || s.daemon_log(),
    );
    peak = peak.max(peak_kb(d.pid()));
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(15)), Some(0), "{}", s.daemon_log());
    assert!(peak < 256 * 1024, "peak RSS {peak} kB (1.27 GB before the fix)");
    let keys: serde_json::Value = serde_json::from_slice(&s.embargo(&["keys", "list", "--json"]).stdout).unwrap();
    assert!(
        keys["reporters"].as_array().unwrap().is_empty(),
        "the key is not learned: {keys}"
    );
    println!("peak RSS with the 120,000-user-ID key: {peak} kB");
}

/// 150 forged reports in the researcher's name, then their genuine one,
/// past the per-sender limit: before the fix the combined acknowledgement
/// carried the 100 oldest per period, so the flood pushed the genuine
/// report's acknowledgement back by periods (a 10,000-mail flood by 100
/// hours). Now one combined mail per period acknowledges every held report.
/// And a reply that reopens an excluded report past the limit is held for
/// the combined acknowledgement, not skipped.
#[test]
fn a_flood_in_a_researchers_name_delays_their_acknowledgement_by_one_period_at_most() {
    let s = Setup::with(Options {
        max_per_sender: 3,
        extra: "combine_after_secs = 2\n".to_owned(),
        ..Options::default()
    });
    // An excluded report first (SPF/DMARC), answered out of scope.
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report(
            "spf@example.test",
            "Missing SPF record",
            "Your domain has no SPF record and DMARC policy is p=none. Bounty?",
        ),
    );
    s.stack.wait_for(SECURITY, "<spf@example.test>", WAIT);
    s.once();
    let excluded = s.reports()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.reports()[0]["state"], "excluded");
    for i in 0..150 {
        s.stack.deliver(
            RESEARCHER,
            SECURITY,
            &report(&format!("forged{i}@evil.example"), &format!("Forged {i}"), "x"),
        );
    }
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("genuine-late@example.test", "The genuine one", "steps"),
    );
    // The researcher argues the excluded report is real: it reopens.
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &format!(
            "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: Re: [{excluded}] Missing SPF record\r\n\
             Message-ID: <reopen@example.test>\r\n\r\nNo, it is about your mail bridge trusting From:.\r\n"
        ),
    );
    // The excluded report, the copy of our out-of-scope answer (`OwnCopy`),
    // 150 forged, the genuine one and the reply: a count alone once let
    // `run --once` start before Exim had delivered the reply (the copy
    // made up the number).
    s.stack.wait_inbox(SECURITY, 154, Duration::from_secs(120));
    s.stack.wait_for(SECURITY, "<reopen@example.test>", WAIT);
    s.stack.wait_for(SECURITY, "<genuine-late@example.test>", WAIT);
    s.once();
    let genuine = |s: &Setup| {
        s.reports()
            .into_iter()
            .find(|r| r["subject"] == "The genuine one")
            .unwrap()
    };
    let g = genuine(&s);
    let show = String::from_utf8(s.embargo(&["reports", "show", g["id"].as_str().unwrap()]).stdout).unwrap();
    assert!(show.contains("held by the per-sender limit until"), "{show}");
    let r = s.reports().into_iter().find(|r| r["id"] == excluded).unwrap();
    assert_eq!(r["state"], "new", "reopened: {r}");
    assert!(
        r["acknowledged_at"].is_null(),
        "the out-of-scope reply acknowledged no report: {r}"
    );
    let show = String::from_utf8(s.embargo(&["reports", "show", &excluded]).stdout).unwrap();
    assert!(show.contains("ack-held"), "held, not skipped: {show}");
    // One period later: one combined mail, every report acknowledged.
    std::thread::sleep(Duration::from_secs(3));
    s.once();
    s.stack.wait_delivered(WAIT);
    assert!(genuine(&s)["acknowledged_at"].is_string(), "{}", genuine(&s));
    let unacknowledged: Vec<_> = s
        .reports()
        .into_iter()
        .filter(|r| r["acknowledged_at"].is_null())
        .map(|r| r["id"].clone())
        .collect();
    assert!(unacknowledged.is_empty(), "{unacknowledged:?}");
    let combined: Vec<String> = s
        .stack
        .inbox(RESEARCHER)
        .into_iter()
        .filter(|m| header(m, "Subject").unwrap_or_default().contains("more: your"))
        .collect();
    assert_eq!(combined.len(), 1, "one combined mail for the period");
    assert!(combined[0].len() < 64 * 1024, "bounded: {} bytes", combined[0].len());
}

/// `embargo oauth import` run as root (as the README's recipes do) into the
/// service's state directory, where the service user has planted the lock
/// file as a symlink to a root-only file: before the fix root opened it
/// with O_CREAT and chowned it by path, so the service user got the root
/// file. Now the symlink is refused and nothing outside changes owner.
#[test]
fn root_never_chowns_or_writes_through_a_link_the_service_user_planted() {
    use std::os::unix::fs::MetadataExt as _;
    let s = Setup::with(Options {
        imap_extra: "auth = \"xoauth2\"",
        extra: "\n[oauth2]\ntoken_url = \"http://127.0.0.1:9/token\"\nclient_id = \"embargo-test\"\n\
                scope = \"imap offline_access\"\nrefresh_token_file = \"state/oauth-rt\"\n"
            .to_owned(),
        ..Options::default()
    });
    assert_eq!(crate::common::uid(), 0, "the suite runs as root");
    let state = s.dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(&state, Some(nobody), Some(nobody)).unwrap();
    let secret = s.dir.path().join("root-only");
    std::fs::write(&secret, "root's").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, state.join("oauth-rt.lock")).unwrap();
    let import = |input: &str| {
        let mut child = std::process::Command::new(&*BIN)
            .arg("--config")
            .arg(&s.config)
            .args(["oauth", "import"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = import("rt-from-the-provider\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    let meta = std::fs::metadata(&secret).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "the root file keeps its owner");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's");
    assert!(!state.join("oauth-rt").exists(), "nothing written");
    // Without the plant, the token file is written for the service user
    // (hard links and other file types are refused: files.rs unit test).
    std::fs::remove_file(state.join("oauth-rt.lock")).unwrap();
    let out = import("rt-from-the-provider\n");
    let token = std::fs::metadata(state.join("oauth-rt")).unwrap();
    assert_eq!(token.uid(), nobody, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(token.mode() & 0o777, 0o600);
    let lock = std::fs::symlink_metadata(state.join("oauth-rt.lock")).unwrap();
    assert!(lock.file_type().is_file() && lock.uid() == nobody);
}
