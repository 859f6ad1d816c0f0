//! Per-child statistics a supervisor keeps, for observability and for printing trees.

use std::fmt;
use std::time::Duration;

use palisade_actor_core::ActorPath;
use tokio::time::Instant;

use crate::policy::RestartPolicy;
use crate::strategy::RestartStrategy;

/// Whether a child is still part of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildStatus {
    /// Running, or between instances (restarting after its backoff).
    Alive,
    /// Ended for good (not restarted by its policy, or stopped by the supervisor).
    Terminated,
}

/// The last failure of a child.
#[derive(Clone, Debug)]
pub struct FailureRecord {
    /// The failure, as text.
    pub description: String,
    /// When the supervisor learned of it.
    pub at: Instant,
    /// Whether it was a panic.
    pub panic: bool,
}

/// One child's statistics.
#[derive(Clone, Debug)]
pub struct ChildStats {
    /// The child's name.
    pub name: String,
    /// Its path.
    pub path: ActorPath,
    /// Alive or terminated.
    pub status: ChildStatus,
    /// Its restart policy.
    pub policy: RestartPolicy,
    /// Whether it is a supervisor itself.
    pub is_supervisor: bool,
    /// Restarts so far (including those caused by siblings).
    pub restarts: u64,
    /// The running instance (1 for the first).
    pub incarnation: u64,
    /// The last failure, if any.
    pub last_failure: Option<FailureRecord>,
    /// The delay chosen for its most recent restart.
    pub current_backoff: Duration,
    /// Restarts in its current backoff sequence.
    pub consecutive_restarts: u32,
}

/// A supervisor's statistics.
#[derive(Clone, Debug)]
pub struct SupervisorStats {
    /// The supervisor's path.
    pub path: ActorPath,
    /// Its restart strategy.
    pub strategy: RestartStrategy,
    /// Restarts inside the intensity window now.
    pub restarts_in_window: usize,
    /// Its children in start order.
    pub children: Vec<ChildStats>,
}

/// A supervisor's statistics with those of its nested supervisors: prints as a tree.
#[derive(Clone, Debug)]
pub struct SupervisorTree {
    /// This supervisor.
    pub stats: SupervisorStats,
    /// Nested supervisors, in start order.
    pub subtrees: Vec<SupervisorTree>,
}

impl SupervisorTree {
    /// Restarts across the whole tree.
    pub fn total_restarts(&self) -> u64 {
        self.stats.children.iter().map(|c| c.restarts).sum::<u64>()
            + self
                .subtrees
                .iter()
                .map(SupervisorTree::total_restarts)
                .sum::<u64>()
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        writeln!(
            f,
            "{pad}{} [{:?}, {} restarts in window]",
            self.stats.path, self.stats.strategy, self.stats.restarts_in_window
        )?;
        for child in &self.stats.children {
            if let Some(sub) = self.subtrees.iter().find(|t| t.stats.path == child.path) {
                sub.render(f, depth + 1)?;
                continue;
            }
            write!(
                f,
                "{pad}  {} ({:?}, {:?}) restarts={} incarnation={}",
                child.name, child.policy, child.status, child.restarts, child.incarnation
            )?;
            if !child.current_backoff.is_zero() {
                write!(f, " backoff={:?}", child.current_backoff)?;
            }
            if let Some(last) = &child.last_failure {
                write!(f, " last_failure=\"{}\"", last.description)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for SupervisorTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, 0)
    }
}
