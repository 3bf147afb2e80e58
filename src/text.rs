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
    /// Syntax, an undefined variable (undefined is strict), a filter error.
    /// (Its text is the whole story: not linked as `source()`.)
    #[error("{0}")]
    Render(minijinja::Error),
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

/// Renders template text (`name` ending in `.html`: auto-escaped).
pub fn render_str(name: &str, text: &str, ctx: &impl Serialize) -> Result<String, TemplateError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, text).map_err(TemplateError::Render)?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(TemplateError::Render)
}
