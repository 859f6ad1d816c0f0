//! # palisade-actor-core
//!
//! Layer 0 of Palisade: typed actors on tokio, with the runtime semantics a supervisor
//! needs. An actor is a value implementing [`Actor`]; it runs in its own task, handles one
//! message at a time from its mailbox, and is addressed by an [`ActorRef`] that stays
//! valid across restarts.
//!
//! ```
//! use palisade_actor_core::{Actor, ActorResult, ActorSystem, Context, ReplyTo};
//!
//! #[derive(Default)]
//! struct Counter(u64);
//!
//! enum CounterMsg {
//!     Add(u64),
//!     Get(ReplyTo<u64>),
//! }
//!
//! impl Actor for Counter {
//!     type Msg = CounterMsg;
//!     async fn handle(&mut self, msg: CounterMsg, _ctx: &mut Context<Self>) -> ActorResult {
//!         match msg {
//!             CounterMsg::Add(n) => self.0 += n,
//!             CounterMsg::Get(reply) => { let _ = reply.send(self.0); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let system = ActorSystem::new("demo");
//! let counter = system.spawn("counter", Counter::default)?;
//! counter.tell(CounterMsg::Add(2)).await?;
//! assert_eq!(counter.ask(CounterMsg::Get).await?, 2);
//! system.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! ## What the runtime promises
//! Ordering, priority of signals, what happens to queued messages on stop and restart,
//! panic isolation and dead letters are specified in `docs/runtime-semantics.md`, each
//! promise with the test that checks it. In short:
//! - Messages from one sender are handled in the order sent. Signals (stop, supervision,
//!   watch) overtake queued user messages.
//! - A panic or `Err` in any handler or hook fails only that actor. Without a supervisor
//!   it stops; with one (see `palisade-supervision`) it waits, mailbox intact, for the
//!   supervisor's decision.
//! - Every message that is not handled is published to dead letters with a reason, so
//!   `accepted = handled + dead-lettered` holds at all times once the system is idle.
//!
//! ## Design choices
//! - One message type per actor (`Actor::Msg`), with request/response through a
//!   [`ReplyTo`] in the message: no boxing or dynamic dispatch on the send path.
//! - Handlers are `async fn` in the trait (no `async-trait` boxing per message).
//! - The default mailbox is bounded (1024) with backpressure; see [`MailboxConfig`].
//! - Supervision is a hook ([`SupervisionHook`]) so that this crate knows nothing of
//!   strategies; `palisade-supervision` plugs into it.
//!
//! ## Feature flags
//! None: the crate depends on tokio (rt, sync, time, macros), thiserror, tracing and
//! dashmap only.

#![forbid(unsafe_code)]

mod actor;
mod actor_ref;
mod bus;
mod cell;
mod dead_letters;
mod error;
mod events;
mod failure;
mod id;
mod mailbox;
mod panic;
mod runner;
mod spawn;
mod system;
mod timer;

pub use actor::{Actor, Context};
pub use actor_ref::{ActorRef, ReplyTo};
pub use bus::{RecvError, Subscription};
pub use cell::{ActorHandle, ChildEnd, ChildReport, HookClosed, Shutdown, SupervisionHook};
pub use dead_letters::{DeadLetter, DeadLetterReason};
pub use error::{ActorError, ActorResult, AskError, LookupError, SendError, SpawnError};
pub use events::LifecycleEvent;
pub use failure::{ExitReason, Failure, FailureKind, FailurePhase, RestartReason, Terminated};
pub use id::{ActorId, ActorPath};
pub use mailbox::{MailboxConfig, OverflowPolicy};
pub use spawn::SpawnOptions;
pub use system::{ActorSystem, ShutdownReport};
pub use timer::TimerHandle;
