//! The HTTP side of publishing: one JSON request at a time, with the
//! service's refusals and connection failures in plain words, `Retry-After`
//! honoured, and `--dry-run` printing the exact request (secrets named by
//! file, never shown) instead of sending it.

use std::time::Duration;

use serde_json::Value;

/// A service's API as the config describes it.
pub struct Api {
    agent: ureq::Agent,
    base: String,
    /// "CVE Services", "GitHub": named in every message.
    pub service: &'static str,
    /// The config section to fix (`cve`, `github`).
    section: &'static str,
    /// Headers on every request: (name, value, the secret's file when it
    /// is one).
    headers: Vec<(&'static str, String, Option<String>)>,
    /// What to check when the credentials are refused.
    auth_hint: String,
    /// `--dry-run`: the requests that would have been sent, rendered.
    dry: std::cell::RefCell<Option<Vec<String>>>,
    /// Why a secret header could not be read (a dry run still renders).
    missing_secret: Option<String>,
    /// The longest `Retry-After` waited out (longer: the error says when).
    max_wait: Duration,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    /// From the API's base, starting with `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    /// What the path names, for a 404 ("the CVE record CVE-2026-1234").
    pub what: String,
}

impl Request {
    pub fn get(path: impl Into<String>, what: impl Into<String>) -> Request {
        Request {
            method: "GET",
            path: path.into(),
            query: Vec::new(),
            body: None,
            what: what.into(),
        }
    }
    pub fn with(
        method: &'static str,
        path: impl Into<String>,
        what: impl Into<String>,
        body: Option<Value>,
    ) -> Request {
        Request {
            method,
            body,
            ..Request::get(path, what)
        }
    }
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.query.push((name, value.into()));
        self
    }
    /// `POST /cve-id?amount=1`, as the timeline says it.
    pub fn line(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{k}={v}"));
        }
        s
    }
}

/// Why a request did not succeed, in words that name the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status.
    #[error("{message}")]
    Status {
        status: u16,
        /// The service's error code, when it names one (`CVE_RECORD_EXISTS`).
        code: String,
        message: String,
    },
    /// No answer: the request may or may not have been carried out.
    #[error("{0}")]
    Transport(String),
    /// `--dry-run`: printed, not sent.
    #[error("dry run: nothing was sent")]
    DryRun,
    /// Nothing was sent: the credentials could not be read.
    #[error("{0}")]
    Credentials(String),
}

impl Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// Whether the service may have carried the request out although it
    /// did not say so (a 5xx, or no answer): check before repeating.
    pub fn in_doubt(&self) -> bool {
        matches!(self, Error::Transport(_)) || self.status().is_some_and(|s| s >= 500)
    }
    pub fn code(&self) -> &str {
        match self {
            Error::Status { code, .. } => code,
            _ => "",
        }
    }
}

impl Api {
    pub fn new(
        service: &'static str,
        section: &'static str,
        base: &str,
        ca_file: Option<&std::path::Path>,
        headers: Vec<(&'static str, String, Option<String>)>,
        auth_hint: String,
    ) -> anyhow::Result<Api> {
        let agent = ureq::AgentBuilder::new()
            .tls_config(crate::tls::client_config(ca_file)?)
            .timeout(Duration::from_secs(60))
            .redirects(0)
            .user_agent(concat!("embargo/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Api {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            service,
            section,
            headers,
            auth_hint,
            dry: Default::default(),
            missing_secret: None,
            max_wait: Duration::from_secs(120),
        })
    }

    /// A secret header could not be read: every request that would be sent
    /// fails with `why` (a dry run still renders it).
    pub fn secret_missing(&mut self, why: String) {
        self.missing_secret = Some(why);
    }

    /// From now on requests are rendered, not sent (`--dry-run`).
    pub fn dry_run(&self) {
        *self.dry.borrow_mut() = Some(Vec::new());
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry.borrow().is_some()
    }

    /// The requests rendered since the last call (`--dry-run`).
    pub fn take_rendered(&self) -> Vec<String> {
        self.dry.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The request as `--dry-run` prints it: method, URL, headers (secrets
    /// by file), body.
    pub fn render(&self, r: &Request) -> String {
        let mut s = format!(
            "{} {}{}\n",
            r.method,
            self.base,
            r.line().split_once(' ').map_or("", |x| x.1)
        );
        for (name, value, secret) in &self.headers {
            match secret {
                Some(file) => s.push_str(&format!("{name}: (the secret in {file}, not shown)\n")),
                None => s.push_str(&format!("{name}: {value}\n")),
            }
        }
        if let Some(b) = &r.body {
            s.push_str("Content-Type: application/json\n\n");
            s.push_str(&serde_json::to_string_pretty(b).unwrap_or_default());
            s.push('\n');
        }
        s
    }

    /// Sends `r`; the answer's JSON (`Value::Null` for an empty body).
    /// A 429 is waited out when `Retry-After` asks for at most two minutes.
    pub fn send(&self, r: &Request) -> Result<Value, Error> {
        if let Some(printed) = self.dry.borrow_mut().as_mut() {
            printed.push(self.render(r));
            return Err(Error::DryRun);
        }
        if let Some(why) = &self.missing_secret {
            return Err(Error::Credentials(why.clone()));
        }
        let url = format!("{}{}", self.base, r.path);
        let mut attempt = 0u32;
        loop {
            let mut req = self.agent.request(r.method, &url);
            if !self.headers.iter().any(|(n, _, _)| n.eq_ignore_ascii_case("accept")) {
                req = req.set("Accept", "application/json");
            }
            for (k, v) in &r.query {
                req = req.query(k, v);
            }
            for (name, value, _) in &self.headers {
                req = req.set(name, value);
            }
            let sent = match &r.body {
                Some(b) => req
                    .set("Content-Type", "application/json")
                    .send_string(&serde_json::to_string(b).unwrap_or_default()),
                None => req.call(),
            };
            match sent {
                Ok(resp) => {
                    let text = resp.into_string().map_err(|e| self.transport(&url, &e.to_string()))?;
                    if text.trim().is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_str(&text).map_err(|e| {
                        Error::Transport(format!(
                            "{} answered {} with something that is not JSON ({e}): is {}.api_url the API's address?",
                            self.service,
                            r.line(),
                            self.section
                        ))
                    });
                }
                Err(ureq::Error::Status(429, resp)) => {
                    let wait = resp
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(60);
                    if attempt < 3 && Duration::from_secs(wait) <= self.max_wait {
                        tracing::info!(
                            service = self.service,
                            wait,
                            "rate limited: waiting as Retry-After asks"
                        );
                        std::thread::sleep(Duration::from_secs(wait));
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Status {
                        status: 429,
                        code: String::new(),
                        message: format!(
                            "{} limits the rate of requests: try again in {wait} seconds (Retry-After)",
                            self.service
                        ),
                    });
                }
                Err(ureq::Error::Status(status, resp)) => {
                    let body: Value = resp
                        .into_string()
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default();
                    return Err(self.refused(r, status, &body));
                }
                Err(ureq::Error::Transport(t)) => return Err(self.transport_error(&url, t)),
            }
        }
    }

    fn transport(&self, url: &str, why: &str) -> Error {
        Error::Transport(format!("{}: no answer from {url}: {why}", self.service))
    }

    fn transport_error(&self, url: &str, t: ureq::Transport) -> Error {
        use crate::probe::Failure;
        let s = self.section;
        let kind = t.kind();
        let e = anyhow::Error::new(t);
        let why = match crate::probe::classify(&e) {
            Some(Failure::Refused) => format!("the connection was refused: check {s}.api_url"),
            Some(Failure::Timeout) => "no answer in time (a firewall, or the wrong host)".to_owned(),
            Some(Failure::UnknownIssuer) => format!(
                "its certificate is signed by an issuer embargo does not trust: set {s}.ca_file to the CA's PEM file"
            ),
            Some(Failure::NameMismatch) => format!("its certificate is for another name: check {s}.api_url"),
            Some(Failure::Expired) => "its certificate has expired".to_owned(),
            Some(Failure::NotTls) => format!("it does not speak TLS there: check {s}.api_url (https)"),
            _ if kind == ureq::ErrorKind::Dns => format!("the host name does not resolve: check {s}.api_url"),
            _ => format!("{e:#}"),
        };
        self.transport(url, &why)
    }

    /// A refusal in words: which credential, which id, which fields.
    fn refused(&self, r: &Request, status: u16, body: &Value) -> Error {
        let said = body["message"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("")
            .to_owned();
        let code = body["error"].as_str().unwrap_or("").to_owned();
        let said_part = if said.is_empty() {
            String::new()
        } else {
            format!(": {}", crate::text::bounded(&said))
        };
        let service = self.service;
        let message = match status {
            401 => format!(
                "{service} did not accept the credentials (HTTP 401{said_part}): {}",
                self.auth_hint
            ),
            403 => format!(
                "{service} refused {} (HTTP 403{said_part}): the account may lack the permission, or {} belongs \
                 to another organisation; {}",
                r.line(),
                r.what,
                self.auth_hint
            ),
            404 => format!(
                "{service} does not know {} (HTTP 404{said_part}): check the id and {}.api_url",
                r.what, self.section
            ),
            400 | 409 | 422 => {
                let fields = field_errors(body);
                format!(
                    "{service} refused {} (HTTP {status}{said_part}){}",
                    r.line(),
                    if fields.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", fields.join("; "))
                    }
                )
            }
            _ => format!("{service} failed on {} (HTTP {status}{said_part})", r.line()),
        };
        Error::Status { status, code, message }
    }
}

/// The service's own field errors, by path: CVE Services' `details`
/// (`[{param, msg}]`, or `{errors: [{instancePath, message}]}` from its
/// schema check) and GitHub's `errors` (`[{field, code, message}]` or
/// strings).
pub fn field_errors(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |path: &str, msg: &str| {
        let path = if path.is_empty() { "(the body)" } else { path };
        out.push(format!("{}: {}", crate::text::bounded(path), crate::text::bounded(msg)));
    };
    let details = &body["details"];
    for d in details.as_array().into_iter().flatten() {
        push(
            d["param"].as_str().or(d["path"].as_str()).unwrap_or(""),
            d["msg"].as_str().or(d["message"].as_str()).unwrap_or(""),
        );
    }
    for d in details["errors"].as_array().into_iter().flatten() {
        push(
            d["instancePath"].as_str().unwrap_or(""),
            d["message"].as_str().unwrap_or(""),
        );
    }
    for e in body["errors"].as_array().into_iter().flatten() {
        match e {
            Value::String(s) => push("", s),
            e => {
                let msg = e["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
                    format!(
                        "{} {}",
                        e["code"].as_str().unwrap_or("invalid"),
                        e["resource"].as_str().unwrap_or("")
                    )
                    .trim()
                    .to_owned()
                });
                push(e["field"].as_str().unwrap_or(""), &msg);
            }
        }
    }
    out.truncate(20);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_errors_of_both_services_are_listed_by_path() {
        let cve = json!({"error": "BAD_INPUT", "message": "Parameters were invalid",
            "details": [{"msg": "Invalid value", "param": "amount", "location": "query"}]});
        assert_eq!(field_errors(&cve), ["amount: Invalid value"]);
        let schema = json!({"error": "INVALID_JSON_SCHEMA", "details": {"errors": [
            {"instancePath": "/cnaContainer/affected", "message": "must NOT have fewer than 1 items"}]}});
        assert_eq!(
            field_errors(&schema),
            ["/cnaContainer/affected: must NOT have fewer than 1 items"]
        );
        let gh = json!({"message": "Validation Failed", "errors": [
            {"resource": "RepositoryAdvisory", "field": "severity", "code": "invalid"},
            "Advisory credits must be unique"]});
        assert_eq!(
            field_errors(&gh),
            [
                "severity: invalid RepositoryAdvisory",
                "(the body): Advisory credits must be unique"
            ]
        );
    }

    #[test]
    fn a_request_line_names_its_query() {
        let r = Request::with("POST", "/cve-id", "ids", None)
            .query("amount", "1")
            .query("cve_year", "2026");
        assert_eq!(r.line(), "POST /cve-id?amount=1&cve_year=2026");
    }
}
