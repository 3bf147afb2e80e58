//! The advisory's first draft, made from what the report knows, and the
//! file `advisory edit` hands to `$EDITOR`: the document under a comment
//! block with the report's dates, the fields, and any problems of the last
//! save.

use super::{Advisory, Affected, Credit, ReporterWish};
use crate::report::ReportSummary;

/// What the report says about its reporter's wish for credit.
pub fn reporter_wish(r: &ReportSummary) -> ReporterWish {
    ReporterWish {
        credit: r.credit,
        address: r.reporter.clone(),
        name: r.reporter_name.clone(),
    }
}

/// The first draft: the title from the subject, the reporter credited as
/// FINDER only when they asked for credit, one affected entry to fill in.
pub fn from_report(r: &ReportSummary) -> Advisory {
    let mut credits = Vec::new();
    if r.credit == crate::report::Credit::Wanted && !r.credit_name.trim().is_empty() {
        credits.push(Credit {
            // A file people open in an editor: no escape sequence from mail.
            name: crate::text::printable(&r.credit_name),
            kind: "FINDER".to_owned(),
            contact: crate::text::link(&r.credit_url).into_iter().collect(),
        });
    }
    Advisory {
        title: crate::text::printable(&crate::text::bounded(&r.subject)),
        affected: vec![Affected {
            product: Some(String::new()),
            ..Affected::default()
        }],
        credits,
        ..Advisory::default()
    }
}

/// The dates a report's clocks give the advisory (exports use them too).
fn dates(r: &ReportSummary) -> Vec<String> {
    let mut out = vec![format!("received {}", r.received_at)];
    if let Some(f) = &r.fixed_at {
        out.push(format!("fixed {f}"));
    }
    if let Some(d) = &r.details_due {
        out.push(format!("details may be published from {d}"));
    }
    if let Some(d) = &r.disclose_on {
        out.push(format!("disclosure agreed for {d}"));
    }
    if let Some(d) = &r.disclosed_at {
        out.push(format!("disclosed {d}"));
    }
    out
}

const FIELDS: &str = "\
# Fields (the TOML is a contract; see docs/cli.md \"Advisories\"):
#   title, summary (one line each), details (Markdown, held back from public
#   exports until details may be published), cve = \"CVE-2027-0001\",
#   cwe = [\"CWE-79\"], cvss_v3 = \"CVSS:3.1/...\", cvss_v4 = \"CVSS:4.0/...\"
#   [[affected]]   ecosystem = \"PyPI\" and package = \"name\" (OSV names),
#                  or product = \"Element Web\"; introduced, fixed or last_affected
#   [[references]] type = \"FIX\" (ADVISORY, ARTICLE, FIX, REPORT, WEB, ...), url
#   [[credits]]    name, type = \"FINDER\" (REPORTER, ANALYST, COORDINATOR,
#                  REMEDIATION_DEVELOPER, ...), contact = [\"https://...\"]
";

/// The file for `$EDITOR`: problems of the last attempt first (if any),
/// then the report's dates and the fields, then the document.
pub fn edit_file(tracking_id: &str, r: &ReportSummary, document: &str, problems: &[String]) -> String {
    let mut out = String::new();
    if !problems.is_empty() {
        out.push_str("# NOT SAVED: fix these and save again (save unchanged, or empty the file, to give up):\n");
        for p in problems {
            for line in p.lines() {
                out.push_str(&format!("#   {line}\n"));
            }
        }
        out.push_str("#\n");
    }
    out.push_str(&format!(
        "# Advisory for {tracking_id}: {}\n# Report: {}\n",
        crate::text::printable(&crate::text::bounded(&r.subject)),
        dates(r).join("; ")
    ));
    out.push_str(FIELDS);
    out.push('\n');
    out.push_str(&strip_comment_head(document));
    out
}

/// The document without the comment block `edit_file` put on top (so a
/// saved document keeps neither old problems nor our help); comments the
/// team wrote below it stay.
pub fn strip_comment_head(text: &str) -> String {
    let last = FIELDS.lines().last().unwrap_or_default();
    match text.lines().position(|l| l == last) {
        Some(i) => {
            let rest: Vec<&str> = text.lines().skip(i + 1).skip_while(|l| l.trim().is_empty()).collect();
            let mut s = rest.join("\n");
            if !s.is_empty() {
                s.push('\n');
            }
            s
        }
        None => text.to_owned(),
    }
}

/// Which top-level fields differ (for the event: names, never contents).
pub fn changed_fields(old: Option<&Advisory>, new: &Advisory) -> String {
    let Some(old) = old else {
        return "created".to_owned();
    };
    let mut f = Vec::new();
    let pairs: [(&str, bool); 10] = [
        ("title", old.title != new.title),
        ("summary", old.summary != new.summary),
        ("details", old.details != new.details),
        ("cve", old.cve != new.cve),
        ("cwe", old.cwe != new.cwe),
        ("cvss_v3", old.cvss_v3 != new.cvss_v3),
        ("cvss_v4", old.cvss_v4 != new.cvss_v4),
        ("affected", old.affected != new.affected),
        ("references", old.references != new.references),
        ("credits", old.credits != new.credits),
    ];
    for (name, differs) in pairs {
        if differs {
            f.push(name);
        }
    }
    if f.is_empty() {
        "layout only".to_owned()
    } else {
        format!("changed {}", f.join(", "))
    }
}
