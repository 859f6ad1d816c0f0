//! Time for every rule that depends on it (windows, waits, slow calls, retries), behind
//! one type so tests can drive it by hand.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock in nanoseconds since its own origin.
pub trait TimeSource: Send + Sync + 'static {
    /// Nanoseconds since this clock's origin; never decreases.
    fn now_nanos(&self) -> u64;
}

/// The clock a breaker, retry or window reads. `Clock::system()` is the default;
/// `Clock::manual()` gives a clock that only moves when told, for deterministic tests.
/// Cheap to clone.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System(Instant),
    Tokio(tokio::time::Instant),
    Manual(Arc<AtomicU64>),
    Custom(Arc<dyn TimeSource>),
}

impl Clock {
    /// The monotonic system clock (`std::time::Instant`).
    pub fn system() -> Self {
        Clock(Source::System(Instant::now()))
    }

    /// tokio's clock: follows `tokio::time::pause`/`advance`, so tests on paused time
    /// drive breakers, retries and timers together. Needs a tokio runtime when created.
    pub fn tokio() -> Self {
        Clock(Source::Tokio(tokio::time::Instant::now()))
    }

    /// A manual clock starting at zero; move it with [`Clock::advance`].
    pub fn manual() -> Self {
        Clock(Source::Manual(Arc::new(AtomicU64::new(0))))
    }

    /// A clock backed by your own time source.
    pub fn custom(source: Arc<dyn TimeSource>) -> Self {
        Clock(Source::Custom(source))
    }

    /// Nanoseconds since the clock's origin.
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match &self.0 {
            Source::System(origin) => {
                u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
            }
            Source::Tokio(origin) => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Source::Manual(t) => t.load(Ordering::Acquire),
            Source::Custom(s) => s.now_nanos(),
        }
    }

    /// Moves a manual clock forward (no effect on other clocks).
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(t) = &self.0 {
            t.fetch_add(
                u64::try_from(by.as_nanos()).unwrap_or(u64::MAX),
                Ordering::AcqRel,
            );
        }
    }

    /// True for a manual clock: waiting on it does not sleep (retry delays are skipped).
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Source::System(_) => "system",
            Source::Tokio(_) => "tokio",
            Source::Manual(_) => "manual",
            Source::Custom(_) => "custom",
        };
        write!(f, "Clock({kind}, {} ns)", self.now_nanos())
    }
}

/// Nanoseconds of a duration, saturating.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = Clock::manual();
        assert_eq!(c.now_nanos(), 0);
        c.advance(Duration::from_millis(3));
        assert_eq!(c.now_nanos(), 3_000_000);
        let shared = c.clone();
        shared.advance(Duration::from_nanos(1));
        assert_eq!(c.now_nanos(), 3_000_001);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = Clock::system();
        let a = c.now_nanos();
        let b = c.now_nanos();
        assert!(b >= a);
    }
}
