//! Sliding windows of call outcomes, lock-free: count-based (the last N calls) and
//! time-based (the last N seconds in one-second buckets).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::config::SlidingWindow;

/// Counts over the window at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) total: u64,
    pub(crate) failed: u64,
    pub(crate) slow: u64,
}

impl Counts {
    /// Failure rate in percent.
    pub(crate) fn failure_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.failed as f64 * 100.0 / self.total as f64
        }
    }

    /// Slow-call rate in percent.
    pub(crate) fn slow_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.slow as f64 * 100.0 / self.total as f64
        }
    }
}

pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::CountBased(n) => Window::Count(CountWindow::new(n as usize)),
            SlidingWindow::TimeBased(secs) => Window::Time(TimeWindow::new(secs as usize)),
        }
    }

    /// Records one outcome and returns the counts right after it, or `None` when the
    /// window's counts did not change (an outcome replaced by the same one).
    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool, now_nanos: u64) -> Option<Counts> {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => Some(w.record(failed, slow, now_nanos)),
        }
    }

    pub(crate) fn counts(&self, now_nanos: u64) -> Counts {
        match self {
            Window::Count(w) => w.counts(),
            Window::Time(w) => w.counts(now_nanos),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

// Three 21-bit fields in one word: total, failed, slow. A count window holds at most
// 2^20 calls, so no field overflows; updates are single `fetch_add`s of a signed delta
// (wrapping arithmetic keeps the packed sum exact while each field stays in range).
const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;

#[inline]
fn packed(slot: u8) -> u64 {
    let s = u64::from(slot);
    (s & 1) | (((s >> 1) & 1) << FIELD) | (((s >> 2) & 1) << (2 * FIELD))
}

#[inline]
fn unpack(word: u64) -> Counts {
    Counts {
        total: word & MASK,
        failed: (word >> FIELD) & MASK,
        slow: (word >> (2 * FIELD)) & MASK,
    }
}

/// The last `n` outcomes in a ring of one-byte slots (0 = empty; bit 0 recorded, bit 1
/// failed, bit 2 slow) and their running totals.
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// `slots.len()` as a divisor prepared for `fast_mod`.
    modulus: FastMod,
    /// The cursor, written by every call: alone on its cache line so that calls on other
    /// cores reading the fields above do not miss.
    next: CacheLine<AtomicU64>,
    totals: CacheLine<AtomicU64>,
}

/// Aligns a value to its own cache line (against false sharing).
#[repr(align(64))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `a % d` for a fixed `d` by multiplication (Lemire, Kaser & Kurz, "Faster remainder by
/// direct computation", 2019): exact for every `u64`, and several times cheaper than a
/// 64-bit division, which would otherwise be the costliest step of recording a call.
#[derive(Clone, Copy)]
struct FastMod {
    m: u128,
    d: u64,
}

impl FastMod {
    fn new(d: u64) -> Self {
        let d = d.max(1);
        FastMod {
            m: (u128::MAX / u128::from(d)).wrapping_add(1),
            d,
        }
    }

    #[inline]
    fn rem(self, a: u64) -> u64 {
        if self.d == 1 {
            return 0;
        }
        let low = self.m.wrapping_mul(u128::from(a));
        let bottom = (u128::from(low as u64) * u128::from(self.d)) >> 64;
        let top = (low >> 64) * u128::from(self.d);
        ((bottom + top) >> 64) as u64
    }
}

impl CountWindow {
    fn new(n: usize) -> Self {
        let n = n.max(1);
        CountWindow {
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
            modulus: FastMod::new(n as u64),
            next: CacheLine(AtomicU64::new(0)),
            totals: CacheLine(AtomicU64::new(0)),
        }
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool) -> Option<Counts> {
        let slot = 1 | (u8::from(failed) << 1) | (u8::from(slow) << 2);
        let i = self.modulus.rem(self.next.fetch_add(1, Ordering::Relaxed)) as usize;
        // Replacing an outcome by the same one changes nothing: the steady state (all
        // successes) writes only the cursor. Otherwise the exchange names exactly the value
        // replaced, so the totals always equal the sum of the slots, even when a stalled
        // writer and a lapping one meet on one slot.
        let mut old = self.slots[i].load(Ordering::Acquire);
        loop {
            if old == slot {
                return None;
            }
            match self.slots[i].compare_exchange_weak(
                old,
                slot,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(current) => old = current,
            }
        }
        let delta = packed(slot).wrapping_sub(packed(old));
        Some(unpack(
            self.totals
                .fetch_add(delta, Ordering::AcqRel)
                .wrapping_add(delta),
        ))
    }

    fn counts(&self) -> Counts {
        unpack(self.totals.load(Ordering::Acquire))
    }

    fn reset(&self) {
        for s in self.slots.iter() {
            s.store(0, Ordering::Relaxed);
        }
        self.next.store(0, Ordering::Relaxed);
        self.totals.store(0, Ordering::Release);
    }
}

struct Bucket {
    /// The second this bucket holds, plus one (0 = empty).
    epoch: AtomicU64,
    total: AtomicU64,
    /// failed (high 32 bits) and slow (low 32 bits).
    failed_slow: AtomicU64,
}

/// The calls of the last `n` seconds, one bucket per second, with running totals over
/// the live buckets so that reading the rates costs two loads.
///
/// A bucket is reused `n` seconds later: the first writer of the new second takes the
/// old second's counts out of the bucket and the totals. Once per second, buckets that
/// fell out of the window without being reused are swept the same way. A call recorded
/// by a thread that stalled for a whole window can land in a reused bucket; rates are
/// statistics, and that is the one inexactness.
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    total: AtomicU64,
    failed_slow: AtomicU64,
    /// The last second swept, plus one.
    swept: AtomicU64,
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

impl TimeWindow {
    fn new(secs: usize) -> Self {
        TimeWindow {
            buckets: (0..secs.max(1))
                .map(|_| Bucket {
                    epoch: AtomicU64::new(0),
                    total: AtomicU64::new(0),
                    failed_slow: AtomicU64::new(0),
                })
                .collect(),
            total: AtomicU64::new(0),
            failed_slow: AtomicU64::new(0),
            swept: AtomicU64::new(0),
        }
    }

    /// Empties `b` if it still holds `epoch`, taking its counts out of the totals.
    /// Returns true when this call claimed it for `new_epoch`.
    fn retire(&self, b: &Bucket, epoch: u64, new_epoch: u64) -> bool {
        // Snapshot before claiming: calls recorded for the new epoch after the claim stay.
        let old_total = b.total.load(Ordering::Acquire);
        let old_fs = b.failed_slow.load(Ordering::Acquire);
        if b.epoch
            .compare_exchange(epoch, new_epoch, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        b.total.fetch_sub(old_total, Ordering::AcqRel);
        b.failed_slow.fetch_sub(old_fs, Ordering::AcqRel);
        self.total.fetch_sub(old_total, Ordering::AcqRel);
        self.failed_slow.fetch_sub(old_fs, Ordering::AcqRel);
        true
    }

    /// Once per second: retire buckets older than the window.
    fn sweep(&self, sec: u64) {
        let now = sec + 1;
        let last = self.swept.load(Ordering::Acquire);
        if last >= now
            || self
                .swept
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let oldest = now.saturating_sub(self.buckets.len() as u64 - 1);
        for b in self.buckets.iter() {
            let e = b.epoch.load(Ordering::Acquire);
            if e != 0 && e < oldest {
                self.retire(b, e, 0);
            }
        }
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool, now_nanos: u64) -> Counts {
        let sec = now_nanos / NANOS_PER_SEC;
        self.sweep(sec);
        let b = &self.buckets[(sec % self.buckets.len() as u64) as usize];
        let epoch = sec + 1;
        let seen = b.epoch.load(Ordering::Acquire);
        if seen < epoch {
            self.retire(b, seen, epoch);
        }
        b.total.fetch_add(1, Ordering::AcqRel);
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        let fs_all = if failed || slow {
            let fs = (u64::from(failed) << 32) | u64::from(slow);
            b.failed_slow.fetch_add(fs, Ordering::AcqRel);
            self.failed_slow
                .fetch_add(fs, Ordering::AcqRel)
                .wrapping_add(fs)
        } else {
            self.failed_slow.load(Ordering::Acquire)
        };
        Counts {
            total,
            failed: fs_all >> 32,
            slow: fs_all & 0xFFFF_FFFF,
        }
    }

    fn counts(&self, now_nanos: u64) -> Counts {
        self.sweep(now_nanos / NANOS_PER_SEC);
        let fs = self.failed_slow.load(Ordering::Acquire);
        Counts {
            total: self.total.load(Ordering::Acquire),
            failed: fs >> 32,
            slow: fs & 0xFFFF_FFFF,
        }
    }

    fn reset(&self) {
        for b in self.buckets.iter() {
            b.epoch.store(0, Ordering::Relaxed);
            b.total.store(0, Ordering::Relaxed);
            b.failed_slow.store(0, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
        self.failed_slow.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The naive model: keep every outcome, look at the last n.
    fn model(outcomes: &[(bool, bool)], n: usize) -> Counts {
        let tail = &outcomes[outcomes.len().saturating_sub(n)..];
        Counts {
            total: tail.len() as u64,
            failed: tail.iter().filter(|o| o.0).count() as u64,
            slow: tail.iter().filter(|o| o.1).count() as u64,
        }
    }

    proptest! {
        #[test]
        fn count_window_rate_equals_the_naive_model(
            outcomes in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..400),
            n in 1usize..64,
        ) {
            let w = CountWindow::new(n);
            for (i, &(f, s)) in outcomes.iter().enumerate() {
                let got = w.record(f, s).unwrap_or_else(|| w.counts());
                prop_assert_eq!(got, model(&outcomes[..=i], n));
            }
            let c = w.counts();
            let m = model(&outcomes, n);
            prop_assert_eq!(c, m);
            prop_assert!((c.failure_rate() - m.failure_rate()).abs() < 1e-9);
        }
    }

    proptest! {
        #[test]
        fn fast_mod_equals_the_remainder(a in any::<u64>(), d in 1u64..(1 << 21)) {
            prop_assert_eq!(FastMod::new(d).rem(a), a % d);
        }
    }

    #[test]
    fn fast_mod_is_exact_at_the_edges() {
        for d in [1u64, 2, 3, 7, 100, 1000, 1 << 20] {
            for a in [0, 1, d - 1, d, d + 1, u64::MAX, u64::MAX - 1, u64::MAX / 2] {
                assert_eq!(FastMod::new(d).rem(a), a % d, "{a} % {d}");
            }
        }
    }

    #[test]
    fn count_window_is_exact_under_concurrent_writers() {
        let w = std::sync::Arc::new(CountWindow::new(1000));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        w.record((i + t) % 3 == 0, false);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
        let c = w.counts();
        assert_eq!(c.total, 1000);
        let failed_in_slots = w
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) & 2 != 0)
            .count();
        assert_eq!(c.failed, failed_in_slots as u64, "totals match the slots");
    }

    #[test]
    fn time_window_forgets_calls_older_than_the_window() {
        let w = TimeWindow::new(3);
        let s = NANOS_PER_SEC;
        w.record(true, false, 0);
        w.record(false, false, s);
        w.record(false, true, 2 * s);
        assert_eq!(
            w.counts(2 * s),
            Counts {
                total: 3,
                failed: 1,
                slow: 1
            }
        );
        w.record(false, false, 3 * s); // second 0 falls out
        assert_eq!(
            w.counts(3 * s),
            Counts {
                total: 3,
                failed: 0,
                slow: 1
            }
        );
        assert_eq!(
            w.counts(10 * s),
            Counts::default(),
            "idle seconds expire everything"
        );
    }
}
