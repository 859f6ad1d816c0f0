//! The circuit breaker: a lock-free state machine over a sliding window.
//!
//! Hot paths: in Closed, `try_acquire` is one atomic load (plus one clock read when
//! slow-call detection is on) and recording a result is two atomic read-modify-writes on
//! the count window. No lock is taken outside transitions.

use std::borrow::Borrow;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::clock::{Clock, nanos};
use crate::config::{CircuitBreakerConfig, Outcome, TripMode};
use crate::error::ResilienceError;
use crate::events::{CircuitBreakerEvent, EventKind, EventSubscription, Events};
use crate::health::HealthChecks;
use crate::state::CircuitState;
use crate::window::{Counts, Window};

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const METRICS_ONLY: u64 = 5;
const NEVER: u64 = u64::MAX;

// Half-open trial bookkeeping in one word, tagged with the low 16 bits of the state
// generation so that late results of an earlier round are dropped:
// generation (16) | issued (12) | done (12) | failed (12) | slow (12).
const T_BITS: u32 = 12;
const T_MASK: u64 = (1 << T_BITS) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Trials {
    generation: u64,
    issued: u64,
    done: u64,
    failed: u64,
    slow: u64,
}

impl Trials {
    fn unpack(w: u64) -> Self {
        Trials {
            generation: w >> 48,
            issued: (w >> 36) & T_MASK,
            done: (w >> 24) & T_MASK,
            failed: (w >> 12) & T_MASK,
            slow: w & T_MASK,
        }
    }

    fn pack(self) -> u64 {
        (self.generation << 48)
            | (self.issued << 36)
            | (self.done << 24)
            | (self.failed << 12)
            | self.slow
    }

    fn fresh(generation: u64) -> Self {
        Trials {
            generation: generation & 0xFFFF,
            issued: 0,
            done: 0,
            failed: 0,
            slow: 0,
        }
    }
}

/// The deadline slot of a state word's generation (see `Inner::open_until`).
#[inline]
fn slot(word: u64) -> usize {
    ((word >> 8) & 1) as usize
}

/// A circuit breaker. Cheap to clone (one reference count); clones share state.
///
/// See the crate docs for the settings table and the state diagram.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: Arc<str>,
    config: CircuitBreakerConfig,
    clock: Clock,
    /// generation << 8 | state.
    state: AtomicU64,
    /// When an Open state lets a trial start, and when a HalfOpen state's unfinished
    /// trials send it back to Open, in two slots each, by the low bit of the state's
    /// generation. A transition writes the slot of the generation it publishes, before
    /// publishing it. So a caller that read state `g` finds in its slot the deadline of
    /// `g` or of a later state of the same kind, never an earlier one, with no lock and
    /// no second look: a later deadline can only make it refuse a call that a decided
    /// transition is about to refuse anyway, and whatever else it does on a stale state
    /// (a transition, a trial) checks the state again.
    open_until: [AtomicU64; 2],
    half_open_until: [AtomicU64; 2],
    /// Serializes transitions, which are rare: a transition that lost to another must not
    /// write anything, so the check of the current state and the writes go together.
    transitioning: Mutex<()>,
    opens_in_row: AtomicU32,
    trials: AtomicU64,
    consecutive_failures: AtomicU32,
    /// Written on every call: on cache lines of its own, away from `state`, which every
    /// call reads.
    window: CachePadded<Window>,
    not_permitted: AtomicU64,
    events: Events,
    rng: AtomicU64,
    slow_nanos: Option<u64>,
    /// Recording needs the time (slow-call detection or a time window).
    timed: bool,
    pub(crate) health: HealthChecks,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PermitKind {
    /// Closed or MetricsOnly: recorded in the window.
    Window,
    /// A half-open trial.
    Trial,
    /// Disabled: nothing recorded.
    Passthrough,
}

/// Permission to make one call, holding its breaker as `B`: a reference
/// ([`CallPermit`]) or an owned handle ([`OwnedCallPermit`], for `'static` futures).
///
/// Record the outcome with `record_success`, `record_failure` or `record(outcome)`.
/// Dropped unrecorded, it counts as ignored (a half-open trial slot is given back),
/// unless the thread is panicking: then it counts as a failure.
#[must_use = "record the outcome of the call"]
pub struct Permit<B: Borrow<CircuitBreaker>> {
    breaker: B,
    word: u64,
    start: u64,
    kind: PermitKind,
    settled: bool,
}

/// A permit borrowing its breaker: what `try_acquire` returns.
pub type CallPermit<'a> = Permit<&'a CircuitBreaker>;

/// A permit owning a handle on its breaker (one reference count more), for futures that
/// must be `'static` (tower services, spawned tasks).
pub type OwnedCallPermit = Permit<CircuitBreaker>;

/// A call the breaker refused.
#[derive(Clone, Copy)]
pub struct Rejection<'a> {
    breaker: &'a CircuitBreaker,
    state: CircuitState,
    retry_after: Option<Duration>,
}

impl Rejection<'_> {
    /// The state that refused.
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// How long until a trial call may pass, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// As a `ResilienceError::CircuitBreakerOpen`.
    pub fn into_error<E>(self) -> ResilienceError<E> {
        ResilienceError::CircuitBreakerOpen {
            name: Arc::clone(&self.breaker.inner.name),
            state: self.state,
            retry_after: self.retry_after,
        }
    }
}

impl fmt::Debug for Rejection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("breaker", &self.breaker.inner.name)
            .field("state", &self.state)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// A snapshot of a breaker's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitBreakerMetrics {
    /// The state.
    pub state: CircuitState,
    /// Failure rate in percent over the window; `None` while fewer than
    /// `minimum_number_of_calls` are recorded ("not enough calls", not zero).
    pub failure_rate: Option<f64>,
    /// Slow-call rate in percent; `None` likewise.
    pub slow_call_rate: Option<f64>,
    /// Calls in the window.
    pub buffered_calls: u64,
    /// Failed calls in the window.
    pub failed_calls: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Calls refused since the last reset.
    pub not_permitted_calls: u64,
}

impl CircuitBreaker {
    /// A breaker named `name` with `config`, on the coarse clock (millisecond steps,
    /// one atomic load per read; see `Clock::coarse`).
    pub fn new(name: impl Into<Arc<str>>, config: CircuitBreakerConfig) -> Self {
        Self::with_clock(name, config, Clock::coarse())
    }

    /// A breaker reading time from `clock` (use `Clock::manual()` or `Clock::tokio()` in
    /// tests).
    pub fn with_clock(
        name: impl Into<Arc<str>>,
        config: CircuitBreakerConfig,
        clock: Clock,
    ) -> Self {
        let window = Window::new(config.sliding_window);
        let timed = config.slow_call_duration.is_some() || matches!(window, Window::Time(_));
        let slow_nanos = config.slow_call_duration.map(nanos);
        CircuitBreaker {
            inner: Arc::new(Inner {
                name: name.into(),
                clock,
                state: AtomicU64::new(CLOSED),
                open_until: [AtomicU64::new(NEVER), AtomicU64::new(NEVER)],
                half_open_until: [AtomicU64::new(NEVER), AtomicU64::new(NEVER)],
                transitioning: Mutex::new(()),
                opens_in_row: AtomicU32::new(0),
                trials: AtomicU64::new(Trials::fresh(0).pack()),
                consecutive_failures: AtomicU32::new(0),
                window: CachePadded(window),
                not_permitted: AtomicU64::new(0),
                events: Events::new(),
                rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
                slow_nanos,
                timed,
                health: HealthChecks::default(),
                config,
            }),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| CircuitBreaker { inner })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.inner.config
    }

    /// The clock the breaker reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The current state. An open breaker whose wait has passed reads `Open` until the
    /// next call moves it (unless `automatic_transition` is on).
    pub fn state(&self) -> CircuitState {
        CircuitState::from_u8((self.inner.state.load(Ordering::Acquire) & 0xFF) as u8)
    }

    /// Asks to make one call.
    ///
    /// Cost in Closed: one atomic load, plus a clock read when slow-call detection is on.
    ///
    /// # Errors
    /// A `Rejection` when the breaker is open (wait not over), forced open, or half-open
    /// with every trial permit taken. The protected call must then not run.
    #[inline]
    pub fn try_acquire(&self) -> Result<CallPermit<'_>, Rejection<'_>> {
        let word = self.inner.state.load(Ordering::Acquire);
        let st = word & 0xFF;
        if st == CLOSED || st == METRICS_ONLY {
            return Ok(self.window_permit(word));
        }
        if st == OPEN {
            // Refusing while open is the other hot path: one clock read, no loop.
            let now = self.inner.clock.now_nanos();
            let deadline = self.inner.open_until[slot(word)].load(Ordering::Acquire);
            if now < deadline {
                let wait = Some(Duration::from_nanos(deadline - now));
                return Err(self.reject(CircuitState::Open, wait));
            }
        } else if st == FORCED_OPEN {
            return Err(self.reject(CircuitState::ForcedOpen, None));
        }
        self.acquire_slow(word)
    }

    /// `try_acquire` returning a permit that owns a handle on the breaker.
    ///
    /// # Errors
    /// As `try_acquire`, as a `ResilienceError::CircuitBreakerOpen`.
    pub fn try_acquire_owned<E>(&self) -> Result<OwnedCallPermit, ResilienceError<E>> {
        let mut permit = self.try_acquire().map_err(Rejection::into_error)?;
        // The owned permit takes over the duty to record.
        permit.settled = true;
        Ok(Permit {
            breaker: self.clone(),
            word: permit.word,
            start: permit.start,
            kind: permit.kind,
            settled: false,
        })
    }

    /// A permit counted in the sliding window (Closed, MetricsOnly); reads the clock
    /// only when slow-call detection needs a start time.
    #[inline]
    fn window_permit(&self, word: u64) -> CallPermit<'_> {
        let start = if self.inner.slow_nanos.is_some() {
            self.inner.clock.now_nanos()
        } else {
            0
        };
        Permit {
            breaker: self,
            word,
            start,
            kind: PermitKind::Window,
            settled: false,
        }
    }

    #[cold]
    fn acquire_slow(&self, mut word: u64) -> Result<CallPermit<'_>, Rejection<'_>> {
        let inner = &*self.inner;
        loop {
            let state = CircuitState::from_u8((word & 0xFF) as u8);
            match state {
                CircuitState::Closed | CircuitState::MetricsOnly => {
                    return Ok(self.window_permit(word));
                }
                CircuitState::Disabled => {
                    return Ok(Permit {
                        breaker: self,
                        word,
                        start: 0,
                        kind: PermitKind::Passthrough,
                        settled: false,
                    });
                }
                CircuitState::ForcedOpen => return Err(self.reject(state, None)),
                CircuitState::Open => {
                    let now = inner.clock.now_nanos();
                    let deadline = inner.open_until[slot(word)].load(Ordering::Acquire);
                    if now < deadline {
                        let wait = Some(Duration::from_nanos(deadline - now));
                        return Err(self.reject(state, wait));
                    }
                    self.transition(word, CircuitState::HalfOpen);
                }
                CircuitState::HalfOpen => {
                    if inner.config.max_wait_in_half_open.is_some()
                        && inner.clock.now_nanos()
                            >= inner.half_open_until[slot(word)].load(Ordering::Acquire)
                    {
                        self.transition(word, CircuitState::Open);
                    } else if let Some(permit) = self.trial_permit(word) {
                        return permit;
                    }
                }
            }
            word = inner.state.load(Ordering::Acquire);
        }
    }

    /// A half-open trial of the round `word` names, a rejection when its permits are
    /// taken, or `None` when the round ended while the permit was taken (the caller
    /// reloads the state).
    fn trial_permit(&self, word: u64) -> Option<Result<CallPermit<'_>, Rejection<'_>>> {
        let inner = &*self.inner;
        if !self.take_trial(word) {
            if inner.state.load(Ordering::Acquire) != word {
                return None;
            }
            return Some(Err(self.reject(CircuitState::HalfOpen, None)));
        }
        if inner.state.load(Ordering::Acquire) != word {
            // A trial of a round already decided would run while the breaker is open.
            self.release_trial(word);
            return None;
        }
        let start = if inner.slow_nanos.is_some() {
            inner.clock.now_nanos()
        } else {
            0
        };
        Some(Ok(Permit {
            breaker: self,
            word,
            start,
            kind: PermitKind::Trial,
            settled: false,
        }))
    }

    #[inline]
    fn reject(&self, state: CircuitState, retry_after: Option<Duration>) -> Rejection<'_> {
        self.inner.not_permitted.fetch_add(1, Ordering::Relaxed);
        self.emit(|| EventKind::NotPermitted);
        Rejection {
            breaker: self,
            state,
            retry_after,
        }
    }

    /// Takes one of the half-open trial permits of generation `word >> 8`.
    fn take_trial(&self, word: u64) -> bool {
        let generation = (word >> 8) & 0xFFFF;
        let limit = u64::from(self.inner.config.permitted_calls_in_half_open);
        self.inner
            .trials
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let mut t = Trials::unpack(w);
                match generation.wrapping_sub(t.generation) & 0xFFFF {
                    0 => {}
                    // A newer round: its first trial starts the count afresh.
                    1..0x8000 => t = Trials::fresh(generation),
                    // A caller holding a stale state word must not reset a newer round.
                    _ => return None,
                }
                (t.issued < limit).then(|| {
                    Trials {
                        issued: t.issued + 1,
                        ..t
                    }
                    .pack()
                })
            })
            .is_ok()
    }

    fn release_trial(&self, word: u64) {
        let generation = (word >> 8) & 0xFFFF;
        let _ = self
            .inner
            .trials
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let t = Trials::unpack(w);
                (t.generation == generation && t.issued > 0).then(|| {
                    Trials {
                        issued: t.issued - 1,
                        ..t
                    }
                    .pack()
                })
            });
    }

    #[inline]
    fn settle(&self, permit_word: u64, kind: PermitKind, start: u64, outcome: Outcome) {
        let inner = &*self.inner;
        if kind == PermitKind::Passthrough {
            return;
        }
        let now = if inner.timed {
            inner.clock.now_nanos()
        } else {
            0
        };
        let elapsed = if inner.slow_nanos.is_some() {
            now.saturating_sub(start)
        } else {
            0
        };
        let slow = inner.slow_nanos.is_some_and(|limit| elapsed >= limit);
        if inner.events.wanted() {
            let d = Duration::from_nanos(elapsed);
            self.emit(|| match outcome {
                Outcome::Success => EventKind::Success { elapsed: d },
                Outcome::Failure => EventKind::Error { elapsed: d },
                Outcome::Ignored => EventKind::IgnoredError,
            });
            if slow && outcome != Outcome::Ignored {
                self.emit(|| EventKind::SlowCall { elapsed: d });
            }
        }
        if outcome == Outcome::Ignored {
            if kind == PermitKind::Trial {
                self.release_trial(permit_word);
            }
            return;
        }
        let failed = outcome == Outcome::Failure;
        match kind {
            PermitKind::Window => self.settle_window(permit_word, failed, slow, now),
            PermitKind::Trial => self.settle_trial(permit_word, failed, slow),
            PermitKind::Passthrough => {}
        }
    }

    #[inline]
    fn settle_window(&self, permit_word: u64, failed: bool, slow: bool, now: u64) {
        let inner = &*self.inner;
        let word = inner.state.load(Ordering::Acquire);
        if word >> 8 != permit_word >> 8 {
            return; // the breaker moved on since this call was permitted
        }
        // `None`: the outcome replaced an equal one, the counts and so the verdict are
        // unchanged (the steady state).
        let counts = inner.window.record(failed, slow, now);
        let closed = word & 0xFF == CLOSED;
        match inner.config.trip_mode {
            TripMode::Rate => {
                let Some(counts) = counts else { return };
                // A fast success can only trip the breaker by bringing the window up to
                // its minimum; otherwise only failures and slow calls raise a rate.
                let reached_minimum =
                    counts.total == u64::from(inner.config.minimum_number_of_calls);
                if closed && (failed || slow || reached_minimum) && self.over_threshold(counts) {
                    self.transition(word, CircuitState::Open);
                }
            }
            TripMode::Consecutive {
                failure_threshold, ..
            } => {
                if failed {
                    let n = inner.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
                    if closed && n >= failure_threshold {
                        self.transition(word, CircuitState::Open);
                    }
                } else if inner.consecutive_failures.load(Ordering::Relaxed) != 0 {
                    inner.consecutive_failures.store(0, Ordering::Release);
                }
            }
        }
    }

    fn over_threshold(&self, c: Counts) -> bool {
        let cfg = &self.inner.config;
        let total = c.total as f64;
        c.total >= u64::from(cfg.minimum_number_of_calls)
            && (c.failed as f64 * 100.0 >= cfg.failure_rate_threshold * total
                || c.slow as f64 * 100.0 >= cfg.slow_call_rate_threshold * total)
    }

    fn settle_trial(&self, permit_word: u64, failed: bool, slow: bool) {
        let inner = &*self.inner;
        let generation = (permit_word >> 8) & 0xFFFF;
        let consecutive = matches!(inner.config.trip_mode, TripMode::Consecutive { .. });
        let Ok(before) = inner
            .trials
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let t = Trials::unpack(w);
                (t.generation == generation).then(|| {
                    Trials {
                        // In consecutive mode a finished success frees its slot: the permit
                        // count caps concurrent trials, the success threshold decides.
                        issued: if consecutive && !failed {
                            t.issued.saturating_sub(1)
                        } else {
                            t.issued
                        },
                        done: t.done + 1,
                        failed: t.failed + u64::from(failed),
                        slow: t.slow + u64::from(slow),
                        ..t
                    }
                    .pack()
                })
            })
        else {
            return; // a result of an earlier half-open round
        };
        let t = Trials::unpack(before);
        let (done, failed_n, slow_n) = (
            t.done + 1,
            t.failed + u64::from(failed),
            t.slow + u64::from(slow),
        );
        let cfg = &inner.config;
        let verdict = match cfg.trip_mode {
            TripMode::Rate => (done == u64::from(cfg.permitted_calls_in_half_open)).then(|| {
                let c = Counts {
                    total: done,
                    failed: failed_n,
                    slow: slow_n,
                };
                if c.failure_rate() >= cfg.failure_rate_threshold
                    || c.slow_rate() >= cfg.slow_call_rate_threshold
                {
                    CircuitState::Open
                } else {
                    CircuitState::Closed
                }
            }),
            TripMode::Consecutive {
                success_threshold, ..
            } => {
                if failed {
                    Some(CircuitState::Open)
                } else {
                    (done - failed_n >= u64::from(success_threshold))
                        .then_some(CircuitState::Closed)
                }
            }
        };
        if let Some(to) = verdict {
            let expected = (permit_word & !0xFF) | HALF_OPEN;
            self.transition(expected, to);
        }
    }

    /// Moves from the exact state word `from` to `to`; false when the state had already
    /// changed (someone else decided first).
    fn transition(&self, from: u64, to: CircuitState) -> bool {
        let inner = &*self.inner;
        let next = (((from >> 8) + 1) << 8) | u64::from(to.to_u8());
        let mut wait = None;
        {
            // The lock guards no data of its own: a poisoned one is as good as any.
            let _guard = inner
                .transitioning
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if inner.state.load(Ordering::Acquire) != from {
                return false;
            }
            let now = inner.clock.now_nanos();
            match to {
                CircuitState::Open => {
                    let w = self.wait_for(inner.opens_in_row.load(Ordering::Acquire) + 1);
                    wait = Some(w);
                    inner.open_until[slot(next)]
                        .store(now.saturating_add(nanos(w)), Ordering::Release);
                    inner.opens_in_row.fetch_add(1, Ordering::AcqRel);
                }
                CircuitState::HalfOpen => {
                    let until = inner
                        .config
                        .max_wait_in_half_open
                        .map_or(NEVER, |d| now.saturating_add(nanos(d)));
                    inner.half_open_until[slot(next)].store(until, Ordering::Release);
                }
                CircuitState::Closed => {
                    inner.window.reset();
                    inner.consecutive_failures.store(0, Ordering::Release);
                    inner.opens_in_row.store(0, Ordering::Release);
                }
                _ => {}
            }
            // Published after its deadline (see `open_until`).
            inner.state.store(next, Ordering::Release);
        }
        let from_state = CircuitState::from_u8((from & 0xFF) as u8);
        tracing::debug!(target: "palisade::circuit_breaker", breaker = %inner.name, ?from_state, to = ?to, "transition");
        self.emit(|| EventKind::StateTransition {
            from: from_state,
            to,
            generation: next >> 8,
        });
        if inner.config.automatic_transition {
            self.arm_timer(next, to, wait);
        }
        true
    }

    /// With automatic transitions: after the wait, move Open → HalfOpen (or an unfinished
    /// HalfOpen → Open) without waiting for a call.
    fn arm_timer(&self, word: u64, to: CircuitState, wait: Option<Duration>) {
        let delay = match to {
            CircuitState::Open => wait,
            CircuitState::HalfOpen => self.inner.config.max_wait_in_half_open,
            _ => None,
        };
        let (Some(delay), Ok(rt)) = (delay, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = weak.upgrade() {
                let breaker = CircuitBreaker { inner };
                let next = if to == CircuitState::Open {
                    CircuitState::HalfOpen
                } else {
                    CircuitState::Open
                };
                breaker.transition(word, next);
            }
        });
    }

    fn wait_for(&self, opens: u32) -> Duration {
        let interval = &self.inner.config.wait_in_open;
        let base = interval.base(opens);
        let jitter = interval.jitter();
        if jitter <= 0.0 {
            return base;
        }
        let r = split_mix(&self.inner.rng);
        let spread = 1.0 + jitter * (2.0 * r - 1.0);
        Duration::try_from_secs_f64((base.as_secs_f64() * spread).max(0.0)).unwrap_or(Duration::MAX)
    }

    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        let inner = &*self.inner;
        if inner.events.wanted() {
            inner.events.publish(CircuitBreakerEvent {
                breaker: Arc::clone(&inner.name),
                at: Duration::from_nanos(inner.clock.now_nanos()),
                kind: kind(),
            });
        }
    }

    fn force(&self, to: CircuitState) {
        loop {
            let word = self.inner.state.load(Ordering::Acquire);
            if self.transition(word, to) {
                return;
            }
        }
    }

    /// Opens the breaker by hand (the origin design's `force_open`): every call is
    /// refused until `force_close` or `reset`.
    pub fn force_open(&self) {
        self.force(CircuitState::ForcedOpen);
    }

    /// Closes the breaker by hand, clearing the window.
    pub fn force_close(&self) {
        self.force(CircuitState::Closed);
    }

    /// Back to Closed with empty metrics (window, not-permitted count, open streak).
    pub fn reset(&self) {
        self.force(CircuitState::Closed);
        self.inner.not_permitted.store(0, Ordering::Release);
        self.emit(|| EventKind::Reset);
    }

    /// Always permits and records nothing, until `reset` or `force_close`.
    pub fn disable(&self) {
        self.force(CircuitState::Disabled);
    }

    /// Always permits; records metrics but never opens, until `reset` or `force_close`.
    pub fn metrics_only(&self) {
        self.force(CircuitState::MetricsOnly);
    }

    /// Moves an open (or forced-open) breaker to half-open now; used by health checks.
    /// Returns false when the breaker was in another state.
    pub fn transition_to_half_open(&self) -> bool {
        let word = self.inner.state.load(Ordering::Acquire);
        matches!(word & 0xFF, OPEN | FORCED_OPEN) && self.transition(word, CircuitState::HalfOpen)
    }

    /// A metrics snapshot.
    pub fn metrics(&self) -> CircuitBreakerMetrics {
        let inner = &*self.inner;
        let c = inner.window.counts(inner.clock.now_nanos());
        let enough = c.total >= u64::from(inner.config.minimum_number_of_calls);
        CircuitBreakerMetrics {
            state: self.state(),
            failure_rate: enough.then(|| c.failure_rate()),
            slow_call_rate: enough.then(|| c.slow_rate()),
            buffered_calls: c.total,
            failed_calls: c.failed,
            slow_calls: c.slow,
            not_permitted_calls: inner.not_permitted.load(Ordering::Relaxed),
        }
    }

    /// Calls `listener` for every event, synchronously, on the thread that caused it
    /// (the origin design's `state_change_listeners`, for all event kinds). Keep it short.
    pub fn on_event(&self, listener: impl Fn(&CircuitBreakerEvent) + Send + Sync + 'static) {
        self.inner.events.add_listener(Arc::new(listener));
    }

    /// A channel of events (best effort; see `EventSubscription`).
    pub fn subscribe(&self) -> EventSubscription {
        self.inner.events.subscribe(Arc::downgrade(&self.inner))
    }

    /// Runs `f` if permitted and records its outcome: `Ok` is a success, `Err` is
    /// classified by the config's `record_error` / `ignore_error` predicates. A panic in
    /// `f` is recorded as a failure and resumes.
    ///
    /// # Errors
    /// `CircuitBreakerOpen` without running `f`, or `Inner(e)` with `f`'s error.
    pub fn call_sync<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, ResilienceError<E>>
    where
        E: StdError + 'static,
    {
        let permit = self.try_acquire().map_err(Rejection::into_error)?;
        let result = f();
        permit.record(self.classify(&result));
        result.map_err(ResilienceError::Inner)
    }

    /// The async form of `call_sync`. A future dropped before completion counts as
    /// ignored (its half-open permit is given back).
    ///
    /// # Errors
    /// As `call_sync`.
    pub async fn call<T, E, Fut>(&self, f: impl FnOnce() -> Fut) -> Result<T, ResilienceError<E>>
    where
        E: StdError + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(Rejection::into_error)?;
        let result = f().await;
        permit.record(self.classify(&result));
        result.map_err(ResilienceError::Inner)
    }

    /// `call` with your own classification of the result (for example, an `Ok` value
    /// that counts as a failure). No bound on `E`.
    ///
    /// # Errors
    /// As `call_sync`.
    pub async fn call_classified<T, E, Fut>(
        &self,
        f: impl FnOnce() -> Fut,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
    ) -> Result<T, ResilienceError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(Rejection::into_error)?;
        let result = f().await;
        permit.record(classify(&result));
        result.map_err(ResilienceError::Inner)
    }

    fn classify<T, E: StdError + 'static>(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => self.inner.config.classify_error(e),
        }
    }
}

impl<B: Borrow<CircuitBreaker>> Permit<B> {
    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.borrow()
    }

    /// Records the outcome.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.settled = true;
        self.breaker
            .borrow()
            .settle(self.word, self.kind, self.start, outcome);
    }

    /// Records a success.
    #[inline]
    pub fn record_success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    #[inline]
    pub fn record_failure(self) {
        self.record(Outcome::Failure);
    }

    /// Records an outcome that counts as neither (gives a half-open permit back).
    pub fn record_ignored(self) {
        self.record(Outcome::Ignored);
    }
}

impl<B: Borrow<CircuitBreaker>> fmt::Debug for Permit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.borrow().inner.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl<B: Borrow<CircuitBreaker>> Drop for Permit<B> {
    fn drop(&mut self) {
        if !self.settled {
            let outcome = if std::thread::panicking() {
                Outcome::Failure
            } else {
                Outcome::Ignored
            };
            self.breaker
                .borrow()
                .settle(self.word, self.kind, self.start, outcome);
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

/// Aligns its content to a cache line so that writes to it do not slow readers of
/// neighbouring fields (false sharing).
#[repr(align(64))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Inner {
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }
}

/// One step of SplitMix64 on a shared atomic state; uniform in [0, 1).
fn split_mix(state: &AtomicU64) -> f64 {
    let mut z = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_pack_round_trips() {
        let t = Trials {
            generation: 0xBEEF,
            issued: 4095,
            done: 7,
            failed: 3,
            slow: 1,
        };
        assert_eq!(Trials::unpack(t.pack()), t);
    }

    fn opened(permits: u32) -> (CircuitBreaker, Clock) {
        let clock = Clock::manual();
        let config = CircuitBreakerConfig::builder()
            .sliding_window(crate::SlidingWindow::CountBased(10))
            .minimum_number_of_calls(1)
            .permitted_calls_in_half_open(permits)
            .wait_duration_in_open(Duration::from_secs(1))
            .without_slow_call_detection()
            .build()
            .expect("config");
        let breaker = CircuitBreaker::with_clock("t", config, clock.clone());
        breaker.try_acquire().expect("closed").record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        (breaker, clock)
    }

    // A caller that read the Open word of an earlier round and tries to move it to
    // half-open after the round was decided must leave the current deadline alone
    // (it once overwrote it with "never", and the breaker stayed open for good).
    #[test]
    fn a_stale_transition_changes_nothing() {
        let (breaker, clock) = opened(1);
        let stale = breaker.inner.state.load(Ordering::Acquire);
        clock.advance(Duration::from_secs(2));
        breaker.try_acquire().expect("trial").record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(!breaker.transition(stale, CircuitState::HalfOpen));
        clock.advance(Duration::from_secs(2));
        assert!(breaker.try_acquire().is_ok(), "the wait is over");
    }

    // A caller holding the word of an earlier half-open round must not reset the trial
    // count of the current one.
    #[test]
    fn a_stale_trial_does_not_restart_the_count() {
        let (breaker, clock) = opened(1);
        clock.advance(Duration::from_secs(2));
        let first = breaker.try_acquire().expect("trial");
        let stale = first.word;
        first.record_failure();
        clock.advance(Duration::from_secs(2));
        let _second = breaker.try_acquire().expect("trial of the next round");
        // The one permit of this round is out; a late taker from the decided round
        // would reset the count, and the next caller would get a second trial.
        assert!(breaker.trial_permit(stale).is_none());
        assert!(breaker.try_acquire().is_err());
    }
}
