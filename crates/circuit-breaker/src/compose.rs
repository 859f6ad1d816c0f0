//! `Resilience`: the primitives stacked in the one order that works, around a call.
//! See [`Resilience`] for the order, why, and its settings.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;

use crate::breaker::{CircuitBreaker, Rejection};
use crate::bulkhead::Bulkhead;
use crate::config::Outcome;
use crate::error::ResilienceError;
use crate::retry::Retry;
use crate::timeout::Timeout;

/// A stack of resilience primitives around a call, in the order of the diagram below.
/// Build with [`Resilience::builder`]; share it (in an `Arc`) between callers.
///
/// Cost: the sum of the layers present; the stack itself adds no allocation or lock.
///
/// ```text
///   caller
///     │
///     ▼
///   Bulkhead ─── one slot per call, held across every attempt and wait;
///     │          full after max_wait → BulkheadFull (nothing below runs)
///     ▼
///   Breaker ──── one permit and one recorded outcome per call;
///     │          open → CircuitBreakerOpen (nothing below runs)
///     ▼
///   Retry ────── attempts and backoff waits, under the policy and the budget
///     │
///     ▼
///   Timeout ──── a limit on each attempt alone; expiry cancels the attempt and is
///     │          retried like any Timeout
///     ▼
///   f(attempt)
/// ```
///
/// "Timeout inside retry inside breaker inside bulkhead", because:
/// - the timeout is inside the retry so each attempt gets the full limit and a hung
///   attempt becomes a retryable `Timeout` instead of eating every attempt's time;
/// - the retry is inside the breaker so the breaker records one outcome per call (a call
///   that succeeded on its second attempt succeeded) and an open breaker fails fast
///   without burning retries or budget;
/// - the bulkhead is outermost so its limit counts calls in progress, waits included,
///   and a refused call costs nothing below it.
///
/// Every layer is optional; the stack is the same as nesting the plain functions:
///
/// ```
/// # use std::time::Duration;
/// # use palisade_circuit_breaker::{Bulkhead, ResilienceError, Retry, RetryPolicy, Timeout};
/// # #[derive(Debug, thiserror::Error)] #[error("down")] struct Down;
/// # async fn call(_attempt: u32) -> Result<u8, ResilienceError<Down>> { Ok(1) }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()
/// #     .map_err(|e| e.to_string())?.block_on(async {
/// let bulkhead = Bulkhead::new("db", 8, Duration::from_millis(50))?;
/// let retry = Retry::new(RetryPolicy::database());
/// let timeout = Timeout::new(Duration::from_secs(2))?;
/// let value = bulkhead.run(retry.run(|attempt| timeout.run(call(attempt)))).await?;
/// # assert_eq!(value, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `bulkhead` | none | the outermost concurrency limit (shared via `Arc`) |
/// | `circuit_breaker` | none | records one outcome per call, after the retries |
/// | `retry` | none (one attempt) | the retry executor (shared via `Arc`) |
/// | `timeout` | none | the limit on each attempt |
#[derive(Clone, Debug)]
pub struct Resilience {
    bulkhead: Option<Arc<Bulkhead>>,
    breaker: Option<CircuitBreaker>,
    retry: Option<Arc<Retry>>,
    timeout: Option<Timeout>,
}

/// Builds a [`Resilience`] stack. The order in which layers are added does not matter:
/// the stack's order is fixed.
#[derive(Clone, Debug, Default)]
pub struct ResilienceBuilder {
    bulkhead: Option<Arc<Bulkhead>>,
    breaker: Option<CircuitBreaker>,
    retry: Option<Arc<Retry>>,
    timeout: Option<Timeout>,
}

impl ResilienceBuilder {
    /// The outermost layer: a concurrency limit (a `Bulkhead` or a shared `Arc` of one).
    pub fn bulkhead(mut self, bulkhead: impl Into<Arc<Bulkhead>>) -> Self {
        self.bulkhead = Some(bulkhead.into());
        self
    }

    /// The circuit breaker, between the bulkhead and the retry (clones share state).
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Retries inside the breaker (a `Retry` or a shared `Arc` of one).
    pub fn retry(mut self, retry: impl Into<Arc<Retry>>) -> Self {
        self.retry = Some(retry.into());
        self
    }

    /// The innermost layer: a limit on each attempt.
    pub fn timeout(mut self, timeout: Timeout) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The stack. Infallible: each layer was validated when it was built.
    pub fn build(self) -> Resilience {
        Resilience {
            bulkhead: self.bulkhead,
            breaker: self.breaker,
            retry: self.retry,
            timeout: self.timeout,
        }
    }
}

impl Resilience {
    /// A builder with no layers.
    pub fn builder() -> ResilienceBuilder {
        ResilienceBuilder::default()
    }

    /// The bulkhead layer, if any.
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_deref()
    }

    /// The circuit breaker, if any.
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The retry layer, if any.
    pub fn retry(&self) -> Option<&Retry> {
        self.retry.as_deref()
    }

    /// The timeout layer, if any.
    pub fn timeout(&self) -> Option<Timeout> {
        self.timeout
    }

    /// Runs `f(attempt)` (attempts numbered from 1) through every layer present.
    ///
    /// # Errors
    /// `BulkheadFull` when no slot freed up within the bulkhead's `max_wait` (`f` never
    /// ran); `CircuitBreakerOpen` when the breaker refused (`f` never ran); otherwise
    /// what the retry returns (see [`Retry::run`]), or without a retry
    /// the single attempt's result, a `Timeout` included.
    pub async fn run<T, E, F, Fut>(&self, mut f: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        E: StdError + 'static,
    {
        let _slot = match &self.bulkhead {
            Some(bulkhead) => Some(bulkhead.acquire::<E>().await?),
            None => None,
        };
        let permit = match &self.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(Rejection::into_error)?),
            None => None,
        };
        let timeout = self.timeout;
        let result = match &self.retry {
            Some(retry) => retry.run(|attempt| within(timeout, f(attempt))).await,
            None => within(timeout, f(1)).await,
        };
        if let (Some(permit), Some(breaker)) = (permit, &self.breaker) {
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(e) => outcome_of(breaker, e),
            };
            permit.record(outcome);
        }
        result
    }
}

/// What a stack's error counts as for its breaker: the call's own error by the breaker's
/// predicates (looking through retries), anything else (timeouts, refusals further in)
/// as a failure.
fn outcome_of<E: StdError + 'static>(
    breaker: &CircuitBreaker,
    error: &ResilienceError<E>,
) -> Outcome {
    match error {
        ResilienceError::Inner(e) => breaker.config().classify_error(e),
        ResilienceError::RetriesExhausted { last_error, .. }
        | ResilienceError::RetryBudgetExhausted { last_error, .. } => {
            outcome_of(breaker, last_error)
        }
        _ => Outcome::Failure,
    }
}

/// One attempt, under the timeout when there is one.
async fn within<T, E, Fut>(timeout: Option<Timeout>, attempt: Fut) -> Result<T, ResilienceError<E>>
where
    Fut: Future<Output = Result<T, ResilienceError<E>>>,
{
    match timeout {
        Some(timeout) => timeout.run(attempt).await,
        None => attempt.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Backoff, RetryPolicy};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;
    use tokio::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("down")]
    struct Down;

    fn retry(attempts: u32, wait: Duration) -> Retry {
        let policy = RetryPolicy::builder()
            .max_attempts(attempts)
            .backoff(Backoff::Fixed(wait));
        match policy.build() {
            Ok(p) => Retry::new(p),
            Err(e) => panic!("{e}"),
        }
    }

    fn timeout(d: Duration) -> Timeout {
        match Timeout::new(d) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn bulkhead(wait: Duration) -> Bulkhead {
        match Bulkhead::new("pool", 1, wait) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_attempt_gets_its_own_timeout_and_timeouts_are_retried() {
        let stack = Resilience::builder()
            .timeout(timeout(100 * MS))
            .retry(retry(3, 10 * MS))
            .build();
        let start = Instant::now();
        let result = stack
            .run(|attempt| async move {
                // The first two attempts hang; the third answers after 90 ms.
                let hang = if attempt < 3 {
                    Duration::from_secs(60)
                } else {
                    90 * MS
                };
                tokio::time::sleep(hang).await;
                Ok::<_, ResilienceError<Down>>(attempt)
            })
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(
            start.elapsed(),
            100 * MS + 10 * MS + 100 * MS + 10 * MS + 90 * MS
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_bulkhead_slot_covers_every_attempt_of_a_call() {
        let shared = Arc::new(bulkhead(Duration::ZERO));
        let stack = Resilience::builder()
            .bulkhead(shared.clone())
            .retry(retry(3, 10 * MS))
            .build();
        let peak_in_use = AtomicU32::new(0);
        let result = stack
            .run(|attempt| {
                peak_in_use.fetch_max(shared.in_use() as u32, Ordering::SeqCst);
                async move {
                    if attempt < 3 {
                        Err(ResilienceError::Inner(Down))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(peak_in_use.load(Ordering::SeqCst), 1);
        assert_eq!((shared.in_use(), shared.rejected()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bulkhead_refuses_before_any_attempt_and_is_not_retried() {
        let shared = Arc::new(bulkhead(20 * MS));
        let stack = Resilience::builder()
            .bulkhead(shared.clone())
            .retry(retry(5, MS))
            .build();
        let Ok(_held) = shared.try_acquire::<Down>() else {
            panic!("free slot")
        };
        let attempts = AtomicU32::new(0);
        let result = stack
            .run(|_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, ResilienceError<Down>>(()) }
            })
            .await;
        let full = ResilienceError::BulkheadFull {
            name: "pool".into(),
            max_concurrent: 1,
        };
        assert_eq!(result, Err(full));
        assert_eq!(attempts.load(Ordering::SeqCst), 0);
        assert_eq!(shared.rejected(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_stack_runs_the_call_once() {
        let stack = Resilience::builder().build();
        let attempts = AtomicU32::new(0);
        let result = stack
            .run(|_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(ResilienceError::Inner(Down)) }
            })
            .await;
        assert_eq!(result, Err(ResilienceError::Inner(Down)));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_retry_a_timeout_is_the_answer() {
        let stack = Resilience::builder().timeout(timeout(50 * MS)).build();
        let result = stack
            .run(|_| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, ResilienceError<Down>>(())
            })
            .await;
        assert_eq!(result, Err(ResilienceError::Timeout(50 * MS)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_records_one_outcome_per_call_after_the_retries() {
        use crate::config::{CircuitBreakerConfig, SlidingWindow};
        let config = CircuitBreakerConfig::builder()
            .sliding_window(SlidingWindow::CountBased(2))
            .minimum_number_of_calls(2)
            .build();
        let Ok(config) = config else { panic!("config") };
        let breaker = CircuitBreaker::new("db", config);
        let stack = Resilience::builder()
            .circuit_breaker(breaker.clone())
            .retry(retry(3, MS))
            .build();
        let calls = AtomicU32::new(0);
        // Fails twice, then succeeds: one successful call for the breaker.
        let r = stack
            .run(|attempt| {
                calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if attempt < 3 {
                        Err(ResilienceError::Inner(Down))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(3));
        assert_eq!(
            (
                breaker.metrics().buffered_calls,
                breaker.metrics().failed_calls
            ),
            (1, 0)
        );
        // Three failed attempts make one failed call: 1 of 2 = 50 %, the breaker opens.
        let r: Result<u32, _> = stack
            .run(|_| async { Err(ResilienceError::Inner(Down)) })
            .await;
        assert!(
            matches!(
                r,
                Err(ResilienceError::RetriesExhausted { attempts: 3, .. })
            ),
            "{r:?}"
        );
        let before = calls.load(Ordering::Relaxed);
        let r: Result<u32, ResilienceError<Down>> = stack.run(|_| async { Ok(1) }).await;
        assert!(
            matches!(r, Err(ResilienceError::CircuitBreakerOpen { .. })),
            "{r:?}"
        );
        assert_eq!(
            calls.load(Ordering::Relaxed),
            before,
            "refused before any attempt"
        );
    }
}
