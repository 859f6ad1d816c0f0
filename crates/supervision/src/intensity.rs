//! Restart intensity: at most `max_failures` restarts within a sliding time window.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Counts restarts in a sliding window, OTP's `intensity` and `period`: more than
/// `max_failures` restarts within `window` means the supervisor gives up.
#[derive(Clone, Debug)]
pub(crate) struct IntensityWindow {
    max_failures: u32,
    window: Duration,
    restarts: VecDeque<Instant>,
}

impl IntensityWindow {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        IntensityWindow {
            max_failures,
            window,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now` and returns true when the limit is exceeded. Restarts
    /// older than `window` (strictly: at or before `now - window`) no longer count.
    pub(crate) fn record(&mut self, now: Instant) -> bool {
        self.restarts.push_back(now);
        while let Some(&oldest) = self.restarts.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.len() > self.max_failures as usize
    }

    /// Restarts currently inside the window (as of the last record).
    pub(crate) fn count(&self) -> usize {
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: keep every restart; exceeded when more than `max` lie in
    /// `(now - window, now]`.
    fn model(times: &[u64], max: u32, window: u64) -> Vec<bool> {
        (0..times.len())
            .map(|i| {
                let now = times[i];
                let inside = times[..=i].iter().filter(|&&t| now - t < window).count();
                inside > max as usize
            })
            .collect()
    }

    proptest! {
        #[test]
        fn window_agrees_with_the_model(
            gaps in proptest::collection::vec(0u64..2_000, 1..60),
            max in 0u32..6,
            window in 1u64..5_000,
        ) {
            let base = Instant::now();
            let mut t = 0;
            let times: Vec<u64> = gaps.iter().map(|g| { t += g; t }).collect();
            let mut w = IntensityWindow::new(max, Duration::from_millis(window));
            let got: Vec<bool> = times
                .iter()
                .map(|&ms| w.record(base + Duration::from_millis(ms)))
                .collect();
            prop_assert_eq!(got, model(&times, max, window));
        }
    }

    #[test]
    fn zero_intensity_exceeds_on_first_restart() {
        let mut w = IntensityWindow::new(0, Duration::from_secs(1));
        assert!(w.record(Instant::now()));
    }

    #[test]
    fn restarts_spread_beyond_the_window_never_exceed() {
        let base = Instant::now();
        let mut w = IntensityWindow::new(1, Duration::from_secs(10));
        for i in 0..100 {
            assert!(!w.record(base + Duration::from_secs(10 * i)));
        }
        assert_eq!(w.count(), 1);
    }
}
