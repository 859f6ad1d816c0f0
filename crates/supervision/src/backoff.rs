//! Backoff between restarts: exponential with a cap, random jitter, and a reset once the
//! child has run stably.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Delay before each restart of a child.
///
/// The n-th consecutive restart (n from 0) waits
/// `min(restart_delay × backoff_multiplier^n, max_restart_delay)`, then scaled by a
/// random factor in `[1 − jitter, 1 + jitter]` (and capped again). After the child has
/// run for `reset_after` without failing, n starts again from 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The first delay. Default 100 ms (the origin design's default).
    pub restart_delay: Duration,
    /// Growth per consecutive restart, at least 1.0. Default 2.0.
    pub backoff_multiplier: f64,
    /// The cap. Default 30 s.
    pub max_restart_delay: Duration,
    /// Random spread, between 0.0 and 1.0. Default 0.1 (±10 %).
    pub jitter: f64,
    /// Running this long without a failure resets the sequence. Default 60 s.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            restart_delay: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_restart_delay: Duration::from_secs(30),
            jitter: 0.1,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// No delay at all: restart at once.
    pub fn none() -> Self {
        Backoff {
            restart_delay: Duration::ZERO,
            backoff_multiplier: 1.0,
            max_restart_delay: Duration::ZERO,
            jitter: 0.0,
            reset_after: Duration::from_secs(60),
        }
    }

    /// The origin design's `calculate_restart_delay`, without jitter: the delay of the
    /// `consecutive`-th restart (0-based).
    pub fn base_delay(&self, consecutive: u32) -> Duration {
        let factor = self.backoff_multiplier.powi(consecutive.min(1_000) as i32);
        let secs = self.restart_delay.as_secs_f64() * factor;
        let cap = self.max_restart_delay.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(cap) } else { cap })
    }

    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if !(self.backoff_multiplier >= 1.0 && self.backoff_multiplier.is_finite()) {
            return Err("backoff_multiplier must be a finite number >= 1.0");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("jitter must be between 0.0 and 1.0");
        }
        if self.max_restart_delay < self.restart_delay {
            return Err("max_restart_delay must not be below restart_delay");
        }
        Ok(())
    }
}

/// One child's position in its backoff sequence.
#[derive(Clone, Debug, Default)]
pub(crate) struct BackoffState {
    consecutive: u32,
    /// When the current instance was due to start (restart time + delay).
    running_since: Option<Instant>,
    pub(crate) current: Duration,
}

impl BackoffState {
    /// The delay for a restart ordered at `now`, advancing the sequence.
    pub(crate) fn next_delay(
        &mut self,
        now: Instant,
        cfg: &Backoff,
        rng: &mut SplitMix64,
    ) -> Duration {
        if let Some(since) = self.running_since {
            if now.saturating_duration_since(since) >= cfg.reset_after {
                self.consecutive = 0;
            }
        }
        let base = cfg.base_delay(self.consecutive);
        let spread = if cfg.jitter > 0.0 {
            1.0 + cfg.jitter * (2.0 * rng.next_f64() - 1.0)
        } else {
            1.0
        };
        let delay = Duration::from_secs_f64((base.as_secs_f64() * spread).max(0.0))
            .min(cfg.max_restart_delay);
        self.consecutive = self.consecutive.saturating_add(1);
        self.running_since = Some(now + delay);
        self.current = delay;
        delay
    }

    pub(crate) fn consecutive(&self) -> u32 {
        self.consecutive
    }
}

/// A tiny deterministic generator for jitter (SplitMix64): no dependency, seedable for
/// reproducible tests.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Backoff {
        Backoff {
            restart_delay: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_restart_delay: Duration::from_secs(1),
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_cap() {
        let (c, mut s, mut rng) = (cfg(), BackoffState::default(), SplitMix64::new(1));
        let now = Instant::now();
        let got: Vec<u128> = (0..6)
            .map(|_| s.next_delay(now, &c, &mut rng).as_millis())
            .collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn running_stably_resets_the_sequence() {
        let (c, mut s, mut rng) = (cfg(), BackoffState::default(), SplitMix64::new(1));
        let t0 = Instant::now();
        s.next_delay(t0, &c, &mut rng);
        s.next_delay(t0, &c, &mut rng);
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            s.next_delay(later, &c, &mut rng),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let c = Backoff {
            jitter: 0.5,
            ..cfg()
        };
        let mut rng = SplitMix64::new(7);
        for _ in 0..1000 {
            let mut s = BackoffState::default();
            let d = s.next_delay(Instant::now(), &c, &mut rng).as_secs_f64();
            assert!((0.05..=0.15).contains(&d), "{d}");
        }
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(
            Backoff {
                backoff_multiplier: 0.5,
                ..cfg()
            }
            .validate()
            .is_err()
        );
        assert!(
            Backoff {
                jitter: 1.5,
                ..cfg()
            }
            .validate()
            .is_err()
        );
        assert!(
            Backoff {
                max_restart_delay: Duration::ZERO,
                ..cfg()
            }
            .validate()
            .is_err()
        );
        assert!(cfg().validate().is_ok());
    }
}
