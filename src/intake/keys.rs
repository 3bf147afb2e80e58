//! The reporter's keys at intake: the pinned certificate (parsed once per
//! distinct copy) and what to remember of the keys a message carried
//! (pinned, refreshed, replaced or a candidate; see `openpgp::pin`).

use sequoia_openpgp::Cert;
use sequoia_openpgp::serialize::MarshalInto as _;

use crate::openpgp::{self, Protection};
use crate::pipeline::CertCache;
use crate::store::{NewKey, Store};

/// The reporter's pinned key.
pub(super) struct Pinned {
    pub cert: Cert,
    /// More than first sight (see `store::PinnedKey`).
    pub vouched: bool,
    /// The report whose mail brought it.
    pub report_id: Option<i64>,
}

/// The reporter's pinned certificate, parsed once per distinct copy.
fn pinned_cert(store: &Store, cache: &CertCache, from: Option<&str>) -> crate::fault::Result<Option<Pinned>> {
    let Some(from) = from else {
        return Ok(None);
    };
    Ok(store.reporter_pinned(from)?.and_then(|k| {
        cache.parse(&k.cert).map(|cert| Pinned {
            cert,
            vouched: k.vouched,
            report_id: k.report_id,
        })
    }))
}

/// What to remember of the keys a message carried, and the pinned key after
/// it (see `openpgp::pin`).
/// `vouched`: the pinned key is more than first sight; `dmarc`: our MTA
/// authenticated this mail's sender, so what it brings is vouched too.
fn pin_keys(
    store: &Store,
    learned: &[openpgp::LearnedKey],
    pinned: Option<Cert>,
    vouched: bool,
    protection: &Protection,
    from: &str,
    dmarc: bool,
) -> crate::fault::Result<(Vec<NewKey>, Option<Cert>)> {
    use openpgp::pin::Verdict;
    let mut current = pinned;
    if learned.is_empty() {
        return Ok((Vec::new(), current));
    }
    let mut candidates = store.reporter_candidates(from)?;
    let mut out = Vec::new();
    for l in learned {
        let verdict = openpgp::pin::judge(current.as_ref(), candidates, &l.cert, protection);
        let (status, replaces, cert, vouched) = match verdict {
            Verdict::Pin => ("pinned", false, l.cert.clone(), dmarc),
            Verdict::Refresh => {
                let Some(c) = current.clone() else { continue };
                let merged = c.merge_public(l.cert.clone()).unwrap_or_else(|_| l.cert.clone());
                ("pinned", false, merged, vouched || dmarc)
            }
            Verdict::Replace => ("pinned", true, l.cert.clone(), vouched || dmarc),
            Verdict::Candidate => {
                candidates += 1;
                ("candidate", false, l.cert.clone(), false)
            }
            Verdict::Ignore => continue,
        };
        let Ok(bytes) = cert.to_vec() else { continue };
        if status == "pinned" {
            current = Some(cert);
        }
        out.push(NewKey {
            address: l.address.clone(),
            fingerprint: l.fingerprint.clone(),
            cert: bytes,
            source: l.source.to_owned(),
            status,
            replaces,
            vouched,
        });
    }
    Ok((out, current))
}

/// A signature by a reporter's key that was pinned on first sight.
pub(super) struct FirstSight {
    pub(super) signer: String,
    /// The report whose mail brought the key.
    pub(super) report_id: Option<i64>,
}

/// The sender's keys as intake found them.
pub(super) struct SenderKeys {
    /// The reporter's pinned key, when replies can be encrypted to it.
    pub(super) reporter_cert: Option<Cert>,
    pub(super) first_sight: Option<FirstSight>,
}

/// Is `signer` (a fingerprint) a key of `cert`?
fn signed_by(cert: &Cert, signer: &str) -> bool {
    cert.keys().any(|k| k.key().fingerprint().to_hex() == signer)
}

/// The sender's keys embargo trusted before this message: the reporter's
/// pinned key (none for an address whose proof is configured: ours, a
/// member's, a downstream recipient's), the members' keys for a member, the
/// configured key for a downstream recipient. Whether the address's proof
/// is configured.
pub(super) fn trusted_keys(
    store: &Store,
    p: &crate::pipeline::Pipeline,
    from: Option<&str>,
) -> crate::fault::Result<(Option<Pinned>, Vec<Cert>, bool)> {
    let configured = from.is_some_and(|f| p.me.proof_configured(f));
    let pinned = match configured {
        true => None,
        false => pinned_cert(store, &p.certs, from)?,
    };
    let mut known: Vec<Cert> = pinned.iter().map(|k| k.cert.clone()).collect();
    let sender = from.unwrap_or_default();
    if p.me.team.iter().any(|t| t.eq_ignore_ascii_case(sender)) {
        // A member's mail is verified against the members' keys (relay).
        known.extend(p.members.iter().cloned());
    }
    // A downstream recipient's against the key configured for them.
    known.extend(
        p.downstream
            .iter()
            .filter(|(a, _)| a.eq_ignore_ascii_case(sender))
            .map(|(_, c)| c.clone()),
    );
    Ok((pinned, known, configured))
}

/// What to remember of the keys the message carried, the key replies are
/// encrypted to, and whether its signature is by a key pinned on first
/// sight (which speaks only for the report it came with: checked once
/// triage has found the report).
pub(super) fn sender_keys(
    store: &Store,
    learned: &[openpgp::LearnedKey],
    pinned: Option<Pinned>,
    configured: bool,
    protection: &Protection,
    auth: crate::trust::Auth,
    from: &str,
) -> crate::fault::Result<(Vec<NewKey>, SenderKeys)> {
    use crate::trust::Auth;
    let first_sight = match (&pinned, &protection.signature) {
        (Some(k), openpgp::SigState::Good { signer, .. })
            if auth == Auth::Signature && !k.vouched && signed_by(&k.cert, signer) =>
        {
            Some(FirstSight {
                signer: signer.clone(),
                report_id: k.report_id,
            })
        }
        _ => None,
    };
    // Keys are pinned on first use; the reply goes to the key pinned after
    // this message, and only if it can encrypt.
    let dmarc = auth == Auth::Dmarc;
    let (keys, effective) = match pinned {
        _ if configured => (Vec::new(), None),
        Some(k) => pin_keys(store, learned, Some(k.cert), k.vouched, protection, from, dmarc)?,
        None => pin_keys(store, learned, None, false, protection, from, dmarc)?,
    };
    Ok((
        keys,
        SenderKeys {
            reporter_cert: effective.filter(openpgp::pin::can_encrypt),
            first_sight,
        },
    ))
}
