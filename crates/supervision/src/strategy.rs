//! `SupervisionStrategy`: a supervisor's configuration, validated once.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::directive::Decider;
use crate::error::SupervisionError;

/// Which children restart together when one fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartStrategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// All children: stopped in reverse start order, restarted in start order.
    AllForOne,
    /// The failed child and every child started after it (they may depend on it).
    RestForOne,
}

impl RestartStrategy {
    /// Indices (start order) of the children restarted when child `failed` of `count`
    /// fails.
    pub fn affected(self, failed: usize, count: usize) -> std::ops::Range<usize> {
        match self {
            RestartStrategy::OneForOne => failed..failed + 1,
            RestartStrategy::AllForOne => 0..count,
            RestartStrategy::RestForOne => failed..count,
        }
    }
}

/// When a supervisor stops itself because significant children have ended (OTP 24+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AutoShutdown {
    /// Never: significant children are ordinary children.
    #[default]
    Never,
    /// When any significant child ends for good (is not restarted).
    AnySignificant,
    /// When every significant child has ended for good.
    AllSignificant,
}

/// A supervisor's configuration: the origin design's `SupervisionStrategy` (limits and
/// backoff) together with the restart strategy, decider and auto-shutdown.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `strategy` | `OneForOne` | which children restart together |
/// | `max_failures` | 3 | restarts allowed within the window, across all children |
/// | `within_time_window` | 60 s | the sliding window for `max_failures` |
/// | `backoff` | 100 ms ×2 up to 30 s, ±10 %, reset after 60 s | delay before restarts |
/// | `decider` | always `Restart` | directive per failure |
/// | `auto_shutdown` | `Never` | stop when significant children end |
///
/// More than `max_failures` restarts within the window make the supervisor stop all its
/// children and escalate (fail, for its own supervisor to decide).
#[derive(Clone, Debug)]
pub struct SupervisionStrategy {
    pub(crate) strategy: RestartStrategy,
    pub(crate) max_failures: u32,
    pub(crate) within_time_window: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) decider: Decider,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) seed: u64,
}

impl Default for SupervisionStrategy {
    fn default() -> Self {
        SupervisionStrategy {
            strategy: RestartStrategy::OneForOne,
            max_failures: 3,
            within_time_window: Duration::from_secs(60),
            backoff: Backoff::default(),
            decider: Decider::default(),
            auto_shutdown: AutoShutdown::Never,
            seed: 0x5EED_5AFE,
        }
    }
}

impl SupervisionStrategy {
    /// One-for-one with the defaults.
    pub fn one_for_one() -> Self {
        SupervisionStrategy::default()
    }

    /// All-for-one with the defaults.
    pub fn all_for_one() -> Self {
        SupervisionStrategy {
            strategy: RestartStrategy::AllForOne,
            ..Self::default()
        }
    }

    /// Rest-for-one with the defaults.
    pub fn rest_for_one() -> Self {
        SupervisionStrategy {
            strategy: RestartStrategy::RestForOne,
            ..Self::default()
        }
    }

    /// At most `max_failures` restarts within `window`.
    pub fn intensity(mut self, max_failures: u32, window: Duration) -> Self {
        self.max_failures = max_failures;
        self.within_time_window = window;
        self
    }

    /// The backoff between restarts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The decider choosing a directive per failure.
    pub fn decider(mut self, decider: Decider) -> Self {
        self.decider = decider;
        self
    }

    /// Auto-shutdown on significant children.
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// Seed for the jitter generator (for reproducible runs).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The restart strategy.
    pub fn restart_strategy(&self) -> RestartStrategy {
        self.strategy
    }

    pub(crate) fn validate(&self) -> Result<(), SupervisionError> {
        self.backoff
            .validate()
            .map_err(SupervisionError::InvalidConfig)?;
        if self.within_time_window.is_zero() {
            return Err(SupervisionError::InvalidConfig(
                "within_time_window must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affected_children_per_strategy() {
        assert_eq!(RestartStrategy::OneForOne.affected(1, 4), 1..2);
        assert_eq!(RestartStrategy::AllForOne.affected(1, 4), 0..4);
        assert_eq!(RestartStrategy::RestForOne.affected(1, 4), 1..4);
    }
}
