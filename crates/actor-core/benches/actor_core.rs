//! Hot paths of the actor core: tell, ask, spawn+stop. Run with
//! `cargo bench -p palisade-actor-core`; the peer comparison lives in `bench-compare/`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_actor_core::{Actor, ActorResult, ActorSystem, Context, ReplyTo, SpawnOptions};

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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `iters` rounds of `round` inside a runtime task (as application code would run,
/// rather than on criterion's thread) and returns the elapsed time.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, round: F) -> Duration
where
    F: FnOnce(u64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            round(iters).await;
            start.elapsed()
        })
        .await
        .expect("bench task")
    })
}

fn tell(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { ActorSystem::new("bench") });
    let counter = rt.block_on(async { system.spawn("counter", || Counter(0)).expect("spawn") });
    c.bench_function("tell 1:1 bounded(1024)", |b| {
        b.iter_custom(|iters| {
            let counter = counter.clone();
            timed(&rt, iters, move |iters| async move {
                for i in 0..iters {
                    let _ = counter.tell(Msg::Add(i)).await;
                }
                let _ = counter.ask(Msg::Get).await;
            })
        });
    });
}

/// The same as `tell`, with a lifecycle-event subscriber attached (timing off): the send
/// path must not notice it.
fn tell_with_event_subscriber(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { ActorSystem::new("bench") });
    let _events = system.subscribe_events();
    let counter = rt.block_on(async { system.spawn("counter", || Counter(0)).expect("spawn") });
    c.bench_function("tell 1:1 bounded(1024), event subscriber", |b| {
        b.iter_custom(|iters| {
            let counter = counter.clone();
            timed(&rt, iters, move |iters| async move {
                for i in 0..iters {
                    let _ = counter.tell(Msg::Add(i)).await;
                }
                let _ = counter.ask(Msg::Get).await;
            })
        });
    });
}

fn ask(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { ActorSystem::new("bench") });
    let counter = rt.block_on(async { system.spawn("counter", || Counter(0)).expect("spawn") });
    c.bench_function("ask round trip", |b| {
        b.iter_custom(|iters| {
            let counter = counter.clone();
            timed(&rt, iters, move |iters| async move {
                for _ in 0..iters {
                    let _ = counter.ask(Msg::Get).await;
                }
            })
        });
    });
}

fn spawn_stop(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { ActorSystem::new("bench") });
    c.bench_function("spawn and stop", |b| {
        b.iter_custom(|iters| {
            let system = system.clone();
            timed(&rt, iters, move |iters| async move {
                for _ in 0..iters {
                    let a = system
                        .spawn_with(SpawnOptions::anonymous(), || Counter(0))
                        .expect("spawn");
                    a.stop();
                    a.handle().wait_stopped().await;
                }
            })
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = tell, tell_with_event_subscriber, ask, spawn_stop
}
criterion_main!(benches);
