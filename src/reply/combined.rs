//! The combined acknowledgement's text (`reply.combined_ack_template`, or
//! `config/ack-combined.txt` built in): one mail listing every report of an
//! address whose acknowledgements were held (`crate::held_acks` queues it).

use serde::Serialize;

/// The template when `reply.combined_ack_template` is not set and the
/// config folder has no `ack-combined.txt`.
const BUILT_IN: &str = include_str!("../../config/ack-combined.txt");

#[derive(Serialize)]
pub struct Item {
    pub tracking_id: String,
    pub subject: String,
}

#[derive(Serialize)]
pub struct Context {
    pub reporter_name: String,
    pub team: String,
    /// The reports listed with their subjects.
    pub items: Vec<Item>,
    /// How many reports this mail acknowledges in all.
    pub total: usize,
    /// Tracking ids of the others (bounded), and how many there are.
    pub more: Vec<String>,
    pub more_count: usize,
    pub response_business_days: u32,
    pub fix_days: u32,
    pub complex_fix_days: u32,
    pub details_delay_days: u32,
}

/// Renders the combined acknowledgement's template against sample values,
/// so a broken one fails at start (and in check-config), naming the key.
pub fn check_template(cfg: &crate::config::Config) -> super::Result<()> {
    let ctx = Context {
        reporter_name: "Researcher".into(),
        team: "Security Team".into(),
        items: vec![Item {
            tracking_id: "SEC-2026-0001".into(),
            subject: "sample".into(),
        }],
        total: 3,
        more: vec!["SEC-2026-0002".into()],
        more_count: 2,
        response_business_days: 5,
        fix_days: 90,
        complex_fix_days: 120,
        details_delay_days: 30,
    };
    render(cfg, &ctx).map(|_| ()).map_err(|e| match e {
        super::Error::Render { error, .. } => super::Error::render("reply.combined_ack_template", error),
        other => other,
    })
}

pub fn render(cfg: &crate::config::Config, ctx: &Context) -> super::Result<String> {
    match &cfg.reply.combined_ack_template {
        Some(path) => {
            crate::text::render_file(path, ctx).map_err(|e| super::Error::render(path.display().to_string(), e))
        }
        None => crate::text::render_str("ack-combined.txt", BUILT_IN, ctx)
            .map_err(|e| super::Error::render("ack-combined.txt", e)),
    }
}
