//! The command line as clap sees it: verbs, flags and their help texts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "embargo",
    version,
    about = "Runs a security@ mailbox for coordinated vulnerability disclosure."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "/etc/embargo/embargo.toml",
        env = "EMBARGO_CONFIG"
    )]
    pub config: PathBuf,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log more on standard error: -v shows what a verb does (info), -vv
    /// debug. Without it a verb logs only warnings and errors; `run` logs
    /// info. RUST_LOG overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who you are, for the report's timeline when the login does not say
    /// (by default: $SUDO_USER, else the login user, else the user).
    #[arg(long = "as", global = true, value_name = "NAME")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Watch the mailbox and answer reports until SIGTERM or SIGINT.
    Run {
        /// Process what is waiting, send what is due, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Check everything `run` would refuse, offline, and list every problem
    /// with its file, line, key and fix (exit 0 only when `run` would start).
    ///
    /// Examples:
    ///   embargo check-config
    ///   embargo --config /etc/embargo/embargo.toml check-config --connect
    CheckConfig {
        /// Also log in to IMAP and SMTP (and the OAuth token endpoint) and
        /// explain each failure in plain words.
        #[arg(long)]
        connect: bool,
    },
    /// Look at reports.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// OpenPGP keys: the team's (loaded from the config) and reporters' (learned).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Is the daemon healthy? Exit 0 OK, 1 something needs attention (overdue
    /// reports, failed or old outbox mail), 2 critical (daemon not running,
    /// mailbox not connected). Works as a monitoring check.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the database, safe while the daemon runs.
    Backup {
        /// The new file to write (must not exist).
        path: PathBuf,
    },
    /// Replace the database with a backup (stop the daemon first).
    Restore {
        /// A file written by `embargo backup`.
        path: PathBuf,
    },
    /// The daily digest: print it, or send it now.
    Digest {
        /// Print the digest (text; with --html the HTML part) instead of sending.
        #[arg(long, conflicts_with = "send")]
        dry_run: bool,
        /// Send it now to [team] notify (whether or not there is anything to say).
        #[arg(long)]
        send: bool,
        /// With --dry-run: print the HTML part.
        #[arg(long)]
        html: bool,
        /// Pretend it is this time (RFC 3339), for previews.
        #[arg(long)]
        now: Option<String>,
    },
    /// The Security Hall of Fame: credited reporters of fixed or disclosed reports.
    HallOfFame {
        /// md, html or json.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// Print security.txt (RFC 9116) from the config.
    SecurityTxt {
        /// Clearsign it with the team key.
        #[arg(long)]
        sign: bool,
    },
    /// Print the man page (roff) on standard output.
    Man,
    /// Print shell completions on standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// The advisory kept with a report (TOML), and its exports.
    Advisory {
        #[command(subcommand)]
        command: AdvisoryCommand,
    },
    /// OAuth 2.0 logins for IMAP and SMTP ([oauth2]).
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
    /// Inbound mail that did not become a report: automatic, failed, duplicate.
    Messages {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdvisoryCommand {
    /// Edit the report's advisory in $VISUAL or $EDITOR (created on first use
    /// from the report). Checked on save; when invalid it reopens with the
    /// problems on top. Save it unchanged or empty to give up.
    Edit { id: String },
    /// Print the advisory (TOML; --json: with the CVSS scores and ratings).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the advisory with a TOML file ("-": standard input), checked first.
    Import { id: String, file: PathBuf },
    /// Export the advisory: osv, cve (CVE JSON 5 CNA container), csaf (CSAF
    /// 2.0), ghsa (GitHub's repository advisory payload), md or html. Before
    /// disclosure only with --draft.
    Export {
        /// The report; or --all for every disclosed report.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long)]
        format: String,
        /// Export an advisory that is not disclosed yet, marked DRAFT.
        #[arg(long)]
        draft: bool,
        /// Every disclosed report with an advisory, into --out.
        #[arg(long, requires = "out", conflicts_with = "id")]
        all: bool,
        /// The folder for --all (one file per report).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send every [[downstream]] recipient the embargoed notice: signed with
    /// the team key, encrypted to the recipient's key (config/downstream-notice.txt).
    NotifyDownstream(NotifyDownstreamArgs),
    /// Print the clearsigned public advisory (once disclosed), or with --pre
    /// the pre-disclosure notice: products, severity, release time, no details.
    Announce {
        id: String,
        #[arg(long)]
        pre: bool,
        /// With --pre: the release time (default: the one the downstream
        /// notices announced).
        #[arg(long)]
        release_at: Option<String>,
    },
}

/// `advisory notify-downstream`.
#[derive(clap::Args, Debug)]
pub struct NotifyDownstreamArgs {
    pub id: String,
    /// The public release, in UTC: "2027-01-12 15:00 UTC".
    #[arg(long)]
    pub release_at: String,
    /// A fix or patch to send along (repeatable).
    #[arg(long)]
    pub attach: Vec<PathBuf>,
    /// Send to recipients without a key in cleartext (recorded) instead
    /// of refusing them.
    #[arg(long)]
    pub allow_cleartext: bool,
    /// Send although the release is beyond disclosure.max_embargo_days (recorded).
    #[arg(long, value_name = "REASON")]
    pub force: Option<String>,
    /// Only these recipients (by name or address; repeatable).
    #[arg(long)]
    pub only: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum OauthCommand {
    /// Log in with the device authorization grant (RFC 8628): prints a URL
    /// and a code to enter there, waits for the approval, stores the
    /// refresh token (oauth2.refresh_token_file, mode 0600).
    Login,
    /// Store a refresh token obtained elsewhere, read from standard input
    /// (for providers whose device flow does not grant the mail scopes, such
    /// as Google's), and prove it with one refresh.
    Import,
    /// Refreshes the access token once and shows its expiry and scopes
    /// (never the token). Exit 1 when the provider refuses the refresh token.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Team keys (fingerprint, algorithm, expiry) and learned reporter keys
    /// (address, fingerprint, source, first seen).
    List {
        /// Print JSON: {"team": [...], "reporters": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Pin a reporter's candidate key (a key other than the pinned one came
    /// in their mail): from now on replies are encrypted to it.
    Accept {
        /// The reporter's address.
        address: String,
        /// The candidate's fingerprint, as `keys list` shows it.
        fingerprint: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportsCommand {
    /// The reports: soonest deadline first, with the next deadline in
    /// local time (policy.timezone) or how overdue it is.
    ///
    /// Examples:
    ///   embargo reports list --open
    ///   embargo reports list --overdue
    ///   embargo reports list --state new --state triaged --since 2026-12-01
    ///   embargo reports list --json | jq '.[] | select(.next_due.overdue)'
    List(ListArgs),
    /// Set a report's state: new, triaged, fixing, fixed, disclosed, excluded,
    /// duplicate, invalid, withdrawn. Any state past new stops the response clock.
    State {
        id: String,
        state: String,
        /// Why (goes into the event; accepted-risk needs it).
        #[arg(long, default_value = "")]
        note: String,
        /// With accepted-risk: tell the reporter, with the reason (config/accepted-risk.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Mark a report as especially complex: the fix clock runs to policy.complex_fix_days.
    Complex { id: String },
    /// The fix is released (today, or --date YYYY-MM-DD): the details clock starts.
    Fixed {
        id: String,
        #[arg(long)]
        date: Option<String>,
        /// Send the reporter the "fixed" notice (config/fixed.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Send the reporter a message from the team (text from --file or stdin):
    /// threaded, signed, encrypted when their key is known.
    Reply {
        id: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Record the agreed disclosure date (refused beyond the policy's limits
    /// unless --force, with the reason recorded).
    DiscloseOn {
        id: String,
        /// YYYY-MM-DD.
        date: String,
        /// Send the reporter the notice (config/disclose-on.txt).
        #[arg(long)]
        notify: bool,
        /// Allow a date beyond the policy's limits; give the reason.
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
    },
    /// The details are public: close the report.
    Disclosed {
        id: String,
        /// Tell the reporter it is public, with the advisory and CVE links,
        /// and that they may publish (config/disclosed.txt).
        #[arg(long)]
        notify: bool,
    },
    /// Merge report ID into INTO (ID becomes a duplicate; its thread joins INTO).
    Merge { id: String, into: String },
    /// Record how the reporter wants to be credited in the hall of fame.
    Credit {
        id: String,
        #[arg(
            long,
            required_unless_present_any = ["no_credit", "accept"],
            conflicts_with_all = ["no_credit", "accept"]
        )]
        name: Option<String>,
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
    /// One report with its whole thread and every event.
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
