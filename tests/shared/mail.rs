//! Mail helpers both test tiers use (`tests/it` against the real servers,
//! `tests/intake` in-process).

#![allow(dead_code)]

/// A plain report from researcher@example.test.
pub fn report(message_id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: Rita Researcher <researcher@example.test>\r\nTo: security@example.test\r\n\
         Subject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// Header value of a raw message (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let head = head.split("\n\n").next().unwrap_or(head);
    let mut found: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = found.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_owned());
        }
    }
    found
}

/// Every template under config/ (not the example config itself).
/// (`EMBARGO_TEST_TEMPLATES`: another folder, with `EMBARGO_TEST_BIN`.)
pub fn copy_templates(to: &std::path::Path) {
    let from = std::env::var_os("EMBARGO_TEST_TEMPLATES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config"));
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name != "embargo.toml" {
            std::fs::copy(e.path(), to.join(name)).unwrap();
        }
    }
}
