//! The domain: what a report is, independent of where it is stored or how
//! mail about it is read and written. Every stage and the store use these
//! types; this module uses none of theirs.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

/// Formats a timestamp the way the database and the JSON output store it.
pub fn ts(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// Where a report stands. `New` awaits the team; the others are set by the
/// team (or by embargo on its behalf: triaged on its first authenticated
/// response, excluded by the exclusion rules). Stored as the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportState {
    New,
    Triaged,
    Fixing,
    Fixed,
    Disclosed,
    Excluded,
    Duplicate,
    Invalid,
    Withdrawn,
}

impl ReportState {
    pub const ALL: [ReportState; 9] = [
        ReportState::New,
        ReportState::Triaged,
        ReportState::Fixing,
        ReportState::Fixed,
        ReportState::Disclosed,
        ReportState::Excluded,
        ReportState::Duplicate,
        ReportState::Invalid,
        ReportState::Withdrawn,
    ];

    /// The name stored in the database and shown everywhere.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::New => "new",
            ReportState::Triaged => "triaged",
            ReportState::Fixing => "fixing",
            ReportState::Fixed => "fixed",
            ReportState::Disclosed => "disclosed",
            ReportState::Excluded => "excluded",
            ReportState::Duplicate => "duplicate",
            ReportState::Invalid => "invalid",
            ReportState::Withdrawn => "withdrawn",
        }
    }

    /// No longer running the response and fix clocks.
    pub fn is_closed(self) -> bool {
        !matches!(self, ReportState::New | ReportState::Triaged | ReportState::Fixing)
    }
}

impl fmt::Display for ReportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`ReportState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown state {:?}; one of {}",
            self.0,
            ReportState::ALL.map(ReportState::as_str).join(", ")
        )
    }
}

impl std::error::Error for UnknownState {}

impl FromStr for ReportState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReportState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// A report as threading needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRef {
    pub id: i64,
    pub tracking_id: String,
    pub reporter: String,
}

/// The reporter's wish about credit, as recognised in their mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditWish {
    pub wanted: bool,
    pub name: String,
    pub url: String,
}

impl CreditWish {
    /// For the event log: `credit as "Jane Doe" https://…` or `declined credit`.
    pub fn describe(&self) -> String {
        if self.wanted {
            format!("credit as {:?} {}", self.name, self.url)
        } else {
            "declined credit".to_owned()
        }
    }
}

/// One report as `reports list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    /// The tracking id, e.g. `SEC-2026-0001`.
    pub id: String,
    pub state: ReportState,
    pub reporter: String,
    pub reporter_name: String,
    pub subject: String,
    pub received_at: String,
    pub acknowledged_at: Option<String>,
    /// Inbound messages in the thread (the report and its follow-ups).
    pub messages: u64,
    /// Mail embargo sent in the thread (acknowledgements, later replies).
    pub messages_out: u64,
    pub excluded_topic: Option<String>,
    pub encrypted: bool,
    /// Signature state of the first message: none, good, bad, unknown-key.
    pub signature: String,
    /// received + N business days (RFC 3339); met when the team responds.
    pub response_due: Option<String>,
    /// When the team first responded (stops the response clock).
    pub response_met_at: Option<String>,
    /// received + 90 days, or 120 once complex.
    pub fix_due: Option<String>,
    /// fix released + 30 days; null until fixed.
    pub details_due: Option<String>,
    /// Business days left on the response clock (negative: overdue); null once met.
    pub response_business_days_left: Option<i64>,
    /// The reporter wrote after the team's last response.
    pub reporter_waiting: bool,
    pub complex: bool,
    pub fixed_at: Option<String>,
    pub disclosed_at: Option<String>,
    /// "" (not known yet), "yes" or "no".
    pub credit: String,
    pub credit_name: String,
    pub credit_url: String,
    /// A credit wish from mail whose sender was not authenticated: the team
    /// confirms it (`reports credit ID --accept`) or records its own.
    pub credit_proposal: Option<CreditProposal>,
    pub merged_into: Option<String>,
    /// The agreed disclosure date, if any.
    pub disclose_on: Option<String>,
    #[serde(skip)]
    pub last_reporter_at: Option<String>,
    #[serde(skip)]
    pub last_team_at: Option<String>,
}

/// An unconfirmed credit wish.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CreditProposal {
    /// The mail asked for credit ("yes") or declined it ("no").
    pub credit: String,
    pub name: String,
    pub url: String,
}

impl CreditProposal {
    /// `credit as NAME URL` (quoted bounded) or `no credit`.
    pub fn describe(&self) -> String {
        match self.credit.as_str() {
            "yes" => format!(
                "credit as {} {}",
                crate::text::bounded(&self.name),
                crate::text::bounded(&self.url)
            ),
            _ => "no credit".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_and_closed_states() {
        for s in ReportState::ALL {
            assert_eq!(s.as_str().parse::<ReportState>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        let open: Vec<_> = ReportState::ALL.into_iter().filter(|s| !s.is_closed()).collect();
        assert_eq!(open, [ReportState::New, ReportState::Triaged, ReportState::Fixing]);
        let e = "resolved".parse::<ReportState>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown state \"resolved\"; one of new, triaged, fixing, fixed, disclosed, excluded, duplicate, invalid, withdrawn"
        );
    }
}
