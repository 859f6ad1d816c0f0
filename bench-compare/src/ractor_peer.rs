//! ractor 0.16: Erlang-style actors on tokio (2-worker multi-thread runtime).
//!
//! ractor's mailboxes are unbounded (no capacity option), so its tell rows are marked
//! "(unbounded)": `cast` never waits, which is a different contract from the bounded
//! mailboxes of the other rows. The actor is the same `u64` counter; ractor keeps the
//! state outside the handler struct (`type State = u64`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, call};
use tokio::runtime::Runtime;

use crate::harness::{self, Config, check_count, err, measure, run_batch, timed};
use crate::{ASK_ROUND_TRIPS, ROUND_ROBIN_ACTORS, SPAWNS_PER_REP, TELL_MESSAGES};

struct Counter;

enum Msg {
    Add(u64),
    Get(RpcReplyPort<u64>),
}

impl Actor for Counter {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Msg>,
        _args: (),
    ) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        msg: Msg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Add(n) => *count += n,
            Msg::Get(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// `Actor::spawn(None, ..)`: unnamed (no registry entry); awaits `pre_start`.
async fn spawn_counter() -> Result<ActorRef<Msg>, String> {
    let (actor, _join) = Actor::spawn(None, Counter, ()).await.map_err(err)?;
    Ok(actor)
}

async fn get(actor: &ActorRef<Msg>) -> Result<u64, String> {
    call!(actor, Msg::Get).map_err(err)
}

/// ractor actors are not stopped by dropping their refs: stop them explicitly.
fn stop_all(rt: &Runtime, actors: &[ActorRef<Msg>]) {
    rt.block_on(async {
        for actor in actors {
            actor.stop(None);
        }
    });
}

/// Group 1: one sender task, one actor, `cast` (unbounded mailbox).
pub fn tell_1to1(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actor = harness::setup(rt, spawn_counter())?;
    let mut sent = 0u64;
    let out = measure(cfg, TELL_MESSAGES, |reps| {
        let actor = actor.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * TELL_MESSAGES {
                    actor.cast(Msg::Add(1)).map_err(err)?;
                }
                // Barrier: the reply comes after every earlier message has been handled.
                check_count("ractor", get(&actor).await?, want)
            })
            .await
        })
    });
    stop_all(rt, std::slice::from_ref(&actor));
    out
}

/// Group 2: 100 actors, `cast` round-robin by one task.
pub fn tell_round_robin(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actors = harness::setup(rt, async {
        let mut actors = Vec::with_capacity(ROUND_ROBIN_ACTORS);
        for _ in 0..ROUND_ROBIN_ACTORS {
            actors.push(spawn_counter().await?);
        }
        Ok(actors)
    })?;
    let mut sent = 0u64;
    let out = measure(cfg, TELL_MESSAGES, |reps| {
        let actors = actors.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(rt, async move {
            timed(async {
                for i in 0..reps * TELL_MESSAGES {
                    let actor = &actors[(i % ROUND_ROBIN_ACTORS as u64) as usize];
                    actor.cast(Msg::Add(1)).map_err(err)?;
                }
                let mut total = 0;
                for actor in &actors {
                    total += get(actor).await?;
                }
                check_count("ractor", total, want)
            })
            .await
        })
    });
    stop_all(rt, &actors);
    out
}

/// Group 3: sequential `call!` with an `RpcReplyPort`.
pub fn ask_round_trip(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actor = harness::setup(rt, spawn_counter())?;
    let out = measure(cfg, ASK_ROUND_TRIPS, |reps| {
        let actor = actor.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * ASK_ROUND_TRIPS {
                    black_box(get(&actor).await?);
                }
                Ok(())
            })
            .await
        })
    });
    stop_all(rt, std::slice::from_ref(&actor));
    out
}

/// Group 4: `Actor::spawn(None, ..)` (returns once `pre_start` has run), `stop(None)`
/// (a stop signal, runs `post_stop`), then await the spawn's JoinHandle.
pub fn spawn_stop(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    measure(cfg, SPAWNS_PER_REP, |reps| {
        run_batch(rt, async move {
            let start = Instant::now();
            for _ in 0..reps * SPAWNS_PER_REP {
                let (actor, join) = Actor::spawn(None, Counter, ()).await.map_err(err)?;
                actor.stop(None);
                join.await.map_err(err)?;
            }
            Ok::<Duration, String>(start.elapsed())
        })
    })
}

/// Group 6 (child process): RSS delta over spawning 100,000 idle counters (refs kept).
pub fn memory(rt: &Runtime) -> Result<f64, String> {
    rt.block_on(async {
        let mut refs: Vec<ActorRef<Msg>> = Vec::with_capacity(harness::MEMORY_ACTORS);
        let (warm, join) = Actor::spawn(None, Counter, ()).await.map_err(err)?;
        warm.stop(None);
        join.await.map_err(err)?;
        harness::settle().await;

        let before = harness::rss_bytes()?;
        for _ in 0..harness::MEMORY_ACTORS {
            refs.push(spawn_counter().await?);
        }
        harness::settle().await;
        let after = harness::rss_bytes()?;
        black_box(&refs);
        Ok(harness::per_actor(before, after))
    })
}
