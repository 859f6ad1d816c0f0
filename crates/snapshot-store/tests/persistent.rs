//! Event-sourced actors: recovery, persistence before state, restart after a failed
//! persist without losing acknowledged events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use palisade_actor_core::{ActorError, ActorSystem, AskError, ReplyTo};
use palisade_event_store::{
    AppendResult, Event, EventStore, EventType, ExpectedVersion, InMemoryJournal, Journal,
    JournalError, NewEvent, Timestamp,
};
use palisade_snapshot_store::{
    Effect, EventSourcedActor, InMemorySnapshotStore, Persistence, PersistentActor,
    SnapshotCriteria, SnapshotStore,
};
use palisade_supervision::{Backoff, ChildSpec, SupervisionStrategy, Supervisor};
use serde::{Deserialize, Serialize};

struct Account {
    id: String,
}

enum Command {
    Deposit(u64, ReplyTo<u64>),
    Withdraw(u64, ReplyTo<Result<u64, String>>),
    Balance(ReplyTo<u64>),
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
        self.id.clone()
    }

    fn handle_command(
        &mut self,
        state: &AccountState,
        command: Command,
    ) -> Result<Effect<Self>, ActorError> {
        Ok(match command {
            Command::Deposit(n, reply) => Effect::<Self>::persist(vec![AccountEvent::Deposited(n)])
                .reply(reply, |s| s.balance),
            Command::Withdraw(n, reply) if n > state.balance => {
                let _ = reply.send(Err(format!("balance {} is below {n}", state.balance)));
                Effect::<Self>::none()
            }
            Command::Withdraw(n, reply) => Effect::<Self>::persist(vec![AccountEvent::Withdrew(n)])
                .reply(reply, |s| Ok(s.balance)),
            Command::Balance(reply) => Effect::<Self>::none().reply(reply, |s| s.balance),
        })
    }

    fn apply(state: &mut AccountState, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited(n) => state.balance += n,
            AccountEvent::Withdrew(n) => state.balance -= n,
        }
    }

    fn snapshot_every(&self) -> Option<u64> {
        Some(4)
    }
}

fn persistence(journal: Arc<dyn Journal>) -> Persistence {
    Persistence {
        events: EventStore::new(journal),
        snapshots: Arc::new(InMemorySnapshotStore::new()),
    }
}

#[tokio::test]
async fn state_is_recovered_from_the_newest_snapshot_plus_the_journal() {
    let system = ActorSystem::new("t");
    let p = persistence(Arc::new(InMemoryJournal::new()));
    let pp = p.clone();
    let account = system
        .spawn("acct", move || {
            PersistentActor::new(
                Account {
                    id: "acct-1".into(),
                },
                pp.clone(),
            )
        })
        .expect("spawn");
    for _ in 0..10 {
        account
            .ask(|r| Command::Deposit(10, r))
            .await
            .expect("deposit");
    }
    assert_eq!(
        account
            .ask(|r| Command::Withdraw(500, r))
            .await
            .expect("ask"),
        Err("balance 100 is below 500".into())
    );
    account.stop();
    account.handle().wait_stopped().await;
    let snapshots = p.snapshots.list("acct-1").await.expect("list");
    assert_eq!(snapshots, vec![4, 8], "a snapshot every 4 events");

    let mut fresh = PersistentActor::new(
        Account {
            id: "acct-1".into(),
        },
        p.clone(),
    );
    let report = fresh.recover().await.expect("recover");
    assert_eq!((report.snapshot, report.replayed), (Some(8), 2));
    assert_eq!((fresh.state().balance, fresh.sequence()), (100, 10));
}

#[tokio::test]
async fn a_reply_comes_only_after_the_events_are_in_the_journal() {
    let system = ActorSystem::new("t");
    let journal = Arc::new(InMemoryJournal::new());
    let p = persistence(journal.clone());
    let account = system
        .spawn("acct", move || {
            PersistentActor::new(Account { id: "a".into() }, p.clone())
        })
        .expect("spawn");
    let balance = account
        .ask(|r| Command::Deposit(7, r))
        .await
        .expect("deposit");
    assert_eq!(balance, 7);
    assert_eq!(journal.highest_sequence("a").await.expect("highest"), 1);
}

/// A journal that fails one chosen append (the n-th), as a full disk would.
struct FailingOnce {
    inner: InMemoryJournal,
    appends: AtomicU32,
    fail_at: u32,
}

#[async_trait]
impl Journal for FailingOnce {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, JournalError> {
        if self.appends.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(JournalError::Storage("disk full (injected)".into()));
        }
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_stream(stream, from, to, max).await
    }
    async fn highest_sequence(&self, stream: &str) -> Result<u64, JournalError> {
        self.inner.highest_sequence(stream).await
    }
    async fn highest_position(&self) -> Result<u64, JournalError> {
        self.inner.highest_position().await
    }
    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<Event>, JournalError> {
        self.inner.read_all(from, max).await
    }
    async fn read_correlation(
        &self,
        id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_correlation(id, from, max).await
    }
    async fn read_time_range(
        &self,
        a: Timestamp,
        b: Timestamp,
        from: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_time_range(a, b, from, max).await
    }
    async fn read_event_type(
        &self,
        t: &EventType,
        from: u64,
        max: usize,
    ) -> Result<Vec<Event>, JournalError> {
        self.inner.read_event_type(t, from, max).await
    }
    async fn delete_to(&self, stream: &str, sequence: u64) -> Result<(), JournalError> {
        self.inner.delete_to(stream, sequence).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_persist_restarts_the_actor_without_losing_acknowledged_events() {
    let system = ActorSystem::new("t");
    let journal = Arc::new(FailingOnce {
        inner: InMemoryJournal::new(),
        appends: AtomicU32::new(0),
        fail_at: 3,
    });
    let p = persistence(journal.clone());
    let strategy = SupervisionStrategy::one_for_one().backoff(Backoff {
        restart_delay: Duration::from_millis(100),
        jitter: 0.0,
        ..Backoff::default()
    });
    let sup = Supervisor::spawn(
        &system,
        "sup",
        strategy,
        vec![ChildSpec::new("acct", move || {
            PersistentActor::new(
                Account {
                    id: "acct-9".into(),
                },
                p.clone(),
            )
        })],
    )
    .expect("supervisor");
    sup.stats().await.expect("started");
    let account = sup.child::<Command>("acct").expect("child");

    let mut acked = 0;
    for i in 1..=6u64 {
        match account.ask(|r| Command::Deposit(i, r)).await {
            Ok(_) => acked += i,
            // The third append fails: the actor fails before replying.
            Err(AskError::NoReply { .. }) => assert_eq!(i, 3),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acked, 1 + 2 + 4 + 5 + 6);
    assert_eq!(
        account.ask(Command::Balance).await.expect("balance"),
        acked,
        "no acked event lost"
    );
    assert_eq!(
        account.handle().incarnation(),
        2,
        "restarted once, by its supervisor"
    );
    let stored: u64 = journal
        .read_stream("acct-9", 1, u64::MAX, 100)
        .await
        .expect("read")
        .len() as u64;
    assert_eq!(
        stored, 5,
        "exactly the acknowledged events are in the journal"
    );
    let loaded = InMemorySnapshotStore::new()
        .load("acct-9", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert!(loaded.snapshot.is_none());
}
