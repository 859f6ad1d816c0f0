//! The optional integrations: tower layer (feature `tower`) and guarded actor asks
//! (feature `actors`).

#[cfg(feature = "tower")]
mod tower_layer {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};

    use palisade_circuit_breaker::tower::{BoxError, CircuitBreakerLayer};
    use palisade_circuit_breaker::{
        CircuitBreaker, CircuitBreakerConfig, CircuitState, ResilienceError, SlidingWindow,
    };
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Debug, thiserror::Error)]
    #[error("upstream failed")]
    struct Upstream;

    /// Fails every request with `Upstream`.
    #[derive(Clone)]
    struct Failing;

    impl Service<u32> for Failing {
        type Response = u32;
        type Error = Upstream;
        type Future = Ready<Result<u32, Upstream>>;
        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Upstream>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _req: u32) -> Self::Future {
            ready(Err(Upstream))
        }
    }

    #[tokio::test]
    async fn breaker_layer_opens_and_then_refuses_without_calling_the_service() {
        let config = CircuitBreakerConfig::builder()
            .sliding_window(SlidingWindow::CountBased(4))
            .minimum_number_of_calls(4)
            .build()
            .expect("config");
        let breaker = CircuitBreaker::new("upstream", config);
        let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(Failing);
        for _ in 0..4 {
            let err: BoxError = svc.call(1).await.expect_err("fails");
            assert!(
                err.downcast_ref::<Upstream>().is_some(),
                "the service's own error passes through"
            );
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        let err = svc.call(1).await.expect_err("refused");
        let refusal = err
            .downcast_ref::<ResilienceError<Infallible>>()
            .expect("a refusal");
        assert!(matches!(
            refusal,
            ResilienceError::CircuitBreakerOpen { .. }
        ));
    }
}

#[cfg(feature = "tower")]
mod tower_stack {
    use std::future::{Ready, ready};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use palisade_circuit_breaker::tower::{
        BulkheadLayer, CircuitBreakerLayer, RetryLayer, TimeoutLayer,
    };
    use palisade_circuit_breaker::{
        Backoff, Bulkhead, CircuitBreaker, CircuitBreakerConfig, Retry, RetryPolicy, Timeout,
    };
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Debug, thiserror::Error)]
    #[error("flaky")]
    struct Flaky;

    /// Fails the first two calls, then answers with the request.
    #[derive(Clone)]
    struct FlakyService(Arc<AtomicU32>);

    impl Service<u32> for FlakyService {
        type Response = u32;
        type Error = Flaky;
        type Future = Ready<Result<u32, Flaky>>;
        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Flaky>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: u32) -> Self::Future {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            ready(if n < 2 { Err(Flaky) } else { Ok(req) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bulkhead_breaker_retry_timeout_stack_retries_inside_the_breaker() {
        let calls = Arc::new(AtomicU32::new(0));
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::Fixed(Duration::from_millis(10)))
            .build()
            .expect("policy");
        let breaker = CircuitBreaker::new("flaky", CircuitBreakerConfig::default());
        let bulkhead = Bulkhead::new("flaky", 4, Duration::ZERO).expect("bulkhead");
        let timeout = Timeout::new(Duration::from_secs(1)).expect("timeout");
        let svc = TimeoutLayer::new(timeout).layer(FlakyService(calls.clone()));
        let svc = RetryLayer::new(Retry::new(policy)).layer(svc);
        let svc = CircuitBreakerLayer::new(breaker.clone()).layer(svc);
        let mut svc = BulkheadLayer::new(bulkhead).layer(svc);
        assert_eq!(svc.call(7).await.expect("third attempt succeeds"), 7);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        let m = breaker.metrics();
        assert_eq!(
            (m.buffered_calls, m.failed_calls),
            (1, 0),
            "one call, one success"
        );
    }
}

#[cfg(feature = "actors")]
mod actors {
    use std::time::Duration;

    use palisade_actor_core::{Actor, ActorResult, ActorSystem, AskError, Context, ReplyTo};
    use palisade_circuit_breaker::actors::GuardedRef;
    use palisade_circuit_breaker::{
        CircuitBreaker, CircuitBreakerConfig, CircuitState, Clock, ResilienceError, SlidingWindow,
    };

    /// Never answers: every ask times out.
    struct Silent;

    impl Actor for Silent {
        type Msg = ReplyTo<u32>;
        async fn handle(&mut self, reply: ReplyTo<u32>, _ctx: &mut Context<Self>) -> ActorResult {
            std::mem::forget(reply);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn guarded_asks_fail_fast_once_the_actor_keeps_failing() {
        let system = ActorSystem::new("t");
        let actor = system.spawn("silent", || Silent).expect("spawn");
        let config = CircuitBreakerConfig::builder()
            .sliding_window(SlidingWindow::CountBased(3))
            .minimum_number_of_calls(3)
            .build()
            .expect("config");
        let breaker = CircuitBreaker::with_clock("silent", config, Clock::tokio());
        let guarded = GuardedRef::new(actor, breaker.clone(), Duration::from_secs(1));
        for _ in 0..3 {
            let r = guarded.ask(|reply| reply).await;
            assert!(
                matches!(r, Err(ResilienceError::Inner(AskError::Timeout { .. }))),
                "{r:?}"
            );
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        let before = tokio::time::Instant::now();
        let r = guarded.ask(|reply| reply).await;
        assert!(matches!(r, Err(ResilienceError::CircuitBreakerOpen { .. })));
        assert_eq!(before.elapsed(), Duration::ZERO, "refused at once");
    }
}
