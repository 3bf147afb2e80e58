//! Publishing where the world reads advisories: the CVE record through CVE
//! Services and the repository advisory through GitHub, against stubs
//! written from the APIs' own descriptions (tests/stubs/: every request is
//! checked against the API's request schemas, every answer against its
//! response schemas), each stub also driven by an independent client
//! (`cvelib`, `githubkit`). Attacks on idempotency: an answer lost after
//! the server acted, a kill -9 between the answer and embargo's write, a
//! publication before disclosure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "cve-api-key-3f1b";
const TOKEN: &str = "github-token-9c2e";
const REPO: &str = "example/chat-server";

fn tools() -> PathBuf {
    PathBuf::from(std::env::var("EMBARGO_TOOLS").unwrap_or_else(|_| "/opt/embargo-tools".to_owned()))
}

/// A stub API (tests/stubs/NAME.py) on a loopback port; killed on drop.
pub struct Stub {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Stub {
    pub fn start(script: &str, args: &[&str]) -> Stub {
        let dir = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = Command::new(tools().join("bin/python"))
            .arg(repo().join("tests/stubs").join(script))
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the stubs' Python (scripts/install-deps)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT=")
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}"))
            .parse()
            .unwrap();
        Stub { child, port, dir }
    }

    pub fn cve() -> Stub {
        Stub::start(
            "cve_services.py",
            &["--org", "example", "--user", "cna@example.test", "--key", KEY],
        )
    }

    pub fn github() -> Stub {
        Stub::start("github.py", &["--repo", REPO, "--token", TOKEN])
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn state(&self) -> Value {
        std::fs::read_to_string(self.dir.path().join("state.json"))
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(Value::Null)
    }

    /// Every request so far: method, path, query, status, body.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// How many requests `METHOD path` (a prefix) there were.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["method"] == method && r["path"].as_str().unwrap().starts_with(path))
            .count()
    }

    /// The next matching request acts, then answers 500 (or, with
    /// `500-before`, answers 500 without acting).
    pub fn fault(&self, line: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path().join("faults"))
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }

    /// The stub's own complaints (an answer that broke the description);
    /// not a client closing its kept-alive connection as it exits.
    pub fn complaints(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" stub: "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(cve: Option<&Stub>, github: Option<&Stub>, reserve_on_triage: bool) -> String {
    let mut t = String::new();
    if let Some(c) = cve {
        t.push_str(&format!(
            "\n[cve]\napi_url = \"{}/api\"\norg = \"example\"\nuser = \"cna@example.test\"\n\
             api_key_file = \"cve.key\"\nreserve_on_triage = {reserve_on_triage}\n",
            c.url()
        ));
    }
    if let Some(g) = github {
        t.push_str(&format!(
            "\n[github]\napi_url = \"{}\"\ntoken_file = \"github.token\"\nrepository = \"{REPO}\"\n",
            g.url()
        ));
    }
    t
}

pub fn setup_with(extra: &str) -> Setup {
    let s = Setup::with(Options {
        extra: format!(
            "\n[advisory]\npublisher = \"Example Security Team\"\nvendor = \"Example\"\n\
             url = \"https://example.test/advisories/{{id}}\"\n{extra}"
        ),
        ..Options::default()
    });
    secret(s.dir.path(), "cve.key", KEY);
    secret(s.dir.path(), "github.token", TOKEN);
    s
}

fn secret(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    std::fs::set_permissions(dir.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A report taken in; its tracking id.
fn report_in(s: &Setup, n: usize, subject: &str) -> String {
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report(&format!("pub{n}@example.test"), subject, "Steps: set the topic."),
    );
    s.stack.wait_for(SECURITY, &format!("<pub{n}@example.test>"), WAIT);
    s.once();
    s.reports().into_iter().find(|r| r["subject"] == subject).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The team's advisory, naming `cve` when given.
fn advisory(cve: Option<&str>) -> String {
    format!(
        "title = \"Stored XSS in room topics\"\nsummary = \"A room topic can run script in other members' clients.\"\n\
         details = \"\"\"\nSECRET-DETAIL-7a1c: set the topic to `<img src=x onerror=alert(1)>`.\n\"\"\"\n{}\
         cwe = [\"CWE-79\"]\ncvss_v3 = \"CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:L/A:N\"\n\n\
         [[affected]]\necosystem = \"PyPI\"\npackage = \"chat-server\"\nintroduced = \"1.0.0\"\nfixed = \"1.99.1\"\n\n\
         [[references]]\ntype = \"FIX\"\nurl = \"https://example.test/commit/abc\"\n",
        cve.map(|c| format!("cve = \"{c}\"\n")).unwrap_or_default()
    )
}

fn import(s: &Setup, id: &str, text: &str) {
    let file = s.dir.path().join(format!("{id}.toml"));
    std::fs::write(&file, text).unwrap();
    ok(s.embargo(&["advisory", "import", id, file.to_str().unwrap()]));
}

/// The CNA container of a record, validated by cvelib's own schema check.
fn cvelib_validates(container: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(container).unwrap()).unwrap();
    crate::advisory::check("cve", file.path()).unwrap_or_else(|e| panic!("cvelib: {e}\n{container:#}"));
}

/// The whole path of the issue: triaged (an id reserved by
/// reserve_on_triage), fixed, the advisory edited, a GitHub draft (no
/// details while the details clock runs), a CVE asked of GitHub (it has
/// one already), disclosed, the record published and the GitHub advisory
/// published; one record and one advisory, their contents valid; the hall
/// of fame links the published CVE.
#[test]
fn from_triage_to_the_cve_record_and_the_github_advisory() {
    let (cve, gh) = (Stub::cve(), Stub::github());
    let s = setup_with(&config(Some(&cve), Some(&gh), true));
    let id = report_in(&s, 1, "XSS in room topics");
    let triaged = ok(s.embargo(&["reports", "state", &id, "triaged"]));
    assert!(triaged.contains("reserved CVE-2026-1000"), "{triaged}");
    let doc = ok(s.embargo(&["advisory", "show", &id]));
    assert!(doc.contains("cve = \"CVE-2026-1000\""), "{doc}");
    ok(s.embargo(&["reports", "credit", &id, "--name", "Rita Researcher"]));
    ok(s.embargo(&["reports", "fixed", &id]));
    import(&s, &id, &advisory(Some("CVE-2026-1000")));

    // Not disclosed: the record would be public, so nothing is sent.
    let early = failed(s.embargo(&["cve", "publish", &id]));
    assert!(
        early.contains("not disclosed yet") && early.contains("--force"),
        "{early}"
    );
    assert_eq!(cve.count("POST", "/cve/"), 0);
    let early = failed(s.embargo(&["advisory", "publish", &id, "--to", "github", "--publish"]));
    assert!(early.contains("not disclosed yet"), "{early}");
    assert!(gh.requests().is_empty());

    // A private draft, without the details the details clock holds back.
    let draft = ok(s.embargo(&["advisory", "publish", &id, "--to", "github"]));
    assert!(draft.contains("created a draft"), "{draft}");
    let advisories = gh.state()["advisories"].as_object().unwrap().clone();
    assert_eq!(advisories.len(), 1);
    let (ghsa, a) = advisories.iter().next().unwrap();
    assert_eq!(a["state"], "draft");
    assert_eq!(a["cve_id"], "CVE-2026-1000");
    assert!(!a["description"].as_str().unwrap().contains("SECRET-DETAIL"), "{a:#}");
    assert!(ok(s.embargo(&["advisory", "show", &id])).contains(&format!("ghsa = \"{ghsa}\"")));
    let asked = ok(s.embargo(&["advisory", "publish", &id, "--to", "github", "--request-cve"]));
    assert!(asked.contains("has CVE-2026-1000 already"), "{asked}");
    assert_eq!(
        gh.count("POST", &format!("/repos/{REPO}/security-advisories/{ghsa}/cve")),
        0
    );

    // Disclosed: both published.
    ok(s.embargo(&["reports", "disclosed", &id]));
    let digest = ok(s.embargo(&["digest", "--dry-run"]));
    assert!(
        digest.contains(&format!(
            "CVE-2026-1000 is reserved, not published: `embargo cve publish {id}`"
        )),
        "{digest}"
    );
    let published = ok(s.embargo(&["cve", "publish", &id]));
    assert!(published.contains("CVE-2026-1000 is published"), "{published}");
    let public = ok(s.embargo(&["advisory", "publish", &id, "--to", "github", "--publish"]));
    assert!(public.contains("is published on GitHub"), "{public}");

    let state = cve.state();
    let records = state["records"].as_object().unwrap();
    assert_eq!(records.len(), 1, "one record");
    let record = &records["CVE-2026-1000"];
    assert_eq!(record["cveMetadata"]["state"], "PUBLISHED");
    cvelib_validates(&record["containers"]["cna"]);
    // Disclosed, but the details clock (30 days after the fix) still runs.
    let description = record["containers"]["cna"]["descriptions"][0]["value"]
        .as_str()
        .unwrap();
    assert!(
        !description.contains("SECRET-DETAIL") && description.contains("Technical details will be published"),
        "{record:#}"
    );
    assert_eq!(cve.count("POST", "/cve-id"), 1, "one reservation");
    assert_eq!(cve.count("POST", "/cve/CVE-2026-1000/cna"), 1, "one creation");
    let advisories = gh.state()["advisories"].as_object().unwrap().clone();
    assert_eq!(advisories.len(), 1, "one advisory");
    assert_eq!(advisories[ghsa]["state"], "published");
    assert_eq!(gh.count("POST", &format!("/repos/{REPO}/security-advisories")), 1);
    // Only lookups may miss (a record is looked up before it is created).
    for r in cve.requests().iter().chain(gh.requests().iter()) {
        let status = r["status"].as_u64().unwrap();
        assert!(
            status < 400 || (r["method"] == "GET" && status == 404),
            "refused: {r:#}"
        );
    }
    assert!(cve.complaints().is_empty() && gh.complaints().is_empty());

    let shown = ok(s.embargo(&["reports", "show", &id]));
    assert!(shown.contains("CVE:          CVE-2026-1000 PUBLISHED"), "{shown}");
    assert!(shown.contains(&format!("GitHub:       {ghsa} published")), "{shown}");
    assert!(shown.contains("POST /cve-id?amount=1"), "the timeline: {shown}");
    let md = ok(s.embargo(&["hall-of-fame", "--format", "md"]));
    assert!(md.contains("Rita Researcher") && md.contains("CVE-2026-1000"), "{md}");
    let status: Value = serde_json::from_str(&ok(s.embargo(&["cve", "status", "--json"]))).unwrap();
    assert_eq!(status["ids"][0]["state"], "PUBLISHED", "{status:#}");
}

/// The server acts and the answer is lost (a 500 after it reserved,
/// published, created), or embargo is killed between the answer and its
/// own write: the next step finds what the server made; nothing is made
/// twice, every report ends up with its own id and advisory.
#[test]
fn a_lost_answer_or_a_kill_never_makes_a_second_id_record_or_advisory() {
    let (cve, gh) = (Stub::cve(), Stub::github());
    let s = setup_with(&config(Some(&cve), Some(&gh), false));
    let a = report_in(&s, 1, "First finding");
    let b = report_in(&s, 2, "Second finding");

    // 500 after the reservation: found among the account's ids.
    cve.fault("POST /cve-id 500-after");
    let out = ok(s.embargo(&["cve", "reserve", &a]));
    assert!(
        out.contains("CVE-2026-1000") && out.contains("answer was lost"),
        "{out}"
    );
    assert_eq!(cve.state()["ids"].as_object().unwrap().len(), 1);

    // Killed between the answer and the write: the next run repairs.
    let killed = s.embargo_env(&["cve", "reserve", &b], &[("EMBARGO_FAULT_ABORT_AT", "cve-reserved")]);
    assert!(killed.status.code().is_none(), "killed: {killed:?}");
    assert_eq!(
        cve.state()["ids"].as_object().unwrap().len(),
        2,
        "the server reserved one"
    );
    let status = ok(s.embargo(&["cve", "status"]));
    assert!(
        status.lines().any(|l| l.starts_with("CVE-2026-1001") && l.contains(&b)),
        "{status}"
    );
    let again = ok(s.embargo(&["cve", "reserve", &b]));
    assert!(again.contains("holds CVE-2026-1001 already"), "{again}");
    assert_eq!(cve.count("POST", "/cve-id"), 2, "no third reservation");
    let doc = ok(s.embargo(&["advisory", "show", &b]));
    assert!(doc.contains("cve = \"CVE-2026-1001\""), "{doc}");

    // 500 after the record was created: looked up, not created again.
    import(&s, &a, &advisory(Some("CVE-2026-1000")));
    cve.fault("POST /cve/CVE-2026-1000/cna 500-after");
    let out = ok(s.embargo(&["cve", "publish", &a, "--force", "the fix shipped early"]));
    assert!(out.contains("CVE-2026-1000 is published"), "{out}");
    assert_eq!(cve.count("POST", "/cve/CVE-2026-1000/cna"), 1);
    let shown = ok(s.embargo(&["reports", "show", &a]));
    assert!(
        shown.contains("forced: the fix shipped early"),
        "the reason is recorded: {shown}"
    );

    // GitHub: 500 after the draft was made, and a kill after the answer.
    gh.fault(&format!("POST /repos/{REPO}/security-advisories 500-after"));
    let out = ok(s.embargo(&["advisory", "publish", &a, "--to", "github"]));
    assert!(out.contains("found the draft"), "{out}");
    import(
        &s,
        &b,
        &advisory(Some("CVE-2026-1001")).replace("XSS in room topics", "XSS in room names"),
    );
    let killed = s.embargo_env(
        &["advisory", "publish", &b, "--to", "github"],
        &[("EMBARGO_FAULT_ABORT_AT", "ghsa-created")],
    );
    assert!(killed.status.code().is_none(), "killed: {killed:?}");
    let out = ok(s.embargo(&["advisory", "publish", &b, "--to", "github"]));
    assert!(out.contains("found among the repository's drafts"), "{out}");
    let advisories = gh.state()["advisories"].as_object().unwrap().clone();
    assert_eq!(advisories.len(), 2, "one each: {advisories:#?}");
    assert_eq!(gh.count("POST", &format!("/repos/{REPO}/security-advisories")), 2);
    assert!(cve.complaints().is_empty() && gh.complaints().is_empty());
}

/// Mistakes are explained: the key and the file to check on a refused
/// login, the dry run shows the exact request without the secret and
/// sends nothing, a rejected id leaves the advisory, a missing table is
/// named.
#[test]
fn credentials_dry_runs_rejections_and_missing_tables_in_plain_words() {
    let (cve, gh) = (Stub::cve(), Stub::github());
    let s = setup_with(&config(Some(&cve), Some(&gh), false));
    let id = report_in(&s, 1, "A finding");

    let dry = ok(s.embargo(&["cve", "reserve", &id, "--dry-run"]));
    assert!(
        dry.contains(&format!(
            "POST {}/api/cve-id?amount=1&cve_year=2026&short_name=example",
            cve.url()
        )),
        "{dry}"
    );
    assert!(
        dry.contains("CVE-API-KEY: (the secret in") && !dry.contains(KEY),
        "{dry}"
    );
    assert!(cve.requests().is_empty(), "a dry run sends nothing");

    ok(s.embargo(&["cve", "reserve", &id]));
    let quota = ok(s.embargo(&["cve", "quota"]));
    assert!(quota.contains("1 of 100 ids reserved, 99 available"), "{quota}");
    // Rate limited once: waited out as Retry-After asks.
    cve.fault("GET /cve-id/CVE-2026-1000 429-before");
    let status = ok(s.embargo(&["cve", "status"]));
    assert!(status.contains("RESERVED"), "{status}");
    let statuses: Vec<u64> = (cve.requests().iter())
        .filter(|r| r["path"] == "/cve-id/CVE-2026-1000")
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [429, 200]);
    let rejected = ok(s.embargo(&["cve", "reject", &id, "--reason", "A duplicate of CVE-2026-0999."]));
    assert!(rejected.contains("CVE-2026-1000 is rejected"), "{rejected}");
    assert!(!ok(s.embargo(&["advisory", "show", &id])).contains("cve ="));
    assert_eq!(
        cve.state()["records"]["CVE-2026-1000"]["cveMetadata"]["state"],
        "REJECTED"
    );
    let again = ok(s.embargo(&["cve", "reserve", &id]));
    assert!(
        again.contains("reserved CVE-2026-1001"),
        "a rejected id is not held: {again}"
    );

    secret(s.dir.path(), "cve.key", "a-wrong-key");
    let refused = failed(s.embargo(&["cve", "quota"]));
    assert!(
        refused.contains("did not accept the credentials (HTTP 401")
            && refused.contains("cve.user (cna@example.test)")
            && refused.contains("cve.key"),
        "{refused}"
    );
    assert!(
        !refused.contains("a-wrong-key") && !refused.contains("Error {"),
        "{refused}"
    );

    secret(s.dir.path(), "github.token", "a-wrong-token");
    import(&s, &id, &advisory(None));
    let refused = failed(s.embargo(&["advisory", "publish", &id, "--to", "github"]));
    assert!(
        refused.contains("GitHub did not accept the credentials (HTTP 401") && refused.contains("github.token"),
        "{refused}"
    );
    secret(s.dir.path(), "github.token", TOKEN);
    import(
        &s,
        &id,
        &format!("github_repository = \"example/elsewhere\"\n{}", advisory(None)),
    );
    let missing = failed(s.embargo(&["advisory", "publish", &id, "--to", "github"]));
    assert!(
        missing.contains("GitHub does not know the repository example/elsewhere (HTTP 404"),
        "{missing}"
    );

    // A dry run needs no secret; anything else names the missing file.
    std::fs::remove_file(s.dir.path().join("cve.key")).unwrap();
    let dry = ok(s.embargo(&["cve", "reject", &id, "--reason", "x", "--dry-run"]));
    assert!(dry.contains("POST ") && dry.contains("/reject"), "{dry}");
    let missing = failed(s.embargo(&["cve", "reject", &id, "--reason", "x"]));
    assert!(
        missing.contains("cve.api_key_file") && missing.contains("cve.key not found"),
        "{missing}"
    );
    let dry = ok(s.embargo(&["advisory", "publish", &id, "--to", "github", "--dry-run"]));
    assert!(
        dry.contains(&format!(
            "POST {}/repos/example/elsewhere/security-advisories",
            gh.url()
        )) && dry.contains("Authorization: (the secret in")
            && !dry.contains(TOKEN),
        "{dry}"
    );

    let bare = setup_with(
        "\n[cve]\napi_url = \"http://127.0.0.1:9/api\"\norg = \"example\"\nuser = \"u\"\napi_key_file = \"cve.key\"\n",
    );
    let refused = failed(bare.embargo(&["cve", "quota"]));
    assert!(
        refused.contains("the connection was refused: check cve.api_url"),
        "{refused}"
    );
    let none = failed(bare.embargo(&["advisory", "publish", &id, "--to", "github"]));
    assert!(none.contains("no [github] table"), "{none}");
    assert_eq!(cve.complaints(), "");
    assert_eq!(gh.complaints(), "");
}

/// Without a CNA account: GitHub assigns the CVE id. Requested once, read
/// back by `advisory sync` into the advisory; a second request is not sent.
#[test]
fn a_cve_id_requested_from_github_comes_back_into_the_advisory() {
    let gh = Stub::github();
    let s = setup_with(&config(None, Some(&gh), false));
    let id = report_in(&s, 1, "A finding");
    ok(s.embargo(&["reports", "state", &id, "triaged"]));
    import(&s, &id, &advisory(None));
    let out = ok(s.embargo(&["advisory", "publish", &id, "--to", "github", "--request-cve"]));
    assert!(out.contains("a CVE id is requested from GitHub"), "{out}");
    let synced = ok(s.embargo(&["advisory", "sync", &id]));
    assert!(synced.contains("CVE-2026-5001"), "{synced}");
    assert!(ok(s.embargo(&["advisory", "show", &id])).contains("cve = \"CVE-2026-5001\""));
    let out = ok(s.embargo(&["advisory", "publish", &id, "--to", "github", "--request-cve"]));
    assert!(out.contains("has CVE-2026-5001 already"), "{out}");
    let ghsa = gh.state()["advisories"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        gh.count("POST", &format!("/repos/{REPO}/security-advisories/{ghsa}/cve")),
        1
    );
}

/// The stubs are not confirmed by embargo alone: PyPI's cvelib and
/// githubkit, independent clients of the same APIs, drive them too.
#[test]
fn the_stubs_agree_with_independent_clients() {
    for (stub, script, args) in [
        (Stub::cve(), "cvelib_check.py", vec!["example", "cna@example.test", KEY]),
        (Stub::github(), "githubkit_check.py", vec![REPO, TOKEN]),
    ] {
        let url = if script.starts_with("cvelib") {
            format!("{}/api", stub.url())
        } else {
            stub.url()
        };
        let out = Command::new(tools().join("bin/python"))
            .arg(repo().join("tests/stubs").join(script))
            .arg(&url)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stub.complaints().is_empty(), "{}", stub.complaints());
    }
}

/// `reserve_on_triage` when the team's own mail (authenticated by DMARC at
/// our MTA) moves a report to triaged: the daemon's run reserves the id.
/// When CVE Services fails, the state change stands, the report waits for
/// its id and the digest says so; a forged team mail reserves nothing.
#[test]
fn the_teams_mail_triages_and_the_daemon_reserves_the_id() {
    let cve = Stub::cve();
    let s = setup_with(&format!(
        "\n[team]\nmembers = [\"team@example.test\"]\nnotify = [\"team@example.test\"]\n\n\
         [trust]\nauthserv_id = \"mail.example.test\"\n{}",
        config(Some(&cve), None, true)
    ));
    let a = report_in(&s, 1, "First finding");
    let b = report_in(&s, 2, "Second finding");
    let reply = |n: usize, id: &str, helo: &str| {
        s.stack.deliver_as(
            helo,
            "team@example.test",
            SECURITY,
            &format!(
                "From: team@example.test\r\nTo: {RESEARCHER}\r\nCc: {SECURITY}\r\nSubject: Re: [{id}] finding\r\n\
                 Message-ID: <team{n}@example.test>\r\n\r\nThanks, we are looking into it.\r\n"
            ),
        );
        s.stack.wait_for(SECURITY, &format!("<team{n}@example.test>"), WAIT);
    };
    // A forged team mail (no DMARC pass) moves nothing and reserves nothing.
    reply(1, &a, "test.example");
    s.once();
    assert_eq!(cve.count("POST", "/cve-id"), 0);
    reply(2, &a, "dmarc-pass.example");
    s.once();
    let shown = ok(s.embargo(&["reports", "show", &a]));
    assert!(shown.starts_with(&format!("{a}  [triaged]")), "{shown}");
    assert!(shown.contains("CVE:          CVE-2026-1000 RESERVED"), "{shown}");
    assert_eq!(cve.count("POST", "/cve-id"), 1);

    // CVE Services fails: the report stays triaged and waits for its id.
    cve.fault("POST /cve-id 500-before");
    reply(3, &b, "dmarc-pass.example");
    s.once();
    let r = s.reports().into_iter().find(|r| r["id"] == b.as_str()).unwrap();
    assert_eq!(r["state"], "triaged", "{r:#}");
    let status = ok(s.embargo(&["cve", "status"]));
    assert!(
        status.contains(&format!(
            "{b}: waiting for an id (cve.reserve_on_triage), 1 failed tries"
        )),
        "{status}"
    );
    let digest = ok(s.embargo(&["digest", "--dry-run"]));
    assert!(digest.contains("no CVE id yet (1 failed tries"), "{digest}");
}

/// `check-config --connect` reads from both APIs with the configured
/// credentials and explains a refusal.
#[test]
fn check_config_connect_reads_from_both_apis() {
    let (cve, gh) = (Stub::cve(), Stub::github());
    let s = setup_with(&config(Some(&cve), Some(&gh), false));
    let out = s.embargo(&["check-config", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("(organisation example, orgId ") && text.contains("the advisories of example/chat-server"),
        "{text}"
    );
    secret(s.dir.path(), "github.token", "wrong");
    let out = s.embargo(&["check-config", "--connect"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("GitHub did not accept the credentials"),
        "{err}"
    );
}
