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

/// The clock a breaker, retry or window reads: `Clock::system()` (precise, the default
/// for retries and fallbacks), `Clock::coarse()` (one atomic load, millisecond steps,
/// the default for breakers), `Clock::tokio()` (follows tokio's paused time) or
/// `Clock::manual()` (moves only when told, for deterministic tests).
/// Cheap to clone.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System(Instant),
    Coarse(&'static Ticker),
    Tokio(tokio::time::Instant),
    Manual(Arc<AtomicU64>),
    Custom(Arc<dyn TimeSource>),
}

impl Clock {
    /// The monotonic system clock (`std::time::Instant`).
    pub fn system() -> Self {
        Clock(Source::System(Instant::now()))
    }

    /// A coarse clock: one atomic load per read, advanced every millisecond by a shared
    /// background thread (`palisade-clock`, started on first use, one per process).
    /// Breakers use it by default: their durations (slow calls, waits, one-second window
    /// buckets) need milliseconds, and a precise read costs ~20 ns on virtual machines.
    /// If the thread cannot be started, reads fall back to the precise clock.
    pub fn coarse() -> Self {
        Clock(Source::Coarse(ticker()))
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
            Source::Coarse(t) => t.now(),
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
            Source::Coarse(_) => "coarse",
            Source::Tokio(_) => "tokio",
            Source::Manual(_) => "manual",
            Source::Custom(_) => "custom",
        };
        write!(f, "Clock({kind}, {} ns)", self.now_nanos())
    }
}

/// The shared coarse time: nanoseconds since `origin`, refreshed every millisecond.
pub(crate) struct Ticker {
    origin: Instant,
    now: AtomicU64,
    /// False when the refresh thread could not be started: read the precise clock.
    running: std::sync::atomic::AtomicBool,
}

impl Ticker {
    #[inline]
    fn now(&self) -> u64 {
        if self.running.load(Ordering::Relaxed) {
            self.now.load(Ordering::Acquire)
        } else {
            nanos(self.origin.elapsed())
        }
    }
}

fn ticker() -> &'static Ticker {
    static TICKER: std::sync::OnceLock<&'static Ticker> = std::sync::OnceLock::new();
    TICKER.get_or_init(|| {
        let ticker: &'static Ticker = Box::leak(Box::new(Ticker {
            origin: Instant::now(),
            now: AtomicU64::new(0),
            running: std::sync::atomic::AtomicBool::new(false),
        }));
        let started = std::thread::Builder::new()
            .name("palisade-clock".into())
            .spawn(move || {
                loop {
                    ticker
                        .now
                        .store(nanos(ticker.origin.elapsed()), Ordering::Release);
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        if started.is_ok() {
            // The thread stores the first reading at once; until then the origin (0) is
            // an honest lower bound.
            ticker.running.store(true, Ordering::Release);
        }
        ticker
    })
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
    fn coarse_clock_advances_in_steps() {
        let c = Clock::coarse();
        let a = c.now_nanos();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.now_nanos();
        assert!(b > a, "{a} then {b}");
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = Clock::system();
        let a = c.now_nanos();
        let b = c.now_nanos();
        assert!(b >= a);
    }
}
