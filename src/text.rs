//! Text helpers every stage uses: quoting mail-derived values bounded and
//! on one line, and rendering templates (minijinja, strict about undefined
//! values; `.html` auto-escaped).

use serde::Serialize;

use crate::message::single_line;

/// How many characters of a mail-derived subject or name embargo quotes in
/// anything it sends or prints (the original stays stored whole).
pub const QUOTE_CHARS: usize = 200;

/// `s` on one line, cut to [`QUOTE_CHARS`] characters with an ellipsis.
pub fn bounded(s: &str) -> String {
    bounded_to(s, QUOTE_CHARS)
}

/// `s` on one line, cut to `max` characters with an ellipsis.
pub fn bounded_to(s: &str, max: usize) -> String {
    // Never copy more than needed of a huge value.
    let mut end = s.len().min(max.saturating_mul(4) + 64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let line = single_line(&s[..end]);
    if line.chars().count() <= max && end == s.len() {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A template that cannot be read or does not render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// Syntax, an undefined variable (undefined is strict), a filter error:
    /// the line and, for an undefined value, the expression and the names
    /// the template can use. (Its text is the whole story: no `source()`.)
    #[error("{}{problem}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Render { line: Option<usize>, problem: String },
}

impl TemplateError {
    /// minijinja's error in words a template's author acts on.
    fn render(e: &minijinja::Error, source: &str, ctx: Option<serde_json::Value>) -> TemplateError {
        let snippet = e
            .range()
            .and_then(|r| source.get(r))
            .map(|s| {
                s.trim()
                    .trim_start_matches("{{")
                    .trim_end_matches("}}")
                    .trim()
                    .to_owned()
            })
            .filter(|s| !s.is_empty());
        let problem = match (e.kind(), snippet) {
            (minijinja::ErrorKind::UndefinedError, Some(s)) => {
                let names = ctx
                    .as_ref()
                    .and_then(|v| v.as_object())
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                format!("undefined variable `{s}` (this template can use: {names})")
            }
            (_, snippet) => {
                let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
                match snippet {
                    Some(s) => format!("{detail} in `{s}`"),
                    None => detail,
                }
            }
        };
        TemplateError::Render {
            line: e.line(),
            problem,
        }
    }
}

/// Renders a template file against a serialisable context. Templates whose
/// name ends in `.html` are auto-escaped.
pub fn render_file(path: &std::path::Path, ctx: &impl Serialize) -> Result<String, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|error| TemplateError::Read {
        path: path.to_owned(),
        error,
    })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("template");
    render_str(name, &text, ctx)
}

/// Renders template text. Every value a template prints passes
/// [`printable`] first (no control or bidi character from mail reaches the
/// output); templates whose name ends in `.html` are HTML-escaped and those
/// ending in `.md` Markdown-escaped ([`markdown`]). The `link` filter keeps
/// a URL only when it is `https:`, `http:` or `mailto:`.
pub fn render_str(name: &str, text: &str, ctx: &impl Serialize) -> Result<String, TemplateError> {
    use minijinja::AutoEscape;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".htm") {
            AutoEscape::Html
        } else if name.ends_with(".md") {
            AutoEscape::Custom("markdown")
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if value.is_undefined() || value.is_none() {
            return minijinja::escape_formatter(out, state, value);
        }
        let text = printable(&value.to_string());
        let text = match (state.auto_escape(), value.is_safe()) {
            (_, true) | (AutoEscape::None, _) => text,
            (AutoEscape::Custom("markdown"), false) => markdown(&text),
            (_, false) => html(&text),
        };
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    env.add_filter("link", |url: String| link(&url).unwrap_or_default());
    env.add_template(name, text)
        .map_err(|e| TemplateError::render(&e, text, None))?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| TemplateError::render(&e, text, serde_json::to_value(ctx).ok()))
}

/// `s` with every character that can move a terminal's cursor, set its
/// clipboard (OSC 52) or reorder what a person reads made visible instead:
/// C0 controls but tab and newline, DEL, C1 controls (`\x1b` ...), and the
/// Unicode bidi and direction marks (`\u{202e}` ...). The one function at
/// every boundary where text leaves embargo for a person: the CLI's output,
/// the log, every template (mail, digest, hall of fame, advisory exports).
pub fn printable(s: &str) -> String {
    if !s.chars().any(hidden) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !hidden(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        }
    }
    out
}

/// A character [`printable`] replaces.
fn hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // bidi embeddings, overrides, isolates and marks
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
        // line and paragraph separators: a new line a reader does not expect
        | '\u{2028}' | '\u{2029}')
}

/// HTML-escaped text (for attributes and element content alike).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown-escaped text (CommonMark): the punctuation that makes
/// emphasis, links, images, code, headings, tables and raw HTML is
/// backslash-escaped, `<` and `&` become entities, so a name like
/// `<img src=x onerror=...>` or `[x](javascript:...)` stays text. Backslash
/// escapes also hold inside a link destination.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '|' | '{' | '}' | '~' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `url` when it is safe as a link target people click: `https:`, `http:`
/// or `mailto:`, with no whitespace, control character, quote or angle
/// bracket in it (RFC 3986 allows none of them unencoded). Anything
/// else (`javascript:`, `data:`, a relative path) is no link at all.
pub fn link(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let scheme_ok = ["https://", "http://", "mailto:"].iter().any(|p| lower.starts_with(p));
    // RFC 3986 allows none of these unencoded; each can end an attribute,
    // a Markdown link or an autolink early.
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || hidden(c) || "\"<>\\^`{|}'".contains(c));
    (scheme_ok && clean && url.len() > 8).then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_shows_what_would_steer_a_terminal() {
        let osc52 = "a\u{1b}]52;c;ZXZpbA==\u{7}b";
        assert_eq!(printable(osc52), "a\\x1b]52;c;ZXZpbA==\\x07b");
        assert_eq!(printable("csi\u{9b}2J"), "csi\\x9b2J");
        assert_eq!(printable("gpj.\u{202e}exe"), "gpj.\\u{202e}exe");
        assert_eq!(printable("tab\tand\nnewline, ünïcødé"), "tab\tand\nnewline, ünïcødé");
    }

    #[test]
    fn templates_escape_for_their_format() {
        #[derive(Serialize)]
        struct Ctx {
            name: &'static str,
            url: &'static str,
        }
        let ctx = Ctx {
            name: "<img src=x onerror=alert(1)> [x](javascript:alert(1)) \u{1b}[2J",
            url: "javascript:alert(1)",
        };
        let md = render_str("t.md", "- [{{ name }}]({{ url|link }})", &ctx).unwrap();
        assert!(
            !md.contains("<img") && !md.contains("](javascript") && !md.contains('\u{1b}'),
            "{md}"
        );
        assert!(md.contains("&lt;img") && md.ends_with("()"), "{md}");
        let html = render_str("t.html", "<a href=\"{{ url|link }}\">{{ name }}</a>", &ctx).unwrap();
        assert!(
            !html.contains("<img") && !html.contains("href=\"javascript") && !html.contains('\u{1b}'),
            "{html}"
        );
        let txt = render_str("t.txt", "{{ name }}", &ctx).unwrap();
        assert!(
            txt.contains("<img") && !txt.contains('\u{1b}'),
            "text stays text: {txt}"
        );
        let ok = Ctx {
            name: "Rita",
            url: "https://example.org/a_b?x=1&y=2",
        };
        let html = render_str("t.html", "<a href=\"{{ url|link }}\">{{ name }}</a>", &ok).unwrap();
        assert_eq!(html, "<a href=\"https://example.org/a_b?x=1&amp;y=2\">Rita</a>");
        assert_eq!(link("HTTPS://example.org"), Some("HTTPS://example.org".into()));
        assert_eq!(link("mailto:r@example.org"), Some("mailto:r@example.org".into()));
        assert_eq!(link("data:text/html,x"), None);
        assert_eq!(link("https://exa mple.org"), None);
        assert_eq!(link("https://e.example/\"onmouseover=\"x"), None);
    }

    #[test]
    fn a_template_error_names_the_line_and_the_variable() {
        #[derive(Serialize)]
        struct Ctx {
            tracking_id: &'static str,
        }
        let e = render_str(
            "ack.txt",
            "Hello\n\nYour report {{ report.id }} is in.",
            &Ctx { tracking_id: "x" },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "line 3: undefined variable `report.id` (this template can use: tracking_id)"
        );
        let e = render_str("ack.txt", "{% if %}", &Ctx { tracking_id: "x" })
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 1: "), "{e}");
    }
}
