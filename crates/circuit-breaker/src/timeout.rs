//! `Timeout`: a time limit on one call, enforced by cancelling it.

use std::future::Future;
use std::time::Duration;

use crate::error::{ConfigError, ResilienceError};

/// A time limit on a call. Cheap to copy.
///
/// Cost per call: one tokio timer registration; nothing allocates. Needs a tokio runtime
/// with time enabled; under paused time (tests) the limit follows `tokio::time::advance`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `duration` | — (required, > 0) | how long the call may run before it is cancelled |
///
/// A timed-out call's future is dropped: it stops at the `.await` it was suspended on and
/// its destructors run, so a timeout frees what the call held (a connection, a bulkhead
/// slot). What the call already started elsewhere is not undone: a request already sent
/// may still be processed by the server, a task it spawned keeps running. Only time out
/// calls that are safe to abandon halfway (idempotent, or whose effects you reconcile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    duration: Duration,
}

impl Timeout {
    /// A limit of `duration`.
    ///
    /// # Errors
    /// `ConfigError` for `duration` when it is zero (every call would fail).
    pub fn new(duration: Duration) -> Result<Self, ConfigError> {
        if duration.is_zero() {
            return Err(ConfigError::new("duration", "must be positive"));
        }
        Ok(Timeout { duration })
    }

    /// The limit.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Runs `call` for at most the limit.
    ///
    /// # Errors
    /// `Timeout(duration)` when the limit passes first: `call` is then dropped, which
    /// cancels it (see the module docs for what that does and does not undo). Otherwise
    /// `call`'s own result, errors included, unchanged.
    pub async fn run<T, E, Fut>(&self, call: Fut) -> Result<T, ResilienceError<E>>
    where
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        match tokio::time::timeout(self.duration, call).await {
            Ok(result) => result,
            Err(_elapsed) => {
                tracing::debug!(duration = ?self.duration, "call timed out and was cancelled");
                Err(ResilienceError::Timeout(self.duration))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    fn limit(ms: u64) -> Timeout {
        match Timeout::new(Duration::from_millis(ms)) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Sets its flag when dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_cancels_the_inner_call() {
        let dropped = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (guard, done) = (DropFlag(dropped.clone()), finished.clone());
        let call = async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(10)).await;
            done.store(true, Ordering::SeqCst);
            Ok::<_, ResilienceError<Refused>>(1)
        };
        let result = limit(100).run(call).await;
        assert_eq!(
            result,
            Err(ResilienceError::Timeout(Duration::from_millis(100)))
        );
        assert!(
            dropped.load(Ordering::SeqCst),
            "the call's future was dropped"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(!finished.load(Ordering::SeqCst), "the call never resumed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_within_the_limit_keeps_its_result() {
        let slow_ok = async {
            tokio::time::sleep(Duration::from_millis(99)).await;
            Ok::<_, ResilienceError<Refused>>(7)
        };
        assert_eq!(limit(100).run(slow_ok).await, Ok(7));
        let refused = async { Err::<u8, _>(ResilienceError::Inner(Refused)) };
        assert_eq!(
            limit(100).run(refused).await,
            Err(ResilienceError::Inner(Refused))
        );
    }

    #[test]
    fn a_zero_limit_is_refused() {
        assert_eq!(
            Timeout::new(Duration::ZERO).err().map(|e| e.setting),
            Some("duration")
        );
    }
}
