//! `Bulkhead`: a limit on concurrent calls, so one slow downstream cannot take every
//! task (or connection) of the caller with it.
//! See [`Bulkhead`] for its settings and contract.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::{ConfigError, ResilienceError};

/// A concurrency limit with a bounded wait. Share it (in an `Arc`) between every call to
/// the resource it protects.
///
/// Cost: a call admitted at once takes one atomic compare-and-swap and an `Arc` clone;
/// a queued call also a timer. No lock is held while the call runs.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `name` | — (required) | reported in `BulkheadFull` and logs |
/// | `max_concurrent` | — (required, ≥ 1) | calls admitted at once |
/// | `max_wait` | — (required) | how long a call may queue for a slot; zero = refused at once when full |
///
/// Waiting calls are admitted in arrival order (tokio's semaphore is fair). A slot is
/// held by a [`BulkheadPermit`] and freed when the permit drops, so a call that panics or
/// is cancelled frees its slot too.
pub struct Bulkhead {
    name: Arc<str>,
    max_concurrent: usize,
    max_wait: Duration,
    slots: Arc<Semaphore>,
    rejected: AtomicU64,
}

/// One of a bulkhead's slots; dropping it frees the slot. Owned, so it can move into a
/// spawned task.
#[derive(Debug)]
pub struct BulkheadPermit {
    _slot: OwnedSemaphorePermit,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name)
            .field("max_concurrent", &self.max_concurrent)
            .field("max_wait", &self.max_wait)
            .field("in_use", &self.in_use())
            .field("rejected", &self.rejected())
            .finish()
    }
}

impl Bulkhead {
    /// A bulkhead admitting `max_concurrent` calls at once, each waiting at most
    /// `max_wait` for a slot.
    ///
    /// # Errors
    /// `ConfigError` for `max_concurrent` when it is zero or above
    /// `tokio::sync::Semaphore::MAX_PERMITS`.
    pub fn new(
        name: impl Into<Arc<str>>,
        max_concurrent: usize,
        max_wait: Duration,
    ) -> Result<Self, ConfigError> {
        if max_concurrent == 0 {
            return Err(ConfigError::new("max_concurrent", "must be at least 1"));
        }
        if max_concurrent > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                "max_concurrent",
                "above Semaphore::MAX_PERMITS",
            ));
        }
        Ok(Bulkhead {
            name: name.into(),
            max_concurrent,
            max_wait,
            slots: Arc::new(Semaphore::new(max_concurrent)),
            rejected: AtomicU64::new(0),
        })
    }

    /// Takes a slot if one is free now, without waiting.
    ///
    /// # Errors
    /// `BulkheadFull` when none is (counted in [`rejected`](Bulkhead::rejected)).
    pub fn try_acquire<E>(&self) -> Result<BulkheadPermit, ResilienceError<E>> {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Ok(BulkheadPermit { _slot: slot }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(self.reject()),
        }
    }

    /// Takes a slot, queueing up to `max_wait` for one.
    ///
    /// # Errors
    /// `BulkheadFull` when no slot freed up in time (counted in
    /// [`rejected`](Bulkhead::rejected)).
    pub async fn acquire<E>(&self) -> Result<BulkheadPermit, ResilienceError<E>> {
        if self.max_wait.is_zero() {
            return self.try_acquire();
        }
        match tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(BulkheadPermit { _slot: slot }),
            // Err(Closed) cannot happen (the semaphore is never closed); treat it as full.
            Ok(Err(_)) | Err(_) => Err(self.reject()),
        }
    }

    /// Runs `call` in a slot, queueing up to `max_wait` for one; the slot is freed when
    /// `call` completes or is dropped.
    ///
    /// # Errors
    /// `BulkheadFull` when no slot freed up in time (`call` is then dropped unpolled);
    /// otherwise `call`'s own result.
    pub async fn run<T, E, Fut>(&self, call: Fut) -> Result<T, ResilienceError<E>>
    where
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let _permit = self.acquire().await?;
        call.await
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limit.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The longest a call queues for a slot.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Free slots now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    /// Slots held now.
    pub fn in_use(&self) -> usize {
        self.max_concurrent.saturating_sub(self.available())
    }

    /// Calls refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn reject<E>(&self) -> ResilienceError<E> {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(bulkhead = %self.name, "bulkhead full, call refused");
        ResilienceError::BulkheadFull {
            name: self.name.clone(),
            max_concurrent: self.max_concurrent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("never")]
    struct Never;

    type Outcome<T> = Result<T, ResilienceError<Never>>;

    fn bulkhead(max: usize, wait_ms: u64) -> Bulkhead {
        match Bulkhead::new("pool", max, Duration::from_millis(wait_ms)) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    fn full() -> ResilienceError<Never> {
        ResilienceError::BulkheadFull {
            name: "pool".into(),
            max_concurrent: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bulkhead_rejects_when_full_after_max_wait() {
        let b = bulkhead(1, 100);
        let held: Outcome<BulkheadPermit> = b.acquire().await;
        assert!(held.is_ok());
        let start = tokio::time::Instant::now();
        let refused: Outcome<BulkheadPermit> = b.acquire().await;
        assert_eq!(refused.err(), Some(full()));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(100),
            "waited max_wait first"
        );
        assert_eq!((b.in_use(), b.available(), b.rejected()), (1, 0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_max_wait_refuses_at_once() {
        let b = bulkhead(1, 0);
        let _held: Outcome<BulkheadPermit> = b.try_acquire();
        let start = tokio::time::Instant::now();
        let ran = b.run(async { Outcome::Ok(1) }).await;
        assert_eq!(ran, Err(full()));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_gets_the_slot_freed_within_max_wait() {
        let b = Arc::new(bulkhead(1, 100));
        let Ok(held) = b.try_acquire::<Never>() else {
            panic!("free slot")
        };
        let waiter = tokio::spawn({
            let b = b.clone();
            async move {
                b.run(async { Outcome::Ok(tokio::time::Instant::now()) })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
        let freed_at = tokio::time::Instant::now();
        drop(held);
        let Ok(Ok(ran_at)) = waiter.await else {
            panic!("the waiter should run")
        };
        assert_eq!(ran_at, freed_at);
        assert_eq!((b.in_use(), b.rejected()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_call_frees_its_slot() {
        let b = bulkhead(1, 0);
        let slow = b.run(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Outcome::Ok(())
        });
        let cancelled = tokio::time::timeout(Duration::from_millis(10), slow).await;
        assert!(cancelled.is_err());
        assert_eq!(b.available(), 1);
    }

    #[test]
    fn a_zero_limit_is_refused() {
        let e = Bulkhead::new("pool", 0, Duration::ZERO)
            .err()
            .map(|e| e.setting);
        assert_eq!(e, Some("max_concurrent"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulkhead_never_exceeds_its_limit_under_load() {
        const LIMIT: usize = 4;
        let b = Arc::new(
            match Bulkhead::new("pool", LIMIT, Duration::from_secs(3600)) {
                Ok(b) => b,
                Err(e) => panic!("{e}"),
            },
        );
        let in_flight = Arc::new(AtomicUsize::new(0));
        let high_water = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (b, in_flight, high_water) = (b.clone(), in_flight.clone(), high_water.clone());
                tokio::spawn(async move {
                    b.run(async {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        high_water.fetch_max(now, Ordering::SeqCst);
                        for _ in 0..5 {
                            tokio::task::yield_now().await;
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Outcome::Ok(())
                    })
                    .await
                })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            if matches!(t.await, Ok(Ok(()))) {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 200, "every call got a slot within max_wait");
        let peak = high_water.load(Ordering::SeqCst);
        assert!((1..=LIMIT).contains(&peak), "peak {peak} above {LIMIT}");
        assert_eq!((b.in_use(), b.rejected()), (0, 0));
    }
}
