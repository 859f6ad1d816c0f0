//! Stress: 10,000 supervised actors, one handler in a hundred panics, a million messages.
//! The system stays up, every panic leads to exactly one restart, and
//! `sent = handled + dead-lettered` holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_actor_core::{Actor, ActorRef, ActorResult, ActorSystem, Context, ReplyTo};
use palisade_supervision::{Backoff, ChildSpec, SupervisionStrategy, Supervisor};

const SUPERVISORS: usize = 100;
const PER_SUPERVISOR: usize = 100;
const MESSAGES: u64 = 1_000_000;
const SENDERS: u64 = 8;

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    panics: AtomicU64,
}

struct Worker(Arc<Counters>);

enum Msg {
    Work(u64),
    Drain(ReplyTo<()>),
}

impl Actor for Worker {
    type Msg = Msg;
    async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            Msg::Work(n) if n % 100 == 99 => {
                self.0.panics.fetch_add(1, Ordering::Relaxed);
                panic!("stress panic {n}");
            }
            Msg::Work(_) => {
                self.0.handled.fetch_add(1, Ordering::Relaxed);
            }
            Msg::Drain(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

#[test]
fn ten_thousand_actors_survive_a_million_messages_with_panics() {
    // Ten thousand panics would flood the output; the failures are checked below.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let system = ActorSystem::new("stress");
        let counters = Arc::new(Counters::default());
        let strategy = SupervisionStrategy::one_for_one()
            .backoff(Backoff::none())
            .intensity(u32::MAX, Duration::from_secs(1));
        let mut sups = Vec::new();
        for s in 0..SUPERVISORS {
            let specs = (0..PER_SUPERVISOR)
                .map(|w| {
                    let c = counters.clone();
                    ChildSpec::new(format!("w{w}"), move || Worker(c.clone()))
                })
                .collect();
            sups.push(
                Supervisor::spawn(&system, &format!("s{s}"), strategy.clone(), specs).expect("sup"),
            );
        }
        let mut workers: Vec<ActorRef<Msg>> = Vec::new();
        for sup in &sups {
            sup.stats().await.expect("started");
            for w in 0..PER_SUPERVISOR {
                workers.push(sup.child::<Msg>(&format!("w{w}")).expect("worker"));
            }
        }
        let workers = Arc::new(workers);
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let workers = workers.clone();
                tokio::spawn(async move {
                    let per = MESSAGES / SENDERS;
                    for i in 0..per {
                        let n = s * per + i;
                        let target = &workers[(n as usize) % workers.len()];
                        target.tell(Msg::Work(n)).await.expect("tell");
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.expect("sender");
        }
        // Every Work message is queued ahead of this Drain in each mailbox.
        for w in workers.iter() {
            w.ask(Msg::Drain).await.expect("drain");
        }
        let handled = counters.handled.load(Ordering::Relaxed);
        let panics = counters.panics.load(Ordering::Relaxed);
        let dead = system.dead_letter_count();
        assert_eq!(panics, MESSAGES / 100);
        assert_eq!(MESSAGES, handled + dead, "sent = handled + dead-lettered");
        assert_eq!(dead, panics, "each failed message is dead-lettered once");
        let restarts: u64 = workers.iter().map(|w| w.handle().incarnation() - 1).sum();
        assert_eq!(restarts, panics, "exactly one restart per panic");
        let mut stats_restarts = 0;
        for sup in &sups {
            stats_restarts += sup
                .stats()
                .await
                .expect("stats")
                .children
                .iter()
                .map(|c| c.restarts)
                .sum::<u64>();
        }
        assert_eq!(stats_restarts, panics);
        assert!(
            workers.iter().all(ActorRef::is_alive),
            "the system stays up"
        );
        system.shutdown(Duration::from_secs(30)).await;
        assert_eq!(system.actor_count(), 0);
    });
}
