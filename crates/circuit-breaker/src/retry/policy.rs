//! `RetryPolicy`: when to retry, how often and how long to wait, validated once.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::backoff::Backoff;
use crate::error::ConfigError;

type ErrorPredicate = Arc<dyn Fn(&(dyn StdError + 'static)) -> bool + Send + Sync>;
type RetryAfterHook = Arc<dyn Fn(&(dyn StdError + 'static)) -> Option<Duration> + Send + Sync>;

/// A retry policy's settings. Build with [`RetryPolicy::builder`], or start from a preset
/// ([`RetryPolicy::network`], [`database`](RetryPolicy::database),
/// [`api`](RetryPolicy::api), [`service`](RetryPolicy::service)) and adjust it with
/// [`RetryPolicy::into_builder`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `max_attempts` | 3 | attempts in all, the first included (≥ 1; 1 = never retry) |
/// | `max_elapsed` | none | no retry starts later than this after the first attempt began |
/// | `backoff` | full jitter, 100 ms × 2 up to 10 s | the wait before each retry, see [`Backoff`] |
/// | `jitter_factor` | none | shortens Fixed/Linear/Exponential waits by a random fraction ≤ it, in [0, 1] |
/// | `retry_on` | every error | which of the call's own errors are retried |
/// | `stop_on` | none | which of the call's own errors are never retried (wins over `retry_on`) |
/// | `retry_after` | none | reads a server's hint from an error; the wait becomes max(hint, backoff) |
/// | `seed` | random | seed of the policy's jitter source, for reproducible tests |
///
/// The predicates and the hook see the call's own error (`ResilienceError::Inner`) as a
/// `&dyn Error`; downcast it to your type. Cloning a policy is cheap (the predicates are
/// shared).
#[derive(Clone)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) backoff: Backoff,
    pub(crate) jitter_factor: Option<f64>,
    pub(crate) retry_on: Option<ErrorPredicate>,
    pub(crate) stop_on: Option<ErrorPredicate>,
    pub(crate) retry_after: Option<RetryAfterHook>,
    pub(crate) seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            max_elapsed: None,
            backoff: Backoff::ExponentialFullJitter {
                initial: Duration::from_millis(100),
                multiplier: 2.0,
                max: Duration::from_secs(10),
            },
            jitter_factor: None,
            retry_on: None,
            stop_on: None,
            retry_after: None,
            seed: None,
        }
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("max_elapsed", &self.max_elapsed)
            .field("backoff", &self.backoff)
            .field("jitter_factor", &self.jitter_factor)
            .field("retry_on", &self.retry_on.is_some())
            .field("stop_on", &self.stop_on.is_some())
            .field("retry_after", &self.retry_after.is_some())
            .field("seed", &self.seed)
            .finish()
    }
}

impl RetryPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder(RetryPolicy::default())
    }

    /// A builder starting from this policy, to adjust a preset.
    pub fn into_builder(self) -> RetryPolicyBuilder {
        RetryPolicyBuilder(self)
    }

    /// The origin design's network preset, for connection failures and resets that clear
    /// in moments: 5 attempts, decorrelated jitter from 100 ms up to 5 s, no retry
    /// started after 30 s.
    pub fn network() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Some(Duration::from_secs(30)),
            backoff: Backoff::DecorrelatedJitter {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
            ..RetryPolicy::default()
        }
    }

    /// The origin design's database preset, for failovers and lock timeouts: 3 attempts,
    /// exponential 200 ms × 2 up to 2 s with jitter 0.5, no retry started after 10 s.
    /// Few attempts, since a retried write must be idempotent and a struggling database
    /// should not see triple load.
    pub fn database() -> Self {
        RetryPolicy {
            max_attempts: 3,
            max_elapsed: Some(Duration::from_secs(10)),
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(200),
                multiplier: 2.0,
                max: Duration::from_secs(2),
            },
            jitter_factor: Some(0.5),
            ..RetryPolicy::default()
        }
    }

    /// The origin design's API preset, for remote HTTP APIs with rate limits: 4 attempts,
    /// full jitter from 500 ms × 2 up to 20 s, no retry started after 60 s. Add a
    /// `retry_after` hook reading your error's `Retry-After` to honour the server.
    pub fn api() -> Self {
        RetryPolicy {
            max_attempts: 4,
            max_elapsed: Some(Duration::from_secs(60)),
            backoff: Backoff::ExponentialFullJitter {
                initial: Duration::from_millis(500),
                multiplier: 2.0,
                max: Duration::from_secs(20),
            },
            ..RetryPolicy::default()
        }
    }

    /// The origin design's service preset, for calls between internal services whose
    /// callers have their own deadlines: 3 attempts, exponential 50 ms × 2 up to 1 s with
    /// jitter 0.5, no retry started after 5 s.
    pub fn service() -> Self {
        RetryPolicy {
            max_attempts: 3,
            max_elapsed: Some(Duration::from_secs(5)),
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(50),
                multiplier: 2.0,
                max: Duration::from_secs(1),
            },
            jitter_factor: Some(0.5),
            ..RetryPolicy::default()
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time after the first attempt's start past which no retry starts.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The wait schedule.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter factor applied to Fixed, Linear and Exponential waits.
    pub fn jitter_factor(&self) -> Option<f64> {
        self.jitter_factor
    }

    /// True when the call's own `error` may be retried: `stop_on` (if set) is false for it
    /// and `retry_on` (if set) is true.
    pub fn is_retryable(&self, error: &(dyn StdError + 'static)) -> bool {
        !self.stop_on.as_ref().is_some_and(|p| p(error))
            && self.retry_on.as_ref().is_none_or(|p| p(error))
    }

    /// The server's retry-after hint carried by `error`, if a hook is set and finds one.
    pub fn retry_after_hint(&self, error: &(dyn StdError + 'static)) -> Option<Duration> {
        self.retry_after.as_ref().and_then(|hook| hook(error))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", "must be at least 1"));
        }
        if self.max_elapsed.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new("max_elapsed", "must be positive"));
        }
        self.backoff.validate()?;
        if let Some(f) = self.jitter_factor {
            if !(0.0..=1.0).contains(&f) {
                return Err(ConfigError::new("jitter_factor", "must be in [0, 1]"));
            }
            if self.backoff.is_randomized() {
                return Err(ConfigError::new(
                    "jitter_factor",
                    "applies only to Fixed, Linear and Exponential backoff",
                ));
            }
        }
        Ok(())
    }
}

/// Builds a validated [`RetryPolicy`].
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder(RetryPolicy);

impl RetryPolicyBuilder {
    /// Attempts in all, the first included (≥ 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.0.max_attempts = n;
        self
    }

    /// No retry starts later than `d` after the first attempt began (> 0).
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.0.max_elapsed = Some(d);
        self
    }

    /// The wait schedule.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.0.backoff = backoff;
        self
    }

    /// Shortens each Fixed, Linear or Exponential wait by a random fraction of at most
    /// `factor` (in [0, 1]).
    pub fn jitter_factor(mut self, factor: f64) -> Self {
        self.0.jitter_factor = Some(factor);
        self
    }

    /// Only the call's errors for which `predicate` is true are retried.
    pub fn retry_on(
        mut self,
        predicate: impl Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.retry_on = Some(Arc::new(predicate));
        self
    }

    /// The call's errors for which `predicate` is true are never retried, whatever
    /// `retry_on` says.
    pub fn stop_on(
        mut self,
        predicate: impl Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.stop_on = Some(Arc::new(predicate));
        self
    }

    /// Reads a server's retry-after hint from the call's error; the wait before the next
    /// attempt becomes the longer of the hint and the backoff.
    pub fn retry_after(
        mut self,
        hook: impl Fn(&(dyn StdError + 'static)) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.0.retry_after = Some(Arc::new(hook));
        self
    }

    /// Seeds the jitter source, so waits repeat from run to run (tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = Some(seed);
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// `ConfigError` naming the first setting out of range.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        self.0.validate()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Status(u16);

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let setting = |b: RetryPolicyBuilder| b.build().err().map(|e| e.setting);
        assert_eq!(
            setting(RetryPolicy::builder().max_attempts(0)),
            Some("max_attempts")
        );
        assert_eq!(
            setting(RetryPolicy::builder().max_elapsed(Duration::ZERO)),
            Some("max_elapsed")
        );
        assert_eq!(
            setting(RetryPolicy::builder().jitter_factor(1.5)),
            Some("jitter_factor")
        );
        let fixed = RetryPolicy::builder().backoff(Backoff::Fixed(Duration::from_millis(1)));
        assert_eq!(
            setting(fixed.clone().jitter_factor(-0.1)),
            Some("jitter_factor")
        );
        assert!(fixed.jitter_factor(1.0).build().is_ok());
        assert!(RetryPolicy::builder().build().is_ok());
    }

    #[test]
    fn jitter_factor_is_refused_on_already_random_backoff() {
        let e = RetryPolicy::builder().jitter_factor(0.2).build();
        assert_eq!(e.err().map(|e| e.setting), Some("jitter_factor"));
    }

    #[test]
    fn presets_are_valid_and_bounded() {
        for p in [
            RetryPolicy::network(),
            RetryPolicy::database(),
            RetryPolicy::api(),
            RetryPolicy::service(),
        ] {
            assert!(p.clone().into_builder().build().is_ok(), "{p:?}");
            assert!(p.max_attempts() > 1 && p.max_elapsed().is_some(), "{p:?}");
        }
    }

    #[test]
    fn stop_on_wins_over_retry_on() {
        let p = RetryPolicy::builder()
            .retry_on(|e| e.downcast_ref::<Status>().is_some_and(|s| s.0 >= 500))
            .stop_on(|e| e.downcast_ref::<Status>().is_some_and(|s| s.0 == 501))
            .build();
        let Ok(p) = p else { panic!("valid policy") };
        assert!(p.is_retryable(&Status(503)));
        assert!(!p.is_retryable(&Status(501)));
        assert!(!p.is_retryable(&Status(404)));
    }
}
