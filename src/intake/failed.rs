//! Mail that cannot be taken in as it is: too large to download, or failed
//! (unparseable, a crash, a panic). Recorded with the reason, the raw
//! message kept when the hourly budget allows, the mailbox moves on.

use jiff::Timestamp;

use super::{Arrival, budget, inbound_row};
use crate::message::{self, Inbound};
use crate::pipeline::Pipeline;
use crate::store::{Disposition, InboundRow, Recorded, Store};

/// A message too large to download: recorded from its header alone.
pub fn intake_oversize(
    store: &mut Store,
    p: &Pipeline,
    arrival: &Arrival<'_>,
    size: u64,
    limit: u64,
) -> crate::fault::Result<Recorded> {
    let parsed = message::parse(arrival.raw).ok();
    let reason =
        format!("oversize: {size} bytes, above imap.max_message_size ({limit}); left on the server and flagged");
    record_failure(store, p, arrival, parsed.as_ref(), &reason)
}

/// Records a tombstone for a message that could not be handled.
pub fn record_failure(
    store: &mut Store,
    p: &Pipeline,
    arrival: &Arrival<'_>,
    msg: Option<&Inbound>,
    reason: &str,
) -> crate::fault::Result<Recorded> {
    let cut_text: String;
    let mut row = match msg {
        Some(m) => inbound_row(m, arrival),
        None => InboundRow {
            message_id: format!("<failed-{}@embargo.invalid>", failure_id(arrival)),
            size: arrival.raw.len() as u64,
            received_at: arrival.internal_date,
            raw: Some(arrival.raw),
            ..InboundRow::default()
        },
    };
    row.size = row.size.max(arrival.raw.len() as u64);
    // Whoever sent it is unknown: it counts against the hourly budget.
    let kept = budget::bound(store, &p.config.store, arrival.raw.len() as u64, row.body, false)?;
    if let Some(text) = kept.text {
        cut_text = text;
        row.body = &cut_text;
    }
    if !kept.raw {
        row.raw = None;
    }
    (row.cut, row.charged) = (kept.note, kept.charged);
    tracing::warn!(
        reason,
        uid = arrival.source.as_ref().map(|s| s.uid),
        "message recorded as failed"
    );
    Ok(store.record(
        arrival.source.as_ref(),
        &row,
        Disposition::Failed {
            reason: reason.to_owned(),
        },
        &p.me.prefix,
    )?)
}

fn failure_id(arrival: &Arrival<'_>) -> String {
    match &arrival.source {
        Some(s) => {
            format!(
                "{}-{}-{}",
                s.mailbox.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                s.uidvalidity,
                s.uid
            )
        }
        None => format!("{}", Timestamp::now().as_nanosecond()),
    }
}
