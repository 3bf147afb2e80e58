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

/// Renders a template file against a serialisable context. Templates whose
/// name ends in `.html` are auto-escaped.
pub fn render_file(path: &std::path::Path, ctx: &impl Serialize) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("template");
    render_str(name, &text, ctx)
}

/// Renders template text (`name` ending in `.html`: auto-escaped).
pub fn render_str(name: &str, text: &str, ctx: &impl Serialize) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, text)?;
    Ok(env.get_template(name)?.render(ctx)?)
}
