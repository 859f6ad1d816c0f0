//! # Palisade
//!
//! Actor systems that stay up: typed actors on tokio with OTP-grade supervision, and (as
//! the layers land) circuit breakers, event-sourced persistence, observability and
//! cascade-failure prevention.
//!
//! This facade re-exports every Palisade crate; `use palisade::prelude::*;` brings the
//! everyday names into scope.
//!
//! ```
//! use std::time::Duration;
//! use palisade::prelude::*;
//!
//! struct Greeter;
//! impl Actor for Greeter {
//!     type Msg = ReplyTo<&'static str>;
//!     async fn handle(&mut self, reply: Self::Msg, _ctx: &mut Context<Self>) -> ActorResult {
//!         let _ = reply.send("hello");
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let system = ActorSystem::new("app");
//! let root = RootSupervisor::start(&system, SupervisionStrategy::one_for_one(), vec![
//!     ChildSpec::new("greeter", || Greeter),
//! ])?;
//! root.stats().await?; // the root has started its children
//! let greeter = root.child::<ReplyTo<&'static str>>("greeter")?;
//! assert_eq!(greeter.ask(|reply| reply).await?, "hello");
//! system.shutdown(Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Crates and features
//! | feature | crate | layer | default |
//! |---|---|---|---|
//! | (always) | [`actor_core`] (`palisade-actor-core`) | 0 | yes |
//! | `supervision` | [`supervision`] (`palisade-supervision`) | 1 | yes |
//! | `circuit-breaker` | [`circuit_breaker`] (`palisade-circuit-breaker`, with its `tower` and `actors` features) | 2 | yes |
//! | `event-store` | [`event_store`] (`palisade-event-store`) | 3 | yes |
//! | `snapshot-store` | [`snapshot_store`] (`palisade-snapshot-store`) | 4 | yes |
//!
//! Each crate is usable on its own; depend on it directly to skip the facade.

#![forbid(unsafe_code)]

pub use palisade_actor_core as actor_core;
#[cfg(feature = "circuit-breaker")]
pub use palisade_circuit_breaker as circuit_breaker;
#[cfg(feature = "event-store")]
pub use palisade_event_store as event_store;
#[cfg(feature = "snapshot-store")]
pub use palisade_snapshot_store as snapshot_store;
#[cfg(feature = "supervision")]
pub use palisade_supervision as supervision;

/// The everyday names of every enabled crate.
pub mod prelude {
    pub use palisade_actor_core::{
        Actor, ActorError, ActorHandle, ActorId, ActorPath, ActorRef, ActorResult, ActorSystem,
        AskError, Context, DeadLetter, DeadLetterReason, ExitReason, Failure, LifecycleEvent,
        MailboxConfig, OverflowPolicy, ReplyTo, RestartReason, SendError, Shutdown, SpawnError,
        SpawnOptions, Terminated,
    };
    #[cfg(feature = "circuit-breaker")]
    pub use palisade_circuit_breaker::{
        CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry, CircuitState, FailureType,
        HealthCheck, Outcome, ResilienceError, SlidingWindow, WaitInterval,
    };
    #[cfg(feature = "event-store")]
    pub use palisade_event_store::{
        Event, EventType, ExpectedVersion, InMemoryJournal, Journal, JournalError, NewEvent,
    };
    #[cfg(feature = "snapshot-store")]
    pub use palisade_snapshot_store::{ActorStateSnapshot, SnapshotCriteria, SnapshotStore};
    #[cfg(feature = "supervision")]
    pub use palisade_supervision::{
        AutoShutdown, Backoff, ChildSpec, Decider, RestartPolicy, RestartStrategy, RootSupervisor,
        SupervisionDirective, SupervisionError, SupervisionStrategy, Supervisor, SupervisorRef,
    };
}
