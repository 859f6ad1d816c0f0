//! Restart latency: from a panic to the restarted actor handling the next message.
//! Run with `cargo bench -p palisade-supervision`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_actor_core::{Actor, ActorResult, ActorSystem, Context, ReplyTo};
use palisade_supervision::{Backoff, ChildSpec, SupervisionStrategy, Supervisor};

struct Fragile;

enum Msg {
    Boom,
    Ping(ReplyTo<()>),
}

impl Actor for Fragile {
    type Msg = Msg;
    async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            Msg::Boom => panic!("boom"),
            Msg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

fn restart(c: &mut Criterion) {
    std::panic::set_hook(Box::new(|_| {}));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sup = rt.block_on(async {
        let system = ActorSystem::new("bench");
        let strategy = SupervisionStrategy::one_for_one()
            .backoff(Backoff::none())
            .intensity(u32::MAX, Duration::from_secs(1));
        let sup = Supervisor::spawn(
            &system,
            "sup",
            strategy,
            vec![ChildSpec::new("f", || Fragile)],
        )
        .expect("supervisor");
        sup.stats().await.expect("started");
        sup
    });
    let child = sup.child::<Msg>("f").expect("child");
    c.bench_function("panic to restarted and handling", |b| {
        b.iter_custom(|iters| {
            let child = child.clone();
            rt.block_on(async move {
                // Driven from a runtime task, as application code would be.
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let _ = child.tell(Msg::Boom).await;
                        let _ = child.ask(Msg::Ping).await;
                    }
                    start.elapsed()
                })
                .await
                .expect("bench task")
            })
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = restart
}
criterion_main!(benches);
