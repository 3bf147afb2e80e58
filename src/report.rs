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

/// `2027-01-12 15:00 UTC`: a release time as notices and the digest say it.
pub fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// Where a report stands. `New` awaits the team; the others are set by the
/// team (or by embargo on its behalf: triaged on its first authenticated
/// response, excluded by the exclusion rules). Stored as the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportState {
    New,
    Triaged,
    /// The team asked the reporter for more: the response clock has
    /// stopped and the fix clock is paused until the reporter answers.
    #[serde(rename = "needs-info")]
    NeedsInfo,
    Fixing,
    Fixed,
    Disclosed,
    Excluded,
    Duplicate,
    Invalid,
    Withdrawn,
    /// The team accepted the risk: no fix is planned; the fix clock stops
    /// and the report is disclosed as a fixed one would be.
    #[serde(rename = "accepted-risk")]
    AcceptedRisk,
}

impl ReportState {
    pub const ALL: [ReportState; 11] = [
        ReportState::New,
        ReportState::Triaged,
        ReportState::NeedsInfo,
        ReportState::Fixing,
        ReportState::Fixed,
        ReportState::Disclosed,
        ReportState::Excluded,
        ReportState::Duplicate,
        ReportState::Invalid,
        ReportState::Withdrawn,
        ReportState::AcceptedRisk,
    ];

    /// The name stored in the database and shown everywhere.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::New => "new",
            ReportState::Triaged => "triaged",
            ReportState::NeedsInfo => "needs-info",
            ReportState::Fixing => "fixing",
            ReportState::Fixed => "fixed",
            ReportState::Disclosed => "disclosed",
            ReportState::Excluded => "excluded",
            ReportState::Duplicate => "duplicate",
            ReportState::Invalid => "invalid",
            ReportState::Withdrawn => "withdrawn",
            ReportState::AcceptedRisk => "accepted-risk",
        }
    }

    /// No longer running the response and fix clocks.
    pub fn is_closed(self) -> bool {
        !matches!(
            self,
            ReportState::New | ReportState::Triaged | ReportState::NeedsInfo | ReportState::Fixing
        )
    }

    /// The fix clock runs (it is paused while the team waits for the
    /// reporter, and stopped once the report is closed).
    pub fn runs_fix_clock(self) -> bool {
        matches!(self, ReportState::New | ReportState::Triaged | ReportState::Fixing)
    }

    /// The step embargo takes when the reporter's authenticated mail
    /// answers the team's question: back to triaged.
    pub fn on_reporter_answer(self) -> Option<ReportState> {
        (self == ReportState::NeedsInfo).then_some(ReportState::Triaged)
    }

    /// Where a report starts: excluded when its topic is one the policy
    /// does not want, new otherwise.
    pub fn initial(excluded: bool) -> ReportState {
        if excluded {
            ReportState::Excluded
        } else {
            ReportState::New
        }
    }

    /// The step embargo takes when the team first answers (by mail or by a
    /// verb): a new report becomes triaged; any other state stays.
    pub fn on_team_response(self) -> Option<ReportState> {
        (self == ReportState::New).then_some(ReportState::Triaged)
    }

    /// The step embargo takes when the reporter answers an out-of-scope
    /// reply: an excluded report is reopened as new (and acknowledged).
    pub fn on_reporter_reply(self) -> Option<ReportState> {
        (self == ReportState::Excluded).then_some(ReportState::New)
    }

    /// The step `reports fixed` takes: to fixed, unless already fixed or
    /// disclosed (a later fix date does not undo a disclosure).
    pub fn on_fix_released(self) -> Option<ReportState> {
        (!matches!(self, ReportState::Fixed | ReportState::Disclosed)).then_some(ReportState::Fixed)
    }
}

/// A state change the team asks for. The team may move a report from any
/// state to any other (reopen, correct a mistake); what follows from the
/// move is decided here, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: ReportState,
    pub to: ReportState,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

impl Transition {
    /// Whether the team may take this step. Every move is allowed (reopen,
    /// correct a mistake) except into accepted-risk, which needs a report
    /// the team has looked at and not fixed: from triaged or fixing.
    pub fn check(self) -> Result<(), String> {
        if self.to == ReportState::NeedsInfo && !matches!(self.from, ReportState::New | ReportState::Triaged) {
            return Err(format!(
                "needs-info is reachable from new or triaged; this report is {}",
                self.from
            ));
        }
        if self.to == ReportState::AcceptedRisk && !matches!(self.from, ReportState::Triaged | ReportState::Fixing) {
            return Err(format!(
                "accepted-risk is reachable from triaged or fixing; this report is {}",
                self.from
            ));
        }
        Ok(())
    }

    /// The step is recorded only with the team's reason.
    pub fn needs_reason(self) -> bool {
        self.to == ReportState::AcceptedRisk
    }

    /// Into needs-info: the fix clock pauses (from now until the reporter
    /// answers or the team moves the report on).
    pub fn pauses_fix_clock(self) -> bool {
        self.to == ReportState::NeedsInfo && self.from != ReportState::NeedsInfo
    }

    /// Out of needs-info: the time waited is added to the fix deadline.
    pub fn resumes_fix_clock(self) -> bool {
        self.from == ReportState::NeedsInfo && self.to != ReportState::NeedsInfo
    }

    /// Any step past new is the team's response: the response clock stops.
    pub fn stops_response_clock(self) -> bool {
        self.to != ReportState::New
    }

    /// To fixed: the fix date is set (if unset) and the details clock starts.
    pub fn starts_details_clock(self) -> bool {
        self.to == ReportState::Fixed
    }

    /// To disclosed: the disclosure date is set (if unset).
    pub fn marks_disclosed(self) -> bool {
        self.to == ReportState::Disclosed
    }

    /// Back to new from an excluded topic: the reporter gets the
    /// acknowledgement they did not get at first.
    pub fn sends_acknowledgement(self) -> bool {
        self.from == ReportState::Excluded && self.to == ReportState::New
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

fn ser_ts<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts(*t))
}

fn ser_opt_ts<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&ts(*t)),
        None => s.serialize_none(),
    }
}

/// One report as `reports list --json` prints it; times as
/// [`Timestamp`], printed as RFC 3339 UTC ([`ts`]).
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    /// The tracking id, e.g. `SEC-2026-0001`.
    pub id: String,
    pub state: ReportState,
    pub reporter: String,
    pub reporter_name: String,
    pub subject: String,
    #[serde(serialize_with = "ser_ts")]
    pub received_at: Timestamp,
    #[serde(serialize_with = "ser_opt_ts")]
    pub acknowledged_at: Option<Timestamp>,
    /// Inbound messages in the thread (the report and its follow-ups).
    pub messages: u64,
    /// Mail embargo sent in the thread (acknowledgements, later replies).
    pub messages_out: u64,
    pub excluded_topic: Option<String>,
    pub encrypted: bool,
    /// Signature state of the first message: none, good, bad, unknown-key.
    pub signature: String,
    /// received + N business days (RFC 3339); met when the team responds.
    #[serde(serialize_with = "ser_opt_ts")]
    pub response_due: Option<Timestamp>,
    /// When the team first responded (stops the response clock).
    #[serde(serialize_with = "ser_opt_ts")]
    pub response_met_at: Option<Timestamp>,
    /// received + 90 days, or 120 once complex.
    #[serde(serialize_with = "ser_opt_ts")]
    pub fix_due: Option<Timestamp>,
    /// fix released + 30 days; null until fixed.
    #[serde(serialize_with = "ser_opt_ts")]
    pub details_due: Option<Timestamp>,
    /// Business days left on the response clock (negative: overdue); null once met.
    pub response_business_days_left: Option<i64>,
    /// The reporter wrote after the team's last response.
    pub reporter_waiting: bool,
    pub complex: bool,
    #[serde(serialize_with = "ser_opt_ts")]
    pub fixed_at: Option<Timestamp>,
    #[serde(serialize_with = "ser_opt_ts")]
    pub disclosed_at: Option<Timestamp>,
    pub credit: Credit,
    pub credit_name: String,
    pub credit_url: String,
    /// A credit wish from mail whose sender was not authenticated: the team
    /// confirms it (`reports credit ID --accept`) or records its own.
    pub credit_proposal: Option<CreditProposal>,
    pub merged_into: Option<String>,
    /// The agreed disclosure date, if any.
    pub disclose_on: Option<String>,
    /// The next clock that runs out, if any runs (added by
    /// `policy::annotate`).
    pub next_due: Option<NextDue>,
    /// Since when the team waits for the reporter's answer (needs-info);
    /// the fix clock is paused meanwhile.
    #[serde(serialize_with = "ser_opt_ts")]
    pub waiting_since: Option<Timestamp>,
    /// Seconds the report waited for the reporter before (added to the fix
    /// deadline).
    pub waited_secs: u64,
    /// What the report lacks of the checklist (`triage::checklist::ITEMS`).
    pub missing: Vec<String>,
    #[serde(skip)]
    pub last_reporter_at: Option<Timestamp>,
    #[serde(skip)]
    pub last_team_at: Option<Timestamp>,
}

impl ReportSummary {
    /// A report with every field set, to render templates against when
    /// checking them (`check-config`).
    pub fn sample() -> ReportSummary {
        // 2026-12-07T09:00:00Z, checked when compiled.
        let at = const { Timestamp::constant(1_796_634_000, 0) };
        ReportSummary {
            id: "SEC-2026-0001".into(),
            state: ReportState::Fixed,
            reporter: "researcher@example.org".into(),
            reporter_name: "Rita Researcher".into(),
            subject: "XSS in the login form".into(),
            received_at: at,
            acknowledged_at: Some(at),
            messages: 2,
            messages_out: 1,
            excluded_topic: None,
            encrypted: true,
            signature: "good".into(),
            response_due: Some(at),
            response_met_at: Some(at),
            fix_due: Some(at),
            details_due: Some(at),
            response_business_days_left: Some(3),
            reporter_waiting: false,
            complex: false,
            fixed_at: Some(at),
            disclosed_at: Some(at),
            credit: Credit::Wanted,
            credit_name: "Rita Researcher".into(),
            credit_url: "https://example.org/rita".into(),
            credit_proposal: None,
            merged_into: Some("SEC-2026-0002".into()),
            disclose_on: Some(ts(at)),
            next_due: Some(NextDue {
                clock: "details",
                due: ts(at),
                overdue: false,
            }),
            waiting_since: None,
            waited_secs: 0,
            missing: vec!["version".into()],
            last_reporter_at: None,
            last_team_at: None,
        }
    }
}

/// The clock of a report that runs out next.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NextDue {
    /// `response` (the team confirms or asks), `fix`, or `details` (the
    /// technical details may be published).
    pub clock: &'static str,
    /// RFC 3339, UTC.
    pub due: String,
    pub overdue: bool,
}

/// What the reporter said about being credited (stored, and in `--json`,
/// as "", "yes" or "no").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Credit {
    /// Not said (yet).
    #[default]
    #[serde(rename = "")]
    Unknown,
    /// Credit, with the name and link given beside it.
    #[serde(rename = "yes")]
    Wanted,
    /// No credit.
    #[serde(rename = "no")]
    Declined,
}

impl Credit {
    pub fn as_str(self) -> &'static str {
        match self {
            Credit::Unknown => "",
            Credit::Wanted => "yes",
            Credit::Declined => "no",
        }
    }

    /// As stored; anything else is "not said".
    pub fn from_stored(s: &str) -> Credit {
        match s {
            "yes" => Credit::Wanted,
            "no" => Credit::Declined,
            _ => Credit::Unknown,
        }
    }

    pub fn wanted(wanted: bool) -> Credit {
        if wanted { Credit::Wanted } else { Credit::Declined }
    }
}

impl std::fmt::Display for Credit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unconfirmed credit wish.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CreditProposal {
    /// The mail asked for credit or declined it.
    pub credit: Credit,
    pub name: String,
    pub url: String,
}

impl CreditProposal {
    /// `credit as NAME URL` (quoted bounded) or `no credit`.
    pub fn describe(&self) -> String {
        match self.credit {
            Credit::Wanted => format!(
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
        assert_eq!(
            open,
            [
                ReportState::New,
                ReportState::Triaged,
                ReportState::NeedsInfo,
                ReportState::Fixing
            ]
        );
        assert!(!ReportState::NeedsInfo.runs_fix_clock(), "paused while waiting");
        let e = "resolved".parse::<ReportState>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown state \"resolved\"; one of new, triaged, needs-info, fixing, fixed, disclosed, excluded, duplicate, invalid, withdrawn, accepted-risk"
        );
    }

    #[test]
    fn needs_info_comes_from_new_or_triaged_and_pauses_the_fix_clock() {
        use ReportState::*;
        for from in [New, Triaged] {
            let t = Transition { from, to: NeedsInfo };
            assert!(t.check().is_ok() && t.pauses_fix_clock() && t.stops_response_clock());
        }
        for from in [Fixing, Fixed, Disclosed, Excluded] {
            let e = Transition { from, to: NeedsInfo }.check().unwrap_err();
            assert!(e.contains("reachable from new or triaged"), "{e}");
        }
        assert!(
            Transition {
                from: NeedsInfo,
                to: Fixing
            }
            .resumes_fix_clock()
        );
        assert_eq!(NeedsInfo.on_reporter_answer(), Some(Triaged));
        assert_eq!(Triaged.on_reporter_answer(), None);
    }

    #[test]
    fn automatic_steps_and_what_a_team_move_sets_off() {
        use ReportState::*;
        assert_eq!(ReportState::initial(true), Excluded);
        assert_eq!(ReportState::initial(false), New);
        let triaged: Vec<_> = ReportState::ALL
            .into_iter()
            .filter_map(|s| s.on_team_response())
            .collect();
        assert_eq!(triaged, [Triaged], "only new moves on the team's response");
        assert_eq!(Excluded.on_reporter_reply(), Some(New));
        assert_eq!(Triaged.on_reporter_reply(), None);
        assert_eq!(Fixing.on_fix_released(), Some(Fixed));
        assert_eq!(Disclosed.on_fix_released(), None);
        assert_eq!(Fixed.on_fix_released(), None);

        let reopen = Transition {
            from: Excluded,
            to: New,
        };
        assert!(reopen.sends_acknowledgement() && !reopen.stops_response_clock());
        let fix = Transition {
            from: Fixing,
            to: Fixed,
        };
        assert!(fix.starts_details_clock() && fix.stops_response_clock() && !fix.marks_disclosed());
        assert!(
            Transition {
                from: Fixed,
                to: Disclosed
            }
            .marks_disclosed()
        );
        assert!(!Transition { from: Triaged, to: New }.sends_acknowledgement());
        for from in ReportState::ALL {
            let step = Transition { from, to: AcceptedRisk };
            assert_eq!(step.check().is_ok(), matches!(from, Triaged | Fixing), "{step}");
            assert!(step.needs_reason());
        }
        assert!(AcceptedRisk.is_closed(), "no fix clock");
    }
}
