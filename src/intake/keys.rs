//! The reporter's keys at intake: the pinned certificate (parsed once per
//! distinct copy) and what to remember of the keys a message carried
//! (pinned, refreshed, replaced or a candidate; see `openpgp::pin`).

use sequoia_openpgp::Cert;
use sequoia_openpgp::serialize::MarshalInto as _;

use crate::openpgp::{self, Protection};
use crate::pipeline::CertCache;
use crate::store::{NewKey, Store};

/// The reporter's pinned certificate, parsed once per distinct copy.
pub(super) fn pinned_cert(store: &Store, cache: &CertCache, from: Option<&str>) -> crate::fault::Result<Option<Cert>> {
    let Some(from) = from else {
        return Ok(None);
    };
    Ok(store.reporter_certs(from)?.first().and_then(|bytes| cache.parse(bytes)))
}

/// What to remember of the keys a message carried, and the pinned key after
/// it (see `openpgp::pin`).
pub(super) fn pin_keys(
    store: &Store,
    learned: &[openpgp::LearnedKey],
    pinned: Option<Cert>,
    protection: &Protection,
    from: &str,
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
        let (status, replaces, cert) = match verdict {
            Verdict::Pin => ("pinned", false, l.cert.clone()),
            Verdict::Refresh => {
                let Some(c) = current.clone() else { continue };
                let merged = c.merge_public(l.cert.clone()).unwrap_or_else(|_| l.cert.clone());
                ("pinned", false, merged)
            }
            Verdict::Replace => ("pinned", true, l.cert.clone()),
            Verdict::Candidate => {
                candidates += 1;
                ("candidate", false, l.cert.clone())
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
        });
    }
    Ok((out, current))
}
