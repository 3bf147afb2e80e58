//! The `--json` outputs: a contract other tools and the tests index into,
//! so they have their own view types here, built from the domain's. A
//! domain type may change (a field renamed, a type made richer) without
//! changing what `--json` prints; the test below pins every field name of
//! every output against `tests/data/json/*.txt` (`UPDATE_GOLDEN=1` rewrites
//! them when a change is meant).

use serde::Serialize;

use crate::report::{NextDue, ReportSummary, ts};
use crate::store::{DownstreamNotice, EventRow, MergedReport, MessageRow, ReportDetail, ReporterKey};

/// A report: `reports list --json` entries, and the top of `reports show
/// --json`. Times are RFC 3339 UTC.
#[derive(Serialize)]
pub struct Report<'a> {
    pub id: &'a str,
    pub state: &'a str,
    pub reporter: &'a str,
    pub reporter_name: &'a str,
    pub subject: &'a str,
    pub received_at: String,
    pub acknowledged_at: Option<String>,
    pub messages: u64,
    pub messages_out: u64,
    pub excluded_topic: Option<&'a str>,
    pub encrypted: bool,
    pub signature: &'a str,
    pub response_due: Option<String>,
    pub response_met_at: Option<String>,
    pub fix_due: Option<String>,
    pub details_due: Option<String>,
    pub response_business_days_left: Option<i64>,
    pub reporter_waiting: bool,
    pub complex: bool,
    pub fixed_at: Option<String>,
    pub disclosed_at: Option<String>,
    pub credit: &'a str,
    pub credit_name: &'a str,
    pub credit_url: &'a str,
    pub credit_proposal: Option<CreditProposal<'a>>,
    pub merged_into: Option<&'a str>,
    pub disclose_on: Option<&'a str>,
    pub next_due: Option<Due<'a>>,
    pub waiting_since: Option<String>,
    pub waited_secs: u64,
    pub missing: &'a [String],
}

#[derive(Serialize)]
pub struct CreditProposal<'a> {
    pub credit: &'a str,
    pub name: &'a str,
    pub url: &'a str,
}

#[derive(Serialize)]
pub struct Due<'a> {
    pub clock: &'a str,
    pub due: &'a str,
    pub overdue: bool,
}

impl<'a> From<&'a ReportSummary> for Report<'a> {
    fn from(r: &'a ReportSummary) -> Report<'a> {
        Report {
            id: &r.id,
            state: r.state.as_str(),
            reporter: &r.reporter,
            reporter_name: &r.reporter_name,
            subject: &r.subject,
            received_at: ts(r.received_at),
            acknowledged_at: r.acknowledged_at.map(ts),
            messages: r.messages,
            messages_out: r.messages_out,
            excluded_topic: r.excluded_topic.as_deref(),
            encrypted: r.encrypted,
            signature: &r.signature,
            response_due: r.response_due.map(ts),
            response_met_at: r.response_met_at.map(ts),
            fix_due: r.fix_due.map(ts),
            details_due: r.details_due.map(ts),
            response_business_days_left: r.response_business_days_left,
            reporter_waiting: r.reporter_waiting,
            complex: r.complex,
            fixed_at: r.fixed_at.map(ts),
            disclosed_at: r.disclosed_at.map(ts),
            credit: r.credit.as_str(),
            credit_name: &r.credit_name,
            credit_url: &r.credit_url,
            credit_proposal: r.credit_proposal.as_ref().map(|p| CreditProposal {
                credit: p.credit.as_str(),
                name: &p.name,
                url: &p.url,
            }),
            merged_into: r.merged_into.as_deref(),
            disclose_on: r.disclose_on.as_deref(),
            next_due: r.next_due.as_ref().map(due),
            waiting_since: r.waiting_since.map(ts),
            waited_secs: r.waited_secs,
            missing: &r.missing,
        }
    }
}

fn due(d: &NextDue) -> Due<'_> {
    Due {
        clock: d.clock,
        due: &d.due,
        overdue: d.overdue,
    }
}

/// `reports show --json`: the report, its thread, events, downstream
/// notices, similar reports and the reports merged into it.
#[derive(Serialize)]
pub struct Detail<'a> {
    #[serde(flatten)]
    pub report: Report<'a>,
    pub thread: Vec<Message<'a>>,
    pub events: Vec<Event<'a>>,
    pub downstream: Vec<Downstream<'a>>,
    pub similar: Vec<Suggestion<'a>>,
    pub merged: Vec<Merged<'a>>,
    /// Its CVE ids and their state at CVE Services (`cve status`).
    pub cve: Vec<CveId<'a>>,
    /// Its GitHub security advisory (`advisory publish --to github`).
    pub ghsa: Option<Ghsa<'a>>,
}

impl<'a> From<&'a ReportDetail> for Detail<'a> {
    fn from(d: &'a ReportDetail) -> Detail<'a> {
        Detail {
            report: Report::from(&d.summary),
            thread: d.thread.iter().map(Message::from).collect(),
            events: d.events.iter().map(Event::from).collect(),
            downstream: d.downstream.iter().map(Downstream::from).collect(),
            similar: d.similar.iter().map(Suggestion::from).collect(),
            merged: d.merged.iter().map(Merged::from).collect(),
            cve: d.cve.iter().map(CveId::from).collect(),
            ghsa: d.ghsa.as_ref().map(Ghsa::from),
        }
    }
}

/// One message of a thread; also `messages --json`.
#[derive(Serialize)]
pub struct Message<'a> {
    pub direction: &'a str,
    pub kind: &'a str,
    pub message_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub date: Option<&'a str>,
    pub received_at: &'a str,
    pub size: i64,
    pub reason: &'a str,
    pub uid: Option<u32>,
    pub encrypted: bool,
    pub signature: &'a str,
    pub auth: &'a str,
    pub decryption: &'a str,
    pub body: &'a str,
}

impl<'a> From<&'a MessageRow> for Message<'a> {
    fn from(m: &'a MessageRow) -> Message<'a> {
        Message {
            direction: &m.direction,
            kind: &m.kind,
            message_id: &m.message_id,
            from: &m.from,
            to: &m.to,
            subject: &m.subject,
            date: m.date.as_deref(),
            received_at: &m.received_at,
            size: m.size,
            reason: &m.reason,
            uid: m.uid,
            encrypted: m.encrypted,
            signature: &m.signature,
            auth: &m.auth,
            decryption: &m.decryption,
            body: &m.body,
        }
    }
}

#[derive(Serialize)]
pub struct Event<'a> {
    pub at: &'a str,
    pub actor: &'a str,
    pub kind: &'a str,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
    pub detail: &'a str,
}

impl<'a> From<&'a EventRow> for Event<'a> {
    fn from(e: &'a EventRow) -> Event<'a> {
        Event {
            at: &e.at,
            actor: &e.actor,
            kind: &e.kind,
            old: e.old.as_deref(),
            new: e.new.as_deref(),
            detail: &e.detail,
        }
    }
}

#[derive(Serialize)]
pub struct Downstream<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub release_at: &'a str,
    pub encrypted: bool,
    pub exceptions: &'a str,
    pub notified_at: &'a str,
    pub notified_by: &'a str,
    pub acknowledged_at: Option<&'a str>,
    pub ack_auth: Option<&'a str>,
}

impl<'a> From<&'a DownstreamNotice> for Downstream<'a> {
    fn from(n: &'a DownstreamNotice) -> Downstream<'a> {
        Downstream {
            name: &n.name,
            address: &n.address,
            release_at: &n.release_at,
            encrypted: n.encrypted,
            exceptions: &n.exceptions,
            notified_at: &n.notified_at,
            notified_by: &n.notified_by,
            acknowledged_at: n.acknowledged_at.as_deref(),
            ack_auth: n.ack_auth.as_deref(),
        }
    }
}

/// A similar report or a published advisory: `reports similar --json`
/// entries, and `similar` in `reports show --json`.
#[derive(Serialize)]
pub struct Suggestion<'a> {
    pub id: &'a str,
    pub score: f64,
    pub evidence: &'a [String],
    /// `report` or `advisory`.
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<&'a str>,
}

impl<'a> From<&'a crate::similar::Suggestion> for Suggestion<'a> {
    fn from(s: &'a crate::similar::Suggestion) -> Suggestion<'a> {
        Suggestion {
            id: &s.id,
            score: s.score,
            evidence: &s.evidence,
            kind: s.kind,
            fixed: s.fixed.as_deref(),
            state: s.state.as_deref(),
            report: s.report.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct Merged<'a> {
    pub id: &'a str,
    pub reporter: &'a str,
    pub credit: &'a str,
    pub credit_name: &'a str,
}

impl<'a> From<&'a MergedReport> for Merged<'a> {
    fn from(m: &'a MergedReport) -> Merged<'a> {
        Merged {
            id: &m.id,
            reporter: &m.reporter,
            credit: m.credit.as_str(),
            credit_name: &m.credit_name,
        }
    }
}

/// `keys list --json`.
#[derive(Serialize)]
pub struct Keys<'a> {
    pub team: Vec<TeamKey<'a>>,
    pub reporters: Vec<LearnedKey<'a>>,
}

#[derive(Serialize)]
pub struct TeamKey<'a> {
    pub fingerprint: &'a str,
    pub algorithm: &'a str,
    pub expiry: Option<&'a str>,
    pub user_ids: &'a [String],
    pub file: &'a str,
}

impl<'a> From<&'a crate::openpgp::keys::TeamKeyInfo> for TeamKey<'a> {
    fn from(k: &'a crate::openpgp::keys::TeamKeyInfo) -> TeamKey<'a> {
        TeamKey {
            fingerprint: &k.fingerprint,
            algorithm: &k.algorithm,
            expiry: k.expiry.as_deref(),
            user_ids: &k.user_ids,
            file: &k.file,
        }
    }
}

#[derive(Serialize)]
pub struct LearnedKey<'a> {
    pub address: &'a str,
    pub fingerprint: &'a str,
    pub status: &'a str,
    pub source: &'a str,
    pub first_seen: &'a str,
    pub last_seen: &'a str,
    pub vouched: bool,
}

impl<'a> From<&'a ReporterKey> for LearnedKey<'a> {
    fn from(k: &'a ReporterKey) -> LearnedKey<'a> {
        LearnedKey {
            address: &k.address,
            fingerprint: &k.fingerprint,
            status: &k.status,
            source: &k.source,
            first_seen: &k.first_seen,
            last_seen: &k.last_seen,
            vouched: k.vouched,
        }
    }
}

#[cfg(test)]
mod tests;

/// A CVE id a report holds (`cve status --json` `ids[]`, `reports show
/// --json` `cve[]`); times RFC 3339 UTC.
#[derive(Serialize)]
pub struct CveId<'a> {
    pub cve_id: &'a str,
    pub report: &'a str,
    /// RESERVED, PUBLISHED or REJECTED, as CVE Services last said.
    pub state: &'a str,
    pub reserved_at: Option<&'a str>,
    pub published_at: Option<&'a str>,
    pub rejected_at: Option<&'a str>,
    pub checked_at: &'a str,
}

impl<'a> From<&'a crate::store::CveRow> for CveId<'a> {
    fn from(c: &'a crate::store::CveRow) -> CveId<'a> {
        CveId {
            cve_id: &c.cve_id,
            report: &c.tracking_id,
            state: &c.state,
            reserved_at: c.reserved_at.as_deref(),
            published_at: c.published_at.as_deref(),
            rejected_at: c.rejected_at.as_deref(),
            checked_at: &c.checked_at,
        }
    }
}

/// `cve status --json`: the ids, and the reports waiting for one.
#[derive(Serialize)]
pub struct CveStatus<'a> {
    pub ids: Vec<CveId<'a>>,
    pub waiting: Vec<CveWaiting<'a>>,
}

/// A report `[cve] reserve_on_triage` has not got an id for yet.
#[derive(Serialize)]
pub struct CveWaiting<'a> {
    pub report: &'a str,
    pub attempts: i64,
    pub last_error: Option<&'a str>,
}

/// What `cve reserve/publish/reject --json` did.
#[derive(Serialize)]
pub struct CveDone<'a> {
    pub report: &'a str,
    pub cve_id: &'a str,
    pub state: &'a str,
    /// reserve: `reserved`, `held` (it had one) or `found` (an earlier
    /// request's lost answer); publish: `published` or `updated`; reject:
    /// `rejected`.
    pub outcome: &'a str,
}

/// A report's GitHub security advisory (`advisory publish/sync --json`,
/// `reports show --json` `ghsa`).
#[derive(Serialize)]
pub struct Ghsa<'a> {
    pub report: Option<&'a str>,
    pub ghsa_id: &'a str,
    pub repository: &'a str,
    /// GitHub's state: draft, published, closed, withdrawn.
    pub state: &'a str,
    pub cve_id: Option<&'a str>,
    pub cve_requested_at: Option<&'a str>,
    pub html_url: Option<&'a str>,
    pub checked_at: &'a str,
}

impl<'a> From<&'a crate::store::GhsaRow> for Ghsa<'a> {
    fn from(g: &'a crate::store::GhsaRow) -> Ghsa<'a> {
        Ghsa {
            report: None,
            ghsa_id: &g.ghsa_id,
            repository: &g.repository,
            state: &g.state,
            cve_id: g.cve_id.as_deref(),
            cve_requested_at: g.cve_requested_at.as_deref(),
            html_url: g.html_url.as_deref(),
            checked_at: &g.checked_at,
        }
    }
}
