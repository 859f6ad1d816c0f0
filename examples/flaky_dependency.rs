//! A flaky dependency behind retry + circuit breaker + fallback: it fails in bursts and
//! is sometimes slow. The breaker opens during the bursts (calls then fail fast and the
//! fallback answers from its cache), half-opens after the wait, and closes again once
//! trial calls succeed. State transitions and the final metrics are printed.
//!
//! Run: `cargo run -p palisade-examples --example flaky_dependency`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade::circuit_breaker::{
    Backoff, EventKind, Fallback, FallbackSource, Resilience, Retry, RetryPolicy, Timeout,
};
use palisade::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("inventory service unavailable")]
struct Unavailable;

/// The dependency: down from 0.3 s to 0.7 s and from 1.1 s to 1.5 s after start (two
/// outages), every 9th call takes 80 ms (slow), the rest answer in 1 ms.
struct Inventory {
    calls: AtomicU32,
    start: tokio::time::Instant,
}

impl Inventory {
    async fn stock(&self, sku: u32) -> Result<u32, ResilienceError<Unavailable>> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let slow = n % 9 == 0;
        tokio::time::sleep(Duration::from_millis(if slow { 80 } else { 1 })).await;
        let t = self.start.elapsed().as_millis();
        if (300..700).contains(&t) || (1100..1500).contains(&t) {
            Err(ResilienceError::Inner(Unavailable))
        } else {
            Ok(100 + sku)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = CircuitBreakerConfig::builder()
        .sliding_window(SlidingWindow::CountBased(20))
        .minimum_number_of_calls(10)
        .failure_rate_threshold(50.0)
        .slow_call_duration(Duration::from_millis(50))
        .slow_call_rate_threshold(80.0)
        .wait_duration_in_open(Duration::from_millis(150))
        .permitted_calls_in_half_open(3)
        .build()?;
    let breaker = CircuitBreaker::new("inventory", config);
    breaker.on_event(|event| {
        if let EventKind::StateTransition { from, to, .. } = event.kind {
            println!("  [{:>7.1?}] breaker {from:?} -> {to:?}", event.at);
        }
    });

    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::Fixed(Duration::from_millis(5)))
        .build()?;
    let stack = Resilience::builder()
        .circuit_breaker(breaker.clone())
        .retry(Retry::new(policy))
        .timeout(Timeout::new(Duration::from_millis(200))?)
        .build();
    let fallback = Fallback::<u32, Unavailable>::new()
        .cached(Duration::from_secs(5))
        .default_value(0);

    let inventory = Arc::new(Inventory {
        calls: AtomicU32::new(0),
        start: tokio::time::Instant::now(),
    });
    let mut answered_by = [0u32; 4];
    println!("lookups for 2 s through retry + breaker + fallback:");
    let mut i = 0u32;
    while inventory.start.elapsed() < Duration::from_secs(2) {
        i += 1;
        let inv = inventory.clone();
        let answer = fallback.run(stack.run(|_attempt| {
            let inv = inv.clone();
            async move { inv.stock(7).await }
        }));
        let fallen = answer.await?;
        let slot = match fallen.source {
            FallbackSource::Primary => 0,
            FallbackSource::Custom => 1,
            FallbackSource::Cached { .. } => 2,
            FallbackSource::Default => 3,
        };
        answered_by[slot] += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let m = breaker.metrics();
    println!("\n{i} lookups");
    println!("answered by the dependency: {}", answered_by[0]);
    println!("answered from the cache:    {}", answered_by[2]);
    println!("answered with the default:  {}", answered_by[3]);
    println!(
        "calls that reached the dependency: {}",
        inventory.calls.load(Ordering::Relaxed)
    );
    println!(
        "final metrics: state {:?}, failure rate {:?}, slow rate {:?}, buffered {}, failed {}, slow {}, not permitted {}",
        m.state,
        m.failure_rate,
        m.slow_call_rate,
        m.buffered_calls,
        m.failed_calls,
        m.slow_calls,
        m.not_permitted_calls
    );
    if m.not_permitted_calls == 0 || answered_by[2] == 0 {
        return Err("expected the breaker to open and the cache to answer".into());
    }
    Ok(())
}
