//! Telling others, before and at disclosure: the embargoed notice to
//! downstream packagers (signed, encrypted to each recipient's key), the
//! public pre-disclosure announcement and the public advisory (both
//! clearsigned).

use jiff::Timestamp;
use serde::Serialize;

use crate::advisory::{Advisory, Score};
use crate::config::Config;
use crate::report::ReportSummary;
use crate::teammail::TeamMail;

/// `--release-at`: `2027-01-12 15:00 UTC`, `2027-01-12T15:00:00Z`, or any
/// RFC 3339 time with an offset. Always read as UTC unless an offset says
/// otherwise; a bare local time is refused (a release time must not depend
/// on where the command runs).
pub fn parse_release_at(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let bare = t
        .strip_suffix("UTC")
        .or_else(|| t.strip_suffix("Z"))
        .map(str::trim)
        .ok_or_else(|| format!("{s:?}: give the time in UTC, like \"2027-01-12 15:00 UTC\""))?;
    let dt: jiff::civil::DateTime = bare
        .replace(' ', "T")
        .parse()
        .map_err(|e| format!("{s:?} is not a date and time like \"2027-01-12 15:00 UTC\": {e}"))?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| format!("{s:?}: {e}"))
}

use crate::report::utc;

/// How far ahead a release may be announced under embargo; past the limit
/// only with a reason (recorded).
pub fn check_embargo(
    cfg: &Config,
    release_at: Timestamp,
    now: Timestamp,
    force: Option<&str>,
) -> Result<String, String> {
    if release_at <= now {
        return Err(format!("--release-at {} is not in the future", utc(release_at)));
    }
    let days = cfg.disclosure.max_embargo_days;
    let limit = now + jiff::SignedDuration::from_hours(24 * i64::from(days));
    match (release_at > limit, force) {
        (false, _) => Ok(String::new()),
        (true, Some(reason)) if !reason.trim().is_empty() => Ok(format!(
            "release beyond disclosure.max_embargo_days ({days}), forced: {reason}"
        )),
        (true, _) => Err(format!(
            "--release-at {} is more than {days} days ahead (disclosure.max_embargo_days, the distros list's limit); \
             --force REASON to send it anyway (recorded)",
            utc(release_at)
        )),
    }
}

#[derive(Serialize)]
struct Row {
    name: String,
    ecosystem: Option<String>,
    versions: String,
    fixed: Option<String>,
}

#[derive(Serialize)]
struct NoticeContext<'a> {
    tracking_id: &'a str,
    publisher: &'a str,
    recipient: &'a str,
    title: &'a str,
    summary: &'a str,
    cve: Option<&'a str>,
    affected: Vec<Row>,
    has_fix: bool,
    scores: Vec<Score>,
    release_at: String,
    attachments: Vec<String>,
    team: String,
}

fn rows(a: &Advisory) -> Vec<Row> {
    a.affected
        .iter()
        .map(|x| Row {
            name: x.name().to_owned(),
            ecosystem: x.ecosystem.clone(),
            versions: crate::advisory::export::range_text(x),
            fixed: x.fixed.clone(),
        })
        .collect()
}

/// One attachment as a complete MIME entity (base64), its name sanitised.
pub fn attachment(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let clean: String = std::path::Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("attachment")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut part = format!(
        "Content-Type: application/octet-stream; name=\"{clean}\"\r\n\
         Content-Disposition: attachment; filename=\"{clean}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for line in b64.as_bytes().chunks(76) {
        part.extend_from_slice(line);
        part.extend_from_slice(b"\r\n");
    }
    (clean, part)
}

/// What the notice to one downstream recipient says and carries.
pub struct Notice<'a> {
    pub tracking_id: &'a str,
    pub advisory: &'a Advisory,
    pub release_at: Timestamp,
    /// (file name, MIME entity) as `attachment` made them.
    pub attachments: &'a [(String, Vec<u8>)],
}

/// The embargoed notice for `recipient` (template
/// `config/downstream-notice.txt`).
pub fn notice_mail(cfg: &Config, n: &Notice<'_>, recipient: &str) -> anyhow::Result<TeamMail> {
    let a = n.advisory;
    let ctx = NoticeContext {
        tracking_id: n.tracking_id,
        publisher: &cfg.advisory.publisher,
        recipient,
        title: &a.title,
        summary: &a.summary,
        cve: a.cve.as_deref(),
        affected: rows(a),
        has_fix: a.has_fix(),
        scores: a.scores(),
        release_at: utc(n.release_at),
        attachments: n.attachments.iter().map(|(name, _)| name.clone()).collect(),
        team: cfg.smtp.from.name.clone().unwrap_or_else(|| "Security Team".to_owned()),
    };
    let dir = cfg.file.parent().unwrap_or(std::path::Path::new("."));
    let text = crate::text::render_file(&dir.join("downstream-notice.txt"), &ctx)?;
    Ok(TeamMail {
        kind: crate::store::MailKind::DownstreamNotice,
        subject: format!(
            "[{}] Embargoed security notice: {}",
            n.tracking_id,
            crate::text::bounded(&a.title)
        ),
        outer_subject: format!("[{}] Embargoed security notice", n.tracking_id),
        text,
        html: None,
        attachments: n.attachments.iter().map(|(_, p)| p.clone()).collect(),
        automatic: false,
    })
}

#[derive(Serialize)]
struct PreContext<'a> {
    tracking_id: &'a str,
    publisher: &'a str,
    title: &'a str,
    cve: Option<&'a str>,
    products: Vec<String>,
    ratings: Vec<String>,
    release_at: String,
}

/// The public pre-disclosure notice (template `config/pre-disclosure.txt`):
/// the products, the severity rating and the release time; no details,
/// no versions, not even the title's specifics beyond what the team wrote.
pub fn pre_announcement(
    cfg: &Config,
    r: &ReportSummary,
    a: &Advisory,
    release_at: Timestamp,
) -> anyhow::Result<String> {
    let mut products: Vec<String> = a.affected.iter().map(|x| x.name().to_owned()).collect();
    products.dedup();
    let ctx = PreContext {
        tracking_id: &r.id,
        publisher: &cfg.advisory.publisher,
        title: &a.title,
        cve: a.cve.as_deref(),
        products,
        ratings: a
            .scores()
            .iter()
            .map(|s| format!("{} (CVSS {} {:.1})", s.rating, s.version, s.base_score))
            .collect(),
        release_at: utc(release_at),
    };
    let dir = cfg.file.parent().unwrap_or(std::path::Path::new("."));
    Ok(crate::text::render_file(&dir.join("pre-disclosure.txt"), &ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_times_are_utc_or_carry_their_offset() {
        let want: Timestamp = "2027-01-12T15:00:00Z".parse().unwrap();
        for s in [
            "2027-01-12 15:00 UTC",
            "2027-01-12T15:00:00Z",
            "2027-01-12 15:00Z",
            "2027-01-12T16:00:00+01:00",
        ] {
            assert_eq!(parse_release_at(s), Ok(want), "{s}");
        }
        assert!(parse_release_at("2027-01-12 15:00").unwrap_err().contains("in UTC"));
        assert!(parse_release_at("tomorrow UTC").is_err());
        assert_eq!(utc(want), "2027-01-12 15:00 UTC");
    }

    #[test]
    fn attachment_names_cannot_break_the_header() {
        let (name, part) = attachment("../x\"y\r\nBcc: a@b.patch", b"diff");
        assert_eq!(name, "x_y__Bcc:_a@b.patch");
        let head = String::from_utf8(part).unwrap();
        assert!(head.starts_with("Content-Type: application/octet-stream; name=\"x_y__Bcc:_a@b.patch\"\r\n"));
        assert!(head.ends_with("ZGlmZg==\r\n"));
    }
}
