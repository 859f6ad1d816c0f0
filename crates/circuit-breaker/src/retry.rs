//! Retries: a [`RetryPolicy`] (how often, how long to wait, which errors), a shared
//! [`RetryBudget`] (how many retries the downstream can take) and the [`Retry`] executor
//! that runs a call under both.
//!
//! Settings: [`RetryPolicy`] and [`RetryBudget`]. What is retried and what a run
//! returns: [`Retry`].

mod backoff;
mod budget;
mod policy;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use backoff::Backoff;
pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use policy::{RetryPolicy, RetryPolicyBuilder};

use crate::clock::Clock;
use crate::error::ResilienceError;
use crate::state::CircuitState;
use backoff::SplitMix64;

/// Runs a call, retrying its failures under a [`RetryPolicy`] and an optional shared
/// [`RetryBudget`]. Share one `Retry` (in an `Arc`) between the calls it protects: its
/// stats and jitter source are shared by them.
///
/// ```
/// use std::time::Duration;
/// use palisade_circuit_breaker::{Backoff, ResilienceError, Retry, RetryPolicy};
///
/// # #[derive(Debug, thiserror::Error)] #[error("unavailable")] struct Unavailable;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()
/// #     .map_err(|e| e.to_string())?.block_on(async {
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .backoff(Backoff::Fixed(Duration::from_millis(10)))
///     .build()?;
/// let retry = Retry::new(policy);
/// let answer = retry
///     .run(|attempt| async move {
///         if attempt < 3 { Err(ResilienceError::Inner(Unavailable)) } else { Ok(42) }
///     })
///     .await;
/// assert_eq!(answer.ok(), Some(42));
/// assert_eq!(retry.stats().retries(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # What is retried
///
/// | error of an attempt | retried? | wait before the next attempt |
/// |---|---|---|
/// | `Inner(e)` | when `stop_on(e)` is false and `retry_on(e)` (if set) is true | max(`retry_after(e)` hint, backoff) |
/// | `Timeout` | yes | backoff |
/// | `BulkheadFull` | yes: a slot may free up | backoff |
/// | `CircuitBreakerOpen` in `Open` / `HalfOpen` | yes, not before the breaker's own `retry_after` | max(`retry_after`, backoff) |
/// | `CircuitBreakerOpen` in `ForcedOpen` | no: only an operator closes it | — |
/// | `RetryBudgetExhausted` | no: the downstream's budget is spent | — |
/// | `RetriesExhausted` | no: a nested retry already gave up; retrying it multiplies load | — |
///
/// An error that is not retried is returned unchanged, whatever the attempt. The breaker
/// and bulkhead rows concern breakers and bulkheads *inside* the retried call (another
/// service's, a nested stack); in [`Resilience`](crate::Resilience) the breaker and the
/// bulkhead sit outside the retry and never produce them here.
///
/// # How retrying stops, and what `run` then returns
///
/// | stop | returned error |
/// |---|---|
/// | `max_attempts` attempts made | `RetriesExhausted { attempts: max_attempts, last_error }` |
/// | the next attempt would start more than `max_elapsed` after the first began | `RetriesExhausted { attempts: made so far, last_error }`, at once (no wait that cannot lead anywhere) |
/// | the budget has no token for the retry | `RetryBudgetExhausted { attempts, last_error }` |
/// | the error is not retried | that error, unchanged |
///
/// # Cost
/// The first attempt costs two relaxed atomic adds (stats), a budget deposit when a
/// budget is set (a clock read and a compare-and-swap), and a clock read when
/// `max_elapsed` is set. Each retry adds one jitter draw, one budget withdrawal and a
/// timer; nothing allocates except the `Box` of a final `RetriesExhausted`.
pub struct Retry {
    policy: RetryPolicy,
    budget: Option<Arc<RetryBudget>>,
    clock: Clock,
    rng: SplitMix64,
    stats: RetryStats,
}

impl Default for Retry {
    /// A retry under [`RetryPolicy::default`], no budget, the system clock.
    fn default() -> Self {
        Retry::new(RetryPolicy::default())
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .field("clock", &self.clock)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

enum Verdict {
    Retry { hint: Option<Duration> },
    Stop,
}

impl Retry {
    /// A retry under `policy`, with no budget and the system clock. Its jitter source is
    /// seeded from the policy's `seed`, or randomly.
    pub fn new(policy: RetryPolicy) -> Self {
        let rng = SplitMix64::new(policy.seed);
        Retry {
            policy,
            budget: None,
            clock: Clock::system(),
            rng,
            stats: RetryStats::default(),
        }
    }

    /// Draws every retry from `budget` (shared with the other retries to the same
    /// downstream); each call's first attempt deposits into it.
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The clock `max_elapsed` is measured on (default: system). Waits are tokio sleeps,
    /// so under paused tokio time pass `Clock::tokio()`; on a manual clock a wait does not
    /// sleep but advances the clock by its length.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Counters of every call run so far.
    pub fn stats(&self) -> &RetryStats {
        &self.stats
    }

    /// Runs `f(1)`, and while it fails with an error the policy retries (see the module
    /// table), waits and runs `f(2)`, `f(3)`… `f` receives the attempt's number, from 1.
    ///
    /// # Errors
    /// - an error that is not retried: returned unchanged;
    /// - `RetriesExhausted { attempts, last_error }` when `max_attempts` attempts failed,
    ///   or when the next attempt would start after `max_elapsed`;
    /// - `RetryBudgetExhausted { attempts, last_error }` when the budget refused the
    ///   next retry.
    ///
    /// # Cancellation
    /// Dropping the returned future cancels the attempt or the wait in progress; no
    /// further attempt is made.
    pub async fn run<T, E, F, Fut>(&self, mut f: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        E: StdError + 'static,
    {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let started = self.policy.max_elapsed.map(|_| self.clock.now_nanos());
        let jitter = self.policy.jitter_factor.unwrap_or(0.0);
        let mut previous = self.policy.backoff.first_previous();
        let mut attempt = 1;
        loop {
            let error = match f(attempt).await {
                Ok(value) => {
                    if attempt > 1 {
                        self.stats
                            .successes_after_retry
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(value);
                }
                Err(error) => error,
            };
            let hint = match self.verdict(&error) {
                Verdict::Retry { hint } => hint,
                Verdict::Stop => return Err(error),
            };
            if attempt >= self.policy.max_attempts {
                return Err(self.give_up(attempt, error));
            }
            let backoff =
                self.policy
                    .backoff
                    .delay(attempt, previous, jitter, self.rng.next_unit());
            previous = backoff;
            let wait = hint.map_or(backoff, |hint| hint.max(backoff));
            if let (Some(limit), Some(started)) = (self.policy.max_elapsed, started) {
                let elapsed = Duration::from_nanos(self.clock.now_nanos().saturating_sub(started));
                if elapsed.saturating_add(wait) > limit {
                    return Err(self.give_up(attempt, error));
                }
            }
            if self
                .budget
                .as_ref()
                .is_some_and(|budget| !budget.try_withdraw())
            {
                self.stats.exhausted.fetch_add(1, Ordering::Relaxed);
                self.stats.budget_denied.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(attempt, failure = ?error.failure_type(), "retry budget exhausted");
                return Err(ResilienceError::RetryBudgetExhausted {
                    attempts: attempt,
                    last_error: Box::new(error),
                });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(attempt, ?wait, failure = ?error.failure_type(), "retrying");
            drop(error);
            self.wait(wait).await;
            attempt += 1;
        }
    }

    fn verdict<E: StdError + 'static>(&self, error: &ResilienceError<E>) -> Verdict {
        match error {
            ResilienceError::Inner(e) => {
                let e: &(dyn StdError + 'static) = e;
                if self.policy.is_retryable(e) {
                    Verdict::Retry {
                        hint: self.policy.retry_after_hint(e),
                    }
                } else {
                    Verdict::Stop
                }
            }
            ResilienceError::Timeout(_) | ResilienceError::BulkheadFull { .. } => {
                Verdict::Retry { hint: None }
            }
            ResilienceError::CircuitBreakerOpen {
                state: CircuitState::ForcedOpen,
                ..
            } => Verdict::Stop,
            ResilienceError::CircuitBreakerOpen { retry_after, .. } => {
                Verdict::Retry { hint: *retry_after }
            }
            ResilienceError::RetryBudgetExhausted { .. }
            | ResilienceError::RetriesExhausted { .. } => Verdict::Stop,
        }
    }

    fn give_up<E>(&self, attempts: u32, last_error: ResilienceError<E>) -> ResilienceError<E> {
        self.stats.exhausted.fetch_add(1, Ordering::Relaxed);
        ResilienceError::RetriesExhausted {
            attempts,
            last_error: Box::new(last_error),
        }
    }

    async fn wait(&self, wait: Duration) {
        if self.clock.is_manual() {
            self.clock.advance(wait);
        } else if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Counters of a [`Retry`], updated with relaxed atomics (each read is exact on its own;
/// reads of several counters are not one snapshot).
#[derive(Debug, Default)]
pub struct RetryStats {
    calls: AtomicU64,
    retries: AtomicU64,
    successes_after_retry: AtomicU64,
    exhausted: AtomicU64,
    budget_denied: AtomicU64,
}

impl RetryStats {
    /// Calls run (first attempts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Retries made (attempts after the first).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Calls that succeeded on a retry.
    pub fn successes_after_retry(&self) -> u64 {
        self.successes_after_retry.load(Ordering::Relaxed)
    }

    /// Calls that failed with a retryable error and were not retried further: attempts,
    /// `max_elapsed` or the budget ran out.
    pub fn exhausted(&self) -> u64 {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Of the exhausted calls, those stopped by the budget.
    pub fn budget_denied(&self) -> u64 {
        self.budget_denied.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    #[derive(Clone, Debug, PartialEq, thiserror::Error)]
    enum CallError {
        #[error("unavailable")]
        Unavailable,
        #[error("bad request")]
        BadRequest,
        #[error("throttled for {0:?}")]
        Throttled(Duration),
    }

    type Outcome = Result<u32, ResilienceError<CallError>>;

    fn policy(b: RetryPolicyBuilder) -> RetryPolicy {
        match b.build() {
            Ok(p) => p,
            Err(e) => panic!("invalid test policy: {e}"),
        }
    }

    fn fixed(wait: Duration, attempts: u32) -> RetryPolicyBuilder {
        RetryPolicy::builder()
            .backoff(Backoff::Fixed(wait))
            .max_attempts(attempts)
    }

    /// Runs `retry` over a call answering `outcome(attempt)`; returns the result and the
    /// time (since the start) of each attempt.
    async fn run_timed(
        retry: &Retry,
        outcome: impl Fn(u32) -> Outcome,
    ) -> (Outcome, Vec<Duration>) {
        let start = Instant::now();
        let times = Mutex::new(Vec::new());
        let result = retry
            .run(|attempt| {
                if let Ok(mut t) = times.lock() {
                    t.push(start.elapsed());
                }
                std::future::ready(outcome(attempt))
            })
            .await;
        (result, times.into_inner().unwrap_or_default())
    }

    fn fail(e: CallError) -> Outcome {
        Err(ResilienceError::Inner(e))
    }

    #[tokio::test(start_paused = true)]
    async fn retry_returns_the_first_success_and_counts_it() {
        let retry = Retry::new(policy(fixed(10 * MS, 5)));
        let (result, times) = run_timed(&retry, |n| {
            if n < 3 {
                fail(CallError::Unavailable)
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(times.len(), 3);
        let s = retry.stats();
        assert_eq!(
            (
                s.calls(),
                s.retries(),
                s.successes_after_retry(),
                s.exhausted()
            ),
            (1, 2, 1, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_exhausted_reports_attempts_and_last_error() {
        let retry = Retry::new(policy(fixed(10 * MS, 3)));
        let (result, times) = run_timed(&retry, |_| fail(CallError::Unavailable)).await;
        let expected = ResilienceError::RetriesExhausted {
            attempts: 3,
            last_error: Box::new(ResilienceError::Inner(CallError::Unavailable)),
        };
        assert_eq!(result, Err(expected));
        assert_eq!(times.len(), 3);
        assert_eq!(retry.stats().exhausted(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_waits_the_backoff_between_attempts() {
        let linear = Backoff::Linear {
            initial: 100 * MS,
            step: 100 * MS,
            max: 150 * MS,
        };
        let retry = Retry::new(policy(
            RetryPolicy::builder().backoff(linear).max_attempts(4),
        ));
        let (_, times) = run_timed(&retry, |_| fail(CallError::Unavailable)).await;
        assert_eq!(times, vec![Duration::ZERO, 100 * MS, 250 * MS, 400 * MS]);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_on_predicate_prevents_retry() {
        let p = fixed(MS, 5).stop_on(|e| e.downcast_ref() == Some(&CallError::BadRequest));
        let retry = Retry::new(policy(p));
        let (result, times) = run_timed(&retry, |_| fail(CallError::BadRequest)).await;
        assert_eq!(result, fail(CallError::BadRequest), "returned unchanged");
        assert_eq!(times.len(), 1);
        assert_eq!(retry.stats().retries(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_on_predicate_limits_what_is_retried() {
        let p = fixed(MS, 5).retry_on(|e| e.downcast_ref() == Some(&CallError::Unavailable));
        let retry = Retry::new(policy(p));
        let (result, times) = run_timed(&retry, |n| {
            if n == 1 {
                fail(CallError::Unavailable)
            } else {
                fail(CallError::BadRequest)
            }
        })
        .await;
        assert_eq!(result, fail(CallError::BadRequest));
        assert_eq!(times.len(), 2);
    }

    fn throttle_hint(e: &(dyn StdError + 'static)) -> Option<Duration> {
        match e.downcast_ref() {
            Some(CallError::Throttled(d)) => Some(*d),
            _ => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_honours_server_retry_after_hint() {
        let retry = Retry::new(policy(fixed(100 * MS, 3).retry_after(throttle_hint)));
        let (result, times) = run_timed(&retry, |n| match n {
            1 => fail(CallError::Throttled(Duration::from_secs(2))),
            2 => fail(CallError::Throttled(10 * MS)),
            _ => Ok(n),
        })
        .await;
        assert_eq!(result, Ok(3));
        // The longer of hint and backoff: 2 s, then the 100 ms backoff over a 10 ms hint.
        assert_eq!(times, vec![Duration::ZERO, 2000 * MS, 2100 * MS]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_elapsed_stops_retrying() {
        let p = fixed(400 * MS, 10).max_elapsed(Duration::from_secs(1));
        let retry = Retry::new(policy(p)).with_clock(Clock::tokio());
        let start = Instant::now();
        let (result, times) = run_timed(&retry, |_| fail(CallError::Unavailable)).await;
        assert_eq!(times, vec![Duration::ZERO, 400 * MS, 800 * MS]);
        assert!(matches!(
            result,
            Err(ResilienceError::RetriesExhausted { attempts: 3, .. })
        ));
        assert_eq!(
            start.elapsed(),
            800 * MS,
            "gave up at once, without a useless wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_budget_stops_retries_during_an_outage() {
        let budget = RetryBudget::builder()
            .min_retries_per_second(0)
            .ratio(0.2)
            .clock(Clock::tokio());
        let Ok(budget) = budget.build() else {
            panic!("valid budget")
        };
        let retry = Retry::new(policy(fixed(MS, 3))).with_budget(Arc::new(budget));
        let mut attempts = 0;
        let mut budget_errors = 0;
        for _ in 0..50 {
            let (result, times) = run_timed(&retry, |_| fail(CallError::Unavailable)).await;
            attempts += times.len();
            budget_errors += usize::from(matches!(
                result,
                Err(ResilienceError::RetryBudgetExhausted { .. })
            ));
        }
        // Without the budget: 150 attempts. With it: 50 first attempts + 20 % of them,
        // and every call ends on a refused retry.
        assert_eq!(attempts, 60);
        assert_eq!(retry.stats().retries(), 10);
        assert_eq!(budget_errors, 50);
        assert_eq!(retry.stats().budget_denied(), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn open_breaker_is_retried_after_its_retry_after() {
        let retry = Retry::new(policy(fixed(MS, 2)));
        let (result, times) = run_timed(&retry, |n| {
            if n > 1 {
                return Ok(n);
            }
            Err(ResilienceError::CircuitBreakerOpen {
                name: "db".into(),
                state: CircuitState::Open,
                retry_after: Some(Duration::from_secs(3)),
            })
        })
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(times, vec![Duration::ZERO, Duration::from_secs(3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn forced_open_breaker_and_spent_budgets_are_never_retried() {
        let retry = Retry::new(policy(fixed(MS, 5)));
        let forced = || ResilienceError::CircuitBreakerOpen {
            name: "db".into(),
            state: CircuitState::ForcedOpen,
            retry_after: None,
        };
        let nested = || ResilienceError::RetriesExhausted {
            attempts: 2,
            last_error: Box::new(ResilienceError::Timeout(MS)),
        };
        let budget = ResilienceError::RetryBudgetExhausted {
            attempts: 1,
            last_error: Box::new(ResilienceError::Timeout(MS)),
        };
        for error in [forced(), budget, nested()] {
            let (result, times) = run_timed(&retry, |_| Err(error.clone())).await;
            assert_eq!(result, Err(error));
            assert_eq!(times.len(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_and_full_bulkheads_are_retried() {
        let retry = Retry::new(policy(fixed(MS, 3)));
        let (result, _) = run_timed(&retry, |n| match n {
            1 => Err(ResilienceError::Timeout(MS)),
            2 => Err(ResilienceError::BulkheadFull {
                name: "pool".into(),
                max_concurrent: 1,
            }),
            _ => Ok(n),
        })
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn manual_clock_advances_instead_of_sleeping() {
        let clock = Clock::manual();
        let p = fixed(Duration::from_secs(5), 10).max_elapsed(Duration::from_secs(12));
        let retry = Retry::new(policy(p)).with_clock(clock.clone());
        let (result, times) = run_timed(&retry, |_| fail(CallError::Unavailable)).await;
        assert!(matches!(
            result,
            Err(ResilienceError::RetriesExhausted { attempts: 3, .. })
        ));
        assert_eq!(clock.now_nanos(), 10_000_000_000);
        assert!(
            times.iter().all(|t| *t < Duration::from_secs(1)),
            "no real waiting"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_gives_the_same_waits() {
        let jittered = || {
            let full = Backoff::ExponentialFullJitter {
                initial: 100 * MS,
                multiplier: 2.0,
                max: 10_000 * MS,
            };
            Retry::new(policy(
                RetryPolicy::builder()
                    .backoff(full)
                    .max_attempts(6)
                    .seed(42),
            ))
        };
        let (_, a) = run_timed(&jittered(), |_| fail(CallError::Unavailable)).await;
        let (_, b) = run_timed(&jittered(), |_| fail(CallError::Unavailable)).await;
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
    }
}
