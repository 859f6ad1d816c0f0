//! Stress: many threads hammering a half-open breaker. Admitted trials never exceed the
//! permit count, and each decision makes exactly one transition.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use palisade_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitState, Clock, EventKind, Outcome, SlidingWindow,
};

const THREADS: usize = 16;
const PERMITS: u32 = 5;
const ROUNDS: usize = 200;

#[test]
fn half_open_never_admits_more_than_its_permits_and_decides_once() {
    let clock = Clock::manual();
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(10))
        .minimum_number_of_calls(1)
        .permitted_calls_in_half_open(PERMITS)
        .wait_duration_in_open(Duration::from_secs(1))
        .without_slow_call_detection()
        .build()
        .expect("config");
    let breaker = CircuitBreaker::with_clock("stress", config, clock.clone());
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let t = transitions.clone();
    breaker.on_event(move |e| {
        if let EventKind::StateTransition {
            from,
            to,
            generation,
        } = e.kind
        {
            t.lock().expect("lock").push((generation, from, to));
        }
    });
    breaker.try_acquire().expect("closed").record_failure();
    assert_eq!(breaker.state(), CircuitState::Open);

    for round in 0..ROUNDS {
        clock.advance(Duration::from_secs(2));
        let admitted = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (b, admitted, in_flight, peak, start) = (
                    breaker.clone(),
                    admitted.clone(),
                    in_flight.clone(),
                    peak.clone(),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..50 {
                        if let Ok(permit) = b.try_acquire() {
                            admitted.fetch_add(1, Ordering::SeqCst);
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            // Trials fail: the breaker reopens and admits nobody else.
                            permit.record(Outcome::Failure);
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().expect("thread");
        }
        assert_eq!(
            admitted.load(Ordering::SeqCst),
            PERMITS as usize,
            "round {round}"
        );
        assert!(peak.load(Ordering::SeqCst) <= PERMITS as usize);
        assert_eq!(breaker.state(), CircuitState::Open);
    }
    // Listeners may see transitions made by different threads out of order; the
    // generation orders them.
    let mut transitions = transitions.lock().expect("lock").clone();
    transitions.sort_by_key(|t| t.0);
    let generations: Vec<u64> = transitions.iter().map(|t| t.0).collect();
    assert_eq!(
        generations,
        (1..=(1 + 2 * ROUNDS as u64)).collect::<Vec<_>>()
    );
    let transitions: Vec<_> = transitions
        .into_iter()
        .map(|(_, from, to)| (from, to))
        .collect();
    let expected: Vec<_> = std::iter::once((CircuitState::Closed, CircuitState::Open))
        .chain((0..ROUNDS).flat_map(|_| {
            [
                (CircuitState::Open, CircuitState::HalfOpen),
                (CircuitState::HalfOpen, CircuitState::Open),
            ]
        }))
        .collect();
    assert_eq!(
        *transitions, expected,
        "exactly one transition per decision"
    );
}

#[test]
fn closed_path_counts_are_exact_under_many_threads() {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(1000))
        .failure_rate_threshold(100.0)
        .without_slow_call_detection()
        .build()
        .expect("config");
    let breaker = CircuitBreaker::new("closed", config);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let b = breaker.clone();
            std::thread::spawn(move || {
                for i in 0..20_000usize {
                    let outcome = if (i + t) % 4 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    b.try_acquire().expect("closed").record(outcome);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("thread");
    }
    let m = breaker.metrics();
    assert_eq!(m.buffered_calls, 1000);
    assert_eq!(m.state, CircuitState::Closed);
}
