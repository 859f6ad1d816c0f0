//! `CircuitState`: where a breaker is in its life.

use serde::{Deserialize, Serialize};

/// A breaker's state.
///
/// ```text
///            failure or slow-call rate ≥ threshold
///   Closed ──────────────────────────────────────▶ Open
///     ▲                                             │ wait duration elapsed
///     │ all trial calls done, rates below           ▼ (on the next call, or by timer)
///     └──────────────────────────────────────── HalfOpen ──▶ Open
///                                                  trial rates ≥ threshold,
///                                                  or max_wait_in_half_open passed
///
///   ForcedOpen, Disabled, MetricsOnly: entered and left only by hand
///   (force_open / disable / metrics_only, then reset or force_close).
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CircuitState {
    /// Calls flow; outcomes are recorded in the sliding window.
    Closed,
    /// Calls are refused until the wait duration has passed.
    Open,
    /// A fixed number of trial calls decide between Closed and Open.
    HalfOpen,
    /// Opened by hand (the origin design's manual open): refuses every call until reset.
    ForcedOpen,
    /// Always permits and records nothing.
    Disabled,
    /// Always permits; records and publishes metrics, never opens.
    MetricsOnly,
}

impl CircuitState {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
            CircuitState::ForcedOpen => 3,
            CircuitState::Disabled => 4,
            CircuitState::MetricsOnly => 5,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            3 => CircuitState::ForcedOpen,
            4 => CircuitState::Disabled,
            _ => CircuitState::MetricsOnly,
        }
    }

    /// True for the states that let calls through without condition.
    pub fn permits_all(self) -> bool {
        matches!(
            self,
            CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly
        )
    }
}
