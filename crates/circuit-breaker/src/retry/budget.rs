//! `RetryBudget`: retries as a share of recent calls, so retries cannot multiply the load
//! on a service that is already failing (Finagle's `RetryBudget`, gRPC's retry throttling).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{Clock, nanos};
use crate::error::ConfigError;

/// Tokens are kept in thousandths, so a ratio of 0.2 deposits 200 units.
const UNIT: f64 = 1000.0;
const WITHDRAWAL: i64 = 1000;
/// The TTL window is kept as this many slots, each covering `ttl / SLOTS`.
const SLOTS: usize = 10;
/// A slot is one word: a 24-bit epoch tag above a 40-bit signed token count.
const NET_BITS: u32 = 40;
const TAG_MASK: u64 = (1 << 24) - 1;
const NET_MASK: u64 = (1 << NET_BITS) - 1;
const NET_LIMIT: i64 = (1 << (NET_BITS - 1)) - 1;

/// A token bucket shared by every retry to one downstream.
///
/// Each call's first attempt deposits `ratio` tokens; each retry withdraws one, and is
/// refused when that would take the balance below zero. Deposits and withdrawals count
/// for `ttl` only, on top of a constant reserve of `min_retries_per_second × ttl` tokens,
/// so a quiet client can still retry a little while a busy one may retry at most about
/// `ratio` of its recent calls. During an outage the balance runs dry and retries stop,
/// instead of tripling the load.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `ttl` | 10 s | how long a deposit or withdrawal counts, in [1 s, 60 s] (kept as 10 slots: a token expires between 0.9 × and 1 × `ttl` after it was counted) |
/// | `min_retries_per_second` | 10 | the floor: retries always allowed on average, with no traffic at all |
/// | `ratio` | 0.2 | tokens each first attempt deposits, in [0, 1000], precision 0.001 (0.2 = retry up to 20 % of calls) |
/// | `clock` | system | the clock the window follows |
///
/// Cost: [`deposit`](RetryBudget::deposit) is a clock read and one compare-and-swap;
/// [`try_withdraw`](RetryBudget::try_withdraw) a clock read, one or two compare-and-swaps
/// and ten loads. No lock, no allocation. Under a race the budget may refuse a retry it
/// could have allowed, but never overdraws within one slot.
pub struct RetryBudget {
    slots: [AtomicU64; SLOTS],
    slot_nanos: u64,
    deposit: i64,
    reserve: i64,
    clock: Clock,
    ttl: Duration,
    min_retries_per_second: u32,
    ratio: f64,
}

impl Default for RetryBudget {
    /// The defaults of the table above (Finagle's).
    fn default() -> Self {
        RetryBudget::from_settings(RetryBudgetBuilder::default())
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ttl", &self.ttl)
            .field("min_retries_per_second", &self.min_retries_per_second)
            .field("ratio", &self.ratio)
            .field("balance", &self.balance())
            .finish()
    }
}

impl RetryBudget {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::default()
    }

    fn from_settings(s: RetryBudgetBuilder) -> Self {
        let ttl_nanos = nanos(s.ttl);
        RetryBudget {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            slot_nanos: (ttl_nanos / SLOTS as u64).max(1),
            deposit: (s.ratio * UNIT).round() as i64,
            reserve: (f64::from(s.min_retries_per_second) * s.ttl.as_secs_f64() * UNIT) as i64,
            clock: s.clock,
            ttl: s.ttl,
            min_retries_per_second: s.min_retries_per_second,
            ratio: s.ratio,
        }
    }

    /// Records a call's first attempt: adds `ratio` tokens.
    pub fn deposit(&self) {
        self.add(self.epoch(), self.deposit);
    }

    /// Takes one token for a retry. Returns false, taking nothing, when the balance has
    /// less than one token.
    pub fn try_withdraw(&self) -> bool {
        let epoch = self.epoch();
        // Take first, then look: two racing withdrawals can never both see the last token.
        self.add(epoch, -WITHDRAWAL);
        if self.available(epoch) >= 0 {
            true
        } else {
            self.add(epoch, WITHDRAWAL);
            false
        }
    }

    /// Tokens available now (the reserve included).
    pub fn balance(&self) -> f64 {
        self.available(self.epoch()) as f64 / UNIT
    }

    fn epoch(&self) -> u64 {
        self.clock.now_nanos() / self.slot_nanos
    }

    fn slot(&self, epoch: u64) -> &AtomicU64 {
        &self.slots[(epoch % SLOTS as u64) as usize]
    }

    fn add(&self, epoch: u64, delta: i64) {
        let tag = epoch & TAG_MASK;
        let slot = self.slot(epoch);
        let mut word = slot.load(Ordering::Relaxed);
        loop {
            let (slot_tag, net) = unpack(word);
            let net = if slot_tag == tag {
                net.saturating_add(delta)
            } else if tag.wrapping_sub(slot_tag) & TAG_MASK < 1 << 23 {
                delta // the slot holds an expired epoch: start it afresh
            } else {
                return; // this caller is a whole window late: its count has expired
            };
            // Relaxed: a counter; per-location coherence is all the withdraw check needs.
            match slot.compare_exchange_weak(
                word,
                pack(tag, net),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }

    fn available(&self, epoch: u64) -> i64 {
        let live = (0..SLOTS as u64).filter_map(|back| epoch.checked_sub(back));
        let counted: i64 = live
            .map(|e| {
                let (tag, net) = unpack(self.slot(e).load(Ordering::Relaxed));
                if tag == e & TAG_MASK { net } else { 0 }
            })
            .sum();
        self.reserve + counted
    }
}

fn pack(tag: u64, net: i64) -> u64 {
    (tag << NET_BITS) | (net.clamp(-NET_LIMIT, NET_LIMIT) as u64 & NET_MASK)
}

fn unpack(word: u64) -> (u64, i64) {
    (
        word >> NET_BITS,
        ((word << (64 - NET_BITS)) as i64) >> (64 - NET_BITS),
    )
}

/// Builds a validated [`RetryBudget`].
#[derive(Clone, Debug)]
pub struct RetryBudgetBuilder {
    ttl: Duration,
    min_retries_per_second: u32,
    ratio: f64,
    clock: Clock,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        RetryBudgetBuilder {
            ttl: Duration::from_secs(10),
            min_retries_per_second: 10,
            ratio: 0.2,
            clock: Clock::system(),
        }
    }
}

impl RetryBudgetBuilder {
    /// How long a deposit or withdrawal counts, in [1 s, 60 s].
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries always allowed per second on average, whatever the traffic.
    pub fn min_retries_per_second(mut self, n: u32) -> Self {
        self.min_retries_per_second = n;
        self
    }

    /// Tokens each first attempt deposits, in [0, 1000].
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The clock the window follows.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// `ConfigError` naming the first setting out of range.
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.ttl) {
            return Err(ConfigError::new("ttl", "must be in [1 s, 60 s]"));
        }
        if !(0.0..=1000.0).contains(&self.ratio) {
            return Err(ConfigError::new("ratio", "must be in [0, 1000]"));
        }
        Ok(RetryBudget::from_settings(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(min_per_second: u32, ratio: f64) -> (RetryBudget, Clock) {
        let clock = Clock::manual();
        let b = RetryBudget::builder()
            .ttl(Duration::from_secs(10))
            .min_retries_per_second(min_per_second)
            .ratio(ratio)
            .clock(clock.clone())
            .build();
        let Ok(b) = b else { panic!("valid budget") };
        (b, clock)
    }

    fn withdrawals(b: &RetryBudget) -> usize {
        std::iter::from_fn(|| b.try_withdraw().then_some(()))
            .take(10_000)
            .count()
    }

    #[test]
    fn each_first_attempt_deposits_ratio_tokens() {
        let (b, _) = budget(0, 0.2);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.balance(), 2.0);
        assert_eq!(withdrawals(&b), 2);
        assert_eq!(b.balance(), 0.0);
    }

    #[test]
    fn without_deposits_only_the_per_second_floor_is_allowed() {
        let (b, _) = budget(3, 0.2);
        assert_eq!(withdrawals(&b), 30, "3 per second over a 10 s ttl");
        let (none, _) = budget(0, 0.2);
        assert_eq!(withdrawals(&none), 0);
    }

    #[test]
    fn deposits_expire_after_the_ttl() {
        let (b, clock) = budget(0, 1.0);
        b.deposit();
        clock.advance(Duration::from_millis(8_500));
        assert_eq!(b.balance(), 1.0);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(b.balance(), 0.0);
    }

    #[test]
    fn withdrawals_age_out_and_restore_the_floor() {
        let (b, clock) = budget(1, 0.0);
        assert_eq!(withdrawals(&b), 10);
        clock.advance(Duration::from_secs(10));
        assert_eq!(withdrawals(&b), 10);
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let e = RetryBudget::builder()
            .ttl(Duration::from_millis(500))
            .build();
        assert_eq!(e.err().map(|e| e.setting), Some("ttl"));
        let e = RetryBudget::builder().ratio(f64::NAN).build();
        assert_eq!(e.err().map(|e| e.setting), Some("ratio"));
    }

    #[test]
    fn slot_words_keep_negative_counts() {
        for net in [-NET_LIMIT, -1, 0, 1, NET_LIMIT] {
            assert_eq!(unpack(pack(TAG_MASK, net)), (TAG_MASK, net));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_retries_never_overdraw_the_budget() {
        let (b, _) = budget(0, 1.0);
        for _ in 0..50 {
            b.deposit();
        }
        let b = std::sync::Arc::new(b);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { withdrawals(&b) })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            granted += t.await.unwrap_or(0);
        }
        // A race may refuse a token it could have granted, but never grants one too many.
        assert!(granted <= 50);
        assert_eq!(granted as f64 + b.balance(), 50.0);
    }
}
