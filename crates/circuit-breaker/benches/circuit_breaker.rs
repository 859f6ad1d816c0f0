//! Hot paths of the circuit breaker: a permitted call in Closed (count window, time window
//! with slow-call detection, two threads on one breaker), a refused call in Open, and the
//! `call_sync` wrapper. Run with `cargo bench -p palisade-circuit-breaker`; the comparison
//! with failsafe and recloser lives in `bench-compare/` (`--only breaker`).
//!
//! Every case reports the time of one protected call: acquire a permit, (run the call,)
//! record its outcome. Except where a case says otherwise, the breaker is built with
//! `without_slow_call_detection()` and a count window of 100 calls, so the Closed path
//! reads no clock.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::error::Error;
use std::fmt;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState, SlidingWindow};

/// The error type of the protected call (`call_sync` needs a `std::error::Error`); never
/// returned, every call succeeds.
#[derive(Debug)]
struct BenchError;

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bench error")
    }
}

impl Error for BenchError {}

/// Count window of 100 calls, no slow-call detection: no clock read on the Closed path.
fn count_window_breaker() -> CircuitBreaker {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(100))
        .without_slow_call_detection()
        .build()
        .expect("valid config");
    CircuitBreaker::new("bench", config)
}

/// One protected call on a Closed breaker, recorded as a success.
#[inline(always)]
fn acquire_and_record(breaker: &CircuitBreaker) {
    let permit = breaker
        .try_acquire()
        .expect("a closed breaker permits the call");
    black_box(1u64); // the protected call itself: nothing
    permit.record_success();
}

/// Case 1: the cheapest configuration; two atomic RMWs on the window per call.
fn closed_count_window(c: &mut Criterion) {
    let breaker = count_window_breaker();
    c.bench_function("closed: acquire + record success (count window)", |b| {
        b.iter(|| acquire_and_record(&breaker));
    });
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// Case 2: time window of 60 s and slow-call detection on (the default 1 s threshold):
/// one clock read at acquire, one at record, plus the time window's bucket bookkeeping.
fn closed_time_window_slow_calls(c: &mut Criterion) {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::TimeBased(60))
        .slow_call_duration(Duration::from_secs(1))
        .build()
        .expect("valid config");
    let breaker = CircuitBreaker::new("bench", config);
    c.bench_function("closed: time window + slow-call detection", |b| {
        b.iter(|| acquire_and_record(&breaker));
    });
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// Runs `calls` protected calls on each of two threads at once and returns the wall time
/// from the first thread's start to the last thread's end. Thread spawn and join are
/// outside the timed section: both threads meet at a barrier and time themselves.
fn two_threads(breakers: [&CircuitBreaker; 2], calls: u64) -> Duration {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = breakers
            .iter()
            .map(|&breaker| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..calls {
                        acquire_and_record(breaker);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two spans");
    let end = spans.iter().map(|s| s.1).max().expect("two spans");
    end - start
}

/// Case 3: two threads on one shared breaker (contended window atomics).
///
/// How to read it: each sample runs `iters` calls on *each* of the two threads and
/// returns the wall time, so criterion reports `wall / iters` = the wall time of one call
/// as seen by each thread (elapsed × 2 threads / (2 × iters) total calls — the same
/// thing). That is directly comparable with case 1: equal means the two threads scale
/// perfectly; twice case 1 means they are fully serialised; more than twice means slower
/// than serialised (the window's cache lines move between the cores on every call). The
/// aggregate throughput of the breaker is twice the reciprocal (2 calls complete per
/// reported time).
///
/// The machine has 2 cores: anything else running (a compiler) steals one of them and
/// inflates this case; the next case, the same work without sharing, is the control.
fn closed_two_threads_shared(c: &mut Criterion) {
    let breaker = count_window_breaker();
    c.bench_function("closed: 2 threads on one breaker", |b| {
        b.iter_custom(|iters| two_threads([&breaker, &breaker], iters));
    });
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// Control for case 3: the same two threads, one breaker each (no shared cache line), so
/// the difference from case 3 is the cost of sharing, not of running two threads here.
fn closed_two_threads_separate(c: &mut Criterion) {
    let (first, second) = (count_window_breaker(), count_window_breaker());
    c.bench_function("closed: 2 threads, one breaker each (control)", |b| {
        b.iter_custom(|iters| two_threads([&first, &second], iters));
    });
}

/// Case 4: a forced-open breaker refuses: one atomic load, the `#[cold]` slow path, and
/// the not-permitted counter (one atomic RMW). No clock read while forced open.
fn open_rejection(c: &mut Criterion) {
    let breaker = count_window_breaker();
    breaker.force_open();
    c.bench_function("open: rejection (forced open)", |b| {
        b.iter(|| {
            let rejection = breaker
                .try_acquire()
                .expect_err("a forced-open breaker refuses");
            black_box(rejection);
        });
    });
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
}

/// Case 4b: a breaker tripped open by failures, its wait not over: the lazy check reads
/// the (coarse) clock and the deadline before refusing.
fn open_rejection_tripped(c: &mut Criterion) {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(10))
        .minimum_number_of_calls(10)
        .wait_duration_in_open(Duration::from_secs(3600))
        .without_slow_call_detection()
        .build()
        .expect("valid config");
    let breaker = CircuitBreaker::new("bench", config);
    for _ in 0..10 {
        breaker.try_acquire().expect("closed").record_failure();
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    c.bench_function("open: rejection (tripped, waiting)", |b| {
        b.iter(|| {
            let rejection = breaker.try_acquire().expect_err("an open breaker refuses");
            black_box(rejection);
        });
    });
}

/// Case 5: the closure wrapper (acquire, run, classify the `Result`, record) on the same
/// breaker as case 1.
fn call_sync_wrapper(c: &mut Criterion) {
    let breaker = count_window_breaker();
    c.bench_function("call_sync wrapper", |b| {
        b.iter(|| {
            let value = breaker
                .call_sync(|| Ok::<u64, BenchError>(black_box(1)))
                .expect("a closed breaker runs the call");
            black_box(value);
        });
    });
    assert_eq!(breaker.state(), CircuitState::Closed);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = closed_count_window, closed_time_window_slow_calls, closed_two_threads_shared, open_rejection_tripped,
        closed_two_threads_separate, open_rejection, call_sync_wrapper
}
criterion_main!(benches);
