//! `Fallback`: an answer when the call fails, from the origin design's chain of fallbacks.
//! See [`Fallback`] for the chain, its settings and contract.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ResilienceError;

/// Which link of the chain produced a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackSource {
    /// The primary call succeeded.
    Primary,
    /// The custom fallback answered.
    Custom,
    /// The last good value, this old.
    Cached {
        /// Time since the primary produced it.
        age: Duration,
    },
    /// The default value.
    Default,
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallen<T> {
    /// The value.
    pub value: T,
    /// Who produced it.
    pub source: FallbackSource,
}

impl<T> Fallen<T> {
    /// True when a fallback, not the primary call, produced the value.
    pub fn is_fallback(&self) -> bool {
        self.source != FallbackSource::Primary
    }
}

type CustomFallback<T, E> = Box<
    dyn Fn(&ResilienceError<E>) -> Pin<Box<dyn Future<Output = Option<T>> + Send>> + Send + Sync,
>;
type Trigger<E> = Box<dyn Fn(&ResilienceError<E>) -> bool + Send + Sync>;

struct LastGood<T> {
    max_age: Duration,
    /// The value and the clock reading when the primary produced it.
    slot: Mutex<Option<(T, u64)>>,
}

/// A fallback chain for calls producing `T` or failing with `ResilienceError<E>`.
/// Share it (in an `Arc`) between the calls whose last good value it should keep.
///
/// Cost: nothing on a primary success unless `cached` is set; then one clone of `T` and
/// an uncontended lock per success. A custom fallback allocates its boxed future.
///
/// ```
/// use palisade_circuit_breaker::{Fallback, FallbackSource, ResilienceError};
///
/// # #[derive(Debug, thiserror::Error)] #[error("down")] struct Down;
/// # tokio::runtime::Builder::new_current_thread().build()
/// #     .map_err(|e| e.to_string())?.block_on(async {
/// let greeting = Fallback::<String, Down>::new()
///     .default_value("Observing the environment.".to_string());
/// let answer = greeting.run(async { Err(ResilienceError::Inner(Down)) }).await?;
/// assert_eq!(answer.source, FallbackSource::Default);
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// After the primary call fails with an error the chain handles (`when`; default: every
/// error), it asks each configured fallback in this fixed order, and the first to answer
/// wins:
///
/// ```text
///   primary ──ok──▶ value (Primary); kept as "last good" when `cached` is set
///      │ error, and `when(error)`
///      ▼
///   custom(error) ──Some──▶ value (Custom)
///      │ None / not set
///      ▼
///   last good, if not older than max_age ──▶ value (Cached { age })
///      │ none / too old / not set
///      ▼
///   default value ──▶ value (Default)
///      │ not set
///      ▼
///   the primary's error
/// ```
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `custom` | none | an async function of the error; `None` passes to the next fallback |
/// | `cached` | off | keep the last good value; serve it while no older than `max_age` |
/// | `default_value` | none | the safe value of last resort |
/// | `when` | every error | which errors the chain handles; others are returned unchanged |
/// | `clock` | system | the clock the cached value's age is read on |
///
/// A fallback hides a failure from the caller, so every answer records its
/// [`FallbackSource`], and each fallback answer is logged at debug level.
pub struct Fallback<T, E> {
    custom: Option<CustomFallback<T, E>>,
    last_good: Option<LastGood<T>>,
    default: Option<T>,
    when: Option<Trigger<E>>,
    clock: Clock,
}

impl<T, E> Default for Fallback<T, E> {
    fn default() -> Self {
        Fallback {
            custom: None,
            last_good: None,
            default: None,
            when: None,
            clock: Clock::system(),
        }
    }
}

impl<T, E> fmt::Debug for Fallback<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("custom", &self.custom.is_some())
            .field(
                "cached_max_age",
                &self.last_good.as_ref().map(|c| c.max_age),
            )
            .field("default", &self.default.is_some())
            .field("when", &self.when.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

impl<T: Clone, E> Fallback<T, E> {
    /// An empty chain: every failure passes through until fallbacks are added.
    pub fn new() -> Self {
        Fallback::default()
    }

    /// The first fallback: `f` gets the error and may answer (`Some`) or pass (`None`).
    /// The future must not borrow the error; copy out what it needs first.
    pub fn custom<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&ResilienceError<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        self.custom = Some(Box::new(move |error| Box::pin(f(error))));
        self
    }

    /// The second fallback: the primary's last good value, while it is at most `max_age`
    /// old.
    pub fn cached(mut self, max_age: Duration) -> Self {
        self.last_good = Some(LastGood {
            max_age,
            slot: Mutex::new(None),
        });
        self
    }

    /// The last fallback: `value`, cloned for each use.
    pub fn default_value(mut self, value: T) -> Self {
        self.default = Some(value);
        self
    }

    /// Only errors for which `trigger` is true fall back; others are returned unchanged.
    pub fn when(
        mut self,
        trigger: impl Fn(&ResilienceError<E>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.when = Some(Box::new(trigger));
        self
    }

    /// The clock the cached value's age is read on (default: system).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs `primary`, then the chain if it fails (see the module diagram).
    ///
    /// # Errors
    /// The primary's error, unchanged, when `when` rejects it or no fallback answers.
    pub async fn run<Fut>(&self, primary: Fut) -> Result<Fallen<T>, ResilienceError<E>>
    where
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let error = match primary.await {
            Ok(value) => {
                if let Some(last_good) = &self.last_good {
                    *lock(&last_good.slot) = Some((value.clone(), self.clock.now_nanos()));
                }
                return Ok(Fallen {
                    value,
                    source: FallbackSource::Primary,
                });
            }
            Err(error) => error,
        };
        if self.when.as_ref().is_some_and(|when| !when(&error)) {
            return Err(error);
        }
        if let Some(custom) = &self.custom {
            if let Some(value) = custom(&error).await {
                return Ok(self.answer(value, FallbackSource::Custom, &error));
            }
        }
        if let Some((value, age)) = self.fresh_last_good() {
            return Ok(self.answer(value, FallbackSource::Cached { age }, &error));
        }
        if let Some(value) = &self.default {
            return Ok(self.answer(value.clone(), FallbackSource::Default, &error));
        }
        Err(error)
    }

    fn fresh_last_good(&self) -> Option<(T, Duration)> {
        let last_good = self.last_good.as_ref()?;
        let slot = lock(&last_good.slot);
        let (value, stored_at) = slot.as_ref()?;
        let age = Duration::from_nanos(self.clock.now_nanos().saturating_sub(*stored_at));
        (age <= last_good.max_age).then(|| (value.clone(), age))
    }

    fn answer(&self, value: T, source: FallbackSource, error: &ResilienceError<E>) -> Fallen<T> {
        tracing::debug!(?source, failure = ?error.failure_type(), "fallback answered");
        Fallen { value, source }
    }
}

/// The lock guards plain data that a panic cannot leave half-written; ignore poisoning.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, thiserror::Error)]
    enum CallError {
        #[error("down")]
        Down,
        #[error("invalid")]
        Invalid,
    }

    type Outcome = Result<&'static str, ResilienceError<CallError>>;

    async fn ok(v: &'static str) -> Outcome {
        Ok(v)
    }

    async fn down() -> Outcome {
        Err(ResilienceError::Inner(CallError::Down))
    }

    fn source(
        r: &Result<Fallen<&'static str>, ResilienceError<CallError>>,
    ) -> Option<FallbackSource> {
        r.as_ref().ok().map(|f| f.source)
    }

    #[tokio::test]
    async fn fallback_chain_tries_in_order_and_reports_source() {
        let clock = Clock::manual();
        let chain = Fallback::new()
            .default_value("default")
            .cached(Duration::from_secs(10))
            .custom(|e: &ResilienceError<CallError>| {
                let timed_out = matches!(e, ResilienceError::Timeout(_));
                async move { timed_out.then_some("custom") }
            })
            .with_clock(clock.clone());

        let r = chain.run(ok("fresh")).await;
        assert_eq!(
            r,
            Ok(Fallen {
                value: "fresh",
                source: FallbackSource::Primary
            })
        );
        let r = chain
            .run(async { Err(ResilienceError::Timeout(Duration::from_secs(1))) })
            .await;
        assert_eq!(
            r,
            Ok(Fallen {
                value: "custom",
                source: FallbackSource::Custom
            })
        );
        clock.advance(Duration::from_secs(2));
        let r = chain.run(down()).await;
        let cached = FallbackSource::Cached {
            age: Duration::from_secs(2),
        };
        assert_eq!(
            r,
            Ok(Fallen {
                value: "fresh",
                source: cached
            }),
            "custom passed"
        );
        clock.advance(Duration::from_secs(9));
        assert_eq!(
            source(&chain.run(down()).await),
            Some(FallbackSource::Default),
            "cache too old"
        );
    }

    #[tokio::test]
    async fn fallback_uses_cached_value_within_max_age() {
        let clock = Clock::manual();
        let chain = Fallback::new()
            .cached(Duration::from_secs(10))
            .with_clock(clock.clone());
        assert_eq!(source(&chain.run(down()).await), None, "nothing cached yet");
        let _ = chain.run(ok("v1")).await;
        clock.advance(Duration::from_secs(10));
        let r = chain.run(down()).await;
        let at_max_age = FallbackSource::Cached {
            age: Duration::from_secs(10),
        };
        assert_eq!(
            r,
            Ok(Fallen {
                value: "v1",
                source: at_max_age
            })
        );
        clock.advance(Duration::from_nanos(1));
        assert_eq!(
            chain.run(down()).await,
            Err(ResilienceError::Inner(CallError::Down))
        );
    }

    #[tokio::test]
    async fn a_later_success_refreshes_the_cached_value() {
        let clock = Clock::manual();
        let chain = Fallback::new()
            .cached(Duration::from_secs(1))
            .with_clock(clock.clone());
        let _ = chain.run(ok("old")).await;
        clock.advance(Duration::from_secs(5));
        let _ = chain.run(ok("new")).await;
        let r = chain.run(down()).await;
        let fresh = FallbackSource::Cached {
            age: Duration::ZERO,
        };
        assert_eq!(
            r,
            Ok(Fallen {
                value: "new",
                source: fresh
            })
        );
    }

    #[tokio::test]
    async fn errors_rejected_by_when_are_returned_unchanged() {
        let chain = Fallback::new()
            .default_value("default")
            .when(|e: &ResilienceError<CallError>| e.inner() != Some(&CallError::Invalid));
        let invalid = chain
            .run(async { Err(ResilienceError::Inner(CallError::Invalid)) })
            .await;
        assert_eq!(invalid, Err(ResilienceError::Inner(CallError::Invalid)));
        assert_eq!(
            source(&chain.run(down()).await),
            Some(FallbackSource::Default)
        );
    }

    #[tokio::test]
    async fn an_empty_chain_returns_the_primary_error() {
        let chain = Fallback::<&'static str, CallError>::new();
        assert_eq!(
            chain.run(down()).await,
            Err(ResilienceError::Inner(CallError::Down))
        );
        assert!(chain.run(ok("v")).await.is_ok_and(|f| !f.is_fallback()));
    }
}
