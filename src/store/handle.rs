//! The daemon's store connections as its tasks share them, and the one
//! rule for using them from async code: [`StoreHandle::call`] runs the work
//! on a blocking thread with the connection locked, so SQLite never blocks
//! a runtime worker and never waits behind one. Keep templates and OpenPGP
//! out of the closure when they can be done before or after; work that is
//! on a blocking thread already (an intake batch, the digest) takes the
//! lock with [`StoreHandle::blocking`].

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Error, Result, Store};

/// One connection, shared by the tasks that use it.
#[derive(Clone)]
pub struct StoreHandle(Arc<Mutex<Store>>);

impl StoreHandle {
    pub fn new(store: Store) -> StoreHandle {
        StoreHandle(Arc::new(Mutex::new(store)))
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
        let inner = self.0.clone();
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
        super::lock(&self.0)
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
}
