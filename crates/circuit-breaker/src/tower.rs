//! `tower::Layer`s (feature `tower`): the breaker, retry, timeout and bulkhead as
//! layers, so they drop into axum, tonic and hyper stacks. Stack them in the order of
//! [`Resilience`](crate::Resilience): bulkhead outside, then breaker, retry, timeout. Errors are boxed (`BoxError`), tower's convention, so layers
//! stack without nesting error types. A refusal is a boxed
//! `ResilienceError<std::convert::Infallible>` (downcast to tell it from the service's own
//! errors, which pass through unchanged).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use std::sync::Arc;

use crate::breaker::{CircuitBreaker, OwnedCallPermit};
use crate::bulkhead::Bulkhead;
use crate::config::Outcome;
use crate::error::ResilienceError;
use crate::retry::Retry;
use crate::timeout::Timeout;

/// The error type of the layered services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a service in a circuit breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer {
    breaker: CircuitBreaker,
}

impl CircuitBreakerLayer {
    /// A layer guarding services with `breaker` (shared by every service it wraps).
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer { breaker }
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreakerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
        }
    }
}

/// A service behind a circuit breaker: refused calls fail at once with
/// `ResilienceError::CircuitBreakerOpen` (boxed) without reaching the inner service.
/// The inner service's errors are classified by the breaker's `record_error` and
/// `ignore_error` predicates.
#[derive(Clone, Debug)]
pub struct CircuitBreakerService<S> {
    inner: S,
    breaker: CircuitBreaker,
}

impl<S, Req> Service<Req> for CircuitBreakerService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BreakerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire_owned::<Infallible>() {
            Ok(permit) => BreakerFuture {
                state: BreakerState::Running {
                    fut: Box::pin(self.inner.call(req)),
                    permit: Some(permit),
                },
            },
            Err(refused) => BreakerFuture {
                state: BreakerState::Refused(Some(Box::new(refused))),
            },
        }
    }
}

/// The future of a `CircuitBreakerService` call.
pub struct BreakerFuture<F> {
    state: BreakerState<F>,
}

enum BreakerState<F> {
    Running {
        fut: Pin<Box<F>>,
        permit: Option<OwnedCallPermit>,
    },
    Refused(Option<BoxError>),
}

impl<F, T, E> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            BreakerState::Refused(err) => Poll::Ready(Err(err
                .take()
                .unwrap_or_else(|| Box::new(PolledAfterCompletion)))),
            BreakerState::Running { fut, permit } => {
                let result = match fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r.map_err(Into::into),
                };
                if let Some(permit) = permit.take() {
                    let outcome = match &result {
                        Ok(_) => Outcome::Success,
                        Err(e) => permit_config_outcome(&permit, &**e),
                    };
                    permit.record(outcome);
                }
                Poll::Ready(result)
            }
        }
    }
}

/// A `BreakerFuture` was polled again after it completed.
#[derive(Debug, thiserror::Error)]
#[error("BreakerFuture polled after completion")]
struct PolledAfterCompletion;

fn permit_config_outcome(
    permit: &OwnedCallPermit,
    e: &(dyn std::error::Error + Send + Sync + 'static),
) -> Outcome {
    permit.breaker().config().classify_error(e)
}

/// A service error seen by the retry: the boxed error of the inner service, as a type
/// that implements `std::error::Error`. Retry predicates receive it; its `source()` is
/// the service's own error (downcast that).
#[derive(Debug)]
pub struct ServiceError(pub BoxError);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A boxed future, as the retry, timeout and bulkhead services return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Turns a stack error back into a `BoxError`: the service's own error unwrapped, any
/// other (timeout, retries exhausted, bulkhead full) boxed as it is.
fn unwrap_service_error(e: ResilienceError<ServiceError>) -> BoxError {
    match e {
        ResilienceError::Inner(ServiceError(inner)) => inner,
        other => Box::new(other),
    }
}

/// A per-call guard that a [`GuardedService`] wraps around each call of its inner
/// service: implemented by [`Timeout`] and by a shared [`Bulkhead`].
pub trait CallGuard: Clone + Send + Sync + 'static {
    /// Runs `call` under the guard, mapping the stack's errors back to a `BoxError`.
    fn run_guarded<T, F>(&self, call: F) -> BoxFuture<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ResilienceError<ServiceError>>> + Send + 'static;
}

impl CallGuard for Timeout {
    fn run_guarded<T, F>(&self, call: F) -> BoxFuture<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ResilienceError<ServiceError>>> + Send + 'static,
    {
        let timeout = *self;
        Box::pin(async move { timeout.run(call).await.map_err(unwrap_service_error) })
    }
}

impl CallGuard for Arc<Bulkhead> {
    fn run_guarded<T, F>(&self, call: F) -> BoxFuture<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ResilienceError<ServiceError>>> + Send + 'static,
    {
        let bulkhead = Arc::clone(self);
        Box::pin(async move { bulkhead.run(call).await.map_err(unwrap_service_error) })
    }
}

/// A service whose calls run under a [`CallGuard`]: see [`TimeoutService`] and
/// [`BulkheadService`].
#[derive(Clone, Debug)]
pub struct GuardedService<S, G> {
    inner: S,
    guard: G,
}

/// A service whose calls are limited by a `Timeout`; expiry is a boxed
/// `ResilienceError::<ServiceError>::Timeout`.
pub type TimeoutService<S> = GuardedService<S, Timeout>;

/// A service behind a bulkhead: a call waits up to the bulkhead's `max_wait` for a slot,
/// then fails with a boxed `ResilienceError::<ServiceError>::BulkheadFull`.
pub type BulkheadService<S> = GuardedService<S, Arc<Bulkhead>>;

impl<S, Req, G> Service<Req> for GuardedService<S, G>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    G: CallGuard,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.inner.call(req);
        self.guard.run_guarded(async move {
            fut.await
                .map_err(|e| ResilienceError::Inner(ServiceError(e.into())))
        })
    }
}

/// Limits each call of the wrapped service to a duration.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    timeout: Timeout,
}

impl TimeoutLayer {
    /// A layer applying `timeout` to every call.
    pub fn new(timeout: Timeout) -> Self {
        TimeoutLayer { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardedService {
            inner,
            guard: self.timeout,
        }
    }
}

/// Caps concurrent calls of the wrapped service with a `Bulkhead`.
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    bulkhead: Arc<Bulkhead>,
}

impl BulkheadLayer {
    /// A layer sharing `bulkhead` between every service it wraps.
    pub fn new(bulkhead: impl Into<Arc<Bulkhead>>) -> Self {
        BulkheadLayer {
            bulkhead: bulkhead.into(),
        }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardedService {
            inner,
            guard: Arc::clone(&self.bulkhead),
        }
    }
}

/// Retries failed calls of the wrapped service (which must be `Clone`, and requests too).
#[derive(Clone, Debug)]
pub struct RetryLayer {
    retry: Arc<Retry>,
}

impl RetryLayer {
    /// A layer retrying with `retry` (shared by every service it wraps).
    pub fn new(retry: impl Into<Arc<Retry>>) -> Self {
        RetryLayer {
            retry: retry.into(),
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            retry: Arc::clone(&self.retry),
        }
    }
}

/// A service whose failed calls are retried by a `Retry`. Each attempt waits for the
/// service to be ready on a clone of it. Retry predicates see a [`ServiceError`].
#[derive(Clone, Debug)]
pub struct RetryService<S> {
    inner: S,
    retry: Arc<Retry>,
}

impl<S, Req> Service<Req> for RetryService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    S::Response: Send + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The service polled ready is the one that takes the first attempt (tower's
        // contract); later attempts use fresh clones.
        let ready = self.inner.clone();
        let first = std::mem::replace(&mut self.inner, ready);
        let template = self.inner.clone();
        let retry = Arc::clone(&self.retry);
        Box::pin(async move {
            let mut first = Some(first);
            retry
                .run(move |_attempt| {
                    let mut svc = first.take().unwrap_or_else(|| template.clone());
                    let req = req.clone();
                    async move {
                        let wrap = |e: S::Error| ResilienceError::Inner(ServiceError(e.into()));
                        std::future::poll_fn(|cx| svc.poll_ready(cx))
                            .await
                            .map_err(wrap)?;
                        svc.call(req).await.map_err(wrap)
                    }
                })
                .await
                .map_err(unwrap_service_error)
        })
    }
}
