//! `CircuitBreakerConfig`: every setting of a breaker, with defaults, validated once.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;

/// Which recent calls the failure and slow-call rates are computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` calls.
    CountBased(u32),
    /// The calls of the last `n` seconds, in one-second buckets.
    TimeBased(u32),
}

/// How a breaker decides to open and close.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TripMode {
    /// resilience4j's rule: open when the failure rate or the slow-call rate over the
    /// sliding window reaches its threshold (once `minimum_number_of_calls` are in).
    Rate,
    /// The origin design's simple rule: open after `failure_threshold` consecutive
    /// failures; in half-open, close after `success_threshold` successes (any failure
    /// reopens).
    Consecutive {
        /// Consecutive failures that open the breaker.
        failure_threshold: u32,
        /// Successes in half-open that close it.
        success_threshold: u32,
    },
}

/// How long an open breaker waits before half-open, as a function of how many times in a
/// row it has opened (1 for the first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitInterval {
    /// Always the same.
    Fixed(Duration),
    /// `initial × multiplier^(opens − 1)`, capped at `max`, then ±`jitter` (0.0..=1.0).
    Exponential {
        /// The first wait.
        initial: Duration,
        /// Growth per consecutive open (≥ 1.0).
        multiplier: f64,
        /// The cap.
        max: Duration,
        /// Random spread, 0.0 for none.
        jitter: f64,
    },
}

impl WaitInterval {
    /// The wait after the `opens`-th consecutive open, before jitter.
    pub fn base(&self, opens: u32) -> Duration {
        match *self {
            WaitInterval::Fixed(d) => d,
            WaitInterval::Exponential {
                initial,
                multiplier,
                max,
                ..
            } => {
                let exp = opens.saturating_sub(1).min(1_000) as i32;
                let secs = initial.as_secs_f64() * multiplier.powi(exp);
                if secs.is_finite() {
                    Duration::from_secs_f64(secs.min(max.as_secs_f64()))
                } else {
                    max
                }
            }
        }
    }

    pub(crate) fn jitter(&self) -> f64 {
        match *self {
            WaitInterval::Fixed(_) => 0.0,
            WaitInterval::Exponential { jitter, .. } => jitter,
        }
    }
}

/// What a call's outcome counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A success.
    Success,
    /// A failure.
    Failure,
    /// Neither: not recorded; in half-open the trial permit is given back.
    Ignored,
}

type ErrorPredicate = Arc<dyn Fn(&(dyn StdError + 'static)) -> bool + Send + Sync>;

/// A breaker's settings. Build with [`CircuitBreakerConfig::builder`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `failure_rate_threshold` | 50 % | open when the failure rate reaches it |
/// | `slow_call_rate_threshold` | 100 % | open when the slow-call rate reaches it |
/// | `slow_call_duration` | 1 s | a call at least this long is slow (success or not); detection can be switched off |
/// | `sliding_window` | last 100 calls | the calls the rates are computed over |
/// | `minimum_number_of_calls` | 10 | below it, rates read "not enough calls" |
/// | `wait_in_open` | fixed 60 s | open → half-open wait, may grow per consecutive open |
/// | `automatic_transition` | false | move to half-open by timer instead of on the next call |
/// | `permitted_calls_in_half_open` | 3 | trial calls; the decision waits for all of them |
/// | `max_wait_in_half_open` | none | back to open if the trials take longer |
/// | `trip_mode` | `Rate` | or the origin design's `Consecutive` counts |
/// | `record_error` | every error | which errors count as failures |
/// | `ignore_error` | none | which errors count as neither success nor failure |
#[derive(Clone)]
pub struct CircuitBreakerConfig {
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) sliding_window: SlidingWindow,
    pub(crate) minimum_number_of_calls: u32,
    pub(crate) wait_in_open: WaitInterval,
    pub(crate) automatic_transition: bool,
    pub(crate) permitted_calls_in_half_open: u32,
    pub(crate) max_wait_in_half_open: Option<Duration>,
    pub(crate) trip_mode: TripMode,
    pub(crate) record_error: Option<ErrorPredicate>,
    pub(crate) ignore_error: Option<ErrorPredicate>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Some(Duration::from_secs(1)),
            sliding_window: SlidingWindow::CountBased(100),
            minimum_number_of_calls: 10,
            wait_in_open: WaitInterval::Fixed(Duration::from_secs(60)),
            automatic_transition: false,
            permitted_calls_in_half_open: 3,
            max_wait_in_half_open: None,
            trip_mode: TripMode::Rate,
            record_error: None,
            ignore_error: None,
        }
    }
}

impl fmt::Debug for CircuitBreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerConfig")
            .field("failure_rate_threshold", &self.failure_rate_threshold)
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .field("slow_call_duration", &self.slow_call_duration)
            .field("sliding_window", &self.sliding_window)
            .field("minimum_number_of_calls", &self.minimum_number_of_calls)
            .field("wait_in_open", &self.wait_in_open)
            .field("automatic_transition", &self.automatic_transition)
            .field(
                "permitted_calls_in_half_open",
                &self.permitted_calls_in_half_open,
            )
            .field("max_wait_in_half_open", &self.max_wait_in_half_open)
            .field("trip_mode", &self.trip_mode)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CircuitBreakerConfigBuilder {
        CircuitBreakerConfigBuilder(CircuitBreakerConfig::default())
    }

    /// Classifies an error by the predicates: ignored, failure, or (when `record_error`
    /// rejects it) success.
    pub fn classify_error(&self, error: &(dyn StdError + 'static)) -> Outcome {
        if self.ignore_error.as_ref().is_some_and(|p| p(error)) {
            Outcome::Ignored
        } else if self.record_error.as_ref().is_none_or(|p| p(error)) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The window size as a number of calls (count-based) or seconds (time-based).
    pub fn sliding_window(&self) -> SlidingWindow {
        self.sliding_window
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let pct = |v: f64| v > 0.0 && v <= 100.0;
        if !pct(self.failure_rate_threshold) {
            return Err(ConfigError::new(
                "failure_rate_threshold",
                "must be in (0, 100]",
            ));
        }
        if !pct(self.slow_call_rate_threshold) {
            return Err(ConfigError::new(
                "slow_call_rate_threshold",
                "must be in (0, 100]",
            ));
        }
        match self.sliding_window {
            SlidingWindow::CountBased(0) | SlidingWindow::TimeBased(0) => {
                return Err(ConfigError::new("sliding_window", "must be at least 1"));
            }
            SlidingWindow::CountBased(n) if n > 1 << 20 => {
                return Err(ConfigError::new(
                    "sliding_window",
                    "at most 1,048,576 calls",
                ));
            }
            SlidingWindow::TimeBased(n) if n > 3600 => {
                return Err(ConfigError::new("sliding_window", "at most 3600 seconds"));
            }
            _ => {}
        }
        if self.minimum_number_of_calls == 0 {
            return Err(ConfigError::new(
                "minimum_number_of_calls",
                "must be at least 1",
            ));
        }
        if self.permitted_calls_in_half_open == 0 || self.permitted_calls_in_half_open > 4095 {
            return Err(ConfigError::new(
                "permitted_calls_in_half_open",
                "must be in 1..=4095",
            ));
        }
        if let WaitInterval::Exponential {
            multiplier,
            max,
            initial,
            jitter,
        } = self.wait_in_open
        {
            if !(multiplier >= 1.0 && multiplier.is_finite()) {
                return Err(ConfigError::new(
                    "wait_in_open",
                    "multiplier must be >= 1.0",
                ));
            }
            if max < initial {
                return Err(ConfigError::new(
                    "wait_in_open",
                    "max must not be below initial",
                ));
            }
            if !(0.0..=1.0).contains(&jitter) {
                return Err(ConfigError::new("wait_in_open", "jitter must be in [0, 1]"));
            }
        }
        if let TripMode::Consecutive {
            failure_threshold,
            success_threshold,
        } = self.trip_mode
        {
            if failure_threshold == 0 || success_threshold == 0 {
                return Err(ConfigError::new(
                    "trip_mode",
                    "thresholds must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

/// Builds a validated [`CircuitBreakerConfig`].
#[derive(Clone, Debug)]
pub struct CircuitBreakerConfigBuilder(CircuitBreakerConfig);

impl CircuitBreakerConfigBuilder {
    /// Failure rate (percent, in (0, 100]) at which the breaker opens.
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.0.failure_rate_threshold = percent;
        self
    }

    /// Slow-call rate (percent, in (0, 100]) at which the breaker opens.
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.0.slow_call_rate_threshold = percent;
        self
    }

    /// A call taking at least this long is slow.
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.0.slow_call_duration = Some(d);
        self
    }

    /// Switches slow-call detection off: calls are not timed (saves two clock reads
    /// per call) and never count as slow.
    pub fn without_slow_call_detection(mut self) -> Self {
        self.0.slow_call_duration = None;
        self
    }

    /// The sliding window.
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.0.sliding_window = window;
        self
    }

    /// Calls needed in the window before any rate is computed.
    pub fn minimum_number_of_calls(mut self, n: u32) -> Self {
        self.0.minimum_number_of_calls = n;
        self
    }

    /// A fixed open → half-open wait.
    pub fn wait_duration_in_open(mut self, d: Duration) -> Self {
        self.0.wait_in_open = WaitInterval::Fixed(d);
        self
    }

    /// A wait that depends on the number of consecutive opens.
    pub fn wait_interval_in_open(mut self, interval: WaitInterval) -> Self {
        self.0.wait_in_open = interval;
        self
    }

    /// Move to half-open by a timer (needs a tokio runtime) instead of on the next call.
    pub fn automatic_transition(mut self, on: bool) -> Self {
        self.0.automatic_transition = on;
        self
    }

    /// Trial calls admitted in half-open.
    pub fn permitted_calls_in_half_open(mut self, n: u32) -> Self {
        self.0.permitted_calls_in_half_open = n;
        self
    }

    /// Back to open when the trial calls have not all completed in time.
    pub fn max_wait_in_half_open(mut self, d: Duration) -> Self {
        self.0.max_wait_in_half_open = Some(d);
        self
    }

    /// The origin design's consecutive-count mode.
    pub fn consecutive(mut self, failure_threshold: u32, success_threshold: u32) -> Self {
        self.0.trip_mode = TripMode::Consecutive {
            failure_threshold,
            success_threshold,
        };
        self
    }

    /// Only errors for which `predicate` is true count as failures (others as successes).
    pub fn record_error(
        mut self,
        predicate: impl Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.record_error = Some(Arc::new(predicate));
        self
    }

    /// Errors for which `predicate` is true count as neither success nor failure.
    pub fn ignore_error(
        mut self,
        predicate: impl Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.ignore_error = Some(Arc::new(predicate));
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// `ConfigError` naming the first setting out of range.
    pub fn build(self) -> Result<CircuitBreakerConfig, ConfigError> {
        self.0.validate()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let e = CircuitBreakerConfig::builder()
            .failure_rate_threshold(0.0)
            .build();
        assert_eq!(e.err().map(|e| e.setting), Some("failure_rate_threshold"));
        let e = CircuitBreakerConfig::builder()
            .sliding_window(SlidingWindow::CountBased(0))
            .build();
        assert_eq!(e.err().map(|e| e.setting), Some("sliding_window"));
        let e = CircuitBreakerConfig::builder()
            .permitted_calls_in_half_open(0)
            .build();
        assert_eq!(
            e.err().map(|e| e.setting),
            Some("permitted_calls_in_half_open")
        );
        assert!(CircuitBreakerConfig::builder().build().is_ok());
    }

    #[test]
    fn exponential_wait_grows_to_its_cap() {
        let w = WaitInterval::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(5),
            jitter: 0.0,
        };
        let got: Vec<u64> = (1..=5).map(|n| w.base(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 5]);
    }
}
