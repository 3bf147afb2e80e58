use jiff::Timestamp;

use super::export::{Format, Input, export};
use super::*;
use crate::report::{ReportState, ReportSummary};

/// The example of the issue that introduced advisories (the TOML contract).
pub(crate) const EXAMPLE: &str = r#"
title = "Stored XSS in room topics"
summary = "One line for feeds."
details = """Markdown."""
cve = "CVE-2027-0001"            # optional until assigned
cwe = ["CWE-79"]
cvss_v3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"   # and/or cvss_v4
[[affected]]
ecosystem = "PyPI"               # or product = "Element Web" for non-package software
package = "matrix-synapse"
introduced = "1.0.0"
fixed = "1.99.1"                 # or last_affected
[[references]]
type = "FIX"                     # OSV reference types
url = "https://example.org/commit/abc"
[[credits]]
name = "Jane Doe"
type = "FINDER"
contact = ["https://jane.example"]
"#;

fn wish(credit: &str) -> ReporterWish {
    ReporterWish {
        credit: crate::report::Credit::from_stored(credit),
        address: "jane@example.test".to_owned(),
        name: "Jane Doe".to_owned(),
    }
}

#[test]
fn the_contract_example_parses_scores_and_round_trips() {
    let a = Advisory::parse(EXAMPLE, &wish("yes")).unwrap();
    assert_eq!(a.title, "Stored XSS in room topics");
    assert_eq!(a.affected[0].package.as_deref(), Some("matrix-synapse"));
    assert_eq!(a.references[0].kind, "FIX");
    assert_eq!(a.credits[0].kind, "FINDER");
    let s = a.scores();
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].version, s[0].base_score, s[0].rating), ("3.1", 6.1, "MEDIUM"));
    assert_eq!(Advisory::parse(&a.to_toml(), &wish("yes")).unwrap(), a);
    assert!(a.has_fix());
}

#[test]
fn every_problem_is_reported_at_once_naming_its_field() {
    let bad = r#"
title = "x"
summary = "y"
cve = "CVE-27-1"
cwe = ["79"]
cvss_v3 = "CVSS:3.1/AV:N/AC:L"
cvss_v4 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
[[affected]]
ecosystem = "pypi"
package = "synapse"
fixed = "1.2"
last_affected = "1.1"
[[affected]]
product = "Element Web"
package = "element"
[[references]]
type = "PATCH"
url = "ftp://example.org"
[[credits]]
name = "Someone"
type = "HERO"
"#;
    let Invalid(p) = Advisory::parse(bad, &wish("yes")).unwrap_err();
    let all = p.join("\n");
    for needle in [
        "cve: \"CVE-27-1\"",
        "cwe[1]: \"79\"",
        "cvss_v3: \"CVSS:3.1/AV:N/AC:L\" lacks the base metric(s) PR, UI, S, C, I, A",
        "cvss_v4: \"CVSS:3.1/",
        "affected[1].ecosystem: \"pypi\" is spelled \"PyPI\" in OSV",
        "affected[1]: fixed and last_affected exclude each other",
        "affected[2]: either ecosystem and package, or product, not both",
        "references[1].type: \"PATCH\"",
        "references[1].url: ",
        "credits[1].type: \"HERO\"",
    ] {
        assert!(all.contains(needle), "{needle:?} missing in:\n{all}");
    }
    assert_eq!(p.len(), 10, "{all}");

    let Invalid(p) = Advisory::parse("title = \"x\"\n\ntitel = \"y\"\n", &wish("")).unwrap_err();
    assert!(p[0].starts_with("line 3: unknown field `titel`"), "{p:?}");
}

#[test]
fn the_reporter_is_credited_only_as_their_wish_allows() {
    for (credit, why) in [("no", "declined credit"), ("", "has not asked for credit")] {
        let Invalid(p) = Advisory::parse(EXAMPLE, &wish(credit)).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("credits[1]: names the reporter, who ") && p[0].contains(why),
            "{p:?}"
        );
    }
    // Their address in a contact counts too.
    let by_mail = EXAMPLE.replace(
        "contact = [\"https://jane.example\"]",
        "contact = [\"mailto:Jane@Example.test\"]",
    );
    let by_mail = by_mail.replace("name = \"Jane Doe\"", "name = \"J.\"");
    assert!(Advisory::parse(&by_mail, &wish("no")).is_err());
    // Someone else may be credited whatever the reporter wished.
    let other = EXAMPLE.replace("Jane Doe", "Alex Analyst");
    assert!(Advisory::parse(&other, &wish("no")).is_ok());
}

#[test]
fn cvss_v4_is_scored() {
    let s = severity::v4("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").unwrap();
    assert_eq!((s.base_score, s.rating), (9.3, "CRITICAL"));
    assert!(severity::v4("CVSS:4.0/AV:N").unwrap_err().contains("does not parse"));
}

pub(crate) fn summary(state: ReportState, details_due: Option<&str>) -> ReportSummary {
    ReportSummary {
        id: "SEC-2026-0001".into(),
        state,
        reporter: "jane@example.test".into(),
        reporter_name: "Jane Doe".into(),
        subject: "XSS".into(),
        received_at: "2026-09-01T10:00:00Z".parse().unwrap(),
        acknowledged_at: None,
        messages: 1,
        messages_out: 1,
        excluded_topic: None,
        encrypted: false,
        signature: "none".into(),
        response_due: None,
        response_met_at: None,
        fix_due: None,
        details_due: details_due.map(|d| d.parse().unwrap()),
        response_business_days_left: None,
        reporter_waiting: false,
        complex: false,
        fixed_at: Some("2026-10-01T10:00:00Z".parse().unwrap()),
        disclosed_at: (state == ReportState::Disclosed).then(|| "2026-10-02T10:00:00Z".parse().unwrap()),
        credit: crate::report::Credit::Wanted,
        credit_name: "Jane Doe".into(),
        credit_url: "https://jane.example".into(),
        credit_proposal: None,
        merged_into: None,
        disclose_on: None,
        next_due: None,
        waiting_since: None,
        waited_secs: 0,
        missing: Vec::new(),
        last_reporter_at: None,
        last_team_at: None,
    }
}

fn cfg() -> crate::config::AdvisoryConfig {
    crate::config::AdvisoryConfig {
        publisher: "Example Security Team".into(),
        namespace: "https://example.org".into(),
        vendor: "Example".into(),
        cna_org_id: Some("8254265b-2729-46b6-b9e3-3dfca2d5bfca".into()),
        url: Some("https://example.org/advisories/{id}".into()),
        github_repo: Some("example/synapse".into()),
        md_template: None,
        html_template: None,
    }
}

fn run(format: Format, r: &ReportSummary, draft: bool, now: &str) -> Result<String, export::Error> {
    let a = Advisory::parse(EXAMPLE, &wish("yes")).unwrap();
    let cfg = cfg();
    export(
        format,
        &Input {
            tracking_id: &r.id,
            report: r,
            advisory: &a,
            updated_at: "2026-10-02T09:00:00Z",
            cfg: &cfg,
            draft,
            now: now.parse::<Timestamp>().unwrap(),
            accepted_risk: false,
            forced: false,
        },
    )
}

const ALL: [Format; 6] = [
    Format::Osv,
    Format::Cve,
    Format::Csaf,
    Format::Ghsa,
    Format::Md,
    Format::Html,
];

#[test]
fn before_disclosure_only_a_draft_and_it_says_so_everywhere() {
    let fixed = summary(ReportState::Fixed, Some("2026-10-31T10:00:00Z"));
    for f in ALL {
        let e = run(f, &fixed, false, "2026-11-30T00:00:00Z").unwrap_err();
        assert!(e.to_string().contains("not disclosed yet"), "{f:?}: {e}");
        let out = run(f, &fixed, true, "2026-11-30T00:00:00Z").unwrap();
        assert!(out.contains("DRAFT"), "{f:?} does not say DRAFT:\n{out}");
    }
    let csaf: serde_json::Value =
        serde_json::from_str(&run(Format::Csaf, &fixed, true, "2026-11-30T00:00:00Z").unwrap()).unwrap();
    assert_eq!(csaf["document"]["tracking"]["status"], "draft");
    let disclosed = summary(ReportState::Disclosed, Some("2026-10-31T10:00:00Z"));
    for f in ALL {
        let out = run(f, &disclosed, false, "2026-11-30T00:00:00Z").unwrap();
        assert!(!out.contains("DRAFT"), "{f:?}:\n{out}");
    }
}

#[test]
fn details_wait_for_the_details_clock_in_every_format() {
    let r = summary(ReportState::Disclosed, Some("2026-10-31T10:00:00Z"));
    for f in ALL {
        let early = run(f, &r, false, "2026-10-15T00:00:00Z").unwrap();
        assert!(!early.contains("Markdown."), "{f:?} leaks details:\n{early}");
        assert!(
            early.contains("2026-10-31"),
            "{f:?} does not say when details follow:\n{early}"
        );
        assert!(early.contains("1.99.1"), "{f:?} lacks the fixed version");
        let later = run(f, &r, false, "2026-11-01T00:00:00Z").unwrap();
        assert!(
            later.contains("Markdown."),
            "{f:?} has no details after the clock:\n{later}"
        );
    }
}

#[test]
fn exports_carry_the_fields_each_format_names() {
    let r = summary(ReportState::Disclosed, Some("2026-10-31T10:00:00Z"));
    let now = "2026-11-30T00:00:00Z";
    let json = |f| serde_json::from_str::<serde_json::Value>(&run(f, &r, false, now).unwrap()).unwrap();
    let osv = json(Format::Osv);
    assert_eq!(osv["id"], "x_SEC-2026-0001");
    assert_eq!(osv["aliases"][0], "CVE-2027-0001");
    assert_eq!(osv["affected"][0]["package"]["ecosystem"], "PyPI");
    assert_eq!(osv["affected"][0]["ranges"][0]["events"][1]["fixed"], "1.99.1");
    assert_eq!(osv["severity"][0]["type"], "CVSS_V3");
    let cve = json(Format::Cve);
    assert_eq!(cve["metrics"][0]["cvssV3_1"]["baseScore"], 6.1);
    assert_eq!(cve["metrics"][0]["cvssV3_1"]["baseSeverity"], "MEDIUM");
    assert_eq!(cve["affected"][0]["versions"][0]["lessThan"], "1.99.1");
    assert_eq!(cve["credits"][0]["type"], "finder");
    assert_eq!(cve["problemTypes"][0]["descriptions"][0]["cweId"], "CWE-79");
    let csaf = json(Format::Csaf);
    assert_eq!(csaf["vulnerabilities"][0]["remediations"][0]["category"], "vendor_fix");
    assert_eq!(csaf["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"], 6.1);
    let ghsa = json(Format::Ghsa);
    assert_eq!(ghsa["vulnerabilities"][0]["package"]["ecosystem"], "pip");
    assert_eq!(
        ghsa["vulnerabilities"][0]["vulnerable_version_range"],
        ">= 1.0.0, < 1.99.1"
    );
    assert_eq!(ghsa["vulnerabilities"][0]["patched_versions"], "1.99.1");
    assert_eq!(ghsa["cve_id"], "CVE-2027-0001");
    assert_eq!(
        ghsa["cvss_vector_string"],
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    );
    let html = run(Format::Html, &r, false, now).unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains("href=\"https://example.org/advisories/SEC-2026-0001\""),
        "{html}"
    );
}

#[test]
fn an_accepted_risk_says_no_fix_is_planned_in_every_format() {
    let text = EXAMPLE.replace("fixed = \"1.99.1\"", "last_affected = \"1.99.0\"");
    let a = Advisory::parse(&text, &wish("yes")).unwrap();
    assert!(!a.has_fix());
    let r = summary(ReportState::Disclosed, None);
    let cfg = cfg();
    let out = |f| {
        export(
            f,
            &Input {
                tracking_id: &r.id,
                report: &r,
                advisory: &a,
                updated_at: "2026-10-02T09:00:00Z",
                cfg: &cfg,
                draft: false,
                now: "2026-11-30T00:00:00Z".parse::<Timestamp>().unwrap(),
                accepted_risk: true,
                forced: false,
            },
        )
        .unwrap()
    };
    let json = |f| serde_json::from_str::<serde_json::Value>(&out(f)).unwrap();
    let osv = json(Format::Osv);
    let events = osv["affected"][0]["ranges"][0]["events"].as_array().unwrap().clone();
    assert_eq!(events[1]["last_affected"], "1.99.0");
    assert!(events.iter().all(|e| e.get("fixed").is_none()));
    let cve = json(Format::Cve);
    assert!(cve["affected"][0]["versions"][0].get("lessThan").is_none());
    assert_eq!(cve["affected"][0]["versions"][0]["lessThanOrEqual"], "1.99.0");
    let csaf = json(Format::Csaf);
    assert_eq!(
        csaf["vulnerabilities"][0]["remediations"][0]["category"],
        "no_fix_planned"
    );
    assert!(csaf["vulnerabilities"][0]["product_status"].get("fixed").is_none());
    assert!(out(Format::Md).contains("**The risk was accepted: no fix is planned.**"));
    assert_eq!(
        json(Format::Ghsa)["vulnerabilities"][0]["patched_versions"],
        serde_json::Value::Null
    );
}
