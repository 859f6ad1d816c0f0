//! `Backoff`: how long to wait before each retry, and the tiny random source behind the
//! jittered kinds.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ConfigError;

/// The schedule of waits between attempts. `retry` below is the retry's number: 1 for the
/// wait after the first attempt, 2 after the second, and so on.
///
/// | kind | wait before retry `n` | source |
/// |---|---|---|
/// | `Fixed(d)` | `d` | |
/// | `Linear { initial, step, max }` | `min(max, initial + step × (n − 1))` | |
/// | `Exponential { initial, multiplier, max }` | `min(max, initial × multiplier^(n − 1))` | |
/// | `ExponentialFullJitter { initial, multiplier, max }` | uniform in `[0, min(max, initial × multiplier^(n − 1))]` | AWS "full jitter" |
/// | `DecorrelatedJitter { initial, max }` | `min(max, uniform in [initial, 3 × previous wait])`, the first previous wait being `initial` | AWS "decorrelated jitter" |
///
/// The policy's optional `jitter_factor` `f` (Fixed, Linear and Exponential only) then
/// shortens the wait by a random fraction of at most `f`: the wait is uniform in
/// `(w × (1 − f), w]`. Jitter only ever shortens, so `max` (or `d`) is a hard bound;
/// `f = 0.5` is AWS's "equal jitter". Every kind is capped: no wait ever exceeds `max`
/// (for `Fixed`, `d`).
///
/// Computing a wait is a few float operations: no allocation, no lock.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Backoff {
    /// The same wait every time.
    Fixed(Duration),
    /// A wait growing by `step` each retry, up to `max`.
    Linear {
        /// The first wait.
        initial: Duration,
        /// Added per retry.
        step: Duration,
        /// The cap (≥ `initial`).
        max: Duration,
    },
    /// A wait multiplied by `multiplier` each retry, up to `max`.
    Exponential {
        /// The first wait.
        initial: Duration,
        /// Growth per retry (≥ 1.0).
        multiplier: f64,
        /// The cap (≥ `initial`).
        max: Duration,
    },
    /// AWS full jitter: uniform between zero and the capped exponential wait.
    ExponentialFullJitter {
        /// The first exponential envelope.
        initial: Duration,
        /// Growth of the envelope per retry (≥ 1.0).
        multiplier: f64,
        /// The cap (≥ `initial`).
        max: Duration,
    },
    /// AWS decorrelated jitter: each wait is uniform between `initial` and three times the
    /// previous one, capped at `max`.
    DecorrelatedJitter {
        /// The smallest wait, and the first "previous" one (> 0).
        initial: Duration,
        /// The cap (≥ `initial`).
        max: Duration,
    },
}

impl Backoff {
    /// The largest wait this schedule can produce, jitter included.
    pub fn cap(&self) -> Duration {
        match *self {
            Backoff::Fixed(d) => d,
            Backoff::Linear { max, .. }
            | Backoff::Exponential { max, .. }
            | Backoff::ExponentialFullJitter { max, .. }
            | Backoff::DecorrelatedJitter { max, .. } => max,
        }
    }

    /// The first "previous wait" a run starts from (only `DecorrelatedJitter` reads it).
    pub(crate) fn first_previous(&self) -> Duration {
        match *self {
            Backoff::DecorrelatedJitter { initial, .. } => initial,
            _ => Duration::ZERO,
        }
    }

    /// True for the kinds that are random by themselves and take no `jitter_factor`.
    pub(crate) fn is_randomized(&self) -> bool {
        matches!(
            self,
            Backoff::ExponentialFullJitter { .. } | Backoff::DecorrelatedJitter { .. }
        )
    }

    /// The wait before retry number `retry` (1-based), given the previous wait (for
    /// decorrelated jitter), the jitter factor (0 for none) and a uniform draw `unit` in
    /// `[0, 1)`. Never above [`Backoff::cap`], never panics, whatever the inputs.
    pub(crate) fn delay(&self, retry: u32, previous: Duration, jitter: f64, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let steps = retry.saturating_sub(1);
        let cap = self.cap();
        let wait = match *self {
            Backoff::Fixed(d) => d,
            Backoff::Linear { initial, step, max } => {
                initial.saturating_add(step.saturating_mul(steps)).min(max)
            }
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => exponential(initial, multiplier, steps, max),
            Backoff::ExponentialFullJitter {
                initial,
                multiplier,
                max,
            } => scale(exponential(initial, multiplier, steps, max), unit),
            Backoff::DecorrelatedJitter { initial, max } => {
                let upper = previous.max(initial).saturating_mul(3);
                initial
                    .saturating_add(scale(upper.saturating_sub(initial), unit))
                    .min(max)
            }
        };
        let wait = if jitter > 0.0 && !self.is_randomized() {
            scale(wait, 1.0 - jitter.min(1.0) * unit)
        } else {
            wait
        };
        wait.min(cap)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let growth_ok = |m: f64| m.is_finite() && m >= 1.0;
        match *self {
            Backoff::Fixed(_) => Ok(()),
            Backoff::Linear { initial, max, .. } if max < initial => {
                Err(ConfigError::new("backoff", "max must not be below initial"))
            }
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            }
            | Backoff::ExponentialFullJitter {
                initial,
                multiplier,
                max,
            } => {
                if !growth_ok(multiplier) {
                    Err(ConfigError::new(
                        "backoff",
                        "multiplier must be a finite number >= 1.0",
                    ))
                } else if max < initial {
                    Err(ConfigError::new("backoff", "max must not be below initial"))
                } else {
                    Ok(())
                }
            }
            Backoff::DecorrelatedJitter { initial, max } => {
                if initial.is_zero() {
                    Err(ConfigError::new(
                        "backoff",
                        "decorrelated jitter needs initial > 0",
                    ))
                } else if max < initial {
                    Err(ConfigError::new("backoff", "max must not be below initial"))
                } else {
                    Ok(())
                }
            }
            Backoff::Linear { .. } => Ok(()),
        }
    }
}

/// `min(max, initial × multiplier^steps)`, saturating to `max` on overflow.
fn exponential(initial: Duration, multiplier: f64, steps: u32, max: Duration) -> Duration {
    // Past 2^10 steps any multiplier ≥ 2 has long reached any cap; powi needs an i32.
    let secs = initial.as_secs_f64() * multiplier.powi(steps.min(1 << 10) as i32);
    Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
}

/// `d × factor` for a factor in `[0, 1]`, never above `d`.
fn scale(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).map_or(Duration::ZERO, |s| s.min(d))
}

/// SplitMix64 (Steele, Lea, Flood 2014) over one atomic word: a shared, lock-free source
/// of uniform draws for jitter. Not for cryptography.
pub(crate) struct SplitMix64(AtomicU64);

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl SplitMix64 {
    /// Seeded with `seed`, or from the process's hash randomness when `None`.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(GAMMA);
            h.finish()
        });
        SplitMix64(AtomicU64::new(seed))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)` (53 random bits).
    pub(crate) fn next_unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn waits(b: Backoff, jitter: f64, unit: f64) -> Vec<u128> {
        (1..=6)
            .map(|n| b.delay(n, Duration::ZERO, jitter, unit).as_millis())
            .collect()
    }

    #[test]
    fn exponential_backoff_grows_to_its_cap() {
        let b = Backoff::Exponential {
            initial: 100 * MS,
            multiplier: 2.0,
            max: 1000 * MS,
        };
        assert_eq!(waits(b, 0.0, 0.5), vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX, Duration::ZERO, 0.0, 0.5), 1000 * MS);
    }

    #[test]
    fn linear_backoff_adds_its_step_up_to_its_cap() {
        let b = Backoff::Linear {
            initial: 100 * MS,
            step: 50 * MS,
            max: 250 * MS,
        };
        assert_eq!(waits(b, 0.0, 0.5), vec![100, 150, 200, 250, 250, 250]);
    }

    #[test]
    fn fixed_backoff_waits_the_same_every_time() {
        assert_eq!(waits(Backoff::Fixed(70 * MS), 0.0, 0.9), vec![70; 6]);
    }

    #[test]
    fn jitter_only_shortens_a_wait_by_at_most_its_factor() {
        let b = Backoff::Fixed(1000 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, 0.5, 0.0), 1000 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, 0.5, 0.5), 750 * MS);
        assert!(b.delay(1, Duration::ZERO, 0.5, 0.999_999) > 500 * MS);
    }

    #[test]
    fn full_jitter_is_uniform_below_the_exponential_envelope() {
        let b = Backoff::ExponentialFullJitter {
            initial: 100 * MS,
            multiplier: 2.0,
            max: 10 * 1000 * MS,
        };
        assert_eq!(b.delay(3, Duration::ZERO, 0.0, 0.0), Duration::ZERO);
        assert_eq!(b.delay(3, Duration::ZERO, 0.0, 0.5), 200 * MS);
    }

    #[test]
    fn decorrelated_jitter_draws_between_initial_and_three_times_the_previous_wait() {
        let b = Backoff::DecorrelatedJitter {
            initial: 100 * MS,
            max: 1000 * MS,
        };
        assert_eq!(b.delay(1, b.first_previous(), 0.0, 0.0), 100 * MS);
        assert_eq!(b.delay(1, b.first_previous(), 0.0, 0.5), 200 * MS);
        assert_eq!(b.delay(2, 200 * MS, 0.0, 0.5), 350 * MS);
        assert_eq!(b.delay(9, 900 * MS, 0.0, 0.9), 1000 * MS);
    }

    #[test]
    fn jittered_kinds_ignore_the_jitter_factor() {
        let b = Backoff::DecorrelatedJitter {
            initial: 100 * MS,
            max: 1000 * MS,
        };
        assert_eq!(
            b.delay(1, 100 * MS, 1.0, 0.5),
            b.delay(1, 100 * MS, 0.0, 0.5)
        );
    }

    #[test]
    fn invalid_schedules_are_refused() {
        let bad = [
            Backoff::Linear {
                initial: 2 * MS,
                step: MS,
                max: MS,
            },
            Backoff::Exponential {
                initial: MS,
                multiplier: 0.5,
                max: MS,
            },
            Backoff::ExponentialFullJitter {
                initial: MS,
                multiplier: f64::NAN,
                max: MS,
            },
            Backoff::DecorrelatedJitter {
                initial: Duration::ZERO,
                max: MS,
            },
        ];
        for b in bad {
            assert_eq!(
                b.validate().err().map(|e| e.setting),
                Some("backoff"),
                "{b:?}"
            );
        }
        assert!(Backoff::Fixed(Duration::ZERO).validate().is_ok());
    }

    #[test]
    fn same_seed_gives_the_same_draws() {
        let (a, b) = (SplitMix64::new(Some(7)), SplitMix64::new(Some(7)));
        let xs: Vec<f64> = (0..8).map(|_| a.next_unit()).collect();
        let ys: Vec<f64> = (0..8).map(|_| b.next_unit()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }

    fn any_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..10_000_000_000).prop_map(Duration::from_nanos),
            any::<u64>().prop_map(Duration::from_secs),
        ]
    }

    /// `(initial, max)` with `initial <= max`.
    fn initial_and_max() -> impl Strategy<Value = (Duration, Duration)> {
        (any_duration(), any_duration()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
    }

    /// A valid schedule of any kind.
    fn any_backoff() -> impl Strategy<Value = Backoff> {
        prop_oneof![
            any_duration().prop_map(Backoff::Fixed),
            (initial_and_max(), any_duration())
                .prop_map(|((initial, max), step)| Backoff::Linear { initial, step, max }),
            (initial_and_max(), 1.0f64..100.0).prop_map(|((initial, max), multiplier)| {
                Backoff::Exponential {
                    initial,
                    multiplier,
                    max,
                }
            }),
            (initial_and_max(), 1.0f64..100.0).prop_map(|((initial, max), multiplier)| {
                Backoff::ExponentialFullJitter {
                    initial,
                    multiplier,
                    max,
                }
            }),
            initial_and_max().prop_map(|(initial, max)| Backoff::DecorrelatedJitter {
                initial: initial.max(Duration::from_nanos(1)),
                max: max.max(Duration::from_nanos(1)),
            }),
        ]
    }

    proptest! {
        #[test]
        fn no_backoff_wait_exceeds_its_cap_or_drops_below_its_floor(
            b in any_backoff(),
            retry in any::<u32>(),
            previous in any_duration(),
            jitter in 0.0f64..=1.0,
            unit in 0.0f64..1.0,
        ) {
            prop_assert!(b.validate().is_ok());
            let previous = previous.min(b.cap());
            let wait = b.delay(retry, previous, jitter, unit);
            prop_assert!(wait <= b.cap());
            let floor = match b {
                // Jitter scales by 1 − jitter × unit, which is never below 1 − jitter.
                Backoff::Fixed(d) => scale(d, 1.0 - jitter),
                Backoff::DecorrelatedJitter { initial, .. } => initial,
                _ => Duration::ZERO,
            };
            prop_assert!(wait >= floor, "{wait:?} < {floor:?}");
        }
    }
}
