//! # palisade-circuit-breaker
//!
//! Layer 2 of Palisade: the resilience primitives every protected call goes through,
//! usable on their own (no actors needed): a circuit breaker with resilience4j's
//! semantics (plus forced states, health checks and the origin design's consecutive
//! mode), retries with backoff and a retry budget, timeouts, bulkheads and fallback
//! chains, composable as plain functions or (feature `tower`) as `tower::Layer`s.
//!
//! ```
//! use std::time::Duration;
//! use palisade_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState, SlidingWindow};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("upstream down")]
//! struct Down;
//!
//! let config = CircuitBreakerConfig::builder()
//!     .sliding_window(SlidingWindow::CountBased(20))
//!     .minimum_number_of_calls(5)
//!     .failure_rate_threshold(50.0)
//!     .wait_duration_in_open(Duration::from_secs(30))
//!     .build()?;
//! let breaker = CircuitBreaker::new("inventory", config);
//! for _ in 0..5 {
//!     let _ = breaker.call_sync(|| Err::<(), _>(Down));
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//! assert!(breaker.call_sync(|| Ok::<_, Down>(1)).is_err()); // refused, not run
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The state machine in words
//! - **Closed**: calls run; each outcome (success, failure, slow) goes into the sliding
//!   window. Once the window holds `minimum_number_of_calls`, the breaker opens when the
//!   failure rate reaches `failure_rate_threshold` or the slow-call rate reaches
//!   `slow_call_rate_threshold`. Below the minimum, rates read "not enough calls"
//!   (`None`), never zero. In `TripMode::Consecutive` it opens after
//!   `failure_threshold` failures in a row instead.
//! - **Open**: calls are refused at once with `CircuitBreakerOpen { name, state,
//!   retry_after }` and do not run. After the wait (fixed, or growing with each
//!   consecutive open through a `WaitInterval`), the next call moves it to half-open
//!   (or a timer does, with `automatic_transition`).
//! - **HalfOpen**: exactly `permitted_calls_in_half_open` trial calls are admitted; the
//!   rest are refused. The decision waits until every trial has completed: rates at or
//!   above the thresholds reopen it (with a longer wait), otherwise it closes with a
//!   fresh window. An ignored outcome gives its permit back. If the trials have not
//!   completed within `max_wait_in_half_open`, it reopens. In consecutive mode, any
//!   failed trial reopens it and `success_threshold` successes close it.
//! - **ForcedOpen** (`force_open`, or failing health checks), **Disabled** (`disable`:
//!   permit all, record nothing) and **MetricsOnly** (`metrics_only`: record, never
//!   open) are left only by `reset`/`force_close` (or passing health checks, for a
//!   breaker the checks forced open).
//!
//! ## Settings
//! | setting | default | meaning |
//! |---|---|---|
//! | `failure_rate_threshold` | 50 % | open when the failure rate reaches it |
//! | `slow_call_rate_threshold` | 100 % | open when the slow-call rate reaches it |
//! | `slow_call_duration` | 1 s | a call at least this long is slow, success or failure (`without_slow_call_detection` skips timing) |
//! | `sliding_window` | `CountBased(100)` | the last N calls, or `TimeBased(N)`: the last N seconds |
//! | `minimum_number_of_calls` | 10 | calls needed before any rate is computed |
//! | `wait_duration_in_open` / `wait_interval_in_open` | fixed 60 s | open → half-open wait; `Exponential { initial, multiplier, max, jitter }` grows it per consecutive open |
//! | `automatic_transition` | false | move to half-open by a timer (tokio) rather than on the next call |
//! | `permitted_calls_in_half_open` | 3 | trial calls; the decision waits for all of them |
//! | `max_wait_in_half_open` | none | reopen when the trials take longer |
//! | `consecutive(failure_threshold, success_threshold)` | off | the origin design's simple mode |
//! | `record_error(pred)` | every error | which errors are failures (others count as successes) |
//! | `ignore_error(pred)` | none | which errors count as neither |
//!
//! Result classification beyond errors (an `Ok` that is a failure) goes through
//! `call_classified`. A call that panics is a failure; a future dropped before it
//! completes is ignored (its half-open permit is given back).
//!
//! ## Performance
//! In Closed the permit check is one atomic load; recording is two atomic
//! read-modify-writes on a lock-free count window (three to four on a time window), plus
//! two clock reads when slow-call detection is on. No lock is taken outside state
//! transitions; those take one mutex, so that a transition that lost a race writes
//! nothing (`tests/stress.rs` races 16 threads through 200 half-open rounds). A call
//! acting on a state that has just moved on is at worst refused by a decision already
//! taken. Events cost one relaxed load per call while nobody listens.
//!
//! ## Feature flags
//! - `tower`: `tower::Layer`s for the breaker (errors boxed, tower's convention).
//! - `actors`: `actors::GuardedRef`, an `ActorRef` whose asks go through a breaker.

#![forbid(unsafe_code)]

#[cfg(feature = "actors")]
pub mod actors;
mod breaker;
mod bulkhead;
mod clock;
mod compose;
mod config;
mod error;
mod events;
mod fallback;
mod health;
mod registry;
mod retry;
mod state;
mod timeout;
#[cfg(feature = "tower")]
pub mod tower;
mod window;

pub use breaker::{
    CallPermit, CircuitBreaker, CircuitBreakerMetrics, OwnedCallPermit, Permit, Rejection,
};
pub use bulkhead::{Bulkhead, BulkheadPermit};
pub use clock::{Clock, TimeSource};
pub use compose::{Resilience, ResilienceBuilder};
pub use config::{
    CircuitBreakerConfig, CircuitBreakerConfigBuilder, Outcome, SlidingWindow, TripMode,
    WaitInterval,
};
pub use error::{ConfigError, FailureType, ResilienceError};
pub use events::{CircuitBreakerEvent, EventKind, EventSubscription};
pub use fallback::{Fallback, FallbackSource, Fallen};
pub use health::{HealthCheck, HealthReport};
pub use registry::CircuitBreakerRegistry;
pub use retry::{
    Backoff, Retry, RetryBudget, RetryBudgetBuilder, RetryPolicy, RetryPolicyBuilder, RetryStats,
};
pub use state::CircuitState;
pub use timeout::Timeout;
