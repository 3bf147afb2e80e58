//! The command line as clap sees it: verbs, flags and their help texts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

mod publish;
mod reports;
pub use publish::{CveCommand, PublishArgs};
pub use reports::{ColorChoice, ListArgs, ReportsCommand};

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
    ///
    /// Under systemd this is the service (`systemctl start embargo`); it
    /// creates and migrates the database, reloads its configuration on
    /// SIGHUP and drains on SIGTERM.
    ///
    /// Examples:
    ///   embargo run
    ///   embargo --config ./embargo.toml run --once    # take in what waits, send, exit
    #[command(verbatim_doc_comment)]
    Run {
        /// Process what is waiting, send what is due, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Check everything `run` would refuse, offline.
    ///
    /// Lists every problem with its file, line, key and fix; exit 0 only
    /// when `run` would start. --connect also logs in to IMAP and SMTP (and
    /// reads from CVE Services and GitHub when [cve] and [github] are set).
    ///
    /// Examples:
    ///   embargo check-config
    ///   embargo --config /etc/embargo/embargo.toml check-config --connect
    #[command(verbatim_doc_comment)]
    CheckConfig {
        /// Also log in to IMAP and SMTP (and the OAuth token endpoint, CVE
        /// Services, GitHub) and explain each failure in plain words.
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
    /// Is the daemon healthy? A monitoring check.
    ///
    /// Exit 0 OK, 1 something needs attention (overdue reports, failed or
    /// old outbox mail), 2 critical (daemon not running, mailbox not
    /// connected).
    ///
    /// Examples:
    ///   embargo status
    ///   embargo status --json | jq .problems
    #[command(verbatim_doc_comment)]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the database, safe while the daemon runs.
    ///
    /// Examples:
    ///   embargo backup /var/backups/embargo-$(date +%F).sqlite3
    #[command(verbatim_doc_comment)]
    Backup {
        /// The new file to write (must not exist).
        path: PathBuf,
    },
    /// Replace the database with a backup (stop the daemon first).
    ///
    /// Examples:
    ///   systemctl stop embargo && embargo restore /var/backups/embargo-2026-12-01.sqlite3
    #[command(verbatim_doc_comment)]
    Restore {
        /// A file written by `embargo backup`.
        path: PathBuf,
    },
    /// The daily digest: print it, or send it now.
    ///
    /// Examples:
    ///   embargo digest --dry-run
    ///   embargo digest --dry-run --html > digest.html
    ///   embargo digest --send
    #[command(verbatim_doc_comment)]
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
    ///
    /// Examples:
    ///   embargo hall-of-fame > hall-of-fame.md
    ///   embargo hall-of-fame --format html > /var/www/security/thanks.html
    #[command(verbatim_doc_comment)]
    HallOfFame {
        /// md, html or json.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// Print security.txt (RFC 9116) from the config.
    ///
    /// Examples:
    ///   embargo security-txt --sign > /var/www/.well-known/security.txt
    #[command(verbatim_doc_comment)]
    SecurityTxt {
        /// Clearsign it with the team key.
        #[arg(long)]
        sign: bool,
    },
    /// Print a man page (roff): embargo(1), a verb's, or embargo.toml(5).
    ///
    /// Examples:
    ///   embargo man | man -l -
    ///   embargo man reports | man -l -
    ///   embargo man embargo.toml | man -l -
    ///   embargo man --out target/man     # every page, in man1/ and man5/ (a MANPATH entry)
    #[command(verbatim_doc_comment)]
    Man {
        /// A verb (`reports`, `advisory`, ...) or `embargo.toml`; none: embargo(1).
        page: Option<String>,
        /// Write every page under this folder instead: man1/embargo.1, man1/embargo-reports.1, ..., man5/embargo.toml.5.
        #[arg(long, value_name = "DIR", conflicts_with = "page")]
        out: Option<PathBuf>,
    },
    /// Print shell completions on standard output.
    ///
    /// Examples:
    ///   embargo completions bash > /etc/bash_completion.d/embargo
    ///   embargo completions zsh > ~/.zfunc/_embargo
    #[command(verbatim_doc_comment)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// The advisory kept with a report (TOML), and its exports.
    Advisory {
        #[command(subcommand)]
        command: AdvisoryCommand,
    },
    /// The team's end-to-end encrypted Matrix room ([matrix]).
    Matrix {
        #[command(subcommand)]
        command: MatrixCommand,
    },
    /// CVE ids through CVE Services, for teams that are a CNA ([cve]).
    Cve {
        #[command(subcommand)]
        command: CveCommand,
    },
    /// The configuration: what is in effect, every key with its value or default.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// OAuth 2.0 logins for IMAP and SMTP ([oauth2]).
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
    /// Inbound mail that did not become a report: automatic, failed, duplicate.
    ///
    /// Examples:
    ///   embargo messages --limit 20
    ///   embargo messages --json | jq '.[] | select(.kind == "failed")'
    #[command(verbatim_doc_comment)]
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
pub enum MatrixCommand {
    /// Create embargo's device and join the room.
    ///
    /// Logs in once with matrix.password_file, keeps the device's session
    /// (0600) and keys in the state directory, bootstraps cross-signing so
    /// operators verify the bot once, and joins matrix.room.
    ///
    /// Examples:
    ///   embargo matrix login
    #[command(verbatim_doc_comment)]
    Login,
    /// The device, the room, whether it is encrypted, whom the bot trusts,
    /// and the queue of posts. Exits 1 when something needs the operator.
    ///
    /// Examples:
    ///   embargo matrix status
    ///   embargo matrix status --json
    #[command(verbatim_doc_comment)]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Trust an operator's cross-signing identity as it is now (after they
    /// reset it), or with DEVICE_ID one device explicitly (for clients
    /// without cross-signing). Prints the key: compare it with what the
    /// operator's client shows.
    ///
    /// Examples:
    ///   embargo matrix trust @alice:example.org
    ///   embargo matrix trust @alice:example.org ABCDEFGHIJ
    #[command(verbatim_doc_comment)]
    Trust {
        /// The operator (one of matrix.operators).
        user_id: String,
        /// One of their devices (a session id, as their client shows it).
        device_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdvisoryCommand {
    /// Edit the report's advisory in $VISUAL or $EDITOR (created on first use
    /// from the report). Checked on save; when invalid it reopens with the
    /// problems on top. Save it unchanged or empty to give up.
    ///
    /// Examples:
    ///   embargo advisory edit SEC-2026-0001
    ///   EDITOR=nano embargo advisory edit SEC-2026-0001
    #[command(verbatim_doc_comment)]
    Edit {
        /// The report's tracking id, e.g. SEC-2026-0001.
        id: String,
    },
    /// Print the advisory (TOML; --json: with the CVSS scores and ratings).
    ///
    /// Examples:
    ///   embargo advisory show SEC-2026-0001
    ///   embargo advisory show SEC-2026-0001 --json | jq .scores
    #[command(verbatim_doc_comment)]
    Show {
        /// The report's tracking id.
        id: String,
        /// Print JSON, with the CVSS scores and ratings.
        #[arg(long)]
        json: bool,
    },
    /// Replace the advisory with a TOML file ("-": standard input), checked first.
    ///
    /// Examples:
    ///   embargo advisory import SEC-2026-0001 advisory.toml
    ///   generate-advisory | embargo advisory import SEC-2026-0001 -
    #[command(verbatim_doc_comment)]
    Import {
        /// The report's tracking id.
        id: String,
        /// The TOML file, or "-" for standard input.
        file: PathBuf,
    },
    /// Export the advisory: osv, cve (CVE JSON 5 CNA container), csaf (CSAF
    /// 2.0), ghsa (GitHub's repository advisory payload), md or html. Before
    /// disclosure only with --draft.
    ///
    /// Examples:
    ///   embargo advisory export SEC-2026-0001 --format osv > osv.json
    ///   embargo advisory export SEC-2026-0001 --format md --draft
    ///   embargo advisory export --all --format csaf --out csaf/
    #[command(verbatim_doc_comment)]
    Export {
        /// The report; or --all for every disclosed report.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// osv, cve, csaf, ghsa, md or html.
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
    ///
    /// Examples:
    ///   embargo advisory notify-downstream SEC-2026-0001 --release-at "2027-01-12 15:00 UTC" --attach fix.patch
    ///   embargo advisory notify-downstream SEC-2026-0001 --release-at "2027-01-12 15:00 UTC" --only "Debian Security"
    #[command(verbatim_doc_comment)]
    NotifyDownstream(NotifyDownstreamArgs),
    /// Publish the advisory as a GitHub security advisory.
    ///
    /// A draft repository security advisory ([github]), created once and
    /// updated after; --request-cve asks GitHub for a CVE id; --publish
    /// makes it public (after disclosure, or with --force REASON).
    ///
    /// Examples:
    ///   embargo advisory publish SEC-2026-0001 --to github
    ///   embargo advisory publish SEC-2026-0001 --to github --request-cve
    ///   embargo advisory publish SEC-2026-0001 --to github --publish
    #[command(verbatim_doc_comment)]
    Publish(PublishArgs),
    /// Read the report's GitHub advisory back.
    ///
    /// Its state, and the CVE id GitHub assigned (written into the advisory).
    ///
    /// Examples:
    ///   embargo advisory sync SEC-2026-0001
    #[command(verbatim_doc_comment)]
    Sync {
        /// The report's tracking id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the clearsigned public advisory (once disclosed), or with --pre
    /// the pre-disclosure notice: products, severity, release time, no details.
    ///
    /// Examples:
    ///   embargo advisory announce SEC-2026-0001 --pre
    ///   embargo advisory announce SEC-2026-0001 > announcement.asc
    #[command(verbatim_doc_comment)]
    Announce {
        /// The report's tracking id.
        id: String,
        /// The pre-disclosure notice instead of the advisory.
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
    /// The report's tracking id.
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
    ///
    /// Examples:
    ///   embargo oauth login
    #[command(verbatim_doc_comment)]
    Login,
    /// Store a refresh token obtained elsewhere, read from standard input
    /// (for providers whose device flow does not grant the mail scopes, such
    /// as Google's), and prove it with one refresh.
    ///
    /// Examples:
    ///   embargo oauth import < refresh-token.txt
    #[command(verbatim_doc_comment)]
    Import,
    /// Refreshes the access token once and shows its expiry and scopes
    /// (never the token). Exit 1 when the provider refuses the refresh token.
    ///
    /// Examples:
    ///   embargo oauth status
    #[command(verbatim_doc_comment)]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Team keys (fingerprint, algorithm, expiry) and learned reporter keys
    /// (address, fingerprint, source, first seen).
    ///
    /// Examples:
    ///   embargo keys list
    ///   embargo keys list --json | jq '.reporters[] | select(.status == "candidate")'
    #[command(verbatim_doc_comment)]
    List {
        /// Print JSON: {"team": [...], "reporters": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Pin a reporter's candidate key (a key other than the pinned one came
    /// in their mail), or vouch for one pinned on first sight: from now on
    /// replies are encrypted to it and its signature speaks for the address.
    ///
    /// Examples:
    ///   embargo keys accept researcher@example.org 0123456789ABCDEF0123456789ABCDEF01234567
    #[command(verbatim_doc_comment)]
    Accept {
        /// The reporter's address.
        address: String,
        /// The candidate's fingerprint, as `keys list` shows it.
        fingerprint: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration: every key with its value or its
    /// default, paths resolved, where each secret would be read from; never
    /// a secret (as `postconf` and `doveconf` do).
    ///
    /// Examples:
    ///   embargo config show
    ///   embargo config show --json | jq '.[] | select(.default | not)'
    #[command(verbatim_doc_comment)]
    Show {
        /// Print JSON: [{"key", "value", "default"}].
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every verb says what it does and shows an example; every flag and
    /// argument has help text. (A newcomer reads `--help` first.)
    #[test]
    fn every_verb_and_flag_is_documented() {
        let mut problems = Vec::new();
        fn walk(c: &clap::Command, path: &str, problems: &mut Vec<String>) {
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if !a.is_hide_set() && a.get_help().is_none() && a.get_long_help().is_none() {
                    problems.push(format!("{path}: argument {id} has no help"));
                }
            }
            let subs: Vec<&clap::Command> = c.get_subcommands().filter(|s| s.get_name() != "help").collect();
            for s in &subs {
                let p = format!("{path} {}", s.get_name());
                if s.get_about().is_none() {
                    problems.push(format!("{p}: no about"));
                }
                walk(s, &p, problems);
            }
            if subs.is_empty() && !path.is_empty() {
                let long = c.get_long_about().map(|s| s.to_string()).unwrap_or_default()
                    + c.get_after_long_help()
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                        .as_str();
                if !long.contains("Example") {
                    problems.push(format!("{path}: no example in --help"));
                }
            }
        }
        walk(&super::Cli::command(), "embargo", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
