//! Publishing where the world reads advisories: the CVE record through CVE
//! Services (for teams that are a CNA) and the repository security
//! advisory through GitHub's API. `http` speaks to both (errors in plain
//! words, `Retry-After`, `--dry-run`); `cve_api` and `github_api` are the
//! two APIs; `cve` and `github` are what the verbs do with them, with the
//! store; `source` reads a report's advisory as every export does.
//!
//! Nothing is made twice: a creating request is marked in flight in the
//! store before it is sent, and a run that finds such a mark (a timeout, a
//! 500 after the server acted, a crash between the answer and the write)
//! looks for what the server made before asking again.

pub mod cve;
pub mod cve_api;
pub mod github;
pub mod github_api;
pub mod http;
pub mod source;
