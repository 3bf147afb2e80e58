//! What one message may add to the database. A few KB of compressed,
//! encrypted text can decrypt to tens of MB: a 15 KB bzip2 bomb once grew
//! the database by 315 MB, so a few hundred such mails filled the disk and
//! paused intake. The text kept of one message is the first
//! `min(store.max_text_per_message, max(64 KiB, 8 × the raw message))`
//! bytes; mail from unauthenticated senders together adds at most
//! `store.unauthenticated_per_hour` per clock hour, after which such mail
//! keeps 4 KiB of text and no raw copy (it stays on the IMAP server).
//! Whatever is cut is said, on the message and in `reports show`.

use crate::config::StoreConfig;
use crate::store::Store;

/// Text always kept, however small the message (a short mail's text is
/// never cut).
pub const TEXT_FLOOR: u64 = 64 * 1024;
/// How many times its own size a message's kept text may be.
pub const TEXT_RATIO: u64 = 8;
/// Text kept of unauthenticated mail past the hourly budget.
pub const OVER_BUDGET_TEXT: u64 = 4 * 1024;

/// What a message may store.
#[derive(Debug, Default)]
pub(super) struct Kept {
    /// The text to store when it had to be cut (with a line saying so).
    pub text: Option<String>,
    /// Whether the raw message is kept.
    pub raw: bool,
    /// What was cut, in words (an event on the message).
    pub note: Option<String>,
    /// The bytes charged to the unauthenticated senders' hourly budget.
    pub charged: u64,
}

/// Decides what of a message (raw size `raw_len`, text `text`) is stored.
pub(super) fn bound(
    store: &Store,
    cfg: &StoreConfig,
    raw_len: u64,
    text: &str,
    authenticated: bool,
) -> crate::store::Result<Kept> {
    let mut cap = cfg
        .max_text_per_message
        .min(TEXT_FLOOR.max(TEXT_RATIO.saturating_mul(raw_len)));
    let mut raw = true;
    let mut why = format!(
        "store.max_text_per_message {} and {TEXT_RATIO} times the message's {} bytes",
        cfg.max_text_per_message, raw_len
    );
    if !authenticated {
        let used = store.unauthenticated_bytes_this_hour()?;
        let wanted = raw_len + (text.len() as u64).min(cap);
        if used.saturating_add(wanted) > cfg.unauthenticated_per_hour {
            cap = OVER_BUDGET_TEXT;
            raw = false;
            why = format!(
                "unauthenticated senders stored {used} bytes this hour (store.unauthenticated_per_hour {}): \
                 the raw message stays on the IMAP server only",
                cfg.unauthenticated_per_hour
            );
        }
    }
    let mut kept = Kept { raw, ..Kept::default() };
    if text.len() as u64 > cap {
        let mut end = cap as usize;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = text.len() - end;
        kept.text = Some(format!(
            "{}\n\n[embargo: {cut} more bytes of this message's text are not kept ({why}); \
             the original is on the IMAP server]\n",
            &text[..end]
        ));
        kept.note = Some(format!("text cut to its first {end} bytes, {cut} not kept ({why})"));
    } else if !raw {
        kept.note = Some(format!("raw message not kept ({why})"));
    }
    if !authenticated {
        kept.charged = if raw { raw_len } else { 0 } + (text.len() as u64).min(cap);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(per_hour: u64) -> StoreConfig {
        StoreConfig {
            path: "x".into(),
            max_text_per_message: 1024 * 1024,
            unauthenticated_per_hour: per_hour,
        }
    }

    #[test]
    fn a_bomb_keeps_a_bounded_head_and_says_so() {
        let store = Store::open_in_memory().unwrap();
        let bomb = "A".repeat(30 * 1024 * 1024);
        let k = bound(&store, &cfg(u64::MAX), 15_000, &bomb, false).unwrap();
        let text = k.text.unwrap();
        assert!(text.len() < 130 * 1024, "8 x 15 KB, and the note: {}", text.len());
        assert!(text.contains("more bytes of this message's text are not kept"));
        assert!(k.raw && k.note.unwrap().contains("not kept"));
        // A short mail's text is whole; a big genuine one keeps 1 MiB.
        let k = bound(&store, &cfg(u64::MAX), 900, &"b".repeat(60_000), true).unwrap();
        assert!(k.text.is_none() && k.note.is_none() && k.charged == 0);
        let k = bound(&store, &cfg(u64::MAX), 5_000_000, &"c".repeat(3_000_000), true).unwrap();
        assert!(k.text.unwrap().len() < 1024 * 1024 + 300);
    }

    #[test]
    fn past_the_hourly_budget_unauthenticated_mail_keeps_little() {
        let mut store = Store::open_in_memory().unwrap();
        store.charge_unauthenticated(900).unwrap();
        let k = bound(&store, &cfg(1000), 200, "hello", false).unwrap();
        assert!(!k.raw && k.note.unwrap().contains("IMAP server"));
        assert_eq!(k.charged, 5);
        let k = bound(&store, &cfg(1000), 50, "hi", false).unwrap();
        assert!(k.raw && k.note.is_none() && k.charged == 52);
        // Authenticated mail is not counted against it.
        let k = bound(&store, &cfg(1000), 500, "hello", true).unwrap();
        assert!(k.raw && k.charged == 0);
    }
}
