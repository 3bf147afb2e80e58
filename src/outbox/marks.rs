//! The outbox's marks, committed in groups. Every attempt is marked twice,
//! begun before its first byte goes to the server and its outcome once the
//! server has answered, and a sender goes on only when its mark is
//! committed. With several connections sending at once, marks that wait at
//! the same time commit in one transaction: the first of them commits
//! everything queued by the time it holds the store; marks queued behind
//! that wait for the next group. No mark is committed later than it would
//! have been alone, so the crash windows stay what `outbox` says they are.
//! A group that fails is tried again one mark at a time, so each sender gets
//! its own answer.

use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::store::{Error, OutboxItem, Result, Store, StoreHandle};

/// What an attempt records.
pub(super) enum Mark {
    /// Before the first byte goes to the server.
    Begin,
    /// The server's `250`, with its text.
    Sent(String),
    /// A temporary failure: try again at the time given.
    Retry(Timestamp, String),
    /// A permanent failure.
    Failed(String),
}

type Waiting = (OutboxItem, Mark, oneshot::Sender<Result<()>>);

/// The marks waiting for their group, shared by the senders of one drain.
#[derive(Clone)]
pub(super) struct Marks {
    store: StoreHandle,
    queue: Arc<Mutex<Vec<Waiting>>>,
}

fn lock(queue: &Mutex<Vec<Waiting>>) -> MutexGuard<'_, Vec<Waiting>> {
    // The queue holds no invariant a panic could break halfway.
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

impl Marks {
    pub(super) fn new(store: &StoreHandle) -> Marks {
        Marks {
            store: store.clone(),
            queue: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Records `mark` for `item`; returns once it is committed.
    pub(super) async fn mark(&self, item: &OutboxItem, mark: Mark) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let leads = {
            let mut queue = lock(&self.queue);
            queue.push((item.clone(), mark, tx));
            queue.len() == 1
        };
        if leads {
            let queue = self.queue.clone();
            let ran = self
                .store
                .call_urgent(move |store| -> Result<()> {
                    let group = std::mem::take(&mut *lock(&queue));
                    commit(store, group);
                    Ok(())
                })
                .await;
            if ran.is_err() {
                // The group was never taken (the store is poisoned): answer
                // it here, or nobody would lead the next one.
                for (_, _, tx) in std::mem::take(&mut *lock(&self.queue)) {
                    let _ = tx.send(Err(Error::Poisoned));
                }
            }
        }
        rx.await.unwrap_or(Err(Error::Poisoned))
    }
}

/// Commits `group` in one transaction, or each mark alone if that fails.
fn commit(store: &mut Store, group: Vec<Waiting>) {
    let together = store.atomic(|s| group.iter().try_for_each(|(item, mark, _)| apply(s, item, mark)));
    match together {
        Ok(()) => {
            for (_, _, tx) in group {
                let _ = tx.send(Ok(()));
            }
        }
        Err(e) if group.len() == 1 => {
            if let Some((_, _, tx)) = group.into_iter().next() {
                let _ = tx.send(Err(e));
            }
        }
        Err(_) => {
            for (item, mark, tx) in group {
                let _ = tx.send(apply(store, &item, &mark));
            }
        }
    }
}

fn apply(store: &mut Store, item: &OutboxItem, mark: &Mark) -> Result<()> {
    match mark {
        Mark::Begin => store.outbox_begin(item),
        Mark::Sent(response) => store.outbox_sent(item, response),
        Mark::Retry(next, error) => store.outbox_retry(item, *next, error),
        Mark::Failed(error) => store.outbox_failed(item, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MailKind, Outgoing};

    fn queued(s: &mut Store, n: usize) -> Vec<OutboxItem> {
        let outs: Vec<Outgoing> = (0..n)
            .map(|i| Outgoing {
                kind: MailKind::Alert,
                recipient: format!("team{i}@example.test"),
                envelope_from: String::new(),
                message_id: format!("<alert{i}@example.test>"),
                subject: "s".into(),
                from_addr: "security@example.test".into(),
                raw: b"raw".to_vec(),
            })
            .collect();
        s.enqueue_team_mail(None, &outs).unwrap();
        s.outbox_due(Timestamp::now(), jiff::SignedDuration::ZERO, 100).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn marks_sent_together_are_all_committed_and_answered() {
        let mut store = Store::open_in_memory().unwrap();
        let items = queued(&mut store, 40);
        let handle = StoreHandle::new(store);
        let marks = Marks::new(&handle);
        let runs = items.iter().map(|item| {
            let marks = marks.clone();
            let item = item.clone();
            async move {
                marks.mark(&item, Mark::Begin).await?;
                marks.mark(&item, Mark::Sent("250 OK".into())).await
            }
        });
        for r in futures::future::join_all(runs).await {
            r.unwrap();
        }
        let stats = handle.blocking().unwrap().outbox_stats().unwrap();
        assert_eq!((stats.sent, stats.pending), (40, 0));
    }
}
