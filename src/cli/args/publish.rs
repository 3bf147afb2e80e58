//! `embargo cve ...` and `embargo advisory publish/sync`: publishing through
//! CVE Services and GitHub.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum CveCommand {
    /// Reserve a CVE id for a report and name it in its advisory.
    ///
    /// One id of the report's year, through CVE Services ([cve]), written
    /// into the report's advisory (cve = "..."). A report that holds one
    /// keeps it; a reservation whose answer was lost is found, never made
    /// twice.
    ///
    /// Examples:
    ///   embargo cve reserve SEC-2026-0001
    ///   embargo cve reserve SEC-2026-0001 --dry-run
    #[command(verbatim_doc_comment)]
    Reserve {
        /// The report's tracking id.
        id: String,
        /// Print the request (the API key by file, not shown); send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish the report's CVE record (after disclosure).
    ///
    /// The advisory's CVE JSON 5 CNA container (`advisory export --format
    /// cve`), created (POST) or updated (PUT). Refused before the report is
    /// disclosed unless --force REASON (recorded).
    ///
    /// Examples:
    ///   embargo cve publish SEC-2026-0001
    ///   embargo cve publish SEC-2026-0001 --dry-run
    ///   embargo cve publish SEC-2026-0001 --force "coordinated release moved up"
    #[command(verbatim_doc_comment)]
    Publish {
        /// The report's tracking id.
        id: String,
        /// Publish before disclosure; the reason is recorded.
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
        /// Print the request; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a reserved CVE id (a duplicate, not a vulnerability).
    ///
    /// The advisory stops naming it. The reason is public, in the rejected
    /// record.
    ///
    /// Examples:
    ///   embargo cve reject SEC-2026-0001 --reason "A duplicate of CVE-2026-1234."
    ///   embargo cve reject CVE-2026-1001 --reason "Not a vulnerability."
    #[command(verbatim_doc_comment)]
    Reject {
        /// The report's tracking id, or the CVE id.
        id: String,
        /// Why (public, in the rejected record).
        #[arg(long)]
        reason: String,
        /// Print the request; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The CVE ids and their state at CVE Services.
    ///
    /// Of one report, or all: RESERVED, PUBLISHED or REJECTED and since
    /// when; what changed there is recorded. Reports still waiting for an id
    /// (reserve_on_triage) are listed with the last error.
    ///
    /// Examples:
    ///   embargo cve status
    ///   embargo cve status SEC-2026-0001 --json
    #[command(verbatim_doc_comment)]
    Status {
        /// The report's tracking id (default: every report).
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The CNA's id quota: how many ids it may hold reserved, and holds.
    ///
    /// Examples:
    ///   embargo cve quota
    #[command(verbatim_doc_comment)]
    Quota {
        /// Print JSON (CVE Services' answer).
        #[arg(long)]
        json: bool,
    },
}

/// `advisory publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The report's tracking id.
    pub id: String,
    /// Where: github (a repository security advisory).
    #[arg(long, value_parser = ["github"])]
    pub to: String,
    /// Ask GitHub to assign a CVE id to the advisory (stored once assigned;
    /// `advisory sync` reads it back).
    #[arg(long)]
    pub request_cve: bool,
    /// Publish the advisory (state: published). Refused before the report
    /// is disclosed unless --force REASON.
    #[arg(long)]
    pub publish: bool,
    /// With --publish: before disclosure; the reason is recorded.
    #[arg(long, value_name = "REASON")]
    pub force: Option<String>,
    /// Print the requests; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
