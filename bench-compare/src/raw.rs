//! Raw tokio: the physical floor. An "actor" here is a task owning a `u64` counter and the
//! receiving half of a `tokio::sync::mpsc` channel; a request is a `oneshot` reply sender in
//! the message. This is exactly the machinery an actor framework on tokio builds upon, with
//! no framework on top.
//!
//! Runtime-agnostic: every case takes the runtime it runs on (multi-thread or
//! current-thread, chosen in `main`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use crate::harness::{self, Config, check_count, err, measure, run_batch, timed};
use crate::{ASK_ROUND_TRIPS, MAILBOX_CAPACITY, ROUND_ROBIN_ACTORS, SPAWNS_PER_REP, TELL_MESSAGES};

/// Same shape as the actor messages: an increment, or a read with a reply channel.
enum RawMsg {
    Add(u64),
    Get(oneshot::Sender<u64>),
}

type Tx = mpsc::Sender<RawMsg>;

/// The receiver loop: what an actor's run loop is without a framework.
async fn counter_loop(mut rx: mpsc::Receiver<RawMsg>) {
    let mut count = 0u64;
    while let Some(msg) = rx.recv().await {
        match msg {
            RawMsg::Add(n) => count += n,
            RawMsg::Get(reply) => {
                let _ = reply.send(count);
            }
        }
    }
}

fn spawn_counter() -> Tx {
    let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
    tokio::spawn(counter_loop(rx));
    tx
}

async fn ask(tx: &Tx) -> Result<u64, String> {
    let (reply, rx) = oneshot::channel();
    tx.send(RawMsg::Get(reply))
        .await
        .map_err(|_| "receiver gone".to_owned())?;
    rx.await.map_err(err)
}

/// Group 1: one sender, one receiver task, bounded channel of 1024.
pub fn tell_1to1(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let tx = harness::setup(rt, async { Ok(spawn_counter()) })?;
    let mut sent = 0u64;
    measure(cfg, TELL_MESSAGES, |reps| {
        let tx = tx.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * TELL_MESSAGES {
                    tx.send(RawMsg::Add(1)).await.map_err(|_| "receiver gone")?;
                }
                // Barrier: the reply comes after every earlier message has been handled.
                check_count("raw", ask(&tx).await?, want)
            })
            .await
        })
    })
}

/// Group 2: 100 receiver tasks, messages sent round-robin.
pub fn tell_round_robin(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let txs: Vec<Tx> = harness::setup(rt, async {
        Ok((0..ROUND_ROBIN_ACTORS).map(|_| spawn_counter()).collect())
    })?;
    let mut sent = 0u64;
    measure(cfg, TELL_MESSAGES, |reps| {
        let txs = txs.clone();
        let want = sent + reps * TELL_MESSAGES;
        sent = want;
        run_batch(rt, async move {
            timed(async {
                for i in 0..reps * TELL_MESSAGES {
                    let tx = &txs[(i % ROUND_ROBIN_ACTORS as u64) as usize];
                    tx.send(RawMsg::Add(1)).await.map_err(|_| "receiver gone")?;
                }
                let mut total = 0;
                for tx in &txs {
                    total += ask(tx).await?;
                }
                check_count("raw", total, want)
            })
            .await
        })
    })
}

/// Group 3: sequential request/reply (mpsc there, oneshot back).
pub fn ask_round_trip(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    let tx = harness::setup(rt, async { Ok(spawn_counter()) })?;
    measure(cfg, ASK_ROUND_TRIPS, |reps| {
        let tx = tx.clone();
        run_batch(rt, async move {
            timed(async {
                for _ in 0..reps * ASK_ROUND_TRIPS {
                    black_box(ask(&tx).await?);
                }
                Ok(())
            })
            .await
        })
    })
}

/// Group 4: spawn a receiver task, close its channel (the loop ends) and await its
/// JoinHandle.
pub fn spawn_stop(rt: &Runtime, cfg: &Config) -> Result<f64, String> {
    measure(cfg, SPAWNS_PER_REP, |reps| {
        run_batch(rt, async move {
            let start = Instant::now();
            for _ in 0..reps * SPAWNS_PER_REP {
                let (tx, rx) = mpsc::channel::<RawMsg>(MAILBOX_CAPACITY);
                let task = tokio::spawn(counter_loop(rx));
                drop(tx);
                task.await.map_err(err)?;
            }
            Ok::<Duration, String>(start.elapsed())
        })
    })
}

/// Group 6 floor (child process): 100,000 tasks, each awaiting a bounded mpsc channel of
/// capacity 1024 carrying `u64`; the senders are kept.
pub fn memory(rt: &Runtime) -> Result<f64, String> {
    rt.block_on(async {
        let mut txs: Vec<mpsc::Sender<u64>> = Vec::with_capacity(harness::MEMORY_ACTORS);
        // Warm-up: first task and channel allocations.
        let (tx, mut rx) = mpsc::channel::<u64>(MAILBOX_CAPACITY);
        tokio::spawn(async move {
            while let Some(v) = rx.recv().await {
                black_box(v);
            }
        });
        drop(tx);
        harness::settle().await;

        let before = harness::rss_bytes()?;
        for _ in 0..harness::MEMORY_ACTORS {
            let (tx, mut rx) = mpsc::channel::<u64>(MAILBOX_CAPACITY);
            tokio::spawn(async move {
                while let Some(v) = rx.recv().await {
                    black_box(v);
                }
            });
            txs.push(tx);
        }
        harness::settle().await;
        let after = harness::rss_bytes()?;
        black_box(&txs);
        Ok(harness::per_actor(before, after))
    })
}
