//! Message parsing and triage on arbitrary bytes.
#![no_main]

use embargo::store::ReportRef;
use embargo::triage::{self, Identity, ThreadIndex, exclude};
use libfuzzer_sys::fuzz_target;

/// Every lookup finds a report, so threading and the Sent-folder rule run
/// their whole way.
struct Index;

fn report() -> ReportRef {
    ReportRef { id: 1, tracking_id: "SEC-2026-0001".into(), reporter: "researcher@example.test".into() }
}

impl ThreadIndex for Index {
    type Error = anyhow::Error;
    fn inbound_seen(&self, _: &str) -> anyhow::Result<bool> {
        Ok(false)
    }
    fn by_message_ids(&self, ids: &[String]) -> anyhow::Result<Option<ReportRef>> {
        Ok(ids.first().map(|_| report()))
    }
    fn by_tracking_id(&self, _: &str) -> anyhow::Result<Option<ReportRef>> {
        Ok(Some(report()))
    }
    fn is_our_outgoing(&self, _: &str) -> anyhow::Result<bool> {
        Ok(true)
    }
    fn downstream_notified(&self, _: &ReportRef, _: &str) -> anyhow::Result<bool> {
        Ok(true)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = embargo::message::parse(data) else { return };
    let me = Identity {
        address: "security@example.test".into(),
        prefix: "SEC".into(),
        team: vec!["team@example.test".into()],
        downstream: vec!["packager@distro.example".into()],
    };
    let _ = triage::automatic_reason(&m, &me);
    let _ = triage::tracking_tags(&m.subject, "SEC");
    let topics = [exclude::spf_dmarc("out-of-scope.txt".into())];
    let _ = exclude::classify(&topics, &m.subject, &m.body_text);
    let _ = triage::decide(&m, &me, &Index, &topics);
    let _ = triage::sent_reply(&m, &me, &Index);
    let _ = triage::credit_wish(&m.body_text);
    let _ = embargo::conversation::parse_commands(&m.body_text);
    let _ = embargo::conversation::strip_quoted(&m.body_text);
    // Issue 13: sender authentication from the headers, the bounded and
    // terminal-safe forms of what the CLI and replies quote.
    for (_, v) in &m.headers {
        let _ = embargo::trust::parse_authres(v);
    }
    let _ = embargo::trust::mta_passed(&m.headers, "mail.example.test", m.from_addr.as_deref().unwrap_or("a@b"));
    let _ = embargo::trust::authenticate(&m, false, Some("mail.example.test"));
    let _ = embargo::message::address_key(m.from_addr.as_deref().unwrap_or_default());
    let _ = embargo::text::bounded(&m.subject);
    let _ = embargo::text::bounded_to(&m.body_text, 50);
    let _ = embargo::text::printable(&m.body_text);
    let _ = embargo::text::markdown(&m.subject);
    let _ = embargo::text::link(&m.subject);
    let _ = m.addressed_to("security@example.test");
});
