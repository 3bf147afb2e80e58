//! Triage at volume against the real mail stack: similar reports (one
//! encrypted, one in German) and a near miss, a report of a published
//! advisory, needs-info with the reporter's answer (authenticated and
//! forged), and merging a later report into the first with --notify.

use std::time::Duration;

use crate::common::*;
use crate::gpg::{Gpg, keys, pgp_mime, reporter_gpg, write_key};
use crate::gpg::{autocrypt, readable};

const SECURITY: &str = "security@example.test";
const TEAM: &str = "team@example.test";
const RESEARCHER: &str = "researcher@example.test";
const WAIT: Duration = Duration::from_secs(60);

const FIRST: &str = "Synapse's URL preview follows HTTP redirects without re-checking the target against \
url_preview_ip_range_blacklist. An attacker can read cloud metadata.\r\n\r\nSteps to reproduce:\r\n\
1. Host a page at https://attacker.example/r that answers 302 to http://169.254.169.254/latest/meta-data/\r\n\
2. GET /_matrix/media/v3/preview_url?url=https://attacker.example/r\r\n\
3. The preview contains the metadata document.\r\n\r\nTested on matrix-synapse==1.98.0.\r\n\
Impact: server-side request forgery; an attacker can read IAM credentials.";

const NEAR_MISS: &str = "The URL preview downloads the whole page into memory before checking max_spider_size \
when the server sends no Content-Length.\r\n\r\nSteps to reproduce:\r\n\
1. Serve an endless chunked response at https://attacker.example/big\r\n\
2. GET /_matrix/media/v3/preview_url?url=https://attacker.example/big a few times\r\n\r\n\
Synapse 1.98.0. Impact: denial of service, the media worker runs out of memory.";

const ENCRYPTED: &str = "Hello, the homeserver's link preview (/_matrix/media/v3/preview_url) can be made to fetch \
internal addresses such as the cloud metadata service 169.254.169.254 if the previewed page redirects there. \
This is a server side request forgery; an attacker could read credentials.";

const GERMAN: &str = "Hallo,\r\n\r\ndie URL-Vorschau von Synapse folgt Weiterleitungen (302) und prüft das Ziel nicht \
erneut gegen die IP-Blacklist. Ein Angreifer kann so interne Dienste wie 169.254.169.254 abfragen.\r\n\r\n\
Schritte:\r\n1) Eine Seite bereitstellen, die auf http://169.254.169.254/latest/meta-data/ weiterleitet\r\n\
2) /_matrix/media/v3/preview_url?url=<meine Seite> aufrufen\r\n\r\nGetestet mit Synapse 1.97.0.";

const ADVISORY_REPORT: &str = "Requesting an animated thumbnail of a GIF with 5,000 frames makes matrix-media-repo \
decode every frame at full size in memory.\r\n\r\nSteps to reproduce:\r\n1. Upload a GIF with 5000 frames.\r\n\
2. GET /_matrix/media/v3/thumbnail/example.org/abc?width=96&height=96&animated=true\r\n\r\n\
Version 1.3.4. Impact: denial of service; the process is OOM-killed.";

fn plain(from: &str, id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {SECURITY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

fn show(s: &Setup, id: &str) -> serde_json::Value {
    let out = s.embargo(&["reports", "show", id, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The team's alert about `id`, decrypted.
fn alert(s: &Setup, member: &Gpg, id: &str, what: &str) -> String {
    let needle = format!("[{id}] {what}");
    let mail = s.stack.wait_for(TEAM, &needle, WAIT);
    readable(member, &mail)
}

/// The tracking id of the report with this subject.
fn id_of(s: &Setup, subject: &str) -> String {
    let reports = s.reports();
    let r = reports.iter().find(|r| r["subject"] == subject);
    r.unwrap_or_else(|| panic!("no report {subject:?} in {reports:#?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn similar_reports_advisories_needs_info_and_merge_end_to_end() {
    let k = keys();
    let member = Gpg::new();
    let member_fpr = member.generate(TEAM, "cv25519");
    let s = Setup::with(Options {
        extra: format!(
            "\n[team]\nmembers = [\"{TEAM}\"]\nnotify = [\"{TEAM}\"]\nkeys = [\"member.asc\"]\n\n\
             [openpgp]\nkeys = [\"team.sec.asc\"]\n\n[trust]\nauthserv_id = \"mail.example.test\"\n\n\
             [triage]\nknown_advisories = [\"advisories\"]\nproducts = [\"synapse\", \"element\", \"matrix-media-repo\"]\n"
        ),
        stack_env: &[(
            "MAILSTACK_USERS",
            "security@example.test:security-pw researcher@example.test:researcher-pw team@example.test:team-pw \
             alice@example.test:alice-pw carla@example.test:carla-pw dave@example.test:dave-pw \
             erin@example.test:erin-pw",
        )],
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    std::fs::write(s.dir.path().join("member.asc"), member.export_public(&member_fpr)).unwrap();
    let advisories = s.dir.path().join("advisories");
    std::fs::create_dir(&advisories).unwrap();
    for f in ["GHSA-r3f7-8v2c-x4pq.json", "GHSA-2c8v-5q9w-j7hx.json"] {
        std::fs::copy(repo().join("tests/data/similar/advisories").join(f), advisories.join(f)).unwrap();
    }
    let check = s.embargo(&["check-config"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // The first report, and a near miss (the same feature, another bug).
    s.stack.deliver(
        "alice@example.test",
        SECURITY,
        &plain(
            "Alice <alice@example.test>",
            "first@example.test",
            "SSRF in Synapse URL previews via redirect to the metadata service",
            FIRST,
        ),
    );
    s.stack.deliver(
        "dave@example.test",
        SECURITY,
        &plain(
            "dave@example.test",
            "near@example.test",
            "URL previews of huge pages exhaust Synapse's memory",
            NEAR_MISS,
        ),
    );
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    s.once();
    // Dovecot numbers mail delivered in the same second in any order: the
    // reports are found by subject, not by the order they were sent.
    let first: &str = &id_of(&s, "SSRF in Synapse URL previews via redirect to the metadata service");
    let near: &str = &id_of(&s, "URL previews of huge pages exhaust Synapse's memory");

    // The same vulnerability, encrypted and signed by the researcher (their
    // key comes along), and in German.
    let reporter = reporter_gpg();
    let inner = format!(
        "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\
         Subject: Link previews can reach internal addresses\r\n\r\n{ENCRYPTED}\r\n"
    );
    let armored = reporter.ok(
        &[
            "--armor",
            "--sign",
            "--encrypt",
            "-u",
            &k.reporter_fpr,
            "-r",
            &k.team_cv_fpr,
        ],
        inner.as_bytes(),
    );
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &pgp_mime(
            &format!(
                "From: {RESEARCHER}\r\nTo: {SECURITY}\r\nSubject: ...\r\nMessage-ID: <encrypted@example.test>\r\n{}",
                autocrypt(&reporter, &k.reporter_fpr, RESEARCHER)
            ),
            &armored,
        ),
    );
    s.stack.deliver(
        "carla@example.test",
        SECURITY,
        &plain(
            "carla@example.test",
            "german@example.test",
            "SSRF über die URL-Vorschau (preview_url) in Synapse",
            GERMAN,
        ),
    );
    s.stack.wait_inbox(SECURITY, 4, WAIT);
    s.once();
    let encrypted: &str = &id_of(&s, "Link previews can reach internal addresses");
    let german: &str = &id_of(&s, "SSRF über die URL-Vorschau (preview_url) in Synapse");
    for later in [encrypted, german] {
        let out = s.embargo(&["reports", "similar", later, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let list = found.as_array().unwrap();
        assert_eq!(list[0]["id"], first, "{later}: {found:#}");
        assert_eq!(list[0]["kind"], "report");
        assert!(list[0]["score"].as_f64().unwrap() >= 0.18, "{found:#}");
        let evidence = list[0]["evidence"].as_array().unwrap();
        assert!(
            evidence.iter().any(|e| e.as_str().unwrap().contains("preview_url")),
            "{later}: evidence names the endpoint: {found:#}"
        );
        assert!(
            !list.iter().any(|x| x["id"] == near),
            "{later}: no near miss: {found:#}"
        );
        let text = alert(&s, &member, later, "New");
        let similar = text
            .split("Similar")
            .nth(1)
            .unwrap_or_else(|| panic!("{later}: {text}"));
        assert!(similar.trim_start().contains(first), "{later}: {text}");
        assert!(similar.contains("preview_url"), "{later}: the evidence: {text}");
        assert!(!similar.contains(near), "{later}: {text}");
    }
    let shown = String::from_utf8(s.embargo(&["reports", "show", german]).stdout).unwrap();
    assert!(shown.contains(&format!("Similar:      {first}")), "{shown}");

    // A report of a published advisory shows it, with the fixed version.
    s.stack.deliver(
        "erin@example.test",
        SECURITY,
        &plain(
            "erin@example.test",
            "advisory@example.test",
            "matrix-media-repo: animated thumbnails exhaust memory",
            ADVISORY_REPORT,
        ),
    );
    s.stack.wait_inbox(SECURITY, 5, WAIT);
    s.once();
    let known = show(&s, "SEC-2026-0005");
    let advisory = known["similar"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "advisory")
        .unwrap_or_else(|| panic!("{known:#}"))
        .clone();
    assert_eq!(advisory["id"], "GHSA-r3f7-8v2c-x4pq");
    assert_eq!(advisory["fixed"], "1.3.5");
    assert!(alert(&s, &member, "SEC-2026-0005", "New").contains("GHSA-r3f7-8v2c-x4pq"));
    assert!(known["missing"].as_array().unwrap().is_empty(), "{known:#}");

    // needs-info: the question goes to the reporter; the response clock
    // stops; the fix clock pauses.
    let asked = s.embargo(&[
        "reports",
        "state",
        first,
        "needs-info",
        "--note",
        "Which reverse proxy runs in front of Synapse?",
        "--notify",
    ]);
    assert!(asked.status.success(), "{}", String::from_utf8_lossy(&asked.stderr));
    let question = s.stack.wait_for(
        "alice@example.test",
        "Which reverse proxy runs in front of Synapse?",
        WAIT,
    );
    assert!(question.contains(&format!("[{first}]")), "threaded: {question}");
    let r = show(&s, first);
    assert_eq!(r["state"], "needs-info");
    assert!(r["response_met_at"].is_string(), "the response clock stopped: {r:#}");
    assert!(r["waiting_since"].is_string() && r["next_due"].is_null(), "{r:#}");

    // A forged answer: From the reporter, unsigned, no DMARC pass, citing
    // none of embargo's Message-IDs. It joins the thread and moves nothing.
    s.stack.deliver(
        "mallory@evil.example",
        SECURITY,
        &plain(
            "alice@example.test",
            "forged-answer@evil.example",
            &format!("Re: [{first}] more information"),
            "nginx, and please close this.",
        ),
    );
    s.stack.wait_inbox(SECURITY, 6, WAIT);
    s.once();
    let r = show(&s, first);
    assert_eq!(r["state"], "needs-info", "a forged answer moves nothing: {r:#}");
    assert!(r["events"].to_string().contains("not authenticated"), "{r:#}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !s.stack.inbox(TEAM).iter().any(|m| m.contains("The reporter answered")),
        "no alert for a forged answer"
    );

    // The reporter's answer, authenticated by DMARC at our MTA.
    s.stack.deliver_as(
        "dmarc-pass.example",
        "alice@example.test",
        SECURITY,
        &plain(
            "alice@example.test",
            "answer@example.test",
            &format!("Re: [{first}] more information"),
            "nginx 1.24 with proxy_pass to port 8008.",
        ),
    );
    s.stack.wait_inbox(SECURITY, 7, WAIT);
    s.once();
    let r = show(&s, first);
    assert_eq!(r["state"], "triaged", "{r:#}");
    assert!(r["waiting_since"].is_null() && r["next_due"]["clock"] == "fix", "{r:#}");
    let answered = alert(&s, &member, first, "The reporter answered");
    assert!(answered.contains("nginx 1.24"), "{answered}");

    // merge --notify: the later reporter (who asked for credit, DMARC
    // authenticated) is told, encrypted to their key, and keeps their
    // credit wish, which counts once the report is fixed.
    s.stack.deliver_as(
        "dmarc-pass.example",
        RESEARCHER,
        SECURITY,
        &plain(
            RESEARCHER,
            "credit@example.test",
            &format!("Re: [{encrypted}]"),
            "Credit: Rita Researcher",
        ),
    );
    s.stack.wait_inbox(SECURITY, 8, WAIT);
    s.once();
    assert_eq!(show(&s, encrypted)["credit_name"], "Rita Researcher");
    let before = s.stack.inbox(RESEARCHER).len();
    let merged = s.embargo(&["reports", "merge", encrypted, "--into", first, "--notify"]);
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    let mails = s.stack.wait_inbox(RESEARCHER, before + 1, WAIT);
    let told = mails
        .iter()
        .find(|m| readable(&reporter, m).contains("already known"))
        .unwrap_or_else(|| panic!("no merge notice: {mails:?}"));
    assert!(
        told.contains("-----BEGIN PGP MESSAGE-----"),
        "encrypted to the reporter's key: {told}"
    );
    assert!(readable(&reporter, told).contains(first), "names the report it joined");
    assert_eq!(show(&s, encrypted)["credit_name"], "Rita Researcher", "the wish stays");
    assert_eq!(show(&s, first)["merged"][0]["credit_name"], "Rita Researcher");
    let shown = String::from_utf8(s.embargo(&["reports", "show", first]).stdout).unwrap();
    assert!(
        shown.contains(&format!(
            "Merged here:  {encrypted} from {RESEARCHER}, credit as Rita Researcher"
        )),
        "{shown}"
    );
    let fixed = s.embargo(&["reports", "fixed", first]);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    let fame = String::from_utf8(s.embargo(&["hall-of-fame"]).stdout).unwrap();
    assert!(fame.contains("Rita Researcher"), "{fame}");
}
