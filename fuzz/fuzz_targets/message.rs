//! Message parsing and triage on arbitrary bytes.
#![no_main]

use embargo::triage::{self, Identity, exclude};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = embargo::message::parse(data) else { return };
    let me = Identity { address: "security@example.test".into(), prefix: "SEC".into(), team: vec!["team@example.test".into()] };
    let _ = triage::automatic_reason(&m, &me);
    let _ = triage::tracking_tags(&m.subject, "SEC");
    let topics = [exclude::spf_dmarc("out-of-scope.txt".into())];
    let _ = exclude::classify(&topics, &m.subject, &m.body_text);
    let _ = triage::credit_wish(&m.body_text);
    let _ = embargo::conversation::parse_commands(&m.body_text);
    let _ = embargo::conversation::strip_quoted(&m.body_text);
});
