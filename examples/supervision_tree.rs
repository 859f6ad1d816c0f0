//! A supervision tree under fire: workers panic on poisoned jobs, are restarted with
//! exponential backoff (their refs and queued jobs intact), a rest-for-one pipeline
//! restarts the stages after a failed one, and the tree is printed with restart counts.
//!
//! Run: `cargo run -p palisade-examples --example supervision_tree`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade::prelude::*;

/// A worker that panics on poisoned jobs. Completed jobs are counted outside the actor
/// so that the count survives restarts (the instance's own state does not).
struct Worker {
    done: Arc<AtomicU32>,
}

enum Job {
    Process(u32),
    Done(ReplyTo<u32>),
}

impl Actor for Worker {
    type Msg = Job;

    async fn handle(&mut self, job: Job, _ctx: &mut Context<Self>) -> ActorResult {
        match job {
            Job::Process(n) if n % 7 == 0 => panic!("poisoned job {n}"),
            Job::Process(_) => {
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            Job::Done(reply) => {
                let _ = reply.send(self.done.load(Ordering::Relaxed));
            }
        }
        Ok(())
    }
}

/// A pipeline stage that fails (returns an error) on a bad record.
struct Stage;

impl Actor for Stage {
    type Msg = &'static str;

    async fn handle(&mut self, record: &'static str, _ctx: &mut Context<Self>) -> ActorResult {
        if record == "corrupt" {
            return Err(ActorError::msg("cannot parse a corrupt record"));
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Panics are expected here; print them as one line each instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("  (panic: {})", panic_text(info))
    }));

    let system = ActorSystem::new("demo");
    let mut events = system.subscribe_events();

    let backoff = Backoff {
        restart_delay: Duration::from_millis(20),
        backoff_multiplier: 2.0,
        max_restart_delay: Duration::from_millis(200),
        jitter: 0.1,
        reset_after: Duration::from_secs(5),
    };
    let done = Arc::new(AtomicU32::new(0));
    let workers = (1..=3).map(|i| {
        let done = done.clone();
        ChildSpec::new(format!("worker-{i}"), move || Worker { done: done.clone() })
    });
    let ingest = ChildSpec::supervisor(
        "ingest",
        SupervisionStrategy::one_for_one()
            .intensity(20, Duration::from_secs(10))
            .backoff(backoff),
        workers.collect(),
    )?;
    let pipeline = ChildSpec::supervisor(
        "pipeline",
        SupervisionStrategy::rest_for_one().backoff(Backoff::none()),
        vec![
            ChildSpec::new("parser", || Stage),
            ChildSpec::new("enricher", || Stage),
            ChildSpec::new("writer", || Stage),
        ],
    )?;
    let root = RootSupervisor::start(
        &system,
        SupervisionStrategy::one_for_one(),
        vec![ingest, pipeline],
    )?;
    root.stats().await?;

    let ingest = SupervisorRef::lookup(&system, "/user/root/ingest")?;
    let pipeline = SupervisorRef::lookup(&system, "/user/root/pipeline")?;
    ingest.stats().await?;
    pipeline.stats().await?;

    println!("sending 60 jobs to 3 workers; every 7th job is poisoned");
    let refs: Vec<ActorRef<Job>> = (1..=3)
        .map(|i| ingest.child::<Job>(&format!("worker-{i}")))
        .collect::<Result<_, _>>()?;
    for n in 1..=60u32 {
        refs[(n % 3) as usize].tell(Job::Process(n)).await?;
    }
    let mut done = 0;
    for r in &refs {
        // Queued behind that worker's jobs: answered once all of them are handled, by
        // whichever instance runs by then.
        done = r.ask(Job::Done).await?;
    }
    println!("jobs completed: {done} of 60 ({} poisoned)", 60 / 7);

    println!("sending a corrupt record into the middle of the pipeline");
    pipeline
        .child::<&'static str>("enricher")?
        .tell("corrupt")
        .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;

    println!("\nlifecycle events:");
    while let Some(Ok(event)) = events.try_recv() {
        match event {
            LifecycleEvent::Restarted {
                path,
                incarnation,
                reason,
                ..
            } => {
                println!("  restarted {path} (incarnation {incarnation}): {reason}");
            }
            LifecycleEvent::Failed(f) => println!("  failed    {f}"),
            _ => {}
        }
    }

    let tree = root.tree().await?;
    println!("\nsupervision tree:\n{tree}");
    println!("total restarts: {}", tree.total_restarts());
    println!(
        "dead letters (the failed messages): {}",
        system.dead_letter_count()
    );

    let expected_worker_restarts = (60 / 7) as u64;
    let ingest_restarts: u64 = ingest
        .stats()
        .await?
        .children
        .iter()
        .map(|c| c.restarts)
        .sum();
    let report = system.shutdown(Duration::from_secs(5)).await;
    println!(
        "shutdown: {} stopped, {} killed",
        report.stopped, report.killed
    );

    if ingest_restarts != expected_worker_restarts || done != 60 - 8 {
        return Err(format!("unexpected: {ingest_restarts} restarts, {done} jobs").into());
    }
    Ok(())
}

fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
