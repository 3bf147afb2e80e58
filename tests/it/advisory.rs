//! Disclosure: the advisory kept with a report, edited through `$EDITOR`,
//! exported in every format and checked by the formats' own validators
//! (OSV and CSAF 2.0 schemas with jsonschema, CVE JSON 5 with cvelib, CVSS
//! scores against the PyPI `cvss` package), from tools `scripts/install-deps`
//! puts in `$EMBARGO_TOOLS`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::*;

const RESEARCHER: &str = "researcher@example.test";
const SECURITY: &str = "security@example.test";
const WAIT: Duration = Duration::from_secs(30);

fn tools() -> PathBuf {
    PathBuf::from(std::env::var("EMBARGO_TOOLS").unwrap_or_else(|_| "/opt/embargo-tools".to_owned()))
}

/// `check_advisory.py KIND FILE`: the validator's verdict.
pub fn check(kind: &str, file: &Path) -> Result<(), String> {
    let out = Command::new(tools().join("bin/python"))
        .arg(repo().join("tests/data/check_advisory.py"))
        .arg(kind)
        .arg(file)
        .output()
        .expect("the advisory tools (scripts/install-deps)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

const ADVISORY: &str = r#"title = "Stored XSS in room topics"
summary = "A room topic can run script in other members' clients."
details = """
## Steps
1. Set the topic to `<img src=x onerror=alert(1)>`.
"""
cve = "CVE-2027-0001"
cwe = ["CWE-79"]
cvss_v3 = "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:L/A:N"
cvss_v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:N/SC:L/SI:L/SA:N"

[[affected]]
ecosystem = "PyPI"
package = "matrix-synapse"
introduced = "1.0.0"
fixed = "1.99.1"

[[affected]]
product = "Element Web"
last_affected = "1.11.40"

[[references]]
type = "FIX"
url = "https://example.test/commit/abc"

[[credits]]
name = "Rita Researcher"
type = "FINDER"
contact = ["https://github.com/rita-r"]

[[credits]]
name = "Alex Analyst"
type = "ANALYST"
"#;

/// A scripted `$EDITOR`: the first call saves an invalid advisory (a CVSS
/// vector that does not parse); the second checks that the problems are on
/// top of the reopened file, then saves the valid one.
fn scripted_editor(dir: &Path) -> PathBuf {
    let good = dir.join("good.toml");
    std::fs::write(&good, ADVISORY).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, ADVISORY.replace("S:C/C:H/I:L/A:N", "S:C/C:H")).unwrap();
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\ncount={d}/count\nn=$(cat $count 2>/dev/null || echo 0)\necho $((n+1)) > $count\n\
             cp \"$1\" {d}/seen-$n.toml\n\
             if [ $n = 0 ]; then cat {bad} > \"$1\"; else cat {good} > \"$1\"; fi\n",
            d = dir.display(),
            bad = bad.display(),
            good = good.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

/// The report in SECURITY's inbox taken in and acknowledged, the reporter's
/// credit recorded, triaged and fixed; its tracking id.
fn acknowledged_credited_fixed(s: &Setup) -> String {
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();
    let credit = ["--name", "Rita Researcher", "--url", "https://github.com/rita-r"];
    ok(s.embargo(&[&["reports", "credit", &id][..], &credit].concat()));
    ok(s.embargo(&["reports", "state", &id, "triaged"]));
    ok(s.embargo(&["reports", "fixed", &id]));
    id
}

fn setup() -> Setup {
    Setup::with(Options {
        extra: "\n[advisory]\npublisher = \"Example Security Team\"\nnamespace = \"https://example.test\"\n\
                vendor = \"Example\"\ncna_org_id = \"8254265b-2729-46b6-b9e3-3dfca2d5bfca\"\n\
                url = \"https://example.test/advisories/{id}\"\ngithub_repo = \"example/synapse\"\n"
            .to_owned(),
        ..Options::default()
    })
}

fn embargo_env(s: &Setup, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut c = Command::new(&*BIN);
    c.arg("--config").arg(&s.config).args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.env_remove("VISUAL").output().unwrap()
}

#[test]
fn an_advisory_is_edited_and_every_export_validates_with_the_right_scores() {
    let s = setup();
    let e = |args: &[&str]| s.embargo(args);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("adv1@example.test", "Stored XSS in room topics", "Steps: ..."),
    );
    let id = acknowledged_credited_fixed(&s);

    // No advisory yet: show says how to start one.
    let out = e(&["advisory", "show", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("advisory edit"));

    // Edited through $EDITOR: invalid first, reopened with the problem on
    // top, then saved.
    let scratch = tempfile::tempdir().unwrap();
    let editor = scripted_editor(scratch.path());
    let saved = ok(embargo_env(&s, &[("EDITOR", &editor)], &["advisory", "edit", &id]));
    assert!(saved.contains("advisory saved (created)"), "{saved}");
    let first = std::fs::read_to_string(scratch.path().join("seen-0.toml")).unwrap();
    assert!(
        first.contains("title = \"Stored XSS in room topics\""),
        "draft from the report:\n{first}"
    );
    assert!(
        first.contains("name = \"Rita Researcher\""),
        "credit from the wish:\n{first}"
    );
    assert!(first.contains(&format!("# Advisory for {id}")), "{first}");
    let second = std::fs::read_to_string(scratch.path().join("seen-1.toml")).unwrap();
    assert!(second.starts_with("# NOT SAVED"), "{second}");
    assert!(
        second.contains("cvss_v3: ") && second.contains("lacks the base metric(s) I, A"),
        "{second}"
    );
    assert_eq!(ok(e(&["advisory", "show", &id])), ADVISORY);
    let shown: serde_json::Value = serde_json::from_str(&ok(e(&["advisory", "show", &id, "--json"]))).unwrap();
    assert_eq!(shown["scores"][0]["base_score"], 7.6);
    let events = ok(e(&["reports", "show", &id]));
    assert!(events.contains("advisory"), "the edit is on the timeline:\n{events}");

    // Not disclosed: only drafts.
    let out = e(&["advisory", "export", &id, "--format", "osv"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--draft"));
    assert!(ok(e(&["advisory", "export", &id, "--format", "md", "--draft"])).contains("DRAFT"));

    ok(e(&["reports", "disclosed", &id, "--notify"]));
    let told = s.stack.wait_for(RESEARCHER, "is now\npublic", WAIT);
    assert!(told.contains("https://example.test/advisories/"), "{told}");
    // (quoted-printable: `=` is `=3D`)
    assert!(
        told.contains("https://www.cve.org/CVERecord?id=3DCVE-2027-0001"),
        "{told}"
    );
    assert!(told.contains("welcome to publish"), "{told}");
    let hof = ok(e(&["hall-of-fame", "--format", "md"]));
    assert!(
        hof.contains(&format!("[CVE-2027-0001](https://example.test/advisories/{id})")),
        "the hall of fame links the advisory:\n{hof}"
    );
    let hof: serde_json::Value = serde_json::from_str(&ok(e(&["hall-of-fame", "--format", "json"]))).unwrap();
    assert_eq!(hof[0]["cve"], "CVE-2027-0001");
    let dir = s.dir.path().join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    for (format, kind) in [
        ("osv", Some("osv")),
        ("cve", Some("cve")),
        ("csaf", Some("csaf")),
        ("ghsa", None),
    ] {
        let text = ok(e(&["advisory", "export", &id, "--format", format]));
        let file = dir.join(format!("{id}.{format}.json"));
        std::fs::write(&file, &text).unwrap();
        if let Some(kind) = kind {
            check(kind, &file).unwrap_or_else(|why| panic!("{format} export is not valid:\n{why}\n{text}"));
        }
        assert!(!text.contains("DRAFT"), "{format}");
        // The details clock runs for 30 days after the fix: not yet.
        assert!(!text.contains("onerror"), "{format} carries the details early:\n{text}");
    }
    let ghsa = e(&["advisory", "export", &id, "--format", "ghsa"]);
    assert!(String::from_utf8_lossy(&ghsa.stderr).contains("gh api --method POST"));
    let ghsa: serde_json::Value = serde_json::from_slice(&ghsa.stdout).unwrap();
    assert_eq!(ghsa["credits"][0]["login"], "rita-r");
    assert!(ghsa["description"].as_str().unwrap().contains("Alex Analyst"));

    // The scores embargo wrote are those an independent calculator gives.
    let cve: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{id}.cve.json"))).unwrap()).unwrap();
    let v3 = &cve["metrics"][0]["cvssV3_1"];
    let v4 = &cve["metrics"][1]["cvssV4_0"];
    let theirs = python_scores(&[
        v3["vectorString"].as_str().unwrap(),
        v4["vectorString"].as_str().unwrap(),
    ]);
    for m in [v3, v4] {
        let want = &theirs[m["vectorString"].as_str().unwrap()];
        assert_eq!(m["baseScore"], want[0], "{m}");
        assert_eq!(m["baseSeverity"], want[1], "{m}");
    }

    // --all writes one file per disclosed report.
    let all = s.dir.path().join("all");
    ok(e(&[
        "advisory",
        "export",
        "--all",
        "--out",
        all.to_str().unwrap(),
        "--format",
        "csaf",
    ]));
    check("csaf", &all.join(format!("{id}.csaf.json"))).unwrap();
    let html = ok(e(&["advisory", "export", &id, "--format", "html"]));
    assert!(
        html.contains("Stored XSS") && !html.contains("<img"),
        "escaped:\n{html}"
    );
}

/// `{vector: [score, RATING]}` from the PyPI cvss package.
pub fn python_scores(vectors: &[&str]) -> serde_json::Value {
    let out = Command::new(tools().join("bin/python"))
        .arg(repo().join("tests/data/check_advisory.py"))
        .arg("cvss")
        .args(vectors)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_accepted_risk_needs_a_triaged_report_and_a_reason_and_tells_the_reporter() {
    let s = setup();
    let e = |args: &[&str]| s.embargo(args);
    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("risk1@example.test", "Timing leak in login", "Steps: ..."),
    );
    s.stack.wait_inbox(SECURITY, 1, WAIT);
    s.once();
    s.stack.wait_inbox(RESEARCHER, 1, WAIT);
    let id = s.reports()[0]["id"].as_str().unwrap().to_owned();

    let refused = e(&["reports", "state", &id, "accepted-risk", "--note", "x"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reachable from triaged or fixing; this report is new"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(e(&["reports", "state", &id, "triaged"]));
    // A hundred days on, a triaged report is overdue for its fix.
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 100)).to_string();
    let digest_later = || ok(s.embargo(&["digest", "--dry-run", "--now", &later]));
    assert!(digest_later().contains("fix overdue since"), "{}", digest_later());
    let no_reason = e(&["reports", "state", &id, "accepted-risk"]);
    assert!(!no_reason.status.success());
    assert!(String::from_utf8_lossy(&no_reason.stderr).contains("--note REASON"));
    assert_eq!(s.reports()[0]["state"], "triaged", "nothing changed");

    ok(e(&[
        "reports",
        "state",
        &id,
        "accepted-risk",
        "--note",
        "the timing difference is below network jitter",
        "--notify",
    ]));
    let told = s.stack.wait_for(RESEARCHER, "accept the risk", WAIT);
    assert!(
        told.contains("below network jitter"),
        "the reason goes to the reporter:\n{told}"
    );
    assert!(told.contains(&format!("[{id}]")), "threaded by its tag:\n{told}");
    let r = &s.reports()[0];
    assert_eq!(r["state"], "accepted-risk");
    let status: serde_json::Value = serde_json::from_slice(&e(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["reports_by_state"]["accepted-risk"], 1);
    assert_eq!(status["overdue_fix"], 0);
    assert!(
        !digest_later().contains("fix overdue"),
        "the fix clock stopped: never overdue\n{}",
        digest_later()
    );
    ok(e(&["reports", "disclose-on", &id, "2026-12-20"]));
}

const DISTRO_A: &str = "packager@distro-a.test";
const DISTRO_B: &str = "packager@distro-b.test";

/// A downstream packager's reply, signed as a whole (PGP/MIME) with their key.
fn signed_ack(g: &crate::gpg::Gpg, fpr: &str, message_id: &str, in_reply_to: &str, subject: &str) -> String {
    let entity = "Content-Type: text/plain; charset=utf-8\r\n\r\nReceived, thanks: we will hold our update until the release.\r\n";
    let sig = g.ok(
        &["--armor", "--detach-sign", "--digest-algo", "SHA256", "-u", fpr],
        entity.as_bytes(),
    );
    format!(
        "From: {DISTRO_A}\r\nTo: {SECURITY}\r\nSubject: Re: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         In-Reply-To: {in_reply_to}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
         --S\r\n{entity}\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\n{}\r\n--S--\r\n",
        String::from_utf8_lossy(&sig).replace('\n', "\r\n")
    )
}

/// The whole flow of the disclosure issue against the real servers: report
/// → triaged → fixed → advisory edited through a scripted $EDITOR →
/// downstream notice to two packagers (the keyed one decrypts it with gpg;
/// the one without a key is refused) → a packager's reply shows as
/// acknowledged (a forged one does not) → disclosed with --notify → every
/// export validates, with the CVSS scores right → the hall of fame links
/// the CVE.
#[test]
fn the_whole_disclosure_flow_with_an_embargoed_downstream_notice() {
    use crate::gpg::{Gpg, keys, write_key};
    let k = keys();
    let distro = Gpg::new();
    let distro_fpr = distro.generate(DISTRO_A, "cv25519");
    distro.import(&k.team_cv_public);
    let s = Setup::with(Options {
        extra: format!(
            "\n[advisory]\npublisher = \"Example Security Team\"\nnamespace = \"https://example.test\"\n\
             cna_org_id = \"8254265b-2729-46b6-b9e3-3dfca2d5bfca\"\nurl = \"https://example.test/advisories/{{id}}\"\n\n\
             [openpgp]\nkeys = [\"team.sec.asc\"]\n\n\
             [[downstream]]\nname = \"Distro A\"\naddress = \"{DISTRO_A}\"\nkey = \"distro-a.asc\"\n\n\
             [[downstream]]\nname = \"Distro B\"\naddress = \"{DISTRO_B}\"\n"
        ),
        stack_env: &[(
            "MAILSTACK_USERS",
            "security@example.test:security-pw researcher@example.test:researcher-pw team@example.test:team-pw \
             packager@distro-a.test:a-pw packager@distro-b.test:b-pw",
        )],
        ..Options::default()
    });
    write_key(s.dir.path(), "team.sec.asc", &k.team_cv_secret);
    std::fs::write(s.dir.path().join("distro-a.asc"), distro.export_public(&distro_fpr)).unwrap();
    let e = |args: &[&str]| s.embargo(args);

    s.stack.deliver(
        RESEARCHER,
        SECURITY,
        &report("flow1@example.test", "Stored XSS in room topics", "Steps: ..."),
    );
    let id = acknowledged_credited_fixed(&s);
    let scratch = tempfile::tempdir().unwrap();
    let editor = scripted_editor(scratch.path());
    ok(embargo_env(&s, &[("EDITOR", &editor)], &["advisory", "edit", &id]));

    // A release beyond disclosure.max_embargo_days (14) is refused.
    let far = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).strftime("%Y-%m-%d %H:%M UTC");
    let out = e(&["advisory", "notify-downstream", &id, "--release-at", &far.to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_embargo_days"),
        "{out:?}"
    );

    let release = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7))
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();
    let patch = s.dir.path().join("fix-topic-xss.patch");
    std::fs::write(&patch, "--- a/topic.py\n+++ b/topic.py\n+escape(topic)\n").unwrap();
    let out = e(&[
        "advisory",
        "notify-downstream",
        &id,
        "--release-at",
        &release,
        "--attach",
        patch.to_str().unwrap(),
    ]);
    // Distro B has no key: refused (exit 1), Distro A got it.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Distro B <{DISTRO_B}>")) && stderr.contains("--allow-cleartext"),
        "{stderr}"
    );
    let notice = s.stack.wait_inbox(DISTRO_A, 1, WAIT).remove(0);
    assert!(
        header(&notice, "Subject")
            .unwrap()
            .contains(&format!("[{id}] Embargoed security notice"))
    );
    assert!(!notice.contains("Stored XSS"), "the title travels encrypted:\n{notice}");
    let decrypted = distro.run(&["--decrypt"], crate::gpg::armored_block(&notice).as_bytes());
    assert!(
        decrypted.status.success(),
        "{}",
        String::from_utf8_lossy(&decrypted.stderr)
    );
    assert!(
        String::from_utf8_lossy(&decrypted.stderr).contains("Good signature"),
        "signed by the team key: {}",
        String::from_utf8_lossy(&decrypted.stderr)
    );
    let plain = String::from_utf8_lossy(&decrypted.stdout).replace("\r\n", "\n");
    assert!(
        plain.contains("EMBARGOED SECURITY NOTICE") && plain.contains(&release),
        "{plain}"
    );
    assert!(
        plain.contains("matrix-synapse") && plain.contains("fixed in 1.99.1") && plain.contains("HIGH"),
        "{plain}"
    );
    assert!(
        plain.contains("filename=\"fix-topic-xss.patch\""),
        "the patch is attached:\n{plain}"
    );
    assert!(!plain.contains("onerror"), "no details in the notice:\n{plain}");
    assert!(
        s.stack.inbox(DISTRO_B).is_empty(),
        "nothing to the recipient without a key"
    );

    let shown = |s: &Setup| -> serde_json::Value {
        serde_json::from_str(&ok(s.embargo(&["reports", "show", &id, "--json"]))).unwrap()
    };
    let d = shown(&s);
    assert_eq!(d["downstream"].as_array().unwrap().len(), 1);
    assert_eq!(d["downstream"][0]["name"], "Distro A");
    assert_eq!(d["downstream"][0]["encrypted"], true);
    assert_eq!(d["downstream"][0]["acknowledged_at"], serde_json::Value::Null);
    let digest = ok(e(&["digest", "--dry-run"]));
    assert!(
        digest.contains("Downstream notices under embargo") && digest.contains("no acknowledgement yet from Distro A"),
        "{digest}"
    );

    // A forged acknowledgement (their From, no signature, no DMARC) joins
    // the thread but acknowledges nothing. It brings the forger's key for
    // the packager's address; a second forged one is signed with that key:
    // neither counts (a downstream address never gets a key from mail).
    let notice_id = header(&notice, "Message-ID").unwrap();
    let subject = header(&notice, "Subject").unwrap();
    let forger = Gpg::new();
    let forger_fpr = forger.generate(DISTRO_A, "cv25519");
    s.stack.deliver(
        DISTRO_A,
        SECURITY,
        &format!(
            "From: {DISTRO_A}\r\nTo: {SECURITY}\r\nSubject: Re: {subject}\r\nMessage-ID: <ack-forged@distro-a.test>\r\n\
             In-Reply-To: {notice_id}\r\n{}\r\nack\r\n",
            crate::gpg::autocrypt(&forger, &forger_fpr, DISTRO_A)
        ),
    );
    s.stack.wait_inbox(SECURITY, 2, WAIT);
    s.once();
    s.stack.deliver(
        DISTRO_A,
        SECURITY,
        &signed_ack(
            &forger,
            &forger_fpr,
            "ack-forged-signed@distro-a.test",
            &notice_id,
            &subject,
        ),
    );
    s.stack.wait_inbox(SECURITY, 3, WAIT);
    s.once();
    let d = shown(&s);
    assert_eq!(d["downstream"][0]["acknowledged_at"], serde_json::Value::Null, "{d}");
    assert!(
        d["thread"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "downstream"),
        "joined the thread"
    );
    assert_eq!(s.reports().len(), 1, "not a report of its own");

    s.stack.deliver(
        DISTRO_A,
        SECURITY,
        &signed_ack(&distro, &distro_fpr, "ack-signed@distro-a.test", &notice_id, &subject),
    );
    s.stack.wait_inbox(SECURITY, 4, WAIT);
    s.once();
    let d = shown(&s);
    assert!(d["downstream"][0]["acknowledged_at"].is_string(), "{d}");
    assert_eq!(d["downstream"][0]["ack_auth"], "signature");
    let text = ok(e(&["reports", "show", &id]));
    assert!(
        text.contains("Distro A <packager@distro-a.test>") && text.contains("acknowledged"),
        "{text}"
    );
    let digest = ok(e(&["digest", "--dry-run"]));
    assert!(!digest.contains("no acknowledgement yet"), "{digest}");

    // The public pre-disclosure notice: clearsigned, the release time, the
    // products and the rating, no details.
    let pre = ok(e(&["advisory", "announce", &id, "--pre"]));
    assert!(pre.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"), "{pre}");
    assert!(
        pre.contains(&release) && pre.contains("matrix-synapse") && pre.contains("HIGH"),
        "{pre}"
    );
    assert!(
        !pre.contains("onerror") && !pre.contains("XSS"),
        "no details before the release:\n{pre}"
    );
    let verified = distro.run(&["--verify"], pre.as_bytes());
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    ok(e(&["reports", "disclosed", &id, "--notify"]));
    s.stack.wait_for(RESEARCHER, "is now\npublic", WAIT);
    let dir = s.dir.path().join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    for format in ["osv", "cve", "csaf"] {
        let file = dir.join(format!("{id}.{format}.json"));
        std::fs::write(&file, ok(e(&["advisory", "export", &id, "--format", format]))).unwrap();
        check(format, &file).unwrap_or_else(|why| panic!("{format}: {why}"));
    }
    let csaf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{id}.csaf.json"))).unwrap()).unwrap();
    let score = &csaf["vulnerabilities"][0]["scores"][0]["cvss_v3"];
    let theirs = python_scores(&[score["vectorString"].as_str().unwrap()]);
    assert_eq!(score["baseScore"], theirs[score["vectorString"].as_str().unwrap()][0]);
    assert_eq!(score["baseSeverity"], "HIGH");
    let hof = ok(e(&["hall-of-fame", "--format", "html"])).replace("&#x2f;", "/");
    assert!(
        hof.contains(&format!(
            "href=\"https://example.test/advisories/{id}\">CVE-2027-0001</a>"
        )),
        "{hof}"
    );
    let post = ok(e(&["advisory", "announce", &id]));
    assert!(post.contains("# Stored XSS in room topics"), "{post}");
    assert!(distro.run(&["--verify"], post.as_bytes()).status.success());
}
