//! The actor core on its own: tell and ask, a bounded mailbox with backpressure, a
//! watch, scheduled messages, and dead letters for what could not be delivered.
//!
//! Run: `cargo run -p palisade-examples --example actor_basics`

use std::time::Duration;

use palisade::prelude::*;

#[derive(Default)]
struct Account {
    balance: i64,
}

enum AccountMsg {
    Deposit(i64),
    Withdraw(i64, ReplyTo<Result<i64, String>>),
    Balance(ReplyTo<i64>),
}

impl Actor for Account {
    type Msg = AccountMsg;

    async fn handle(&mut self, msg: AccountMsg, _ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            AccountMsg::Deposit(n) => self.balance += n,
            AccountMsg::Withdraw(n, reply) => {
                let result = if n <= self.balance {
                    self.balance -= n;
                    Ok(self.balance)
                } else {
                    Err(format!(
                        "insufficient funds: balance {}, asked {n}",
                        self.balance
                    ))
                };
                let _ = reply.send(result);
            }
            AccountMsg::Balance(reply) => {
                let _ = reply.send(self.balance);
            }
        }
        Ok(())
    }
}

/// Watches the account and reports when it ends.
struct Auditor {
    account: ActorHandle,
}

impl Actor for Auditor {
    type Msg = ReplyTo<()>;

    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        ctx.watch(&self.account);
        Ok(())
    }

    async fn handle(&mut self, reply: ReplyTo<()>, _ctx: &mut Context<Self>) -> ActorResult {
        let _ = reply.send(());
        Ok(())
    }

    async fn on_terminated(&mut self, t: Terminated, _ctx: &mut Context<Self>) -> ActorResult {
        println!("auditor: {} ended ({})", t.path, t.reason);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::new("basics");
    let options =
        SpawnOptions::named("account").mailbox(MailboxConfig::bounded(64, OverflowPolicy::Wait));
    let account = system.spawn_with(options, Account::default)?;
    println!("spawned {account}");

    for _ in 0..100 {
        account.tell(AccountMsg::Deposit(10)).await?; // waits whenever the mailbox is full
    }
    println!(
        "balance after 100 deposits: {}",
        account.ask(AccountMsg::Balance).await?
    );
    match account.ask(|r| AccountMsg::Withdraw(5_000, r)).await? {
        Ok(left) => println!("withdrew, {left} left"),
        Err(why) => println!("withdrawal refused: {why}"),
    }

    let timer = account.send_interval(Duration::from_millis(10), || AccountMsg::Deposit(1));
    tokio::time::sleep(Duration::from_millis(55)).await;
    timer.cancel();
    println!(
        "balance after the interval deposits: {}",
        account.ask(AccountMsg::Balance).await?
    );

    let handle = account.handle();
    let auditor = system.spawn("auditor", move || Auditor {
        account: handle.clone(),
    })?;
    auditor.ask(|r| r).await?;

    let mut letters = system.subscribe_dead_letters();
    account.stop();
    let reason = account.handle().wait_stopped().await;
    println!("account stopped: {reason}");
    if let Err(e) = account.tell(AccountMsg::Deposit(1)).await {
        println!("late deposit refused: {e}");
    }
    let letter = letters.recv().await?;
    println!(
        "dead letter: {} to {} ({:?})",
        letter.message_type, letter.path, letter.reason
    );
    auditor.ask(|r| r).await?;

    let lookup = system.lookup::<ReplyTo<()>>("/user/auditor")?;
    println!("looked up {lookup} by path");
    let report = system.shutdown(Duration::from_secs(1)).await;
    println!(
        "shutdown: {} stopped, {} killed",
        report.stopped, report.killed
    );
    Ok(())
}
