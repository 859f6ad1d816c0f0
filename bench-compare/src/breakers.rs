//! Circuit breakers: Palisade (`palisade-circuit-breaker`) against failsafe 1.3 and
//! recloser 1.4. Everything here is synchronous: no runtime, each case times a plain loop
//! with `std::time::Instant` through [`harness::measure`].
//!
//! What every case measures: one *protected call* through the library's own entry point,
//! with the same protected function ([`work`]: returns `Ok(black_box(1))`) and the same
//! loop around it (count the calls that went as expected, check the count after the
//! timed section). The bare-call floor row is that loop and [`work`] without a breaker.
//!
//! Per library (APIs read from the crates' sources):
//! - Palisade: `try_acquire()` + `record_success()` on the permit, or `call_sync(work)`.
//!   Count window of 100 calls; slow-call detection off (no clock read per call) except in
//!   the `defaults` row (slow-call detection on: two clock reads per call).
//! - failsafe: `CircuitBreaker::call(&StateMachine, work)` = `is_call_permitted()` then
//!   `on_success()`, each under one `parking_lot::Mutex` lock. Its `Config::new()` policy is
//!   `SuccessRateOverTimeWindow::default().or_else(ConsecutiveFailures::default())`: an
//!   EMA success rate over 30 s (two clock reads and an `exp` per success) *or* 5
//!   consecutive failures. The `consecutive(5)` row keeps only the cheap half, as a
//!   policy-for-policy lower bound for failsafe.
//! - recloser: `Recloser::call(work)` = `crossbeam_epoch::pin()`, an atomic load of the
//!   state, and on success a spin-locked ring buffer update. `Recloser::default()` is a
//!   ring of the last 100 calls at a 50 % error rate, the same window as Palisade's here.
//!
//! Open rejection: each breaker is brought to its refusing state before the timed loop
//! and stays there: Palisade by `force_open()` (no clock read) or by recording failures
//! (tripped `Open`: one clock read to compare with the wait deadline, like both peers);
//! failsafe and recloser by recording failures, with a one-hour wait so that they cannot
//! reach half-open during the measurement.
//!
//! Two threads: both threads share one breaker (by reference: the same state that clones
//! of a breaker share) and each runs the same number of calls; the reported value is the
//! wall time divided by the calls *per thread*, i.e. the cost of one call as each thread
//! sees it. Equal to the single-thread group means perfect scaling, twice means fully
//! serialised, more than twice means slower than serialised (cache lines bouncing between
//! the cores on every call); the aggregate throughput is two calls per reported time. The machine has 2 cores: when anything
//! else holds one, the threads are time-sliced instead of running at once, which *hides*
//! contention; the control row (one Palisade breaker per thread) shows whether the two
//! threads really ran in parallel (≈ the single-thread cost) or not (≈ twice it).

use std::error::Error as StdError;
use std::fmt;
use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use failsafe::CircuitBreaker as _; // `call` is a trait method in failsafe
use failsafe::backoff;
use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use palisade_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitState, ResilienceError, SlidingWindow,
};
use recloser::Recloser;

use crate::harness::{self, Config};

/// Protected calls per repetition of the harness (per thread in the two-thread group).
pub const BREAKER_CALLS: u64 = 10_000;

/// A wait in Open long enough that no breaker reaches half-open during a measurement.
const LONG_WAIT: Duration = Duration::from_secs(3600);

/// The protected call's error type; never returned. (Palisade's `call_sync` needs a
/// `std::error::Error`; the peers take any type, and get the same one.)
#[derive(Debug)]
pub struct BenchError;

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bench error")
    }
}

impl StdError for BenchError {}

/// The protected function of every case: succeeds with an opaque value.
#[inline(always)]
fn work() -> Result<u64, BenchError> {
    Ok(black_box(1))
}

/// The protected function of the set-up calls that trip a breaker.
fn fail() -> Result<u64, BenchError> {
    Err(BenchError)
}

// ----- Timing loops --------------------------------------------------------------------

/// Times `BREAKER_CALLS × reps` calls of `call` on this thread; `call` returns true when
/// the call went as the case expects (permitted and successful, or refused). Any other
/// outcome makes the case an error row.
fn single_thread(cfg: &Config, mut call: impl FnMut() -> bool) -> Result<f64, String> {
    harness::measure(cfg, BREAKER_CALLS, |reps| {
        let calls = reps * BREAKER_CALLS;
        let mut expected = 0u64;
        let start = Instant::now();
        for _ in 0..calls {
            expected += u64::from(call());
        }
        let elapsed = start.elapsed();
        check_calls(expected, calls)?;
        Ok(elapsed)
    })
}

/// Two threads, thread `i` timing `BREAKER_CALLS × reps` calls of `call(breakers[i])`
/// after meeting at a barrier; returns the wall time from the first start to the last
/// end, so thread spawn and join are not timed. `measure` divides it by the calls per
/// thread. Pass the same breaker twice to share it.
fn two_threads<B: Sync>(
    cfg: &Config,
    breakers: [&B; 2],
    call: impl Fn(&B) -> bool + Sync,
) -> Result<f64, String> {
    harness::measure(cfg, BREAKER_CALLS, |reps| {
        let calls = reps * BREAKER_CALLS;
        let barrier = Barrier::new(2);
        let spans = std::thread::scope(|s| {
            let handles: Vec<_> = breakers
                .iter()
                .map(|&breaker| {
                    let (barrier, call) = (&barrier, &call);
                    s.spawn(move || {
                        barrier.wait();
                        let mut expected = 0u64;
                        let start = Instant::now();
                        for _ in 0..calls {
                            expected += u64::from(call(breaker));
                        }
                        (start, Instant::now(), expected)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "bench thread panicked".to_owned()))
                .collect::<Result<Vec<_>, String>>()
        })?;
        for &(_, _, expected) in &spans {
            check_calls(expected, calls)?;
        }
        let start = spans.iter().map(|s| s.0).min().ok_or("no thread")?;
        let end = spans.iter().map(|s| s.1).max().ok_or("no thread")?;
        Ok(end - start)
    })
}

fn check_calls(expected: u64, calls: u64) -> Result<(), String> {
    if expected == calls {
        Ok(())
    } else {
        Err(format!(
            "{} of {calls} calls did not go as expected (breaker changed state?)",
            calls - expected
        ))
    }
}

// ----- Breakers under test -------------------------------------------------------------

/// Palisade: count window of 100 calls (recloser's default ring), no slow-call detection;
/// a one-hour wait in Open, which only the tripped-open rows use.
fn palisade_count_window() -> Result<CircuitBreaker, String> {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(100))
        .without_slow_call_detection()
        .wait_duration_in_open(LONG_WAIT)
        .build()
        .map_err(harness::err)?;
    Ok(CircuitBreaker::new("bench", config))
}

/// Palisade with every default (count window 100, slow-call detection on at 1 s).
fn palisade_defaults() -> Result<CircuitBreaker, String> {
    let config = CircuitBreakerConfig::builder()
        .build()
        .map_err(harness::err)?;
    Ok(CircuitBreaker::new("bench", config))
}

/// failsafe's `Config::new()`: EMA success rate over 30 s or 5 consecutive failures.
fn failsafe_default() -> impl failsafe::CircuitBreaker + Sync {
    failsafe::Config::new().build()
}

/// failsafe with only `ConsecutiveFailures::default()` (5 failures, equal-jittered
/// backoff 10..300 s): its cheapest policy on the success path.
fn failsafe_consecutive() -> impl failsafe::CircuitBreaker + Sync {
    let policy: ConsecutiveFailures<_> = consecutive_failures(
        5,
        backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

// ----- Protected calls, one per library and entry point --------------------------------
// Each returns true when the call was permitted and succeeded.

#[inline(always)]
fn palisade_acquire_record(b: &CircuitBreaker) -> bool {
    match b.try_acquire() {
        Ok(permit) => {
            let ok = work().is_ok();
            permit.record_success();
            ok
        }
        Err(_) => false,
    }
}

#[inline(always)]
fn palisade_call_sync(b: &CircuitBreaker) -> bool {
    b.call_sync(work).is_ok()
}

#[inline(always)]
fn failsafe_call(b: &impl failsafe::CircuitBreaker) -> bool {
    b.call(work).is_ok()
}

#[inline(always)]
fn recloser_call(b: &Recloser) -> bool {
    b.call(work).is_ok()
}

// ----- Group "breaker: closed call recorded as success" --------------------------------

pub fn closed_floor(cfg: &Config) -> Result<f64, String> {
    single_thread(cfg, || work().is_ok())
}

pub fn closed_palisade(cfg: &Config) -> Result<f64, String> {
    let b = palisade_count_window()?;
    let ns = single_thread(cfg, || palisade_acquire_record(&b))?;
    expect_state(&b, CircuitState::Closed)?;
    Ok(ns)
}

pub fn closed_palisade_call_sync(cfg: &Config) -> Result<f64, String> {
    let b = palisade_count_window()?;
    single_thread(cfg, || palisade_call_sync(&b))
}

pub fn closed_palisade_defaults(cfg: &Config) -> Result<f64, String> {
    let b = palisade_defaults()?;
    single_thread(cfg, || palisade_call_sync(&b))
}

pub fn closed_failsafe_default(cfg: &Config) -> Result<f64, String> {
    let b = failsafe_default();
    single_thread(cfg, || failsafe_call(&b))
}

pub fn closed_failsafe_consecutive(cfg: &Config) -> Result<f64, String> {
    let b = failsafe_consecutive();
    single_thread(cfg, || failsafe_call(&b))
}

pub fn closed_recloser(cfg: &Config) -> Result<f64, String> {
    let b = Recloser::default();
    single_thread(cfg, || recloser_call(&b))
}

// ----- Group "breaker: open rejection" -------------------------------------------------
// Each returns true when the call was refused without running `work`.

pub fn open_floor(cfg: &Config) -> Result<f64, String> {
    closed_floor(cfg)
}

pub fn open_palisade_forced(cfg: &Config) -> Result<f64, String> {
    let b = palisade_count_window()?;
    b.force_open();
    expect_state(&b, CircuitState::ForcedOpen)?;
    single_thread(cfg, || b.try_acquire().is_err())
}

/// Palisade tripped by failures (Rate mode: 10 calls minimum, 50 %): a refusal reads the
/// clock to compare with the one-hour deadline, as the peers' refusals do.
fn palisade_tripped() -> Result<CircuitBreaker, String> {
    let b = palisade_count_window()?;
    for _ in 0..1_000 {
        if b.state() == CircuitState::Open {
            return Ok(b);
        }
        let _ = b.call_sync(fail);
    }
    Err(format!("palisade did not open: {:?}", b.state()))
}

pub fn open_palisade_tripped(cfg: &Config) -> Result<f64, String> {
    let b = palisade_tripped()?;
    single_thread(cfg, || b.try_acquire().is_err())
}

pub fn open_palisade_call_sync(cfg: &Config) -> Result<f64, String> {
    let b = palisade_tripped()?;
    single_thread(cfg, || {
        matches!(
            b.call_sync(work),
            Err(ResilienceError::CircuitBreakerOpen { .. })
        )
    })
}

pub fn open_failsafe(cfg: &Config) -> Result<f64, String> {
    // The refusal path (`is_call_permitted`: lock, read the clock, compare) does not
    // involve the policy; this one opens on the first failure and waits an hour.
    let b = failsafe::Config::new()
        .failure_policy(consecutive_failures(1, backoff::constant(LONG_WAIT)))
        .build();
    let _ = b.call(fail);
    if b.is_call_permitted() {
        return Err("failsafe did not open".into());
    }
    single_thread(cfg, || {
        matches!(b.call(work), Err(failsafe::Error::Rejected))
    })
}

pub fn open_recloser(cfg: &Config) -> Result<f64, String> {
    // Opens once its 100-call ring is full and the error rate reaches 50 %: 101 failures.
    let b = Recloser::custom().open_wait(LONG_WAIT).build();
    let mut tripped = false;
    for _ in 0..1_000 {
        if matches!(b.call(fail), Err(recloser::Error::Rejected)) {
            tripped = true;
            break;
        }
    }
    if !tripped {
        return Err("recloser did not open".into());
    }
    single_thread(cfg, || {
        matches!(b.call(work), Err(recloser::Error::Rejected))
    })
}

// ----- Group "breaker: 2 threads, closed" ----------------------------------------------

pub fn two_floor(cfg: &Config) -> Result<f64, String> {
    two_threads(cfg, [&(), &()], |_| work().is_ok())
}

/// Control: the same two threads, one Palisade breaker each (nothing shared). About the
/// single-thread cost when both threads really run at once; about twice that when
/// something else holds one of the 2 cores, and then every row of the group is suspect
/// (time-sliced threads do not contend for cache lines, so contended rows get *faster*).
pub fn two_palisade_separate(cfg: &Config) -> Result<f64, String> {
    let (first, second) = (palisade_count_window()?, palisade_count_window()?);
    two_threads(cfg, [&first, &second], palisade_acquire_record)
}

/// Contention floor: one shared `AtomicU64::fetch_add` per call, the least any breaker
/// that counts calls in shared memory pays; Palisade's Closed path does two such
/// read-modify-writes on shared lines (the window's cursor and its slot).
pub fn two_shared_fetch_add(cfg: &Config) -> Result<f64, String> {
    let counter = AtomicU64::new(0);
    two_threads(cfg, [&counter, &counter], |c| {
        c.fetch_add(1, Ordering::Relaxed);
        work().is_ok()
    })
}

pub fn two_palisade(cfg: &Config) -> Result<f64, String> {
    let b = palisade_count_window()?;
    let ns = two_threads(cfg, [&b, &b], palisade_acquire_record)?;
    expect_state(&b, CircuitState::Closed)?;
    Ok(ns)
}

pub fn two_failsafe_default(cfg: &Config) -> Result<f64, String> {
    let b = failsafe_default();
    two_threads(cfg, [&b, &b], failsafe_call)
}

pub fn two_failsafe_consecutive(cfg: &Config) -> Result<f64, String> {
    let b = failsafe_consecutive();
    two_threads(cfg, [&b, &b], failsafe_call)
}

pub fn two_recloser(cfg: &Config) -> Result<f64, String> {
    let b = Recloser::default();
    two_threads(cfg, [&b, &b], recloser_call)
}

fn expect_state(b: &CircuitBreaker, want: CircuitState) -> Result<(), String> {
    let got = b.state();
    if got == want {
        Ok(())
    } else {
        Err(format!("palisade breaker is {got:?}, expected {want:?}"))
    }
}
