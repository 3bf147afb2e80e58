//! The advisory for people: Markdown or HTML from templates the operator
//! edits (`advisory.md_template`, `advisory.html_template`; built-in copies
//! of `config/advisory.md` and `config/advisory.html` otherwise). HTML is
//! auto-escaped.

use serde::Serialize;

use super::{Error, Facts, range_text};

const BUILT_IN_MD: &str = include_str!("../../../config/advisory.md");
const BUILT_IN_HTML: &str = include_str!("../../../config/advisory.html");

#[derive(Serialize)]
struct Context<'a> {
    tracking_id: &'a str,
    draft: bool,
    title: &'a str,
    summary: &'a str,
    /// Empty while the details clock runs.
    details: &'a str,
    /// When the details follow (a date), while they are held back.
    details_from: Option<String>,
    cve: Option<&'a str>,
    cwe: Vec<Cwe<'a>>,
    scores: &'a [crate::advisory::Score],
    affected: Vec<AffectedRow<'a>>,
    has_fix: bool,
    /// What to say when nothing is fixed.
    no_fix: Option<&'static str>,
    references: Vec<(String, String)>,
    credits: &'a [crate::advisory::Credit],
    published: String,
    link: Option<&'a str>,
    publisher: &'a str,
}

#[derive(Serialize)]
struct Cwe<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct AffectedRow<'a> {
    name: &'a str,
    ecosystem: Option<&'a str>,
    versions: String,
    fixed: Option<&'a str>,
}

pub(super) fn render(f: &Facts<'_>, html: bool) -> Result<String, Error> {
    let a = f.advisory();
    let ctx = Context {
        tracking_id: f.input.tracking_id,
        draft: f.draft,
        title: &a.title,
        summary: &a.summary,
        details: if f.details_from.is_some() { "" } else { &a.details },
        details_from: f.details_from.as_deref().map(super::day),
        cve: a.cve.as_deref(),
        cwe: a
            .cwe
            .iter()
            .map(|id| Cwe {
                id,
                name: super::cwe::name(id),
            })
            .collect(),
        scores: &f.scores,
        affected: a
            .affected
            .iter()
            .map(|x| AffectedRow {
                name: x.name(),
                ecosystem: x.ecosystem.as_deref(),
                versions: range_text(x),
                fixed: x.fixed.as_deref(),
            })
            .collect(),
        has_fix: a.has_fix(),
        no_fix: f.no_fix(),
        references: f.references(),
        credits: &a.credits,
        published: super::day(&f.published),
        link: f.link.as_deref(),
        publisher: &f.input.cfg.publisher,
    };
    let cfg = f.input.cfg;
    let out = match (html, if html { &cfg.html_template } else { &cfg.md_template }) {
        (_, Some(path)) => crate::text::render_file(path, &ctx)?,
        (true, None) => crate::text::render_str("advisory.html", BUILT_IN_HTML, &ctx)?,
        (false, None) => crate::text::render_str("advisory.md", BUILT_IN_MD, &ctx)?,
    };
    Ok(out)
}
