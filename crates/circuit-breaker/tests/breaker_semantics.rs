//! One test per circuit-breaker rule (see the crate docs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry, CircuitState, Clock, EventKind,
    HealthCheck, Outcome, ResilienceError, SlidingWindow, WaitInterval,
};

#[derive(Debug, thiserror::Error, PartialEq)]
enum CallError {
    #[error("not found")]
    NotFound,
}

fn config() -> palisade_circuit_breaker::CircuitBreakerConfigBuilder {
    CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(10))
        .minimum_number_of_calls(10)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open(Duration::from_secs(10))
        .permitted_calls_in_half_open(3)
}

fn breaker(
    builder: palisade_circuit_breaker::CircuitBreakerConfigBuilder,
) -> (CircuitBreaker, Clock) {
    let clock = Clock::manual();
    let b = CircuitBreaker::with_clock("test", builder.build().expect("config"), clock.clone());
    (b, clock)
}

fn record(b: &CircuitBreaker, outcomes: &[Outcome]) {
    for &o in outcomes {
        b.try_acquire().expect("permitted").record(o);
    }
}

fn trip(b: &CircuitBreaker) {
    record(b, &[Outcome::Failure; 10]);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn closed_breaker_permits_and_records() {
    let (b, _) = breaker(config());
    assert_eq!(b.call_sync(|| Ok::<_, CallError>(7)), Ok(7));
    assert_eq!(b.metrics().buffered_calls, 1);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn opens_when_failure_rate_reaches_threshold() {
    let (b, _) = breaker(config());
    record(&b, &[Outcome::Success; 5]);
    record(&b, &[Outcome::Failure; 4]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "9 calls: below the minimum"
    );
    record(&b, &[Outcome::Failure]);
    assert_eq!(b.state(), CircuitState::Open, "5 of 10 failed = 50 %");
}

#[test]
fn rates_read_not_enough_calls_below_the_minimum() {
    let (b, _) = breaker(config());
    record(&b, &[Outcome::Failure; 3]);
    let m = b.metrics();
    assert_eq!(m.failure_rate, None);
    assert_eq!((m.buffered_calls, m.failed_calls), (3, 3));
    record(&b, &[Outcome::Success; 7]);
    assert_eq!(b.metrics().failure_rate, Some(30.0));
}

#[test]
fn slow_calls_open_when_slow_rate_reaches_threshold() {
    let (b, clock) = breaker(
        config()
            .slow_call_duration(Duration::from_millis(100))
            .slow_call_rate_threshold(60.0),
    );
    for i in 0..10 {
        let p = b.try_acquire().expect("permitted");
        if i % 3 != 0 {
            clock.advance(Duration::from_millis(150));
        }
        p.record_success();
    }
    let m = b.metrics();
    assert_eq!(m.slow_calls, 6);
    assert_eq!(b.state(), CircuitState::Open, "slow successes count too");
}

#[test]
fn a_slow_failure_counts_as_both() {
    let (b, clock) = breaker(config().slow_call_duration(Duration::from_millis(100)));
    let p = b.try_acquire().expect("permitted");
    clock.advance(Duration::from_secs(1));
    p.record_failure();
    let m = b.metrics();
    assert_eq!((m.failed_calls, m.slow_calls), (1, 1));
}

#[test]
fn open_breaker_refuses_without_running_and_says_when_to_retry() {
    let (b, clock) = breaker(config());
    trip(&b);
    clock.advance(Duration::from_secs(4));
    let ran = AtomicUsize::new(0);
    let r = b.call_sync(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, CallError>(())
    });
    match r {
        Err(ResilienceError::CircuitBreakerOpen {
            name,
            state,
            retry_after,
        }) => {
            assert_eq!(&*name, "test");
            assert_eq!(state, CircuitState::Open);
            assert_eq!(retry_after, Some(Duration::from_secs(6)));
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::Relaxed), 0);
    assert_eq!(b.metrics().not_permitted_calls, 1);
}

#[test]
fn open_moves_to_half_open_lazily_on_the_next_call_after_the_wait() {
    let (b, clock) = breaker(config());
    trip(&b);
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "nothing happens without a call"
    );
    let p = b.try_acquire().expect("a trial is permitted");
    assert_eq!(b.state(), CircuitState::HalfOpen);
    p.record_success();
}

#[tokio::test(start_paused = true)]
async fn automatic_transition_moves_to_half_open_by_timer() {
    let cfg = config().automatic_transition(true).build().expect("config");
    let b = CircuitBreaker::with_clock("auto", cfg, Clock::tokio());
    trip(&b);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen, "no call needed");
}

#[test]
fn wait_grows_with_each_consecutive_open() {
    let interval = WaitInterval::Exponential {
        initial: Duration::from_secs(1),
        multiplier: 2.0,
        max: Duration::from_secs(3),
        jitter: 0.0,
    };
    let (b, clock) = breaker(
        config()
            .wait_interval_in_open(interval)
            .permitted_calls_in_half_open(1),
    );
    let mut waits = Vec::new();
    trip(&b);
    for _ in 0..3 {
        let retry = b
            .try_acquire()
            .err()
            .and_then(|r| r.retry_after())
            .expect("open");
        waits.push(retry.as_secs());
        clock.advance(retry);
        b.try_acquire().expect("trial").record_failure(); // reopen
    }
    assert_eq!(waits, vec![1, 2, 3]);
}

#[test]
fn half_open_admits_exactly_the_permitted_calls() {
    let (b, clock) = breaker(config());
    trip(&b);
    clock.advance(Duration::from_secs(10));
    let permits: Vec<_> = (0..3).map(|_| b.try_acquire().expect("trial")).collect();
    let refused = b.try_acquire().expect_err("fourth refused");
    assert_eq!(refused.state(), CircuitState::HalfOpen);
    assert_eq!(refused.retry_after(), None);
    drop(permits);
}

#[test]
fn half_open_decides_only_after_every_trial_completes() {
    let (b, clock) = breaker(config());
    trip(&b);
    clock.advance(Duration::from_secs(10));
    let (p1, p2, p3) = (b.try_acquire(), b.try_acquire(), b.try_acquire());
    p1.expect("trial").record_success();
    p2.expect("trial").record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    p3.expect("trial").record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        b.metrics().buffered_calls,
        0,
        "closing starts a fresh window"
    );
}

#[test]
fn failing_trials_reopen_the_breaker() {
    let (b, clock) = breaker(config());
    trip(&b);
    clock.advance(Duration::from_secs(10));
    record(&b, &[Outcome::Success, Outcome::Failure, Outcome::Failure]);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn unfinished_trials_past_max_wait_send_it_back_to_open() {
    let (b, clock) = breaker(config().max_wait_in_half_open(Duration::from_secs(5)));
    trip(&b);
    clock.advance(Duration::from_secs(10));
    let stuck = b.try_acquire().expect("trial");
    clock.advance(Duration::from_secs(6));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), CircuitState::Open);
    stuck.record_success(); // a late result of the old round changes nothing
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn an_ignored_call_in_half_open_gives_its_permit_back() {
    let (b, clock) = breaker(config().permitted_calls_in_half_open(1));
    trip(&b);
    clock.advance(Duration::from_secs(10));
    b.try_acquire().expect("trial").record_ignored();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.try_acquire()
        .expect("the slot is free again")
        .record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn ignored_errors_are_neither_success_nor_failure() {
    let (b, _) = breaker(config().ignore_error(|e| e.to_string() == "not found"));
    for _ in 0..20 {
        let _ = b.call_sync(|| Err::<(), _>(CallError::NotFound));
    }
    assert_eq!(b.metrics().buffered_calls, 0);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn errors_outside_record_error_count_as_successes() {
    let (b, _) = breaker(config().record_error(|e| e.to_string() == "timeout"));
    for _ in 0..10 {
        let _ = b.call_sync(|| Err::<(), _>(CallError::NotFound));
    }
    let m = b.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (10, 0));
}

#[tokio::test]
async fn a_result_predicate_can_fail_an_ok_value() {
    let (b, _) = breaker(config());
    for _ in 0..10 {
        let r = b
            .call_classified(
                || async { Ok::<u16, CallError>(503) },
                |r| {
                    if matches!(r, Ok(503)) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    }
                },
            )
            .await;
        assert_eq!(r, Ok(503));
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_panicking_call_counts_as_a_failure() {
    let (b, _) = breaker(config());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.call_sync(|| -> Result<(), CallError> { panic!("inside the call") })
    }));
    assert!(r.is_err());
    assert_eq!(b.metrics().failed_calls, 1);
}

#[test]
fn forced_open_refuses_everything_until_reset() {
    let (b, clock) = breaker(config());
    b.force_open();
    clock.advance(Duration::from_secs(3600));
    let r = b.try_acquire().expect_err("forced open");
    assert_eq!(
        (r.state(), r.retry_after()),
        (CircuitState::ForcedOpen, None)
    );
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().not_permitted_calls, 0);
}

#[test]
fn disabled_permits_everything_and_records_nothing() {
    let (b, _) = breaker(config());
    b.disable();
    record(&b, &[Outcome::Failure; 50]);
    assert_eq!(b.state(), CircuitState::Disabled);
    assert_eq!(b.metrics().buffered_calls, 0);
}

#[test]
fn metrics_only_records_but_never_opens() {
    let (b, _) = breaker(config());
    b.metrics_only();
    record(&b, &[Outcome::Failure; 50]);
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::MetricsOnly);
    assert_eq!((m.buffered_calls, m.failure_rate), (10, Some(100.0)));
}

#[test]
fn consecutive_mode_opens_after_failure_threshold_and_closes_after_success_threshold() {
    let (b, clock) = breaker(config().consecutive(3, 2));
    record(&b, &[Outcome::Failure, Outcome::Failure, Outcome::Success]);
    record(&b, &[Outcome::Failure, Outcome::Failure]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "the success reset the streak"
    );
    record(&b, &[Outcome::Failure]);
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(Duration::from_secs(10));
    record(&b, &[Outcome::Success]);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    record(&b, &[Outcome::Success]);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn time_based_window_counts_the_last_seconds() {
    let (b, clock) = breaker(
        config()
            .sliding_window(SlidingWindow::TimeBased(5))
            .minimum_number_of_calls(4),
    );
    record(&b, &[Outcome::Failure; 3]);
    clock.advance(Duration::from_secs(6)); // those failures expire
    record(&b, &[Outcome::Success; 3]);
    record(&b, &[Outcome::Failure]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "1 of 4 in the window failed"
    );
    record(&b, &[Outcome::Failure]);
    assert_eq!(b.state(), CircuitState::Closed, "2 of 5 failed");
    record(&b, &[Outcome::Failure]);
    assert_eq!(b.state(), CircuitState::Open, "3 of 6 failed = 50 %");
}

#[test]
fn events_report_transitions_calls_and_refusals() {
    let (b, _) = breaker(config());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    b.on_event(move |e| s.lock().expect("lock").push(e.kind.clone()));
    let mut sub = b.subscribe();
    record(&b, &[Outcome::Failure; 10]);
    let _ = b.try_acquire();
    let kinds = seen.lock().expect("lock").clone();
    assert!(matches!(kinds[0], EventKind::Error { .. }));
    assert!(kinds.contains(&EventKind::StateTransition {
        generation: 1,
        from: CircuitState::Closed,
        to: CircuitState::Open
    }));
    assert_eq!(kinds.last(), Some(&EventKind::NotPermitted));
    assert!(matches!(
        sub.try_recv().map(|e| e.kind),
        Some(EventKind::Error { .. })
    ));
}

#[tokio::test]
async fn failing_health_checks_force_it_open_and_passing_ones_half_open_it() {
    let (b, _) = breaker(config());
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    b.add_health_check(
        HealthCheck::new("db", move || {
            let h = h.clone();
            async move { h.load(Ordering::Relaxed) }
        })
        .failure_threshold(2)
        .success_threshold(2),
    );
    b.run_health_checks().await;
    assert_eq!(b.state(), CircuitState::Closed);
    let reports = b.run_health_checks().await;
    assert_eq!(reports[0].consecutive_failures, 2);
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    healthy.store(true, Ordering::Relaxed);
    b.run_health_checks().await;
    b.run_health_checks().await;
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "trial calls decide from here"
    );
}

#[test]
fn registry_shares_a_default_with_per_name_overrides() {
    let registry = CircuitBreakerRegistry::new(config().build().expect("config"));
    registry.set_override(
        "payments",
        config().minimum_number_of_calls(2).build().expect("config"),
    );
    let a = registry.breaker("inventory");
    let p = registry.breaker("payments");
    assert_eq!(p.config().sliding_window(), SlidingWindow::CountBased(10));
    record(&p, &[Outcome::Failure; 2]);
    assert_eq!(
        p.state(),
        CircuitState::Open,
        "the override's minimum of 2 applies"
    );
    assert_eq!(registry.breaker("inventory").name(), a.name());
    assert_eq!(registry.names(), vec!["inventory", "payments"]);
    let all = registry.all_metrics();
    assert_eq!(all[1].1.state, CircuitState::Open);
    assert!(registry.get("unknown").is_none());
}

#[tokio::test(start_paused = true)]
async fn spawned_health_checks_run_every_interval() {
    let (b, _) = breaker(config());
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    b.add_health_check(
        HealthCheck::new("probe", move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::Relaxed);
                true
            }
        })
        .interval(Duration::from_secs(10)),
    );
    let handle = b
        .spawn_health_checks()
        .expect("inside a runtime, with a check");
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    handle.abort();
}

#[tokio::test(start_paused = true)]
async fn a_health_check_slower_than_its_timeout_fails() {
    let (b, _) = breaker(config());
    b.add_health_check(
        HealthCheck::new("hangs", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            true
        })
        .timeout(Duration::from_secs(1))
        .failure_threshold(1),
    );
    let reports = b.run_health_checks().await;
    assert!(!reports[0].healthy);
    assert_eq!(b.state(), CircuitState::ForcedOpen);
}
