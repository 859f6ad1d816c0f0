//! An event-sourced bank account on the embedded sled journal (temporary directory, no
//! service needed): commands become events, the account crashes, its supervisor restarts
//! it, and it recovers its balance from the newest snapshot plus the journal after it.
//! Then one customer order (a correlation) is replayed in isolation at 10x speed.
//!
//! Run: `cargo run -p palisade-examples --example event_sourced_account`

use std::sync::Arc;
use std::time::Duration;

use palisade::event_store::{Durability, EventStore, SledConfig, SledJournal};
use palisade::prelude::*;
use palisade::snapshot_store::{
    Effect, EventSourcedActor, Persistence, PersistentActor, ReplayController, ScenarioSpeed,
    SledSnapshotStore,
};
use serde::{Deserialize, Serialize};

struct Account;

enum Command {
    Deposit {
        amount: u64,
        order: String,
        reply: ReplyTo<u64>,
    },
    Withdraw {
        amount: u64,
        order: String,
        reply: ReplyTo<Result<u64, String>>,
    },
    Balance(ReplyTo<u64>),
    Crash,
}

#[derive(Serialize, Deserialize)]
enum AccountEvent {
    Deposited(u64),
    Withdrew(u64),
}

#[derive(Default, Serialize, Deserialize)]
struct AccountState {
    balance: u64,
}

impl EventSourcedActor for Account {
    type Command = Command;
    type Event = AccountEvent;
    type State = AccountState;

    fn persistence_id(&self) -> String {
        "account-42".into()
    }

    fn handle_command(
        &mut self,
        state: &AccountState,
        command: Command,
    ) -> Result<Effect<Self>, ActorError> {
        Ok(match command {
            Command::Deposit {
                amount,
                order,
                reply,
            } => Effect::<Self>::persist(vec![AccountEvent::Deposited(amount)])
                .correlation(order)
                .reply(reply, |s| s.balance),
            Command::Withdraw { amount, reply, .. } if amount > state.balance => {
                let _ = reply.send(Err(format!("insufficient funds ({})", state.balance)));
                Effect::<Self>::none()
            }
            Command::Withdraw {
                amount,
                order,
                reply,
            } => Effect::<Self>::persist(vec![AccountEvent::Withdrew(amount)])
                .correlation(order)
                .reply(reply, |s| Ok(s.balance)),
            Command::Balance(reply) => Effect::<Self>::none().reply(reply, |s| s.balance),
            Command::Crash => panic!("simulated crash in the account actor"),
        })
    }

    fn apply(state: &mut AccountState, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited(n) => state.balance += n,
            AccountEvent::Withdrew(n) => state.balance -= n,
        }
    }

    fn snapshot_every(&self) -> Option<u64> {
        Some(10)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::panic::set_hook(Box::new(|_| eprintln!("  (the account actor panicked)")));

    let journal =
        SledJournal::temporary_with(SledConfig::default().durability(Durability::Durable))?;
    let events = EventStore::new(Arc::new(journal));
    let persistence = Persistence {
        events: events.clone(),
        snapshots: Arc::new(SledSnapshotStore::temporary()?),
    };

    let system = ActorSystem::new("bank");
    let strategy = SupervisionStrategy::one_for_one().backoff(Backoff {
        restart_delay: Duration::from_millis(50),
        ..Backoff::default()
    });
    let p = persistence.clone();
    let sup = Supervisor::spawn(
        &system,
        "accounts",
        strategy,
        vec![ChildSpec::new("account-42", move || {
            PersistentActor::new(Account, p.clone())
        })],
    )?;
    sup.stats().await?;
    let account = sup.child::<Command>("account-42")?;

    let mut expected = 0u64;
    for i in 1..=25u64 {
        let order = format!("order-{}", i % 3);
        if i % 5 == 0 {
            let r = account
                .ask(|reply| Command::Withdraw {
                    amount: 30,
                    order,
                    reply,
                })
                .await?;
            if let Ok(balance) = r {
                expected = balance;
            }
        } else {
            expected = account
                .ask(|reply| Command::Deposit {
                    amount: 10 * i,
                    order,
                    reply,
                })
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    println!(
        "25 commands processed: balance {expected} (journal at sequence {})",
        events.highest_sequence("account-42").await?
    );

    account.tell(Command::Crash).await?;
    let balance = account.ask(Command::Balance).await?;
    let snapshots = persistence.snapshots.list("account-42").await?;
    println!(
        "crashed, restarted by its supervisor (incarnation {}), recovered from snapshot at {:?} + the journal after it",
        account.handle().incarnation(),
        snapshots.last()
    );
    println!(
        "balance after recovery: {balance} ({})",
        if balance == expected {
            "intact"
        } else {
            "LOST"
        }
    );

    println!("\nreplaying order-1 in isolation at 10x:");
    let controller = ReplayController::new(events);
    let mut replay = controller.replay_scenario::<Account>("order-1").await?;
    let started = tokio::time::Instant::now();
    replay
        .run(ScenarioSpeed::RealTime { factor: 10.0 }, |done, total| {
            if done == total || done % 3 == 0 {
                println!("  progress: {done}/{total} events, {:?}", started.elapsed());
            }
        })
        .await?;
    let replayed = replay.state("account-42").map_or(0, |s| s.balance);
    println!(
        "order-1's events alone leave a balance of {replayed} (the live account is untouched: {})",
        account.ask(Command::Balance).await?
    );

    system.shutdown(Duration::from_secs(5)).await;
    if balance != expected {
        return Err("the balance was not recovered".into());
    }
    Ok(())
}
