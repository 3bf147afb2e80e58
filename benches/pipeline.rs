//! Pipeline benchmark (`cargo bench --bench pipeline`), against a real mail
//! stack started here: backlog ingest rate (overall and per kind) and peak
//! RSS, ack latency through Exim with the daemon in IDLE, idle RSS, and
//! growth (ingest rate with 0, 10k and 100k reports already stored), and a
//! backlog answered end to end next to a minimal SMTP client (`answered`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
#[path = "../tests/shared/stack.rs"]
mod stack;
use common::{base64, gpg};
use stack::Stack;

const BIN: &str = env!("CARGO_BIN_EXE_embargo");

fn config(stack: &Stack, dir: &Path, smtp_port: u16, team_keys: &[&str]) -> PathBuf {
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .unwrap()
        .flatten()
    {
        if e.file_name() != "embargo.toml" {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("pw"), "security-pw").unwrap();
    std::fs::set_permissions(dir.join("pw"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let keys: Vec<String> = team_keys.iter().map(|k| format!("\"{k}\"")).collect();
    // `BENCH_IDLE_RESTART` shortens the IDLE re-issue (default 20 minutes).
    let idle_restart = std::env::var("BENCH_IDLE_RESTART")
        .map(|v| format!("idle_restart_secs = {v}\n"))
        .unwrap_or_default();
    let text = format!(
        "[imap]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nuser = \"security@example.test\"\npassword_file = \"pw\"\n\
         reconnect_max_secs = 2\n{idle_restart}\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\n\
         from = \"Security <security@example.test>\"\nretry_max_secs = 2\n\n[store]\npath = \"db.sqlite3\"\n\n\
         [reply]\nmax_per_sender_per_day = 1000000\nmax_automatic_per_hour = 0\n\n[openpgp]\nkeys = [{}]\n",
        stack.port("IMAP"),
        keys.join(", ")
    );
    let path = dir.join("embargo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn plain(i: usize) -> Vec<u8> {
    format!(
        "Return-Path: <r{i}@example.test>\r\nFrom: Researcher {i} <r{i}@example.test>\r\nTo: security@example.test\r\n\
         Subject: Vulnerability report {i}\r\nMessage-ID: <plain{i}@bench>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nSteps to reproduce {i}:\r\n1. open the page\r\n2. inject\r\n{}\r\n",
        "details ".repeat(60)
    )
    .into_bytes()
}

fn beg(i: usize) -> Vec<u8> {
    format!(
        "Return-Path: <b{i}@example.test>\r\nFrom: b{i}@example.test\r\nSubject: Missing DMARC record\r\nMessage-ID: <beg{i}@bench>\r\n\r\n\
         Your domain has no DMARC record and the SPF record is weak, email spoofing is possible. Bounty?\r\n"
    )
    .into_bytes()
}

fn automatic(i: usize) -> Vec<u8> {
    format!("Return-Path: <>\r\nFrom: MAILER-DAEMON@example.test\r\nSubject: Undelivered\r\nMessage-ID: <auto{i}@bench>\r\n\r\nbounce\r\n").into_bytes()
}

fn followup(i: usize) -> Vec<u8> {
    format!(
        "Return-Path: <r{i}@example.test>\r\nFrom: r{i}@example.test\r\nSubject: more on report {i}\r\nMessage-ID: <fu{i}@bench>\r\n\
         In-Reply-To: <plain{i}@bench>\r\n\r\nmore details\r\n"
    )
    .into_bytes()
}

/// A PGP/MIME report around a gpg-made ciphertext (the same ciphertext
/// for every message of a kind: decryption costs the same each time).
fn encrypted(i: usize, ct: &[u8], tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <e{i}@example.test>\r\nFrom: e{i}@example.test\r\nSubject: ...\r\nMessage-ID: <{tag}{i}@bench>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"bench-boundary-0123456789\"\r\n\r\n--bench-boundary-0123456789\r\n\
         Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--bench-boundary-0123456789\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n\
         --bench-boundary-0123456789--\r\n",
        String::from_utf8_lossy(ct).replace('\n', "\r\n")
    )
    .into_bytes()
}

/// What `/usr/bin/time -v` saw of one command.
struct Measured {
    wall: f64,
    /// User + system seconds.
    cpu: f64,
    rss_kb: u64,
    /// The command's own stderr (time's report included).
    stderr: String,
}

/// Runs `cmd` under `/usr/bin/time -v` (and under `BENCH_WRAP`, a
/// profiler such as "heaptrack", when set).
fn measured(cmd: &mut Command, stdin: Option<&Path>) -> Measured {
    let start = Instant::now();
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut c = Command::new("/usr/bin/time");
    c.arg("-v")
        .args(wrap.split_whitespace())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(f) = stdin {
        c.stdin(std::fs::File::open(f).unwrap());
    }
    let out = c.output().unwrap();
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let field = |name: &str| -> f64 {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Measured {
        wall,
        cpu: field("User time (seconds):") + field("System time (seconds):"),
        rss_kb: field("Maximum resident set size (kbytes):") as u64,
        stderr,
    }
}

/// Schleuder (Debian 12's package) next to embargo on the same encrypted
/// message: one list / one security address, one subscriber / one team
/// member with a Cv25519 key, both decrypting with the same Cv25519 key and
/// both sending through the same Exim. Schleuder decrypts, checks, and
/// re-encrypts the message to the subscriber; embargo decrypts, classifies,
/// stores, re-encrypts it to the member (the alert) and acknowledges the
/// reporter, so it sends more mail per message.
fn schleuder(home: &Path, ct: &[u8], team_key: &[u8]) {
    if Command::new("sh")
        .args(["-c", "command -v schleuder"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        let ok = Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "schleuder"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            println!("\nSchleuder: not installed and `apt-get install schleuder` failed; skipped");
            return;
        }
    }
    let version = String::from_utf8_lossy(&Command::new("schleuder").arg("version").output().unwrap().stdout)
        .trim()
        .to_owned();
    gpg(
        home,
        &["--gen-key"],
        b"%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nName-Email: member@example.test\n%commit\n",
    );
    let member = gpg(home, &["--armor", "--export", "member@example.test"], b"");
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 20;
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            String::from_utf8(encrypted(i, ct, "sch"))
                .unwrap()
                .replace(&format!("<e{i}@example.test>"), "<researcher@example.test>")
                .replace(
                    &format!("From: e{i}@example.test"),
                    "From: researcher@example.test\r\nTo: cv@example.test",
                )
                .into_bytes()
        })
        .collect();

    // Schleuder: its own config, database and list directory.
    let conf = d.join("schleuder.yml");
    std::fs::write(
        &conf,
        format!(
            "lists_dir: {d}/lists\nlistlogs_dir: {d}/logs\nkeyword_handlers_dir: /usr/local/lib/schleuder/keyword_handlers\n\
             filters_dir: /usr/local/lib/schleuder/filters\nlog_level: warn\nkeyserver: ''\nsuperadmin: root@localhost\n\
             smtp_settings:\n  address: 127.0.0.1\n  port: {}\ndatabase:\n  production:\n    adapter: 'sqlite3'\n    database: {d}/db.sqlite\n    timeout: 5000\n",
            stack.port("SMTP"),
            d = d.display()
        ),
    )
    .unwrap();
    let sch = |c: &mut Command| {
        c.env("SCHLEUDER_CONFIG", &conf);
    };
    let mut install = Command::new("schleuder");
    install.arg("install");
    sch(&mut install);
    assert!(install.output().unwrap().status.success(), "schleuder install");
    let list_home = d.join("lists/example.test/cv");
    std::fs::create_dir_all(&list_home).unwrap();
    std::fs::set_permissions(&list_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(&list_home, &["--import"], team_key);
    std::fs::write(d.join("member.pub.asc"), &member).unwrap();
    let mut mk = Command::new("ruby");
    mk.arg("-e").arg(format!(
        "require 'schleuder'; list, _ = Schleuder::ListBuilder.new({{email: 'cv@example.test'}}, 'researcher@example.test', nil, File.read('{}')).run; \
         abort(list.errors.full_messages.join(', ')) if list.errors.present?",
        d.join("member.pub.asc").display()
    ));
    sch(&mut mk);
    let out = mk.output().unwrap();
    assert!(
        out.status.success(),
        "schleuder list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &list_home)
        .args(["--kill", "all"])
        .status();
    let mut sch_runs = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let f = d.join(format!("msg{i}.eml"));
        std::fs::write(&f, m).unwrap();
        let mut w = Command::new("schleuder");
        w.args(["work", "cv@example.test"]);
        sch(&mut w);
        sch_runs.push(measured(&mut w, Some(&f)));
    }
    let t = Instant::now();
    while stack.count("researcher@example.test") < n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "schleuder delivered {} of {n}",
            stack.count("researcher@example.test")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let delivered_sch = stack.count("researcher@example.test");

    // embargo: the same messages, the same key, the member's key for alerts.
    let edir = tempfile::tempdir().unwrap();
    write_key(edir.path(), "cv.sec.asc", team_key);
    std::fs::write(edir.path().join("member.pub.asc"), &member).unwrap();
    let cfg = config(&stack, edir.path(), stack.port("SMTP"), &["cv.sec.asc"]);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[team]\nnotify = [\"researcher@example.test\"]\nkeys = [\"member.pub.asc\"]\n");
    std::fs::write(&cfg, text).unwrap();
    let sec = stack.maildir("security@example.test").join("new");
    std::fs::create_dir_all(&sec).unwrap();
    let mut emb_one = Vec::new();
    for (i, m) in msgs.iter().enumerate().take(5) {
        // One message, one process: the shape Schleuder always has.
        let lf = String::from_utf8_lossy(m).replace("\r\n", "\n");
        std::fs::write(sec.join(format!("{}.S{i}P1.bench", 1_800_000_000 + i)), lf).unwrap();
        let _ = Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(stack.dir.join("mail"))
            .status();
        let mut e = Command::new(BIN);
        e.arg("--config")
            .arg(&cfg)
            .args(["run", "--once"])
            .env("RUST_LOG", "warn");
        emb_one.push(measured(&mut e, None));
    }
    stack.backlog(&msgs[5..]);
    let mut e = Command::new(BIN);
    e.arg("--config")
        .arg(&cfg)
        .args(["run", "--once"])
        .env("RUST_LOG", "warn");
    let batch = measured(&mut e, None);
    let db = rusqlite::Connection::open(edir.path().join("db.sqlite3")).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let decrypted = q("SELECT count(*) FROM messages WHERE kind = 'report' AND encrypted = 1 AND decryption = ''");
    let sent = q("SELECT count(*) FROM outbox WHERE state = 'sent'");
    let outbox: String = db
        .query_row(
            "SELECT coalesce(group_concat(line, '; '), '') FROM (SELECT kind || ' ' || state || ' ' || count(*) || ' ' || max(last_error) AS line FROM outbox GROUP BY kind, state)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let kinds: String = db
        .query_row(
            "SELECT coalesce(group_concat(line, '; '), '') FROM (SELECT kind || ' ' || count(*) AS line FROM messages WHERE direction = 'in' GROUP BY kind)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    eprintln!("embargo outbox: {outbox}; inbound: {kinds}");
    let avg = |v: &[Measured]| {
        let k = v.len() as f64;
        (
            v.iter().map(|r| r.wall).sum::<f64>() / k,
            v.iter().map(|r| r.cpu).sum::<f64>() / k,
            v.iter().map(|r| r.rss_kb).max().unwrap_or(0),
        )
    };
    let (sw, sc, sr) = avg(&sch_runs);
    let (ow, oc, or) = avg(&emb_one);
    let bn = (n - 5) as f64;
    println!(
        "\nSide by side with Schleuder ({version}), the same PGP/MIME message (Cv25519, ~4 KB), one subscriber / one team member, the same Exim:\n\n\
         | tool | how | messages | wall per message | CPU per message | peak RSS |\n|---|---|---|---|---|---|\n\
         | Schleuder {version} | `schleuder work` per message (as the MTA runs it) | {n} | {:.0} ms | {:.0} ms | {} MB |\n\
         | embargo | `run --once` per message (one process each) | 5 | {:.0} ms | {:.0} ms | {} MB |\n\
         | embargo | `run --once` on a backlog | {} | {:.1} ms | {:.1} ms | {} MB |\n\n\
         Schleuder delivered {delivered_sch} re-encrypted copies; embargo decrypted {decrypted} of {n} and sent {sent} mails \
         (alert to the member + ack to the reporter per message).",
        sw * 1000.0,
        sc * 1000.0,
        sr / 1024,
        ow * 1000.0,
        oc * 1000.0,
        or / 1024,
        n - 5,
        batch.wall * 1000.0 / bn,
        batch.cpu * 1000.0 / bn,
        batch.rss_kb / 1024,
    );
}

/// Runs `embargo run --once`; (seconds, peak RSS kB, time per stage).
fn once(cfg: &Path) -> (f64, u64, String) {
    let m = measured(
        Command::new(BIN)
            .arg("--config")
            .arg(cfg)
            .args(["run", "--once"])
            .env("RUST_LOG", "warn,embargo::cli=info")
            .env("NO_COLOR", "1"),
        None,
    );
    // `run --once` logs the time per stage when it is done.
    let stages = m
        .stderr
        .lines()
        .find_map(|l| l.split_once("stages=").map(|(_, s)| s.trim().to_owned()))
        .unwrap_or_default();
    (m.wall, m.rss_kb, stages)
}

/// Time per stage of each `ingest` row, printed under the backlog table.
static STAGES: std::sync::Mutex<Vec<(String, usize, String)>> = std::sync::Mutex::new(Vec::new());

fn print_stages() {
    let rows = std::mem::take(&mut *STAGES.lock().unwrap());
    println!(
        "\nTime per pipeline stage (summed over the run; fetch is IMAP round trips, record is reply composition + the SQLite transaction):\n\n\
         | backlog | fetch | parse | openpgp | triage | record | per message |\n|---|---|---|---|---|---|---|"
    );
    for (label, n, stages) in rows {
        let v: Vec<f64> = stages
            .split(", ")
            .filter_map(|p| {
                p.rsplit_once(' ')
                    .and_then(|(l, _)| l.rsplit_once(' '))
                    .and_then(|(_, v)| v.parse().ok())
            })
            .collect();
        if v.len() < 5 {
            continue;
        }
        let total: f64 = v[..5].iter().sum();
        println!(
            "| {label} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.0} us |",
            v[0],
            v[1],
            v[2],
            v[3],
            v[4],
            total * 1e6 / n as f64
        );
    }
}

fn write_key(dir: &Path, name: &str, armored: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join(name), armored).unwrap();
    std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Ingest only: SMTP points at a closed port, so acks wait in the outbox.
fn ingest(label: &str, msgs: Vec<Vec<u8>>, keys: &[(&str, &[u8])], prefill: usize) -> (f64, u64) {
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    for (name, c) in keys {
        write_key(dir.path(), name, c);
    }
    let names: Vec<&str> = keys.iter().map(|(n, _)| *n).collect();
    let cfg = config(&stack, dir.path(), 9, &names);
    if prefill > 0 {
        prefill_db(&dir.path().join("db.sqlite3"), prefill);
    }
    let n = msgs.len();
    stack.backlog(&msgs);
    let (secs, rss, stages) = once(&cfg);
    STAGES.lock().unwrap().push((label.to_owned(), n, stages));
    let rate = n as f64 / secs;
    // What became of them, so a fast row cannot hide a failure.
    let db = rusqlite::Connection::open(dir.path().join("db.sqlite3")).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let recorded = q("SELECT count(*) FROM messages WHERE direction = 'in' AND uid IS NOT NULL");
    let decrypted = q("SELECT count(*) FROM messages WHERE encrypted = 1 AND decryption = ''");
    let undecryptable = q("SELECT count(*) FROM messages WHERE decryption != ''");
    if undecryptable > 0 {
        let why: String = db
            .query_row(
                "SELECT decryption FROM messages WHERE decryption != '' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        eprintln!("{label}: first decryption failure: {why}");
    }
    println!(
        "| {label} | {n} | {secs:.2} s | {rate:.0} msg/s | {} MB | {recorded} recorded, {decrypted} decrypted, {undecryptable} not decryptable |",
        rss / 1024
    );
    (rate, rss)
}

fn prefill_db(path: &Path, n: usize) {
    let mut store = embargo::store::Store::open(path).unwrap();
    for i in 0..n {
        let row = embargo::store::InboundRow {
            message_id: format!("<pre{i}@bench>"),
            from_addr: format!("p{i}@example.test"),
            subject: format!("old report {i}"),
            body: "old",
            ..Default::default()
        };
        let d = embargo::store::Disposition::NewReport(embargo::store::NewReport {
            reporter: format!("p{i}@example.test"),
            reporter_name: String::new(),
            subject: format!("old report {i}"),
            // Every stored report has its ack in the outbox (marked sent
            // below), as in a real history: per-recipient lookups must not
            // scan them.
            compose: Box::new(move |tracking| {
                Ok(Some(embargo::store::Outgoing {
                    kind: embargo::store::MailKind::Ack,
                    recipient: format!("p{i}@example.test"),
                    envelope_from: String::new(),
                    message_id: format!("<ack-pre{i}@bench>"),
                    subject: format!("Re: old report {i} [{tracking}]"),
                    from_addr: "security@example.test".into(),
                    raw: format!("Subject: Re: old report {i}\r\n\r\nack\r\n").into_bytes(),
                }))
            }),
            no_ack_reason: None,
            notes: vec![],
            excluded_topic: None,
            alerts: Box::new(|_| Ok(vec![])),
            held_ack: None,
            channels: Vec::new(),
        });
        store.record(None, &row, d, "OLD").unwrap();
    }
    drop(store);
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute("UPDATE outbox SET state = 'sent'", []).unwrap();
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// A copy of the binary in `dir`, so a rebuild during an hour-long run
/// cannot trip over the running executable; `BENCH_BIN` copies another
/// build (an older commit's, say) instead.
fn bench_bin(dir: &Path) -> PathBuf {
    let bin = dir.join("embargo");
    std::fs::copy(std::env::var("BENCH_BIN").unwrap_or_else(|_| BIN.into()), &bin).unwrap();
    bin
}

/// `embargo run` on `cfg`; `BENCH_LOG` sets its `RUST_LOG` (default `warn`).
fn daemon(bin: &Path, cfg: &Path) -> std::process::Child {
    Command::new(bin)
        .arg("--config")
        .arg(cfg)
        .arg("run")
        .env("RUST_LOG", std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn latency(n: usize, idle_secs: u64) {
    let stack = Stack::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&stack, dir.path(), stack.port("SMTP"), &[]);
    let mut child = daemon(&bench_bin(dir.path()), &cfg);
    std::thread::sleep(Duration::from_secs(2));
    let mut samples = Vec::new();
    for i in 0..n {
        let before = stack.count("researcher@example.test");
        let raw = format!(
            "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: latency {i}\r\nMessage-ID: <lat{i}@bench>\r\n\r\nreport {i}"
        );
        let t = Instant::now();
        stack::smtp_send_as(
            stack.port("SMTP"),
            "bench",
            "researcher@example.test",
            "security@example.test",
            &raw,
        );
        while stack.count("researcher@example.test") <= before {
            std::thread::sleep(Duration::from_millis(2));
            assert!(t.elapsed() < Duration::from_secs(30), "no ack for {i}");
        }
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "\nLatency, SMTP 250 of the report -> ack in the reporter's Maildir ({n} reports, one at a time, daemon in IDLE):\n\
         p50 {:.3} s, p95 {:.3} s, p99 {:.3} s (Dovecot's IDLE notification alone waits ~0.5 s)",
        q(0.5),
        q(0.95),
        q(0.99)
    );
    // Idle: RSS sampled every minute (or at the end of a shorter run); the
    // IMAP IDLE is re-issued every 20 minutes, so an hour sees three.
    let start = Instant::now();
    let mut rss = Vec::new();
    let step = Duration::from_secs(idle_secs.clamp(1, 60));
    while start.elapsed() < Duration::from_secs(idle_secs) {
        std::thread::sleep(step);
        assert!(child.try_wait().unwrap().is_none(), "daemon exited while idle");
        rss.push((start.elapsed().as_secs(), rss_kb(child.id())));
    }
    // Still alive and answering after the idle stretch.
    let before = stack.count("researcher@example.test");
    stack::smtp_send_as(
        stack.port("SMTP"),
        "bench",
        "researcher@example.test",
        "security@example.test",
        "From: researcher@example.test\r\nTo: security@example.test\r\nSubject: after idle\r\nMessage-ID: <after-idle@bench>\r\n\r\nreport",
    );
    let t = Instant::now();
    while stack.count("researcher@example.test") <= before {
        std::thread::sleep(Duration::from_millis(10));
        assert!(t.elapsed() < Duration::from_secs(30), "no ack after the idle stretch");
    }
    let max = rss.iter().map(|r| r.1).max().unwrap_or(0);
    let last = rss.last().map(|r| r.1).unwrap_or(0);
    let marks: Vec<String> = rss
        .iter()
        .filter(|(s, _)| rss.len() < 8 || s % 600 < 60)
        .map(|(s, kb)| format!("{}:{:02} {:.1} MB", s / 60, s % 60, *kb as f64 / 1024.0))
        .collect();
    println!(
        "Idle RSS over {idle_secs} s in IDLE after the latency run: last {:.1} MB, max {:.1} MB ({}); ack after the idle stretch in {:.3} s",
        last as f64 / 1024.0,
        max as f64 / 1024.0,
        marks.join(", "),
        t.elapsed().as_secs_f64()
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Which sections to run: `BENCH_ONLY=backlog,growth,answered,big,bomb,latency,schleuder,status`
/// (default: all). `BENCH_IDLE_SECS` sets the idle stretch after the latency
/// run (default 60; the README figure is from 3600).
fn section(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(v) => v.split(',').any(|s| s.trim() == name),
        Err(_) => name != "latency" || std::env::var_os("BENCH_SKIP_LATENCY").is_none(),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let home = common::Gpg::new();
    let h = home.path();
    gpg(h, &["--gen-key"], b"%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nName-Email: cv@example.test\n%commit\n");
    gpg(h, &["--gen-key"], b"%no-protection\nKey-Type: RSA\nKey-Length: 4096\nSubkey-Type: RSA\nSubkey-Length: 4096\nName-Email: rsa@example.test\n%commit\n");
    let cv_key = gpg(h, &["--armor", "--export-secret-keys", "cv@example.test"], b"");
    let rsa_key = gpg(h, &["--armor", "--export-secret-keys", "rsa@example.test"], b"");
    let text = format!(
        "Content-Type: text/plain\r\n\r\nEncrypted report: {}\r\n",
        "secret ".repeat(500)
    );
    let cv = gpg(h, &["--armor", "-e", "-r", "cv@example.test"], text.as_bytes());
    let rsa = gpg(h, &["--armor", "-e", "-r", "rsa@example.test"], text.as_bytes());
    let keys: [(&str, &[u8]); 2] = [("cv.sec.asc", &cv_key), ("rsa.sec.asc", &rsa_key)];
    println!(
        "# embargo pipeline benchmark (release build, run --once, IMAP and SQLite real; acks left in the outbox)\n"
    );
    if std::env::var_os("BENCH_QUICK").is_some() {
        ingest(
            "quick Cv25519",
            (0..5).map(|i| encrypted(i, &cv, "cv")).collect(),
            &keys,
            0,
        );
        ingest(
            "quick RSA-4096",
            (0..5).map(|i| encrypted(i, &rsa, "rsa")).collect(),
            &keys,
            0,
        );
        return;
    }
    if section("backlog") {
        backlog(&rsa, &cv, &keys);
    }
    if section("growth") {
        println!(
            "\nGrowth: 1,000 plain reports with reports already stored\n\n| already stored | messages | wall | rate | peak RSS | check |\n|---|---|---|---|---|---|"
        );
        for pre in [0, 10_000, 100_000] {
            ingest(&format!("{pre}"), (0..1000).map(plain).collect(), &keys, pre);
        }
    }
    if section("answered") {
        answered(
            std::env::var("BENCH_ANSWERED")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5000),
        );
    }
    if section("big") {
        big(&keys);
    }
    if section("bomb") {
        bomb(h, &keys);
    }
    if section("schleuder") {
        schleuder(h, &cv, &cv_key);
    }
    if section("status") {
        status_scale();
    }
    if section("latency") {
        let idle = std::env::var("BENCH_IDLE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        latency(200, idle);
    }
}

/// `embargo status --json` (and so a `/metrics` scrape, which computes the
/// same figures plus one GROUP BY) against a database with many reports.
fn status_scale() {
    println!(
        "\nStatus and metrics with reports stored (3 runs each, one process per run)\n\n| reports stored | wall (min) | wall (max) |\n|---|---|---|"
    );
    let stack = Stack::start();
    for pre in [1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&stack, dir.path(), 9, &[]);
        prefill_db(&dir.path().join("db.sqlite3"), pre);
        let mut walls = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let out = Command::new(BIN)
                .arg("--config")
                .arg(&cfg)
                .args(["status", "--json"])
                .output()
                .unwrap();
            walls.push(t.elapsed().as_secs_f64());
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["reports_by_state"]["new"], pre, "{v}");
        }
        walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("| {pre} | {:.3} s | {:.3} s |", walls[0], walls[2]);
    }
}

fn backlog(rsa: &[u8], cv: &[u8], keys: &[(&str, &[u8])]) {
    println!("| backlog | messages | wall | rate | peak RSS | check |\n|---|---|---|---|---|---|");
    let mut mixed = Vec::new();
    for i in 0..5000 {
        mixed.push(match i % 20 {
            0 => encrypted(i, rsa, "rsa"),
            1 | 2 => encrypted(i, cv, "cv"),
            3 | 4 => beg(i),
            5 | 6 => automatic(i),
            7 => followup(i - 7),
            _ => plain(i),
        });
    }
    ingest(
        "mixed (65% plain, 10% Cv25519, 5% RSA-4096, 10% beg-bounty, 10% automatic, 5% follow-ups)",
        mixed,
        keys,
        0,
    );
    ingest("plain reports", (0..5000).map(plain).collect(), keys, 0);
    ingest(
        "Cv25519 PGP/MIME",
        (0..1000).map(|i| encrypted(i, cv, "cv")).collect(),
        keys,
        0,
    );
    ingest(
        "RSA-4096 PGP/MIME",
        (0..500).map(|i| encrypted(i, rsa, "rsa")).collect(),
        keys,
        0,
    );
    ingest("beg-bounty (excluded)", (0..2000).map(beg).collect(), keys, 0);
    ingest("automatic mail", (0..2000).map(automatic).collect(), keys, 0);
    print_stages();
}

fn big(keys: &[(&str, &[u8])]) {
    let big = 25 * 1024 * 1024;
    let mut att = plain(0);
    att.truncate(att.len() - 2);
    att.extend(
        std::iter::repeat_n(b'A', big)
            .collect::<Vec<u8>>()
            .chunks(76)
            .flat_map(|c| [c, b"\r\n"].concat()),
    );
    println!("\n| backlog | messages | wall | rate | peak RSS | check |\n|---|---|---|---|---|---|");
    let (_, rss) = ingest("one 25 MB message", vec![att], keys, 0);
    println!(
        "\n25 MB message: peak RSS {} MB = {:.1}x the message size",
        rss / 1024,
        (rss * 1024) as f64 / big as f64
    );
    // The issue's case: a report with a 25 MB attachment (base64, so the
    // message is ~34 MB on the wire; the ratio is against the message).
    let bin: Vec<u8> = (0..big as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = base64(&bin);
    let mut msg =
        "Return-Path: <r0@example.test>\r\nFrom: Researcher <r0@example.test>\r\nTo: security@example.test\r\n\
         Subject: Crash dump attached\r\nMessage-ID: <att0@bench>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"att-boundary-0123456789\"\r\n\r\n--att-boundary-0123456789\r\n\
         Content-Type: text/plain\r\n\r\nThe core dump is attached.\r\n--att-boundary-0123456789\r\n\
         Content-Type: application/octet-stream; name=\"core.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .as_bytes()
            .to_vec();
    for line in b64.as_bytes().chunks(76) {
        msg.extend_from_slice(line);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b"--att-boundary-0123456789--\r\n");
    let size = msg.len();
    let (_, rss) = ingest("one report with a 25 MB attachment", vec![msg], keys, 0);
    println!(
        "\n25 MB attachment ({:.1} MB message): peak RSS {} MB = {:.1}x the message size",
        size as f64 / 1048576.0,
        rss / 1024,
        (rss * 1024) as f64 / size as f64
    );
}

/// A 1 GiB zlib bomb (gpg -z 9, ~1 MB armored) to the Cv25519 team key,
/// against a run that takes one small report: the difference is what the
/// bomb costs above the daemon's own footprint.
fn bomb(home: &Path, keys: &[(&str, &[u8])]) {
    let out = Command::new("bash")
        .arg("-c")
        .arg("head -c 1073741824 /dev/zero | gpg --batch --trust-model always -z 9 --compress-algo zlib --armor -e -r cv@example.test")
        .env("GNUPGHOME", home)
        .output()
        .unwrap();
    assert!(out.status.success());
    let msg = format!(
        "Return-Path: <bomb@example.test>\r\nFrom: bomb@example.test\r\nSubject: report\r\nMessage-ID: <bomb@bench>\r\n\r\n{}",
        String::from_utf8_lossy(&out.stdout).replace('\n', "\r\n")
    );
    println!("\n| backlog | messages | wall | rate | peak RSS | check |\n|---|---|---|---|---|---|");
    let (_, base) = ingest("one small plain report (baseline)", vec![plain(0)], keys, 0);
    let (_, rss) = ingest(
        &format!(
            "1 GiB zlib bomb, {:.1} MB inline PGP to Cv25519",
            msg.len() as f64 / 1048576.0
        ),
        vec![msg.into_bytes()],
        keys,
        0,
    );
    println!(
        "\n1 GiB bomb: peak RSS {:.1} MB, {:.1} MB above the one-small-report run (max_decrypted_size 32 MiB)",
        rss as f64 / 1024.0,
        rss.saturating_sub(base) as f64 / 1024.0
    );
}

/// Exim for the `answered` rows: it accepts into its queue and delivers
/// nothing (no delivery process per message, no queue runs), so what is
/// measured is acceptance; submission port with AUTH PLAIN as
/// security@example.test, which may send to any address.
///
/// `BENCH_STACK_TMPFS=1` puts the mail stack (Exim's spool among it) in
/// /dev/shm: no disk under the MTA (this VM's virtual disk takes ~0.8 ms per
/// fsync, and Exim syncs every message it accepts).
fn accepting_stack() -> Stack {
    let env = [("MAILSTACK_EXIM_QUEUE_ONLY", "1"), ("MAILSTACK_ALLOW_PLAIN_AUTH", "1")];
    match std::env::var("BENCH_STACK_TMPFS").as_deref() {
        Ok("1") => {
            let dir = tempfile::Builder::new()
                .prefix("bench-stack")
                .tempdir_in("/dev/shm")
                .unwrap();
            Stack::start_in(dir.keep(), &env)
        }
        _ => Stack::start_with(&env),
    }
}

/// How many mails Exim logged as accepted (`<=` lines).
fn exim_accepted(stack: &Stack) -> usize {
    std::fs::read_to_string(stack.dir.join("log/exim.out"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" <= "))
        .count()
}

/// The config for the `answered` rows: SMTP through the submission port
/// with AUTH (`BENCH_SMTP_CONNECTIONS` sets `smtp.connections`).
fn answering_config(stack: &Stack, dir: &Path) -> PathBuf {
    let cfg = config(stack, dir, stack.port("SUBMISSION"), &[]);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    let conns = std::env::var("BENCH_SMTP_CONNECTIONS")
        .map(|v| format!("connections = {v}\n"))
        .unwrap_or_default();
    text = text.replace(
        "retry_max_secs = 2\n",
        &format!("retry_max_secs = 2\nuser = \"security@example.test\"\npassword_file = \"pw\"\n{conns}"),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A backlog of `n` new reports from distinct senders, waiting
/// in the mailbox when `embargo run` starts, answered end to end (every
/// acknowledgement accepted by Exim), next to a minimal SMTP client sending
/// the same acknowledgements to the same Exim.
fn answered(n: usize) {
    println!(
        "\nBacklog answered: {n} new reports from distinct senders in the mailbox when `embargo run` starts; \
         done when every acknowledgement has Exim's 250 (Exim accepting into its queue, AUTH on the submission port)\n\n\
         | who | how | mails | ingested at | answered at | rate | check |\n|---|---|---|---|---|---|---|"
    );
    let stack = accepting_stack();
    let dir = tempfile::tempdir().unwrap();
    let cfg = answering_config(&stack, dir.path());
    stack.backlog(&(0..n).map(plain).collect::<Vec<_>>());
    let bin = bench_bin(dir.path());
    // `BENCH_PERF=FILE` records the whole machine (`perf record -a -g`)
    // from the daemon's start until the last acknowledgement is accepted.
    let perf = std::env::var("BENCH_PERF").ok().map(|out| {
        let p = Command::new("perf")
            .args(["record", "-a", "-g", "-F", "999", "-o", &out])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        p
    });
    let busy_before = machine_busy_secs();
    let start = Instant::now();
    let mut child = daemon(&bin, &cfg);
    let db_path = dir.path().join("db.sqlite3");
    let (mut ingested_at, mut sent_then, mut peak_rss) = (None, 0, 0);
    let mut db: Option<rusqlite::Connection> = None;
    let answered_at = loop {
        std::thread::sleep(Duration::from_millis(50));
        peak_rss = peak_rss.max(rss_kb(child.id()));
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "backlog not answered within 300 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "daemon exited");
        if db.is_none() && db_path.exists() {
            db = rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
        }
        let Some(db) = &db else { continue };
        let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap_or(0) };
        let t = start.elapsed().as_secs_f64();
        // Every outbox row here is an acknowledgement (no team configured);
        // `state = 'sent'` is answered from an index, so polling stays cheap.
        let sent = q("SELECT count(*) FROM outbox WHERE state = 'sent'");
        // Taken in: the IMAP position is past the last of the backlog's
        // UIDs (1..=n in a fresh mailbox). One row; counting `messages`
        // scanned the whole table (and its raw mail) 20 times a second,
        // CPU the daemon and Exim were competing for.
        if ingested_at.is_none() && q("SELECT coalesce(max(last_uid), 0) FROM sync_state") as usize >= n {
            ingested_at = Some(t);
            sent_then = sent;
        }
        if sent as usize >= n {
            break t;
        }
    };
    drop(db);
    let busy = machine_busy_secs() - busy_before;
    let own = process_cpu_secs(child.id());
    // Idle after the backlog: what the daemon keeps while it waits in IDLE
    // (5 s after, and 15 s after: tokio lets idle blocking threads go after
    // 10 s).
    std::thread::sleep(Duration::from_secs(5));
    let idle_rss = rss_kb(child.id());
    std::thread::sleep(Duration::from_secs(10));
    let later_rss = rss_kb(child.id());
    let later_anon = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", child.id()))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Anonymous:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    if let Some(mut p) = perf {
        let _ = Command::new("kill").args(["-INT", &p.id().to_string()]).status();
        let _ = p.wait();
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    println!(
        "| | CPU while it ran: embargo {own:.2} s, everything else (Exim, Dovecot, this benchmark's polling) {:.2} s, of {:.2} s available on {} cores | | | | | |",
        busy - own,
        answered_at * cores() as f64,
        cores()
    );
    let attempts = q("SELECT coalesce(sum(attempts), 0) FROM outbox");
    let accepted = exim_accepted(&stack);
    let conns = std::env::var("BENCH_SMTP_CONNECTIONS").unwrap_or_else(|_| "default".into());
    println!(
        "| embargo | `embargo run`, smtp.connections = {conns} | {n} | {:.2} s ({sent_then} acks sent by then) | {answered_at:.2} s | {:.0} reports/s | \
         {} acks sent in {attempts} attempts, Exim logged {accepted} accepted; peak RSS {} MB, idle RSS {:.1} MB 5 s after, {:.1} MB 15 s after ({:.1} MB of it anonymous, the rest the binary's and libraries' pages) |",
        ingested_at.unwrap_or(answered_at),
        n as f64 / answered_at,
        q("SELECT count(*) FROM outbox WHERE state = 'sent'"),
        peak_rss / 1024,
        idle_rss as f64 / 1024.0,
        later_rss as f64 / 1024.0,
        later_anon as f64 / 1024.0,
    );
    // The same acknowledgements through a minimal client, on a fresh Exim
    // each time (an Exim queue of thousands of files is not the same Exim).
    let mut stmt = db
        .prepare("SELECT envelope_from, recipient, raw FROM outbox WHERE kind = 'ack' ORDER BY id")
        .unwrap();
    let mails: Vec<common::smtp::Mail> = stmt
        .query_map([], |r| {
            Ok(common::smtp::Mail {
                from: r.get(0)?,
                to: vec![r.get(1)?, "security@example.test".into()],
                raw: r.get(2)?,
            })
        })
        .unwrap()
        .map(|m| m.unwrap())
        .collect();
    let raw_runs: &[(usize, bool)] = match std::env::var("BENCH_RAW").as_deref() {
        Ok("0") => &[],
        // `BENCH_RAW=8`: only the 8-connection rows (embargo's default).
        Ok("8") => &[(8, false), (8, true)],
        _ => &[
            (1, false),
            (1, true),
            (4, false),
            (4, true),
            (8, false),
            (8, true),
            (16, false),
        ],
    };
    for &(conns, pipelined) in raw_runs {
        let stack = accepting_stack();
        let wall = common::smtp::send_all(
            stack.port("SUBMISSION"),
            Some(("security@example.test", "security-pw")),
            &mails,
            conns,
            pipelined,
            1000,
        )
        .as_secs_f64();
        println!(
            "| minimal client | {conns} connection{}, {} | {} | | {wall:.2} s | {:.0} mails/s | Exim logged {} accepted |",
            if conns > 1 { "s" } else { "" },
            if pipelined {
                "pipelined"
            } else {
                "one command at a time"
            },
            mails.len(),
            mails.len() as f64 / wall,
            exim_accepted(&stack)
        );
    }
}

/// CPU seconds the whole machine spent busy so far (/proc/stat: all but idle and iowait).
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    (total - v[3] - v[4]) / 100.0
}

/// User + system CPU seconds of one process so far.
fn process_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // After the command name: state is field 3; utime and stime are 14 and 15.
    (f.get(10).copied().unwrap_or(0.0) + f.get(11).copied().unwrap_or(0.0)) / 100.0
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
