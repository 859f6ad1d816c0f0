//! actix 0.13 on its own single-thread `System` (actix-rt: a tokio current-thread runtime
//! plus a `LocalSet`). Its rows are in the `(current-thread)` groups, next to Palisade and
//! raw tokio on a tokio current-thread runtime.
//!
//! The actor is the same `u64` counter; messages are one type each (`Add`, `Get`) with a
//! `Handler` impl per type. The mailbox capacity is set to 1024 in `started`
//! (`ctx.set_mailbox_capacity(1024)`; actix's default is 16). Note that actix's only
//! fire-and-forget send, `do_send`, ignores that capacity (it never waits), and `send`
//! waits for the handler's result, i.e. it is an ask; so the tell rows use `do_send` and are
//! marked as not bounded.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler, Message};
use actix_rt::{System, SystemRunner};
use tokio::sync::oneshot;

use crate::harness::{self, BATCH_TIMEOUT, Config, check_count, err, measure, timed};
use crate::{ASK_ROUND_TRIPS, MAILBOX_CAPACITY, ROUND_ROBIN_ACTORS, SPAWNS_PER_REP, TELL_MESSAGES};

struct Counter(u64);

impl Actor for Counter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

struct Add(u64);
struct Get;

impl Message for Add {
    type Result = ();
}

impl Message for Get {
    type Result = u64;
}

impl Handler<Add> for Counter {
    type Result = ();

    fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) {
        self.0 += n;
    }
}

impl Handler<Get> for Counter {
    type Result = u64;

    fn handle(&mut self, _: Get, _ctx: &mut Context<Self>) -> u64 {
        self.0
    }
}

async fn get(actor: &Addr<Counter>) -> Result<u64, String> {
    actor.send(Get).await.map_err(err)
}

/// Runs `case` with a fresh actix System (dropped afterwards, with its actors).
pub fn with_system<T>(case: impl FnOnce(&SystemRunner) -> T) -> T {
    let system = System::new();
    let out = case(&system);
    drop(system);
    out
}

/// The actix counterpart of `harness::run_batch`: spawns `work` on the System's arbiter
/// (the futures are `!Send`) and waits for it, at most [`BATCH_TIMEOUT`].
fn run_batch<F>(system: &SystemRunner, work: F) -> Result<Duration, String>
where
    F: Future<Output = Result<Duration, String>> + 'static,
{
    system.block_on(async move {
        match tokio::time::timeout(BATCH_TIMEOUT, actix_rt::spawn(work)).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(format!("task failed: {join}")),
            Err(_) => Err(format!("timed out after {BATCH_TIMEOUT:?}")),
        }
    })
}

/// Group 1 (current-thread): one sender task, one actor, `do_send` (never waits).
pub fn tell_1to1(system: &SystemRunner, cfg: &Config) -> Result<f64, String> {
    let actor = system.block_on(async { Counter(0).start() });
    let mut sent = 0u64;
    measure(cfg, TELL_MESSAGES, |reps| {
        let actor = actor.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(system, async move {
            timed(async {
                for _ in 0..reps * TELL_MESSAGES {
                    actor.do_send(Add(1));
                }
                // Barrier: the reply comes after every earlier message has been handled.
                check_count("actix", get(&actor).await?, want)
            })
            .await
        })
    })
}

/// Group 2 (current-thread): 100 actors, `do_send` round-robin by one task.
pub fn tell_round_robin(system: &SystemRunner, cfg: &Config) -> Result<f64, String> {
    let actors: Vec<Addr<Counter>> = system.block_on(async {
        (0..ROUND_ROBIN_ACTORS)
            .map(|_| Counter(0).start())
            .collect()
    });
    let mut sent = 0u64;
    measure(cfg, TELL_MESSAGES, |reps| {
        let actors = actors.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(system, async move {
            timed(async {
                for i in 0..reps * TELL_MESSAGES {
                    actors[(i % ROUND_ROBIN_ACTORS as u64) as usize].do_send(Add(1));
                }
                let mut total = 0;
                for actor in &actors {
                    total += get(actor).await?;
                }
                check_count("actix", total, want)
            })
            .await
        })
    })
}

/// Group 3 (current-thread): sequential `addr.send(Get).await`.
pub fn ask_round_trip(system: &SystemRunner, cfg: &Config) -> Result<f64, String> {
    let actor = system.block_on(async { Counter(0).start() });
    measure(cfg, ASK_ROUND_TRIPS, |reps| {
        let actor = actor.clone();
        run_batch(system, async move {
            timed(async {
                for _ in 0..reps * ASK_ROUND_TRIPS {
                    black_box(get(&actor).await?);
                }
                Ok(())
            })
            .await
        })
    })
}

/// For group 4 only: the counter plus a oneshot fired from `stopped()`, since actix has no
/// "wait until this actor has stopped" on `Addr`. (Palisade's `wait_stopped`, kameo's
/// `wait_for_shutdown` and ractor's JoinHandle are the same kind of notification, built in.)
struct Stoppable {
    count: u64,
    stopped: Option<oneshot::Sender<()>>,
}

impl Actor for Stoppable {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        black_box(self.count);
        if let Some(done) = self.stopped.take() {
            let _ = done.send(());
        }
    }
}

/// Group 4 (current-thread): `Actor::start`, then stop by dropping the only `Addr` (an
/// actix actor stops once no address is left and its mailbox is empty), then await the
/// `stopped()` notification. Dropping the address was the fastest correct way: a `Stop`
/// message whose handler calls `ctx.stop()` measured ~10% slower (one more mailbox round)
/// and ends the actor the same way.
pub fn spawn_stop(system: &SystemRunner, cfg: &Config) -> Result<f64, String> {
    measure(cfg, SPAWNS_PER_REP, |reps| {
        run_batch(system, async move {
            let start = Instant::now();
            for _ in 0..reps * SPAWNS_PER_REP {
                let (done, stopped) = oneshot::channel();
                let addr = Stoppable {
                    count: 0,
                    stopped: Some(done),
                }
                .start();
                drop(addr);
                stopped.await.map_err(err)?;
            }
            Ok(start.elapsed())
        })
    })
}

/// Group 6 (child process): RSS delta over starting 100,000 idle counters (addrs kept).
pub fn memory(system: &SystemRunner) -> Result<f64, String> {
    system.block_on(async {
        let mut refs: Vec<Addr<Counter>> = Vec::with_capacity(harness::MEMORY_ACTORS);
        let warm = Counter(0).start();
        get(&warm).await?;
        drop(warm);
        harness::settle().await;

        let before = harness::rss_bytes()?;
        for _ in 0..harness::MEMORY_ACTORS {
            refs.push(Counter(0).start());
        }
        harness::settle().await;
        let after = harness::rss_bytes()?;
        black_box(&refs);
        Ok(harness::per_actor(before, after))
    })
}
