//! Panic isolation: a future wrapper that turns a panic during any poll into an error.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls a pinned future, catching a panic from any poll. Costs nothing when nothing
/// panics (unwinding uses landing pads, not checks) and allocates nothing.
pub(crate) struct CatchUnwind<'a, F> {
    inner: Pin<&'a mut F>,
}

/// Wraps `inner` so that a panic while polling it becomes `Err(payload)`.
pub(crate) fn catch_unwind_future<F: Future>(inner: Pin<&mut F>) -> CatchUnwind<'_, F> {
    CatchUnwind { inner }
}

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
