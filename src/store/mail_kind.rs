//! What an outgoing mail is: the outbox's kinds, what each one means for
//! the hourly cap and for the report's acknowledgement, and their SQL.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// The kind of an outgoing mail, as the outbox stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// The acknowledgement of a new report.
    Ack,
    /// One acknowledgement for every report held past the per-sender limit.
    AckCombined,
    /// The reply to a report on an excluded topic.
    OutOfScope,
    /// The reply to mail embargo could not decrypt.
    CannotDecrypt,
    /// The explanation to a member whose mail was not relayed.
    RelayRefused,
    /// The team's new-report (or answered) alert.
    Alert,
    /// The team's daily digest.
    Digest,
    /// The embargoed notice to a downstream recipient.
    DownstreamNotice,
    /// A team member's words to the reporter (CLI or relay).
    TeamReply,
    FixedNotice,
    DisclosedNotice,
    DiscloseOnNotice,
    AcceptedRiskNotice,
    /// The team's question to the reporter (needs-info).
    NeedsInfoQuestion,
    /// "Already known" to the reporter of a merged report.
    MergedNotice,
}

impl MailKind {
    pub const ALL: [MailKind; 15] = [
        MailKind::Ack,
        MailKind::AckCombined,
        MailKind::OutOfScope,
        MailKind::CannotDecrypt,
        MailKind::RelayRefused,
        MailKind::Alert,
        MailKind::Digest,
        MailKind::DownstreamNotice,
        MailKind::TeamReply,
        MailKind::FixedNotice,
        MailKind::DisclosedNotice,
        MailKind::DiscloseOnNotice,
        MailKind::AcceptedRiskNotice,
        MailKind::NeedsInfoQuestion,
        MailKind::MergedNotice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Ack => "ack",
            MailKind::AckCombined => "ack-combined",
            MailKind::OutOfScope => "out-of-scope",
            MailKind::CannotDecrypt => "cannot-decrypt",
            MailKind::RelayRefused => "relay-refused",
            MailKind::Alert => "alert",
            MailKind::Digest => "digest",
            MailKind::DownstreamNotice => "downstream-notice",
            MailKind::TeamReply => "team-reply",
            MailKind::FixedNotice => "fixed-notice",
            MailKind::DisclosedNotice => "disclosed-notice",
            MailKind::DiscloseOnNotice => "disclose-on-notice",
            MailKind::AcceptedRiskNotice => "accepted-risk-notice",
            MailKind::NeedsInfoQuestion => "needs-info-question",
            MailKind::MergedNotice => "merged-notice",
        }
    }

    /// Leaves without a person, to an address anyone can forge: counts
    /// against the hourly cap on automatic mail.
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            MailKind::Ack
                | MailKind::AckCombined
                | MailKind::OutOfScope
                | MailKind::CannotDecrypt
                | MailKind::RelayRefused
        )
    }

    /// Sent, it is the report's first answer (`acknowledged_at`). The
    /// combined acknowledgement acknowledges the reports it carries.
    pub fn acknowledges(self) -> bool {
        matches!(self, MailKind::Ack | MailKind::OutOfScope | MailKind::CannotDecrypt)
    }

    /// `kind IN ('ack', ...)` for the kinds `which` selects.
    pub fn sql_in(which: fn(MailKind) -> bool) -> String {
        let list: Vec<String> = MailKind::ALL
            .into_iter()
            .filter(|k| which(*k))
            .map(|k| format!("'{}'", k.as_str()))
            .collect();
        format!("kind IN ({})", list.join(", "))
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of [`MailKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMailKind(pub String);

impl fmt::Display for UnknownMailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown kind of outgoing mail {:?}", self.0)
    }
}

impl std::error::Error for UnknownMailKind {}

impl FromStr for MailKind {
    type Err = UnknownMailKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MailKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownMailKind(s.to_owned()))
    }
}

impl ToSql for MailKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MailKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: UnknownMailKind| FromSqlError::Other(Box::new(e)))
    }
}

impl serde::Serialize for MailKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_sql_lists_the_automatic_kinds() {
        for k in MailKind::ALL {
            assert_eq!(k.as_str().parse::<MailKind>(), Ok(k));
        }
        assert_eq!(
            MailKind::sql_in(MailKind::is_automatic),
            "kind IN ('ack', 'ack-combined', 'out-of-scope', 'cannot-decrypt', 'relay-refused')"
        );
        assert!("relay".parse::<MailKind>().is_err());
    }
}
