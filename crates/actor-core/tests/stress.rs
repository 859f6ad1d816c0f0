//! Stress: many senders on many threads while actors are being stopped. Every message
//! is either handled or dead-lettered: `sent = handled + dead-lettered`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_actor_core::{
    Actor, ActorResult, ActorSystem, Context, MailboxConfig, OverflowPolicy, SendError,
    SpawnOptions,
};

struct Sink(Arc<AtomicU64>);

impl Actor for Sink {
    type Msg = u64;
    async fn handle(&mut self, _n: u64, _ctx: &mut Context<Self>) -> ActorResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn no_message_is_lost_while_actors_stop_under_load() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let system = ActorSystem::new("stress");
        let handled = Arc::new(AtomicU64::new(0));
        let policies = [OverflowPolicy::Wait, OverflowPolicy::DropToDeadLetters];
        let actors: Vec<_> = (0..64)
            .map(|i| {
                let h = handled.clone();
                let mailbox = MailboxConfig::bounded(64, policies[i % 2]);
                system
                    .spawn_with(
                        SpawnOptions::named(format!("a{i}")).mailbox(mailbox),
                        move || Sink(h.clone()),
                    )
                    .expect("spawn")
            })
            .collect();
        let actors = Arc::new(actors);
        let sent = Arc::new(AtomicU64::new(0));
        let senders: Vec<_> = (0..8u64)
            .map(|s| {
                let (actors, sent) = (actors.clone(), sent.clone());
                tokio::spawn(async move {
                    for i in 0..40_000u64 {
                        let a = &actors[((s * 7919 + i) % actors.len() as u64) as usize];
                        sent.fetch_add(1, Ordering::Relaxed);
                        match a.tell(i).await {
                            Ok(())
                            | Err(SendError::ActorStopped { .. } | SendError::Dropped { .. }) => {}
                            Err(SendError::MailboxFull { .. }) => {
                                unreachable!("no reject policy here")
                            }
                        }
                    }
                })
            })
            .collect();
        // Stop half of the actors while the senders run.
        for (i, a) in actors.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            tokio::time::sleep(Duration::from_micros(200 + i as u64)).await;
            a.stop();
        }
        for s in senders {
            s.await.expect("sender");
        }
        system.shutdown(Duration::from_secs(30)).await;
        let sent = sent.load(Ordering::Relaxed);
        let handled = handled.load(Ordering::Relaxed);
        let dead = system.dead_letter_count();
        assert_eq!(sent, 320_000);
        assert_eq!(
            sent,
            handled + dead,
            "sent {sent} = handled {handled} + dead-lettered {dead}"
        );
        assert!(dead > 0 && handled > 0);
    });
}
