//! Acknowledgements merged, never dropped. Past the per-sender
//! limit a new report's acknowledgement is held (`store::held`); once its
//! period is up, one combined acknowledgement per address lists every
//! report held since, each with its subject where that is allowed (never
//! decrypted text in cleartext), and names them all in `References`.

use jiff::{SignedDuration, Timestamp};
use sequoia_openpgp::Cert;

use crate::message::Inbound;
use crate::pipeline::Pipeline;
use crate::reply::combined::{Context, Item, render};
use crate::reply::{self, Crypto, ReplyTo};
use crate::store::{HeldGroup, Store};

/// Queues the combined acknowledgements that are due. Returns how many.
pub fn queue_due(store: &mut Store, p: &Pipeline, now: Timestamp) -> anyhow::Result<usize> {
    let groups = store.held_acks_due(now)?;
    let after = SignedDuration::from_secs(p.config.reply.combine_after_secs as i64);
    for g in &groups {
        let cert = pinned(store, p, &g.recipient)?;
        let out = compose(p, g, cert)?;
        store.record_combined(g, &out, after)?;
        tracing::info!(
            reports = g.items.len(),
            message_id = %out.message_id,
            "combined acknowledgement queued"
        );
    }
    Ok(groups.len())
}

/// Tracking ids named (beyond the reports listed in full) in one combined
/// acknowledgement: about 90 KB of ids; a bigger flood is counted.
const MORE_IDS: usize = 5000;

/// The reporter's pinned key, if it can be encrypted to.
fn pinned(store: &Store, p: &Pipeline, address: &str) -> anyhow::Result<Option<Cert>> {
    Ok(crate::conversation::reporter_cert(store, &p.me, address)?)
}

fn compose(p: &Pipeline, g: &HeldGroup, cert: Option<Cert>) -> anyhow::Result<crate::store::Outgoing> {
    let encrypt = cert.is_some() && p.team.signer().is_some();
    let (listed, rest) = g.items.split_at(g.items.len().min(crate::store::MAX_PER_COMBINED));
    let items: Vec<Item> = listed
        .iter()
        .map(|i| Item {
            tracking_id: i.tracking_id.clone(),
            // What arrived encrypted only to the key that signed it: the
            // reports listed may have been sent in anyone's name.
            subject: if i.encrypted && !(encrypt && crate::openpgp::may_echo_to(cert.as_ref(), &i.signer)) {
                "(your encrypted report)".to_owned()
            } else {
                crate::text::bounded(&i.subject)
            },
        })
        .collect();
    let promises = &p.promises;
    let ctx = Context {
        reporter_name: crate::text::bounded(&g.reporter_name),
        team: p.from.name.clone().unwrap_or_else(|| "Security Team".to_owned()),
        total: g.items.len(),
        items,
        more: rest.iter().take(MORE_IDS).map(|i| i.tracking_id.clone()).collect(),
        more_count: rest.len(),
        response_business_days: promises.response_business_days,
        fix_days: promises.fix_days,
        complex_fix_days: promises.complex_fix_days,
        details_delay_days: promises.details_delay_days,
    };
    let body = render(&p.config, &ctx)?;
    let ids: Vec<String> = listed
        .iter()
        .map(|i| i.message_id.clone())
        .filter(|m| !m.is_empty())
        .collect();
    let inbound = Inbound::answered(&g.recipient, "", "", ids.last().cloned(), ids);
    let to = ReplyTo {
        inbound: &inbound,
        recipient: &g.recipient,
        from: &p.from,
        human: false,
        all_references: true,
    };
    let first = g.items.first().map(|i| i.tracking_id.as_str()).unwrap_or_default();
    let subject = match g.items.len() {
        1 => format!("[{first}] Your report"),
        n => format!("[{first}] and {} more: your {n} reports", n - 1),
    };
    let crypto = Crypto {
        team: Some(&p.team),
        encrypt_to: cert,
    };
    Ok(reply::compose(
        crate::store::MailKind::AckCombined,
        &to,
        &subject,
        body,
        &crypto,
    )?)
}
