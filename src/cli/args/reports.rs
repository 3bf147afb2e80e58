//! `embargo reports ...`: the team's verbs on reports, and `reports list`'s
//! filters.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ReportsCommand {
    /// The reports, soonest deadline first.
    ///
    /// Each with its next deadline in local time (policy.timezone) or how
    /// overdue it is.
    ///
    /// Examples:
    ///   embargo reports list --open
    ///   embargo reports list --overdue
    ///   embargo reports list --state new --state triaged --since 2026-12-01
    ///   embargo reports list --json | jq '.[] | select(.next_due.overdue)'
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// Set a report's state.
    ///
    /// new, triaged, needs-info, fixing, fixed, disclosed, accepted-risk,
    /// excluded, duplicate, invalid or withdrawn. Any
    /// state past new stops the response clock; back to new from an excluded
    /// topic sends the acknowledgement. needs-info (from new or triaged)
    /// pauses the fix clock until the reporter's authenticated answer moves
    /// the report back to triaged.
    ///
    /// Examples:
    ///   embargo reports state SEC-2026-0001 triaged
    ///   embargo reports state SEC-2026-0001 needs-info --note "Which version did you test?" --notify
    ///   embargo reports state SEC-2026-0001 accepted-risk --note "only with local root" --notify
    #[command(verbatim_doc_comment)]
    State {
        /// The report's tracking id, e.g. SEC-2026-0001.
        id: String,
        /// new, triaged, needs-info, fixing, fixed, disclosed, accepted-risk,
        /// excluded, duplicate, invalid or withdrawn.
        state: String,
        /// Why (goes into the event; accepted-risk needs it); with
        /// needs-info --notify, the question to the reporter.
        #[arg(long, default_value = "")]
        note: String,
        /// With accepted-risk: tell the reporter, with the reason
        /// (config/accepted-risk.txt); with needs-info: send them the
        /// question (config/needs-info.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Mark a report as especially complex: the fix clock runs to policy.complex_fix_days.
    ///
    /// Examples:
    ///   embargo reports complex SEC-2026-0001
    #[command(verbatim_doc_comment)]
    Complex {
        /// The report's tracking id.
        id: String,
    },
    /// The fix is released (today, or --date YYYY-MM-DD): the details clock starts.
    ///
    /// Examples:
    ///   embargo reports fixed SEC-2026-0001 --notify
    ///   embargo reports fixed SEC-2026-0001 --date 2026-12-06
    #[command(verbatim_doc_comment)]
    Fixed {
        /// The report's tracking id.
        id: String,
        /// The day of the release (YYYY-MM-DD, a day in policy.timezone); default today.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Send the reporter the "fixed" notice (config/fixed.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Send the reporter a message from the team.
    ///
    /// The text comes from --file or standard input; the mail is threaded,
    /// signed, and encrypted when their key is known.
    ///
    /// Examples:
    ///   embargo reports reply SEC-2026-0001 --file answer.txt
    ///   echo "Thanks, we can reproduce it." | embargo reports reply SEC-2026-0001
    #[command(verbatim_doc_comment)]
    Reply {
        /// The report's tracking id.
        id: String,
        /// The text to send (default: standard input).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Record the agreed disclosure date.
    ///
    /// Refused beyond the policy's limits unless --force, with the reason
    /// recorded.
    ///
    /// Examples:
    ///   embargo reports disclose-on SEC-2026-0001 2027-03-01 --notify
    #[command(verbatim_doc_comment)]
    DiscloseOn {
        /// The report's tracking id.
        id: String,
        /// YYYY-MM-DD, a day in policy.timezone.
        date: String,
        /// Send the reporter the notice (config/disclose-on.txt).
        #[arg(long)]
        notify: bool,
        /// Allow a date beyond the policy's limits; give the reason.
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
    },
    /// The details are public: close the report.
    ///
    /// Examples:
    ///   embargo reports disclosed SEC-2026-0001 --notify
    #[command(verbatim_doc_comment)]
    Disclosed {
        /// The report's tracking id.
        id: String,
        /// Tell the reporter it is public, with the advisory and CVE links,
        /// and that they may publish (config/disclosed.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Merge report ID into OTHER: ID becomes a duplicate.
    ///
    /// Its thread joins OTHER. With --notify its reporter hears that the issue is already
    /// known and tracked, and hears again when it is fixed and disclosed;
    /// their credit wish stays with them and counts in the hall of fame.
    ///
    /// Examples:
    ///   embargo reports merge SEC-2026-0007 --into SEC-2026-0003
    ///   embargo reports merge SEC-2026-0007 --into SEC-2026-0003 --notify
    #[command(verbatim_doc_comment)]
    Merge {
        /// The later report, which becomes a duplicate.
        id: String,
        /// The report it duplicates.
        #[arg(long, value_name = "OTHER", required_unless_present = "into_positional")]
        into: Option<String>,
        /// The same as a second argument (older scripts).
        #[arg(hide = true, conflicts_with = "into")]
        into_positional: Option<String>,
        /// Tell the later reporter that the issue is already known
        /// (config/merged.txt), threaded and encrypted as every reply.
        #[arg(long)]
        notify: bool,
    },
    /// Record how the reporter wants to be credited in the hall of fame.
    ///
    /// One of --name, --no-credit or --accept is needed.
    ///
    /// Examples:
    ///   embargo reports credit SEC-2026-0001 --name "Rita Researcher" --url https://rita.example
    ///   embargo reports credit SEC-2026-0001 --no-credit
    ///   embargo reports credit SEC-2026-0001 --accept
    #[command(verbatim_doc_comment)]
    Credit {
        /// The report's tracking id.
        id: String,
        /// The name to credit.
        #[arg(
            long,
            required_unless_present_any = ["no_credit", "accept"],
            conflicts_with_all = ["no_credit", "accept"]
        )]
        name: Option<String>,
        /// A link for the name (https:, http: or mailto:).
        #[arg(long, requires = "name")]
        url: Option<String>,
        /// The reporter does not want to be credited.
        #[arg(long, conflicts_with = "accept")]
        no_credit: bool,
        /// Confirm the credit wish from the reporter's unauthenticated mail
        /// (shown as "Credit proposed" in `reports show` and the digest).
        #[arg(long)]
        accept: bool,
    },
    /// Earlier reports and published advisories like this one, with evidence.
    ///
    /// Reports in every state and [triage] known_advisories, best first,
    /// with what they share; only those at or above [triage]
    /// similar_threshold. Suggestions only; merging is the team's decision
    /// (reports merge).
    ///
    /// Examples:
    ///   embargo reports similar SEC-2026-0012
    ///   embargo reports similar SEC-2026-0012 --json --limit 3
    #[command(verbatim_doc_comment)]
    Similar {
        /// The tracking id, e.g. SEC-2026-0012.
        id: String,
        /// Print JSON: a list of {"id", "score", "evidence", "kind"}.
        #[arg(long)]
        json: bool,
        /// At most this many suggestions.
        #[arg(long, default_value_t = 10, value_name = "N")]
        limit: usize,
    },
    /// One report with its whole thread and every event, times in policy.timezone.
    ///
    /// Examples:
    ///   embargo reports show SEC-2026-0001
    ///   embargo reports show SEC-2026-0001 --json | jq .thread
    #[command(verbatim_doc_comment)]
    Show {
        /// The tracking id, e.g. SEC-2026-0001.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `reports list` filters and output.
#[derive(clap::Args, Debug, Clone)]
pub struct ListArgs {
    /// Print one JSON array (oldest first; times in RFC 3339 UTC).
    #[arg(long)]
    pub json: bool,
    /// Only reports in this state; repeat for several: new, triaged, fixing,
    /// fixed, disclosed, accepted-risk, excluded, duplicate, invalid,
    /// withdrawn.
    #[arg(long = "state", value_name = "STATE")]
    pub states: Vec<String>,
    /// Only reports still open: new, triaged, fixing, or fixed and not yet
    /// disclosed.
    #[arg(long)]
    pub open: bool,
    /// Only reports with a clock past its deadline.
    #[arg(long)]
    pub overdue: bool,
    /// Only reports received on or after this day (YYYY-MM-DD, a day in
    /// policy.timezone).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Colour the deadlines: auto (on a terminal, unless NO_COLOR is set),
    /// always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
