//! # palisade-supervision
//!
//! Layer 1 of Palisade: OTP-style supervisors for `palisade-actor-core` actors.
//!
//! A [`Supervisor`] starts its children from [`ChildSpec`]s in order and, when one ends,
//! applies its [`SupervisionStrategy`]: the decider picks a [`SupervisionDirective`]
//! (default `Restart`), the child's [`RestartPolicy`] says whether its kind of end is
//! restarted at all, the [`RestartStrategy`] says which siblings restart with it, the
//! intensity limit (`max_failures` within `within_time_window`, supervisor-wide and
//! optionally per child) says when to give up and escalate, and the [`Backoff`] says how
//! long to wait first.
//!
//! ```
//! use std::time::Duration;
//! use palisade_actor_core::{Actor, ActorResult, ActorSystem, Context};
//! use palisade_supervision::{Backoff, ChildSpec, RestartPolicy, Supervisor, SupervisionStrategy};
//!
//! struct Worker;
//! impl Actor for Worker {
//!     type Msg = u32;
//!     async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> ActorResult {
//!         assert!(n != 13, "unlucky");
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let system = ActorSystem::new("app");
//! let strategy = SupervisionStrategy::one_for_one()
//!     .intensity(5, Duration::from_secs(10))
//!     .backoff(Backoff { restart_delay: Duration::from_millis(10), ..Backoff::default() });
//! let sup = Supervisor::spawn(&system, "workers", strategy, vec![
//!     ChildSpec::new("w1", || Worker).restart(RestartPolicy::Always),
//! ])?;
//! # tokio::task::yield_now().await;
//! let w1 = sup.child::<u32>("w1")?;
//! w1.tell(13).await?;             // panics: restarted after ~10 ms, same ref
//! w1.tell(1).await?;              // handled by the new instance
//! # tokio::time::sleep(Duration::from_millis(50)).await;
//! assert_eq!(sup.stats().await?.children[0].restarts, 1);
//! # system.shutdown(Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Semantics (what we chose)
//! - **Restarts keep the mailbox and the refs.** The child's task survives its instances:
//!   queued messages are handled by the next instance, messages arriving during the
//!   backoff queue up to the mailbox capacity (then the mailbox's overflow policy
//!   applies), and the message whose handling failed goes to dead letters with the error.
//! - **No overlap.** The old instance's `pre_restart` and `post_stop` complete (its own
//!   children stopped first) before the factory builds the new one and runs `pre_start`.
//! - **Intensity is counted per supervisor across all children** (OTP), plus an optional
//!   per-child limit (`ChildSpec::max_restarts`). Exceeding either makes the supervisor
//!   stop its children in reverse start order and fail with an [`Escalation`], which its
//!   own supervisor handles like any failure. `Resume` is not counted.
//! - **All-for-one / rest-for-one** stop the affected children in reverse start order,
//!   wait for each, then start them again in start order after the failed child's
//!   backoff delay, each after the previous one's `pre_start` completed.
//! - **Backoff** is per child: `restart_delay × multiplier^n` capped at
//!   `max_restart_delay`, ±`jitter`, and n resets once the child has run for
//!   `reset_after` without failing.
//! - **Significant children** and `AutoShutdown` follow OTP 24: the supervisor stops
//!   normally once any/all significant children have ended for good.
//! - **Killed children** (task aborted) cannot be restarted in place; a supervisor
//!   whose policy restarts them spawns a fresh actor at the same path.
//! - A restarted supervisor starts only its static children again (OTP: dynamic
//!   children added with `add_child` are not part of its specification).
//!
//! Time comes from tokio's clock, so tests run deterministically with paused time.

#![forbid(unsafe_code)]

mod backoff;
mod directive;
mod error;
mod intensity;
mod policy;
mod spec;
mod stats;
mod strategy;
mod supervisor;

pub use backoff::Backoff;
pub use directive::{Decider, SupervisionDirective};
pub use error::{Escalation, SupervisionError};
pub use policy::RestartPolicy;
pub use spec::ChildSpec;
pub use stats::{ChildStats, ChildStatus, FailureRecord, SupervisorStats, SupervisorTree};
pub use strategy::{AutoShutdown, RestartStrategy, SupervisionStrategy};
pub use supervisor::{RootSupervisor, Supervisor, SupervisorMsg, SupervisorRef};
