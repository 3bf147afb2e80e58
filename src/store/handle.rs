//! The daemon's store connections as its tasks share them, and the one
//! rule for using them from async code: [`StoreHandle::call`] runs the work
//! on a blocking thread with the connection locked, so SQLite never blocks
//! a runtime worker and never waits behind one. Keep templates and OpenPGP
//! out of the closure when they can be done before or after; work that is
//! on a blocking thread already (an intake batch, the digest) takes the
//! lock with [`StoreHandle::blocking`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Error, Result, Store};

/// One connection, shared by the tasks that use it.
#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<Mutex<Store>>,
    /// Urgent writes waiting or running on this handle or its siblings
    /// (connections to the same database): see [`StoreHandle::call_urgent`].
    urgent: Arc<AtomicUsize>,
}

/// Counts an urgent call from before it waits until it is done.
struct Urgent(Arc<AtomicUsize>);

impl Drop for Urgent {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StoreHandle {
    pub fn new(store: Store) -> StoreHandle {
        StoreHandle {
            store: Arc::new(Mutex::new(store)),
            urgent: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Another connection to the same database, whose urgent calls this
    /// handle's long writers make way for.
    pub fn sibling(&self, store: Store) -> StoreHandle {
        StoreHandle {
            store: Arc::new(Mutex::new(store)),
            urgent: self.urgent.clone(),
        }
    }

    /// [`StoreHandle::call`] for a short write that something waits on (the
    /// outbox's marks: a mail is not sent, or the next one not begun, until
    /// it commits). A writer that holds the write lock for long on a
    /// sibling (an intake group) ends its transaction early and lets it
    /// pass: [`StoreHandle::urgent_waiting`], [`StoreHandle::let_urgent_pass`].
    pub async fn call_urgent<T, E>(
        &self,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.urgent.fetch_add(1, Ordering::SeqCst);
        let urgent = Urgent(self.urgent.clone());
        self.call(move |store| {
            let _urgent = urgent;
            f(store)
        })
        .await
    }

    /// Whether an urgent write waits (on any sibling).
    pub fn urgent_waiting(&self) -> bool {
        self.urgent.load(Ordering::SeqCst) > 0
    }

    /// Between two long writes: waits (at most `max`) while urgent writes
    /// wait, so they take the write lock before this writer takes it again
    /// (SQLite's lock is not fair: a writer that commits and begins again
    /// at once keeps it from one that polls).
    pub fn let_urgent_pass(&self, max: Duration) {
        let since = Instant::now();
        while self.urgent_waiting() && since.elapsed() < max {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Runs `f` with the store on a blocking thread. A panic in `f` is
    /// [`Error::Poisoned`] (the lock is, too).
    pub async fn call<T, E>(
        &self,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let inner = self.store.clone();
        let run = move || {
            let mut store = super::lock(&inner)?;
            f(&mut store)
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(result) => result,
            Err(_) => Err(Error::Poisoned.into()),
        }
    }

    /// The store, locked, for code that may block (inside
    /// `spawn_blocking`, the CLI, tests).
    pub fn blocking(&self) -> Result<MutexGuard<'_, Store>> {
        super::lock(&self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn call_runs_on_a_blocking_thread_and_a_panic_is_an_error() {
        let h = StoreHandle::new(Store::open_in_memory().unwrap());
        let on_worker = std::thread::current().id();
        let (n, thread) = h
            .call(|s| -> Result<_> { Ok((s.list_reports()?.len(), std::thread::current().id())) })
            .await
            .unwrap();
        assert_eq!(n, 0);
        assert_ne!(thread, on_worker);
        let panicked: Result<()> = h.call(|_| -> Result<()> { panic!("boom") }).await;
        assert!(matches!(panicked, Err(Error::Poisoned)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_urgent_call_is_seen_by_its_siblings_until_it_is_done() {
        let intake = StoreHandle::new(Store::open_in_memory().unwrap());
        let outbox = intake.sibling(Store::open_in_memory().unwrap());
        assert!(!intake.urgent_waiting());
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let call = tokio::spawn(async move {
            outbox
                .call_urgent(move |_| -> Result<()> {
                    let _ = wait.recv();
                    Ok(())
                })
                .await
        });
        let since = Instant::now();
        while !intake.urgent_waiting() {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "the urgent call is never counted"
            );
            tokio::task::yield_now().await;
        }
        // A long writer waits for it, but not for ever.
        let waited = Instant::now();
        intake.let_urgent_pass(Duration::from_millis(20));
        assert!(waited.elapsed() >= Duration::from_millis(20));
        release.send(()).unwrap();
        call.await.unwrap().unwrap();
        assert!(!intake.urgent_waiting(), "counted until done, not after");
        let waited = Instant::now();
        intake.let_urgent_pass(Duration::from_secs(10));
        assert!(waited.elapsed() < Duration::from_secs(1));
    }
}
