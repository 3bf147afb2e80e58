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
pub(super) fn pinned_cert(
    store: &Store,
    cache: &CertCache,
    from: Option<&str>,
) -> crate::fault::Result<Option<Pinned>> {
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
pub(super) fn pin_keys(
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
