//! `[policy]` calendar keys, `[team]` and `[[exclude]]`.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::{ConfigError, RawPolicy, Validator};
use crate::policy::Calendar;
use crate::triage::exclude::{self, Topic};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    notify: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    at: Option<String>,
    send_empty: Option<bool>,
    text_template: Option<String>,
    html_template: Option<String>,
    alert_template: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurityTxt {
    policy: Option<String>,
    encryption: Option<String>,
    acknowledgments: Option<String>,
    preferred_languages: Option<String>,
    canonical: Option<String>,
}

pub(super) fn security_txt(r: RawSecurityTxt) -> super::SecurityTxtConfig {
    super::SecurityTxtConfig {
        policy: r.policy,
        encryption: r.encryption,
        acknowledgments: r.acknowledgments,
        preferred_languages: r.preferred_languages,
        canonical: r.canonical,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExclude {
    topic: String,
    reply_template: String,
    anchors: Option<Vec<String>>,
    phrases: Option<Vec<String>>,
    min_phrases: Option<usize>,
    records: Option<Vec<String>>,
    unless: Option<Vec<String>>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl Validator<'_> {
    pub(super) fn calendar(&self, p: &RawPolicy) -> Result<Calendar, ConfigError> {
        let name = p.timezone.as_deref().unwrap_or("UTC");
        let tz = TimeZone::get(name).map_err(|_| {
            self.err(
                "policy",
                "timezone",
                format!("`{name}` is not an IANA time zone name (e.g. \"Europe/London\")"),
            )
        })?;
        let weekend = match &p.weekend {
            None => vec![Weekday::Saturday, Weekday::Sunday],
            Some(days) => days
                .iter()
                .map(|d| {
                    weekday(d).ok_or_else(|| self.err("policy", "weekend", format!("`{d}` is not a weekday name")))
                })
                .collect::<Result<_, _>>()?,
        };
        if weekend.len() >= 7 {
            return Err(self.err("policy", "weekend", "leaves no business day"));
        }
        let mut holidays: Vec<Date> = p
            .holidays
            .iter()
            .flatten()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|_| self.err("policy", "holidays", format!("`{d}` is not a date like \"2026-12-25\"")))
            })
            .collect::<Result<_, _>>()?;
        holidays.sort();
        holidays.dedup();
        Ok(Calendar { tz, weekend, holidays })
    }

    pub(super) fn team(&self, r: RawTeam) -> Result<super::TeamConfig, ConfigError> {
        for (key, list) in [("members", &r.members), ("notify", &r.notify)] {
            for m in list {
                m.parse::<lettre::Address>()
                    .map_err(|e| self.err("team", key, format!("`{m}` is not a mail address: {e}")))?;
            }
        }
        let keys = r
            .keys
            .iter()
            .map(|k| self.readable_file("team", "keys", k))
            .collect::<Result<_, _>>()?;
        Ok(super::TeamConfig {
            members: r.members.iter().map(|m| m.to_ascii_lowercase()).collect(),
            notify: r.notify,
            keys,
        })
    }

    pub(super) fn digest(&self, r: RawDigest) -> Result<super::DigestConfig, ConfigError> {
        let at = r.at.as_deref().unwrap_or("08:00");
        let at = at
            .parse::<jiff::civil::Time>()
            .map_err(|_| self.err("digest", "at", format!("`{at}` is not a time of day like \"08:00\"")))?;
        let file = |key: &str, v: Option<String>, default: &str| {
            self.readable_file("digest", key, v.as_deref().unwrap_or(default))
        };
        Ok(super::DigestConfig {
            at,
            send_empty: r.send_empty.unwrap_or(false),
            text_template: file("text_template", r.text_template, "digest.txt")?,
            html_template: file("html_template", r.html_template, "digest.html")?,
            alert_template: file("alert_template", r.alert_template, "alert.txt")?,
        })
    }

    /// No `[[exclude]]` at all: the built-in `spf-dmarc` topic (the policy
    /// names it) with `out-of-scope.txt`. An entry named `spf-dmarc` that
    /// leaves out a list takes the built-in one.
    pub(super) fn exclude(&self, raw: Vec<RawExclude>) -> Result<Vec<Topic>, ConfigError> {
        if raw.is_empty() {
            let reply = self.readable_file("exclude", "reply_template", "out-of-scope.txt")?;
            return Ok(vec![exclude::spf_dmarc(reply)]);
        }
        let mut out = Vec::new();
        for r in raw {
            if r.topic.trim().is_empty() || r.topic.len() > 64 {
                return Err(self.err("exclude", "topic", "must be 1 to 64 characters"));
            }
            let reply = self.readable_file("exclude", "reply_template", &r.reply_template)?;
            let base = (r.topic == "spf-dmarc").then(|| exclude::spf_dmarc(reply.clone()));
            let lower = |v: Option<Vec<String>>, builtin: Option<Vec<String>>| -> Vec<String> {
                v.map(|l| l.iter().map(|s| s.to_lowercase()).collect())
                    .or(builtin)
                    .unwrap_or_default()
            };
            let phrases = lower(r.phrases, base.as_ref().map(|b| b.phrases.clone()));
            if phrases.is_empty() {
                return Err(self.err(
                    "exclude",
                    "phrases",
                    format!("topic `{}` needs at least one phrase", r.topic),
                ));
            }
            out.push(Topic {
                anchors: lower(r.anchors, base.as_ref().map(|b| b.anchors.clone())),
                unless: lower(r.unless, base.as_ref().map(|b| b.unless.clone())),
                records: lower(r.records, base.as_ref().map(|b| b.records.clone())),
                min_phrases: r
                    .min_phrases
                    .or(base.as_ref().map(|b| b.min_phrases))
                    .unwrap_or(1)
                    .max(1),
                phrases,
                name: r.topic,
                reply_template: reply,
            });
        }
        Ok(out)
    }
}
