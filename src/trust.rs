//! How a sender's address was proven, for everything that has an effect
//! (a clock, a state, a credit, a key). `From:` alone proves nothing: anyone
//! can write any address there. Two things do:
//!
//! - `signature`: a valid OpenPGP signature over the whole message by a key
//!   bound to the From address that embargo already trusted (a team member's
//!   key from `[team] keys`, or the reporter's pinned key), never a key the
//!   same message brought along;
//! - `dmarc`: the verdict of the operator's own MTA, an
//!   `Authentication-Results` header (RFC 8601) with the configured
//!   `[trust] authserv_id` saying `dmarc=pass` (or `dkim=pass` aligned with
//!   the From domain). Only headers above the first `Received` header that
//!   records an SMTP hop count: everything below it came with the message
//!   and is the sender's to forge.
//!
//! Anything else is `none`: the mail joins its thread (marked so) but moves
//! nothing.

use crate::message::Inbound;

/// How the sender of one inbound message was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    Signature,
    Dmarc,
    /// Found in the watched Sent folder: it came through the team's own
    /// IMAP login.
    Login,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Signature => "signature",
            Auth::Dmarc => "dmarc",
            Auth::Login => "login",
        }
    }

    /// Signature or DMARC: the From address is the sender's.
    pub fn proven(self) -> bool {
        self != Auth::None
    }
}

/// The sender's authentication: `signed_by_trusted_key` says whether the
/// message's whole-content signature is by a key embargo trusted for the
/// From address before this message arrived.
pub fn authenticate(msg: &Inbound, signed_by_trusted_key: bool, authserv_id: Option<&str>) -> Auth {
    if signed_by_trusted_key {
        return Auth::Signature;
    }
    let (Some(id), Some(from)) = (authserv_id, msg.from_addr.as_deref()) else {
        return Auth::None;
    };
    if mta_passed(&msg.headers, id, from) {
        Auth::Dmarc
    } else {
        Auth::None
    }
}

/// Did the operator's MTA (writing `authserv_id`) find the From domain
/// authenticated? `headers` are in message order, newest (topmost) first.
pub fn mta_passed(headers: &[(String, String)], authserv_id: &str, from: &str) -> bool {
    let Some((_, domain)) = from.rsplit_once('@') else {
        return false;
    };
    // Only the headers above the first SMTP hop were added on our side; if
    // no such hop is recorded we cannot tell ours from the sender's.
    let Some(boundary) = headers
        .iter()
        .position(|(n, v)| n.eq_ignore_ascii_case("received") && smtp_hop(v))
    else {
        return false;
    };
    let mut passed = false;
    for (n, v) in &headers[..boundary] {
        if !n.eq_ignore_ascii_case("authentication-results") {
            continue;
        }
        let Some((id, results)) = parse_authres(v) else {
            continue;
        };
        if !id.eq_ignore_ascii_case(authserv_id) {
            continue;
        }
        for r in &results {
            match (r.method.as_str(), r.result.as_str()) {
                // A failure anywhere in our MTA's verdict wins.
                ("dmarc", "fail") => return false,
                ("dmarc", "pass") => {
                    passed |= r.prop("header.from").is_none_or(|d| d.eq_ignore_ascii_case(domain));
                }
                ("dkim", "pass") => {
                    let d = r
                        .prop("header.d")
                        .or_else(|| r.prop("header.i").and_then(|i| i.rsplit_once('@').map(|(_, d)| d)));
                    passed |= d.is_some_and(|d| aligned(domain, d));
                }
                _ => {}
            }
        }
    }
    passed
}

/// Relaxed alignment (RFC 7489 §3.1.1), approximated without the public
/// suffix list: the signing domain is the From domain or a parent of it
/// with at least two labels.
fn aligned(from_domain: &str, d: &str) -> bool {
    let (f, d) = (
        from_domain.to_ascii_lowercase(),
        d.trim_end_matches('.').to_ascii_lowercase(),
    );
    d.contains('.') && (f == d || f.ends_with(&format!(".{d}")))
}

/// A `Received` header recording an SMTP hop (`with SMTP`, `ESMTP`,
/// `ESMTPS`, `ESMTPSA`, `UTF8SMTP`..., RFC 3848), not a local LMTP delivery.
fn smtp_hop(value: &str) -> bool {
    let value = strip_comments(value);
    let mut words = value.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("with")
            && let Some(proto) = words.next()
        {
            let p = proto.trim_end_matches(';').to_ascii_lowercase();
            return p.contains("smtp") && !p.starts_with("lmtp");
        }
    }
    false
}

/// One `method=result` of an Authentication-Results header.
#[derive(Debug, PartialEq, Eq)]
pub struct MethodResult {
    pub method: String,
    pub result: String,
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `authserv-id [version]; method=result ptype.prop=value ...; ...`
pub fn parse_authres(value: &str) -> Option<(String, Vec<MethodResult>)> {
    let value = strip_comments(value);
    let mut parts = value.split(';');
    let id = parts.next()?.split_whitespace().next()?.to_owned();
    let mut out = Vec::new();
    for part in parts.take(64) {
        let mut words = part.split_whitespace();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let method = method.split('/').next().unwrap_or(method).to_ascii_lowercase();
        let props = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_owned()))
            .collect();
        out.push(MethodResult {
            method,
            result: result.to_ascii_lowercase(),
            props,
        });
    }
    Some((id, out))
}

/// Drops RFC 5322 comments (nested parentheses; quoted strings kept).
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    const EXIM: &str = "from [127.0.0.1] (helo=x) by mail.example.test with esmtp (Exim 4.96) id 1 for s@example.test; Mon, 30 Nov 2026 10:00:00 +0000";
    const LMTP: &str = "from mail.example.test by mail.example.test with LMTP id abc; Mon, 30 Nov 2026 10:00:00 +0000";

    #[test]
    fn ours_above_the_smtp_hop_counts_and_nothing_below_it() {
        let ours = h(&[
            ("return-path", "<r@example.org>"),
            ("received", LMTP),
            (
                "authentication-results",
                "mail.example.test; dmarc=pass (p=reject) header.from=example.org",
            ),
            ("received", EXIM),
            ("from", "r@example.org"),
        ]);
        assert!(mta_passed(&ours, "mail.example.test", "r@example.org"));
        assert!(
            !mta_passed(&ours, "mail.example.test", "r@other.example"),
            "another From domain"
        );
        assert!(
            !mta_passed(&ours, "mx.elsewhere.test", "r@example.org"),
            "another authserv-id"
        );
        // The sender's own A-R, with our authserv-id, below our hop.
        let forged = h(&[
            ("received", LMTP),
            (
                "authentication-results",
                "mail.example.test; dmarc=none header.from=example.org",
            ),
            ("received", EXIM),
            (
                "authentication-results",
                "mail.example.test; dmarc=pass header.from=example.org",
            ),
            ("from", "r@example.org"),
        ]);
        assert!(!mta_passed(&forged, "mail.example.test", "r@example.org"));
        // No SMTP hop recorded: nothing can be trusted.
        let no_hop = h(&[(
            "authentication-results",
            "mail.example.test; dmarc=pass header.from=example.org",
        )]);
        assert!(!mta_passed(&no_hop, "mail.example.test", "r@example.org"));
    }

    #[test]
    fn dkim_must_align_and_a_dmarc_failure_wins() {
        let dkim = |d: &str| {
            h(&[
                (
                    "authentication-results",
                    &format!("mail.example.test; dkim=pass header.d={d} header.s=s1"),
                ),
                ("received", EXIM),
            ])
        };
        assert!(mta_passed(&dkim("example.org"), "mail.example.test", "r@example.org"));
        assert!(mta_passed(
            &dkim("example.org"),
            "mail.example.test",
            "r@lists.example.org"
        ));
        assert!(!mta_passed(&dkim("evil.example"), "mail.example.test", "r@example.org"));
        assert!(!mta_passed(&dkim("org"), "mail.example.test", "r@example.org"));
        let both = h(&[
            (
                "authentication-results",
                "mail.example.test; dkim=pass header.d=example.org; dmarc=fail header.from=example.org",
            ),
            ("received", EXIM),
        ]);
        assert!(!mta_passed(&both, "mail.example.test", "r@example.org"));
    }

    #[test]
    fn authres_parsing_survives_comments_and_versions() {
        let (id, r) = parse_authres(
            "mx.example.org 1 (a comment; with a semicolon); dkim/1=pass (good (nested)) header.d=\"example.org\"; spf=none",
        )
        .unwrap();
        assert_eq!(id, "mx.example.org");
        assert_eq!(r[0].method, "dkim");
        assert_eq!(r[0].prop("header.d"), Some("example.org"));
        assert_eq!(r[1].method, "spf");
        assert!(smtp_hop(EXIM) && !smtp_hop(LMTP));
        assert!(!smtp_hop("from x (with esmtp in a comment) by y"));
    }
}
