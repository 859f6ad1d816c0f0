//! Palisade (`palisade-actor-core`): the system under test.
//!
//! The actor is the `u64` counter used by every peer: `Add(u64)` increments, `Get` replies
//! with the count. Cases are runtime-agnostic: `main` runs them on the 2-worker
//! multi-thread runtime and again on a current-thread runtime (against actix).

use std::hint::black_box;
use std::time::{Duration, Instant};

use palisade_actor_core::{
    Actor, ActorRef, ActorResult, ActorSystem, Context, MailboxConfig, OverflowPolicy, ReplyTo,
    SpawnOptions,
};
use palisade_supervision::{Backoff, ChildSpec, SupervisionStrategy, Supervisor};
use tokio::runtime::Runtime;

use crate::harness::{self, Config, check_count, err, measure, run_batch, timed};
use crate::{
    ASK_ROUND_TRIPS, MAILBOX_CAPACITY, RESTARTS_PER_REP, ROUND_ROBIN_ACTORS, SPAWNS_PER_REP,
    TELL_MESSAGES,
};

struct Counter(u64);

enum Msg {
    Add(u64),
    Get(ReplyTo<u64>),
}

impl Actor for Counter {
    type Msg = Msg;

    async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
        }
        Ok(())
    }
}

/// Bounded(1024) with backpressure: the same mailbox as the raw floor's channel. (It is
/// also Palisade's default; spelled out so the comparison is explicit.)
fn mailbox() -> SpawnOptions {
    SpawnOptions::anonymous().mailbox(MailboxConfig::bounded(
        MAILBOX_CAPACITY,
        OverflowPolicy::Wait,
    ))
}

fn spawn_counter(system: &ActorSystem) -> Result<ActorRef<Msg>, String> {
    system.spawn_with(mailbox(), || Counter(0)).map_err(err)
}

fn spawn_with(system: &ActorSystem, unbounded: bool) -> Result<ActorRef<Msg>, String> {
    if unbounded {
        let options = SpawnOptions::anonymous().mailbox(MailboxConfig::unbounded());
        system.spawn_with(options, || Counter(0)).map_err(err)
    } else {
        spawn_counter(system)
    }
}

/// Creates the system inside the runtime, runs the case, shuts the system down.
fn with_system(
    rt: &Runtime,
    case: impl FnOnce(&ActorSystem) -> Result<f64, String>,
) -> Result<f64, String> {
    let system = rt.block_on(async { ActorSystem::new("bench") });
    let out = case(&system);
    rt.block_on(system.shutdown(Duration::from_secs(5)));
    out
}

/// Group 1: one sender task, one actor, bounded(1024, Wait) mailbox.
pub fn tell_1to1(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    tell_1to1_with(rt, cfg, false)
}

/// Group 1 with an unbounded mailbox, the same as actix's `do_send`.
pub fn tell_1to1_unbounded(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    tell_1to1_with(rt, cfg, true)
}

fn tell_1to1_with(rt: &Runtime, cfg: &Config, unbounded: bool) -> Result<f64, String> {
    with_system(rt, |system| {
        let actor = harness::setup(rt, async { spawn_with(system, unbounded) })?;
        let mut sent = 0u64;
        measure(cfg, TELL_MESSAGES, |reps| {
            let actor = actor.clone();
            let want = sent + reps * TELL_MESSAGES;
            sent = want;
            run_batch(rt, async move {
                timed(async {
                    for _ in 0..reps * TELL_MESSAGES {
                        actor.tell(Msg::Add(1)).await.map_err(err)?;
                    }
                    // Barrier: the reply comes after every earlier message has been handled.
                    check_count("palisade", actor.ask(Msg::Get).await.map_err(err)?, want)
                })
                .await
            })
        })
    })
}

/// Group 2: 100 actors, messages sent round-robin by one task.
pub fn tell_round_robin(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    tell_round_robin_with(rt, cfg, false)
}

/// Group 2 with unbounded mailboxes, the same as actix's `do_send`.
pub fn tell_round_robin_unbounded(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    tell_round_robin_with(rt, cfg, true)
}

fn tell_round_robin_with(rt: &Runtime, cfg: &Config, unbounded: bool) -> Result<f64, String> {
    with_system(rt, |system| {
        let actors = harness::setup(rt, async {
            (0..ROUND_ROBIN_ACTORS)
                .map(|_| spawn_with(system, unbounded))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut sent = 0u64;
        measure(cfg, TELL_MESSAGES, |reps| {
            let actors = actors.clone();
            let want = sent + reps * TELL_MESSAGES;
            sent = want;
            run_batch(rt, async move {
                timed(async {
                    for i in 0..reps * TELL_MESSAGES {
                        let actor = &actors[(i % ROUND_ROBIN_ACTORS as u64) as usize];
                        actor.tell(Msg::Add(1)).await.map_err(err)?;
                    }
                    let mut total = 0;
                    for actor in &actors {
                        total += actor.ask(Msg::Get).await.map_err(err)?;
                    }
                    check_count("palisade", total, want)
                })
                .await
            })
        })
    })
}

/// Group 3: sequential `ask` (the reply travels through the `ReplyTo` in the message).
pub fn ask_round_trip(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    with_system(rt, |system| {
        let actor = harness::setup(rt, async { spawn_counter(system) })?;
        measure(cfg, ASK_ROUND_TRIPS, |reps| {
            let actor = actor.clone();
            run_batch(rt, async move {
                timed(async {
                    for _ in 0..reps * ASK_ROUND_TRIPS {
                        black_box(actor.ask(Msg::Get).await.map_err(err)?);
                    }
                    Ok(())
                })
                .await
            })
        })
    })
}

/// Group 4: spawn (anonymous: generated name, no name check), `stop()` (a signal that
/// runs `post_stop`), then `wait_stopped()` until the actor has ended.
pub fn spawn_stop(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    with_system(rt, |system| {
        measure(cfg, SPAWNS_PER_REP, |reps| {
            let system = system.clone();
            run_batch(rt, async move {
                let start = Instant::now();
                for _ in 0..reps * SPAWNS_PER_REP {
                    let actor = spawn_counter(&system)?;
                    actor.stop();
                    actor.handle().wait_stopped().await;
                }
                Ok::<Duration, String>(start.elapsed())
            })
        })
    })
}

/// Group 5: a supervised child that panics on `Boom`; one op is `tell(Boom)` then
/// `ask(Ping)` sent right after it, ending when the reply from the *next* incarnation
/// arrives (checked). One-for-one, no backoff, no intensity limit, bounded(1024) mailbox:
/// the same setup as `kameo_peer::restart_after_panic`. In Palisade the ask is never
/// bounced: it waits in the mailbox, which survives the restart.
pub fn restart_after_panic(rt: &Runtime, cfg: &Config) -> Option<Result<f64, String>> {
    Some(restart_after_panic_inner(rt, cfg))
}

struct Fragile;

enum FragileMsg {
    Boom,
    Ping(ReplyTo<u64>),
}

impl Actor for Fragile {
    type Msg = FragileMsg;

    async fn handle(&mut self, msg: FragileMsg, ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            FragileMsg::Boom => panic!("{}", crate::BOOM),
            FragileMsg::Ping(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
        }
        Ok(())
    }
}

fn restart_after_panic_inner(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    with_system(rt, |system| {
        let child = harness::setup(rt, async {
            let strategy = SupervisionStrategy::one_for_one()
                .backoff(Backoff::none())
                .intensity(u32::MAX, Duration::from_secs(1));
            let spec = ChildSpec::new("fragile", || Fragile).mailbox(MailboxConfig::bounded(
                MAILBOX_CAPACITY,
                OverflowPolicy::Wait,
            ));
            let sup = Supervisor::spawn(system, "sup", strategy, vec![spec]).map_err(err)?;
            sup.stats().await.map_err(err)?;
            sup.child::<FragileMsg>("fragile").map_err(err)
        })?;
        measure(cfg, RESTARTS_PER_REP, |reps| {
            let child = child.clone();
            run_batch(rt, async move {
                let mut incarnation = child.ask(FragileMsg::Ping).await.map_err(err)?;
                let start = Instant::now();
                for _ in 0..reps * RESTARTS_PER_REP {
                    child.tell(FragileMsg::Boom).await.map_err(err)?;
                    let next = child.ask(FragileMsg::Ping).await.map_err(err)?;
                    if next != incarnation + 1 {
                        return Err(format!(
                            "Ping answered by incarnation {next}, expected {}",
                            incarnation + 1
                        ));
                    }
                    incarnation = next;
                }
                Ok(start.elapsed())
            })
        })
        .map(|ns| ns / 1000.0)
    })
}

/// An idle actor taking plain `u64` messages: the raw floor's payload, so that the
/// mailbox block (32 slots of the message type, allocated by tokio up front) is the same.
struct Sink;

impl Actor for Sink {
    type Msg = u64;

    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> ActorResult {
        black_box(n);
        Ok(())
    }
}

/// Group 6 (child process): RSS delta over spawning 100,000 idle counters (refs kept).
pub fn memory(rt: &Runtime) -> Result<f64, String> {
    memory_of(rt, spawn_counter)
}

/// Group 6 (child process): the same with `u64` messages, as the raw floor.
pub fn memory_u64(rt: &Runtime) -> Result<f64, String> {
    memory_of(rt, |system| {
        system.spawn_with(mailbox(), || Sink).map_err(err)
    })
}

fn memory_of<M: Send + 'static>(
    rt: &Runtime,
    spawn: impl Fn(&ActorSystem) -> Result<ActorRef<M>, String>,
) -> Result<f64, String> {
    let system = rt.block_on(async { ActorSystem::new("bench") });
    rt.block_on(async {
        let mut refs: Vec<ActorRef<M>> = Vec::with_capacity(harness::MEMORY_ACTORS);
        // Warm-up: first spawn initialises the system's lazy state.
        let warm = spawn(&system)?;
        warm.stop();
        warm.handle().wait_stopped().await;
        harness::settle().await;

        let before = harness::rss_bytes()?;
        for _ in 0..harness::MEMORY_ACTORS {
            refs.push(spawn(&system)?);
        }
        harness::settle().await;
        let after = harness::rss_bytes()?;
        black_box(&refs);
        Ok(harness::per_actor(before, after))
    })
}
