//! The example from README.md, kept compiling and running by `cargo xtask demos`.

use palisade::prelude::*;
use std::time::Duration;

struct Worker;
impl Actor for Worker {
    type Msg = u32;
    async fn handle(&mut self, job: u32, _ctx: &mut Context<Self>) -> ActorResult {
        assert!(job % 7 != 0, "poisoned job {job}"); // a panic fails only this actor
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::new("app");
    let strategy = SupervisionStrategy::one_for_one().intensity(10, Duration::from_secs(60));
    let root = RootSupervisor::start(&system, strategy, vec![ChildSpec::new("worker", || Worker)])?;
    root.stats().await?;
    let worker = root.child::<u32>("worker")?;
    for job in 1..=20 {
        worker.tell(job).await?; // the ref stays valid across restarts
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // two restarts, with backoff
    println!("{}", root.tree().await?); // restart counts per child
    system.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
