//! kameo 0.22: actors on tokio (2-worker multi-thread runtime), one `Message<T>` impl per
//! message type (messages are boxed into the mailbox as `BoxMessage<A>`).
//!
//! Mailboxes are bounded(1024) via `spawn_with_mailbox(.., mailbox::bounded(1024))`, the
//! same capacity as the raw floor (kameo's own default is bounded(64)). `tell(..).send()`
//! waits for room when the mailbox is full, like Palisade's `tell`. `.send()` is used
//! instead of `.await` on the request: the `IntoFuture` impl boxes the future, `send()`
//! does not, so this is kameo's fastest path.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn};
use kameo::error::{Infallible, SendError};
use kameo::mailbox;
use kameo::message::{Context, Message};
use kameo::supervision::RestartPolicy;
use tokio::runtime::Runtime;

use crate::harness::{self, Config, check_count, err, measure, run_batch, timed};
use crate::{
    ASK_ROUND_TRIPS, BOOM, MAILBOX_CAPACITY, RESTARTS_PER_REP, ROUND_ROBIN_ACTORS, SPAWNS_PER_REP,
    TELL_MESSAGES,
};

/// The `u64` counter.
struct Counter(u64);

impl Actor for Counter {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(state: Self, _actor_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(state)
    }
}

struct Add(u64);
struct Get;

impl Message<Add> for Counter {
    type Reply = ();

    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self, ()>) {
        self.0 += n;
    }
}

impl Message<Get> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _: Get, _ctx: &mut Context<Self, u64>) -> u64 {
        self.0
    }
}

fn spawn_counter() -> ActorRef<Counter> {
    Counter::spawn_with_mailbox(Counter(0), mailbox::bounded(MAILBOX_CAPACITY))
}

async fn get(actor: &ActorRef<Counter>) -> Result<u64, String> {
    actor.ask(Get).send().await.map_err(err)
}

/// kameo actors live while a strong ref exists; stop them explicitly anyway so nothing
/// lingers until the runtime shuts down.
fn stop_all(rt: &Runtime, actors: &[ActorRef<Counter>]) {
    rt.block_on(async {
        for actor in actors {
            actor.kill();
        }
    });
}

/// Group 1: one sender task, one actor, bounded(1024) mailbox.
pub fn tell_1to1(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actor = harness::setup(rt, async { Ok(spawn_counter()) })?;
    let mut sent = 0u64;
    let out = measure(cfg, TELL_MESSAGES, |reps| {
        let actor = actor.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * TELL_MESSAGES {
                    actor.tell(Add(1)).send().await.map_err(err)?;
                }
                // Barrier: the reply comes after every earlier message has been handled.
                check_count("kameo", get(&actor).await?, want)
            })
            .await
        })
    });
    stop_all(rt, std::slice::from_ref(&actor));
    out
}

/// Group 2: 100 actors, messages sent round-robin by one task.
pub fn tell_round_robin(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actors: Vec<_> = harness::setup(rt, async {
        Ok((0..ROUND_ROBIN_ACTORS).map(|_| spawn_counter()).collect())
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
                    actor.tell(Add(1)).send().await.map_err(err)?;
                }
                let mut total = 0;
                for actor in &actors {
                    total += get(actor).await?;
                }
                check_count("kameo", total, want)
            })
            .await
        })
    });
    stop_all(rt, &actors);
    out
}

/// Group 3: sequential `ask`.
pub fn ask_round_trip(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let actor = harness::setup(rt, async { Ok(spawn_counter()) })?;
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

/// Group 4: `spawn` (kameo's default spawn, bounded(64) mailbox), `stop_gracefully()` (a
/// stop signal through the mailbox that runs `on_stop`, like Palisade's `stop()`), then
/// `wait_for_shutdown()`. (`kill()` aborts the task instead; graceful is the comparable
/// contract.)
pub fn spawn_stop(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    measure(cfg, SPAWNS_PER_REP, |reps| {
        run_batch(rt, async move {
            let start = Instant::now();
            for _ in 0..reps * SPAWNS_PER_REP {
                let actor = Counter::spawn(Counter(0));
                actor.stop_gracefully().await.map_err(err)?;
                actor.wait_for_shutdown().await;
            }
            Ok::<Duration, String>(start.elapsed())
        })
    })
}

// --- Group 5: restart after panic --------------------------------------------------------

/// The supervisor: does nothing but supervise (default strategy OneForOne).
struct Supervisor;

impl Actor for Supervisor {
    type Args = ();
    type Error = Infallible;

    async fn on_start(_: (), _actor_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Supervisor)
    }
}

/// The supervised child: knows which incarnation it is (1 for the first start).
struct Worker {
    incarnation: u64,
}

impl Actor for Worker {
    /// Shared start counter, handed to every incarnation by the restart factory.
    type Args = Arc<AtomicU64>;
    type Error = Infallible;

    async fn on_start(
        starts: Arc<AtomicU64>,
        _actor_ref: ActorRef<Self>,
    ) -> Result<Self, Infallible> {
        Ok(Worker {
            incarnation: starts.fetch_add(1, Ordering::SeqCst) + 1,
        })
    }
}

struct Boom;
struct Ping;

impl Message<Boom> for Worker {
    type Reply = ();

    async fn handle(&mut self, _: Boom, _ctx: &mut Context<Self, ()>) {
        panic!("{}", BOOM);
    }
}

impl Message<Ping> for Worker {
    type Reply = u64;

    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self, u64>) -> u64 {
        self.incarnation
    }
}

/// Group 5: `Worker::supervise_with(&supervisor, factory)` with `RestartPolicy::Permanent`
/// and a restart limit that is never reached. One op: `tell(Boom)`, then `ask(Ping)` sent
/// right after it; the op ends when the reply from the *next* incarnation arrives (checked).
/// kameo may bounce an ask that reaches the dying instance with `ActorRestarting` ("safe to
/// retry against the new incarnation"); such an ask is retried and the retry is part of the
/// measured time.
pub fn restart_after_panic(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let (supervisor, child) = harness::setup(rt, async {
        let supervisor = Supervisor::spawn(());
        let starts = Arc::new(AtomicU64::new(0));
        let child = Worker::supervise_with(&supervisor, move || starts.clone())
            .restart_policy(RestartPolicy::Permanent)
            .restart_limit(u32::MAX, Duration::from_secs(1))
            .spawn_with_mailbox(mailbox::bounded(MAILBOX_CAPACITY))
            .await;
        Ok((supervisor, child))
    })?;
    let out = measure(cfg, RESTARTS_PER_REP, |reps| {
        let child = child.clone();
        run_batch(rt, async move {
            let mut incarnation = child.ask(Ping).send().await.map_err(err)?;
            let start = Instant::now();
            for _ in 0..reps * RESTARTS_PER_REP {
                child.tell(Boom).send().await.map_err(err)?;
                let next = loop {
                    match child.ask(Ping).send().await {
                        Ok(n) => break n,
                        Err(SendError::ActorRestarting(_)) => continue,
                        Err(e) => return Err(err(e)),
                    }
                };
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
    });
    rt.block_on(async {
        supervisor.kill();
        child.kill();
    });
    out.map(|ns| ns / 1000.0)
}

/// Group 6 (child process): RSS delta over spawning 100,000 idle counters with bounded(1024)
/// mailboxes (refs kept).
pub fn memory(rt: &Runtime) -> Result<f64, String> {
    rt.block_on(async {
        let mut refs: Vec<ActorRef<Counter>> = Vec::with_capacity(harness::MEMORY_ACTORS);
        let warm = spawn_counter();
        warm.stop_gracefully().await.map_err(err)?;
        warm.wait_for_shutdown().await;
        harness::settle().await;

        let before = harness::rss_bytes()?;
        for _ in 0..harness::MEMORY_ACTORS {
            refs.push(spawn_counter());
        }
        harness::settle().await;
        let after = harness::rss_bytes()?;
        black_box(&refs);
        Ok(harness::per_actor(before, after))
    })
}
