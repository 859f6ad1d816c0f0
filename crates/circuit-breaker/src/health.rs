//! Health checks attached to a breaker (the origin design's `HealthCheck`): failing
//! checks force it open, passing checks let an open breaker try again early.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::breaker::CircuitBreaker;
use crate::state::CircuitState;

type CheckFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// A periodic probe of the protected dependency.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `interval` | 30 s | how often `spawn_health_checks` runs it |
/// | `timeout` | 5 s | a probe slower than this fails |
/// | `failure_threshold` | 3 | consecutive failures that force the breaker open |
/// | `success_threshold` | 2 | consecutive successes that let an open breaker half-open early |
#[derive(Clone)]
pub struct HealthCheck {
    name: String,
    check: CheckFn,
    interval: Duration,
    timeout: Duration,
    failure_threshold: u32,
    success_threshold: u32,
}

impl HealthCheck {
    /// A check named `name` that calls `probe` (true = healthy).
    pub fn new<F, Fut>(name: impl Into<String>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        HealthCheck {
            name: name.into(),
            check: Arc::new(move || Box::pin(probe())),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            failure_threshold: 3,
            success_threshold: 2,
        }
    }

    /// How often the spawned checker runs it.
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// A probe slower than this fails.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Consecutive failures that force the breaker open (at least 1).
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n.max(1);
        self
    }

    /// Consecutive successes that let an open breaker half-open early (at least 1).
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n.max(1);
        self
    }
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("failure_threshold", &self.failure_threshold)
            .field("success_threshold", &self.success_threshold)
            .finish()
    }
}

/// The result of one round of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// The check's name.
    pub name: String,
    /// This round's result (a timeout is a failure).
    pub healthy: bool,
    /// Failures in a row, this one included.
    pub consecutive_failures: u32,
    /// Successes in a row, this one included.
    pub consecutive_successes: u32,
}

#[derive(Clone, Default)]
struct Streak {
    failures: u32,
    successes: u32,
}

#[derive(Default)]
pub(crate) struct HealthChecks {
    checks: Mutex<Vec<(HealthCheck, Streak)>>,
    /// The breaker is forced open by failing checks (not by hand).
    forced: AtomicBool,
}

impl CircuitBreaker {
    /// Attaches a health check. Run checks with `run_health_checks` (one round) or
    /// `spawn_health_checks` (periodically).
    pub fn add_health_check(&self, check: HealthCheck) {
        if let Ok(mut checks) = self.inner().health.checks.lock() {
            checks.push((check, Streak::default()));
        }
    }

    /// Runs every check once, in order, and applies the results: a check at its failure
    /// threshold forces the breaker open; when every check is at its success threshold,
    /// a breaker that is open (or was forced open by the checks) moves to half-open so
    /// trial calls decide.
    pub async fn run_health_checks(&self) -> Vec<HealthReport> {
        let health = &self.inner().health;
        let checks: Vec<HealthCheck> = match health.checks.lock() {
            Ok(c) => c.iter().map(|(c, _)| c.clone()).collect(),
            Err(_) => return Vec::new(),
        };
        let mut results = Vec::with_capacity(checks.len());
        for check in &checks {
            let ok = tokio::time::timeout(check.timeout, (check.check)())
                .await
                .unwrap_or(false);
            results.push(ok);
        }
        let mut reports = Vec::with_capacity(checks.len());
        let (mut failing, mut all_recovered) = (false, true);
        if let Ok(mut state) = health.checks.lock() {
            for ((check, streak), ok) in state.iter_mut().zip(results) {
                if ok {
                    streak.successes += 1;
                    streak.failures = 0;
                } else {
                    streak.failures += 1;
                    streak.successes = 0;
                }
                failing |= streak.failures >= check.failure_threshold;
                all_recovered &= streak.successes >= check.success_threshold;
                reports.push(HealthReport {
                    name: check.name.clone(),
                    healthy: ok,
                    consecutive_failures: streak.failures,
                    consecutive_successes: streak.successes,
                });
            }
        }
        if failing {
            if self.state() != CircuitState::ForcedOpen {
                self.force_open();
                health.forced.store(true, Ordering::Release);
            }
        } else if all_recovered && !reports.is_empty() {
            let state = self.state();
            let by_checks = health.forced.load(Ordering::Acquire);
            if state == CircuitState::Open || (state == CircuitState::ForcedOpen && by_checks) {
                health.forced.store(false, Ordering::Release);
                self.transition_to_half_open();
            }
        }
        reports
    }

    /// Runs the checks every `interval` (the shortest of the attached checks) on the
    /// current tokio runtime until the breaker is dropped or the handle is aborted.
    /// Returns `None` outside a tokio runtime or when no check is attached.
    pub fn spawn_health_checks(&self) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self
            .inner()
            .health
            .checks
            .lock()
            .ok()?
            .iter()
            .map(|(c, _)| c.interval)
            .min()?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let weak = self.downgrade();
        Some(runtime.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(breaker) = CircuitBreaker::upgrade(&weak) else {
                    return;
                };
                breaker.run_health_checks().await;
            }
        }))
    }
}
