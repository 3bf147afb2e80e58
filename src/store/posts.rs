//! Posts to the team's chat channels (today the Matrix room): the mail
//! outbox's twin for a channel that is not mail. A post is queued in the
//! transaction that causes it (a new report's, a room command's), once per
//! `(channel, key)`, and sent with its row id as the channel's transaction
//! id, so a retry after a crash never posts twice. Also the alerts open at
//! the moment, so each is posted once per episode.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, Store, ts};

/// The Matrix room's channel name in the posts table.
pub const MATRIX_CHANNEL: &str = "matrix";

/// What a post is about; the sender renders report posts from the report
/// as it is when the post goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// A report was recorded.
    NewReport,
    /// One business day before the response deadline.
    Reminder,
    /// A clock ran out (the body names which).
    Overdue,
    /// The daily digest's summary.
    Digest,
    /// Something operational needs a person (intake paused, mail failing).
    Alert,
    /// The answer to a room command, in a thread on it.
    Answer,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::NewReport => "new-report",
            PostKind::Reminder => "reminder",
            PostKind::Overdue => "overdue",
            PostKind::Digest => "digest",
            PostKind::Alert => "alert",
            PostKind::Answer => "answer",
        }
    }

    pub fn parse(s: &str) -> Option<PostKind> {
        [
            PostKind::NewReport,
            PostKind::Reminder,
            PostKind::Overdue,
            PostKind::Digest,
            PostKind::Alert,
            PostKind::Answer,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One queued post.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: i64,
    pub kind: PostKind,
    /// The report's tracking id, for report posts.
    pub report: Option<String>,
    pub body: String,
    /// Post in the thread on this event.
    pub thread_root: Option<String>,
    /// Another room than the configured one (a refusal, answered where the
    /// command was sent).
    pub room: Option<String>,
    pub attempts: u32,
}

/// A post to queue.
#[derive(Debug, Clone, Copy)]
pub struct NewPost<'a> {
    pub channel: &'a str,
    pub report_id: Option<i64>,
    pub kind: PostKind,
    /// Once per channel and key.
    pub key: &'a str,
    pub body: &'a str,
    pub thread_root: Option<&'a str>,
    /// None: the configured room.
    pub room: Option<&'a str>,
}

/// How a channel's queue is doing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PostStats {
    pub pending: u64,
    pub oldest_pending: Option<String>,
    pub sent: u64,
    pub last_error: Option<String>,
}

/// Queues `p` unless a post with its key was queued before. True: queued.
pub(crate) fn enqueue(conn: &Connection, p: &NewPost<'_>, now: Timestamp) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO posts (channel, report_id, kind, key, body, thread_root, room, created_at, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7, ?7)",
        )?
        .execute(params![
            p.channel,
            p.report_id,
            p.kind.as_str(),
            p.key,
            p.body,
            p.thread_root,
            ts(now),
            p.room
        ])?;
    Ok(n > 0)
}

/// A new report's post on each of `channels`, in the report's transaction.
pub(crate) fn new_report(conn: &Connection, channels: &[&str], report_id: i64, now: Timestamp) -> Result<()> {
    let key = format!("new-report:{report_id}");
    for channel in channels {
        let post = NewPost {
            channel,
            report_id: Some(report_id),
            kind: PostKind::NewReport,
            key: &key,
            body: "",
            thread_root: None,
            room: None,
        };
        enqueue(conn, &post, now)?;
    }
    Ok(())
}

impl Store {
    /// Queues one post (see [`enqueue`]).
    pub fn post(&mut self, p: &NewPost<'_>) -> Result<bool> {
        let tx = self.write()?;
        let queued = enqueue(&tx, p, Timestamp::now())?;
        tx.commit()?;
        Ok(queued)
    }

    /// Posts due now, oldest first.
    pub fn posts_due(&self, channel: &str, now: Timestamp, limit: u32) -> Result<Vec<Post>> {
        let mut st = self.conn.prepare_cached(
            "SELECT p.id, p.kind, r.tracking_id, p.body, p.thread_root, p.attempts, p.room
             FROM posts p LEFT JOIN reports r ON r.id = p.report_id
             WHERE p.channel = ?1 AND p.sent_at IS NULL AND p.next_attempt <= ?2
             ORDER BY p.id LIMIT ?3",
        )?;
        let rows = st.query_map(params![channel, ts(now), limit], |r| {
            Ok(Post {
                id: r.get(0)?,
                kind: PostKind::parse(&r.get::<_, String>(1)?).unwrap_or(PostKind::Alert),
                report: r.get(2)?,
                body: r.get(3)?,
                thread_root: r.get(4)?,
                attempts: r.get(5)?,
                room: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the next unsent post is due.
    pub fn posts_next_due(&self, channel: &str) -> Result<Option<Timestamp>> {
        let at: Option<String> = self
            .conn
            .prepare_cached("SELECT min(next_attempt) FROM posts WHERE channel = ?1 AND sent_at IS NULL")?
            .query_row(params![channel], |r| r.get(0))?;
        Ok(at.and_then(|a| a.parse().ok()))
    }

    pub fn post_sent(&mut self, id: i64, event_id: &str) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE posts SET sent_at = ?2, event_id = ?3, last_error = NULL WHERE id = ?1")?
            .execute(params![id, ts(Timestamp::now()), event_id])?;
        Ok(())
    }

    pub fn post_retry(&mut self, id: i64, next: Timestamp, error: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE posts SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, ts(next), error])?;
        Ok(())
    }

    pub fn post_stats(&self, channel: &str) -> Result<PostStats> {
        let mut st = self.conn.prepare_cached(
            "SELECT
               (SELECT count(*) FROM posts WHERE channel = ?1 AND sent_at IS NULL),
               (SELECT min(created_at) FROM posts WHERE channel = ?1 AND sent_at IS NULL),
               (SELECT count(*) FROM posts WHERE channel = ?1 AND sent_at IS NOT NULL),
               (SELECT last_error FROM posts WHERE channel = ?1 AND sent_at IS NULL AND last_error IS NOT NULL
                ORDER BY id DESC LIMIT 1)",
        )?;
        Ok(st.query_row(params![channel], |r| {
            Ok(PostStats {
                pending: r.get::<_, i64>(0)? as u64,
                oldest_pending: r.get(1)?,
                sent: r.get::<_, i64>(2)? as u64,
                last_error: r.get(3)?,
            })
        })?)
    }

    /// An alert condition holds: the first time in its episode, its post is
    /// queued (true). [`Store::alerts_clear`] ends episodes.
    pub fn alert_open(&mut self, key: &str, post: &NewPost<'_>) -> Result<bool> {
        let tx = self.write()?;
        let now = Timestamp::now();
        let new = tx
            .prepare_cached("INSERT OR IGNORE INTO open_alerts (key, since) VALUES (?1, ?2)")?
            .execute(params![key, ts(now)])?
            > 0;
        if new {
            let episodes: i64 = tx
                .prepare_cached("SELECT count(*) FROM posts WHERE channel = ?1 AND key LIKE ?2 || '#%'")?
                .query_row(params![post.channel, post.key], |r| r.get(0))?;
            let key = format!("{}#{}", post.key, episodes + 1);
            enqueue(&tx, &NewPost { key: &key, ..*post }, now)?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// Ends the episodes of the open alerts not in `holding`.
    pub fn alerts_clear(&mut self, holding: &[String]) -> Result<Vec<String>> {
        let open: Vec<String> = self
            .conn
            .prepare_cached("SELECT key FROM open_alerts")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let gone: Vec<String> = open.into_iter().filter(|k| !holding.contains(k)).collect();
        for k in &gone {
            self.conn
                .prepare_cached("DELETE FROM open_alerts WHERE key = ?1")?
                .execute(params![k])?;
        }
        Ok(gone)
    }

    /// Whether a post with this key was ever queued on the channel.
    pub fn post_queued(&self, channel: &str, key: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM posts WHERE channel = ?1 AND key = ?2")?
            .query_row(params![channel, key], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(key: &'a str, body: &'a str) -> NewPost<'a> {
        NewPost {
            channel: "matrix",
            report_id: None,
            kind: PostKind::Digest,
            key,
            body,
            thread_root: None,
            room: None,
        }
    }

    #[test]
    fn a_post_is_queued_once_per_key_and_leaves_the_queue_when_sent() {
        let mut s = Store::open_in_memory().unwrap();
        assert!(s.post(&new("digest:1", "a")).unwrap());
        assert!(!s.post(&new("digest:1", "again")).unwrap());
        assert!(s.post(&new("digest:2", "b")).unwrap());
        let due = s.posts_due("matrix", Timestamp::now(), 10).unwrap();
        assert_eq!(due.iter().map(|p| p.body.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(s.posts_due("webhook", Timestamp::now(), 10).unwrap().is_empty());
        let later = Timestamp::now() + jiff::SignedDuration::from_secs(60);
        s.post_retry(due[0].id, later, "homeserver down").unwrap();
        s.post_sent(due[1].id, "$ev").unwrap();
        assert!(s.posts_due("matrix", Timestamp::now(), 10).unwrap().is_empty());
        let st = s.post_stats("matrix").unwrap();
        assert_eq!((st.pending, st.sent), (1, 1));
        assert_eq!(st.last_error.as_deref(), Some("homeserver down"));
        assert_eq!(s.posts_due("matrix", later, 10).unwrap()[0].attempts, 1);
    }

    #[test]
    fn an_alert_is_posted_once_per_episode() {
        let mut s = Store::open_in_memory().unwrap();
        let p = NewPost {
            kind: PostKind::Alert,
            ..new("alert:paused", "intake paused")
        };
        assert!(s.alert_open("paused", &p).unwrap());
        assert!(!s.alert_open("paused", &p).unwrap());
        assert!(s.alerts_clear(&["paused".to_owned()]).unwrap().is_empty());
        assert_eq!(s.alerts_clear(&[]).unwrap(), ["paused"]);
        assert!(s.alert_open("paused", &p).unwrap());
        assert_eq!(s.posts_due("matrix", Timestamp::now(), 10).unwrap().len(), 2);
    }
}
