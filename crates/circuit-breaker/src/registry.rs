//! `CircuitBreakerRegistry`: named breakers from a shared default config with per-name
//! overrides.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::breaker::{CircuitBreaker, CircuitBreakerMetrics};
use crate::clock::Clock;
use crate::config::CircuitBreakerConfig;

/// Named breakers, created on first use from the default config (or the override
/// registered for that name). Lookups take a read lock; creation a write lock.
#[derive(Debug)]
pub struct CircuitBreakerRegistry {
    default: CircuitBreakerConfig,
    overrides: RwLock<HashMap<String, CircuitBreakerConfig>>,
    breakers: RwLock<HashMap<String, CircuitBreaker>>,
    clock: Clock,
}

impl CircuitBreakerRegistry {
    /// A registry whose breakers use `default` unless overridden, on the coarse clock.
    pub fn new(default: CircuitBreakerConfig) -> Self {
        Self::with_clock(default, Clock::coarse())
    }

    /// The same, with breakers reading `clock`.
    pub fn with_clock(default: CircuitBreakerConfig, clock: Clock) -> Self {
        CircuitBreakerRegistry {
            default,
            overrides: RwLock::new(HashMap::new()),
            breakers: RwLock::new(HashMap::new()),
            clock,
        }
    }

    /// Uses `config` for the breaker `name` when it is created (no effect on a breaker
    /// that already exists).
    pub fn set_override(&self, name: impl Into<String>, config: CircuitBreakerConfig) {
        if let Ok(mut o) = self.overrides.write() {
            o.insert(name.into(), config);
        }
    }

    /// The breaker `name`, created if needed.
    pub fn breaker(&self, name: &str) -> CircuitBreaker {
        if let Some(b) = self.get(name) {
            return b;
        }
        let config = self
            .overrides
            .read()
            .ok()
            .and_then(|o| o.get(name).cloned())
            .unwrap_or_else(|| self.default.clone());
        let mut breakers = match self.breakers.write() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        breakers
            .entry(name.to_owned())
            .or_insert_with(|| CircuitBreaker::with_clock(name, config, self.clock.clone()))
            .clone()
    }

    /// The breaker `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        self.breakers.read().ok()?.get(name).cloned()
    }

    /// The names of every breaker, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .breakers
            .read()
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every breaker's metrics, sorted by name.
    pub fn all_metrics(&self) -> Vec<(String, CircuitBreakerMetrics)> {
        let mut all: Vec<(String, CircuitBreakerMetrics)> = self
            .breakers
            .read()
            .map(|b| b.iter().map(|(n, b)| (n.clone(), b.metrics())).collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}
