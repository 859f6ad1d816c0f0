//! Tower layers: the per-request overhead of Palisade's `tower::Layer`s
//! (`palisade-circuit-breaker`, feature `tower`) against a bare service and against
//! tower-resilience's circuit-breaker layer (0.13).
//!
//! Every case is the same loop on a tokio current-thread runtime, in one spawned task
//! ([`harness::run_batch`]): for each request, `poll_ready` then `call(i)`, await the
//! response, check that it is `i`; the count of right responses is checked after the
//! timed section. The innermost service is always [`Echo`], which answers with
//! `std::future::ready(Ok(req))`: nothing but the layers' own work is measured.
//!
//! Stacks:
//! - Palisade, the stack: `CircuitBreakerLayer` (outermost) over `RetryLayer`
//!   (3 attempts, fixed 10 ms backoff; never retries here) over `TimeoutLayer` (1 s;
//!   never fires) over `Echo`. The breaker has every default (count window 100, 50 %,
//!   10 calls minimum, slow-call detection at 1 s: two coarse-clock reads per call).
//! - Palisade, the breaker layer alone over `Echo`, same breaker settings.
//! - tower-resilience: its `CircuitBreakerLayer` over `Echo`, configured as close to
//!   Palisade's defaults as its builder allows (see [`tower_resilience_breaker`]).
//! - the bare `Echo` (the floor).
//!
//! After each case the breakers and the retry are checked: still Closed, every call
//! recorded as a success (window full, no failure, no refusal), one retry run per
//! request and no retry made.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, poll_fn, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use palisade_circuit_breaker::tower::{CircuitBreakerLayer, RetryLayer, TimeoutLayer};
use palisade_circuit_breaker::{
    Backoff, CircuitBreaker, CircuitBreakerConfig, CircuitState, Retry, RetryPolicy, Timeout,
};
use tokio::runtime::Runtime;
use tower_layer::Layer;
use tower_service::Service;

use crate::harness::{self, Config, check_count, err, measure, run_batch};

/// Requests per repetition of the harness.
pub const TOWER_REQUESTS: u64 = 10_000;

/// The innermost service of every stack: answers each request with itself, at once.
#[derive(Clone, Copy, Debug)]
pub struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// Measures `svc` (a clone of it per batch; clones share the layers' state) and returns
/// the median ns per request; `total` receives the number of requests sent in all, for
/// the checks after the case.
fn per_request<S>(rt: &Runtime, cfg: &Config, svc: &S, total: &mut u64) -> Result<f64, String>
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: Debug,
    S::Future: Send,
{
    measure(cfg, TOWER_REQUESTS, |reps| {
        let mut svc = svc.clone();
        let requests = reps * TOWER_REQUESTS;
        *total += requests;
        run_batch(rt, async move {
            let mut right = 0u64;
            let start = Instant::now();
            for i in 0..requests {
                poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(|e| format!("poll_ready: {e:?}"))?;
                let response = svc
                    .call(black_box(i))
                    .await
                    .map_err(|e| format!("call: {e:?}"))?;
                right += u64::from(black_box(response) == i);
            }
            let elapsed = start.elapsed();
            check_count("right responses", right, requests)?;
            Ok(elapsed)
        })
    })
}

/// Palisade's breaker with every default.
fn palisade_breaker() -> CircuitBreaker {
    CircuitBreaker::new("bench", CircuitBreakerConfig::default())
}

/// The breaker is Closed and recorded `total` successes (its window of 100 is full of
/// them), no failure, no refusal.
fn check_palisade_breaker(breaker: &CircuitBreaker, total: u64) -> Result<(), String> {
    let m = breaker.metrics();
    if m.state != CircuitState::Closed
        || m.buffered_calls != total.min(100)
        || m.failed_calls != 0
        || m.not_permitted_calls != 0
    {
        return Err(format!("palisade breaker after {total} requests: {m:?}"));
    }
    Ok(())
}

// ----- Group "tower stack per request" -------------------------------------------------

/// The stack: breaker (outermost), retry, timeout (innermost), `Echo`.
pub fn palisade_stack(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let breaker = palisade_breaker();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::Fixed(Duration::from_millis(10)))
        .build()
        .map_err(err)?;
    let retry = Arc::new(Retry::new(policy));
    let timeout = Timeout::new(Duration::from_secs(1)).map_err(err)?;
    // Built from the inside out: timeout innermost, breaker outermost.
    let svc = TimeoutLayer::new(timeout).layer(Echo);
    let svc = RetryLayer::new(Arc::clone(&retry)).layer(svc);
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(svc);
    let mut total = 0;
    let ns = per_request(rt, cfg, &svc, &mut total)?;
    check_palisade_breaker(&breaker, total)?;
    let stats = retry.stats();
    if stats.calls() != total || stats.retries() != 0 {
        return Err(format!(
            "retry after {total} requests: {} runs, {} retries",
            stats.calls(),
            stats.retries()
        ));
    }
    Ok(ns)
}

/// Palisade's `CircuitBreakerLayer` alone over `Echo`.
pub fn palisade_breaker_only(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let breaker = palisade_breaker();
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(Echo);
    let mut total = 0;
    let ns = per_request(rt, cfg, &svc, &mut total)?;
    check_palisade_breaker(&breaker, total)?;
    Ok(ns)
}

/// tower-resilience's `CircuitBreakerLayer` over `Echo`, configured as close to
/// Palisade's defaults as its builder goes: count-based window of 100, 50 % failure
/// rate, 10 calls minimum, 60 s open, 3 half-open trials, slow calls at 1 s and a 100 %
/// slow-call rate. Differences that remain (read from its 0.13 source):
/// - its count "window" is cumulative counters since the last transition, not a ring of
///   the last 100 calls, and it waits for a full window (100 calls) before evaluating
///   whatever `minimum_number_of_calls` says;
/// - it always times the inner call with `std::time::Instant` (two clock reads per call,
///   Palisade two coarse-clock loads), whether or not slow calls are detected;
/// - the state lives behind a `tokio::sync::Mutex`, locked twice per call (admission,
///   recording), and the call runs in a boxed `async` block;
/// - events are built per call (`CallPermitted`, `SuccessRecorded`: a `String` clone of
///   the name and an `Instant::now()` each) even with no listener registered.
///
/// `build_with_handle` makes every service of the layer share one circuit (its plain
/// `build` gives each `layer()` call its own) and returns a handle for the checks.
pub fn tower_resilience(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    use tower_resilience::circuitbreaker::{
        CircuitBreakerLayer as TrLayer, CircuitState as TrState, SlidingWindowType,
    };
    let (layer, handle) = TrLayer::builder()
        .name("bench")
        .sliding_window_type(SlidingWindowType::CountBased)
        .sliding_window_size(100)
        .failure_rate_threshold(0.5)
        .minimum_number_of_calls(10)
        .wait_duration_in_open(Duration::from_secs(60))
        .permitted_calls_in_half_open(3)
        .slow_call_duration_threshold(Duration::from_secs(1))
        .slow_call_rate_threshold(1.0)
        .build_with_handle()
        .map_err(|e| format!("tower-resilience config: {e:?}"))?;
    let svc = layer.layer(Echo);
    let mut total = 0;
    let ns = per_request(rt, cfg, &svc, &mut total)?;
    // Its counters are cumulative: every call since the breaker was built, all successes.
    let m = harness::setup(rt, async { Ok(handle.metrics().await) })?;
    if m.state != TrState::Closed
        || m.total_calls as u64 != total
        || m.success_count as u64 != total
        || m.failure_count != 0
    {
        return Err(format!("tower-resilience after {total} requests: {m:?}"));
    }
    Ok(ns)
}

/// The floor: `Echo` with no layer.
pub fn bare(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let mut total = 0;
    per_request(rt, cfg, &Echo, &mut total)
}
