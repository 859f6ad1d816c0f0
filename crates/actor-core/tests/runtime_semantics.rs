//! One test per promise of docs/runtime-semantics.md (actor-core part).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_actor_core::{
    Actor, ActorError, ActorResult, ActorSystem, AskError, Context, DeadLetterReason, ExitReason,
    FailureKind, FailurePhase, LifecycleEvent, LookupError, MailboxConfig, OverflowPolicy, ReplyTo,
    SendError, Shutdown, SpawnError, SpawnOptions, Terminated,
};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().expect("log lock").clone()
}

/// A test actor that records what happens to it.
struct Probe {
    name: &'static str,
    log: Log,
    seen: Vec<u32>,
}

enum ProbeMsg {
    Num(u32),
    Panic,
    Fail,
    Sleep(Duration),
    StopSelf,
    Seen(ReplyTo<Vec<u32>>),
    Ignore(ReplyTo<u32>),
}

impl Probe {
    fn new(name: &'static str, log: &Log) -> impl FnMut() -> Probe + Send + 'static {
        let log = log.clone();
        move || Probe {
            name,
            log: log.clone(),
            seen: Vec::new(),
        }
    }

    fn record(&self, what: &str) {
        self.log
            .lock()
            .expect("log lock")
            .push(format!("{}:{what}", self.name));
    }
}

impl Actor for Probe {
    type Msg = ProbeMsg;

    async fn pre_start(&mut self, _ctx: &mut Context<Self>) -> ActorResult {
        self.record("pre_start");
        Ok(())
    }

    async fn handle(&mut self, msg: ProbeMsg, ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            ProbeMsg::Num(n) => self.seen.push(n),
            ProbeMsg::Panic => panic!("probe {} panicked on purpose", self.name),
            ProbeMsg::Fail => return Err(ActorError::msg("failed on purpose")),
            ProbeMsg::Sleep(d) => tokio::time::sleep(d).await,
            ProbeMsg::StopSelf => ctx.stop(),
            ProbeMsg::Seen(reply) => {
                let _ = reply.send(self.seen.clone());
            }
            ProbeMsg::Ignore(reply) => drop(reply),
        }
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut Context<Self>) {
        self.record("post_stop");
    }

    async fn on_terminated(&mut self, t: Terminated, _ctx: &mut Context<Self>) -> ActorResult {
        self.record(&format!("terminated {} {}", t.path, t.reason));
        Ok(())
    }
}

#[tokio::test]
async fn messages_from_one_sender_arrive_in_order() {
    let system = ActorSystem::new("t");
    let l = log();
    let a = system.spawn("a", Probe::new("a", &l)).expect("spawn");
    for n in 0..500 {
        a.tell(ProbeMsg::Num(n)).await.expect("tell");
    }
    let seen = a.ask(ProbeMsg::Seen).await.expect("ask");
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
}

#[tokio::test]
async fn ask_returns_the_typed_reply() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.tell(ProbeMsg::Num(7)).await.expect("tell");
    assert_eq!(a.ask(ProbeMsg::Seen).await, Ok(vec![7]));
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_reports_timeout() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.tell(ProbeMsg::Sleep(Duration::from_secs(10)))
        .await
        .expect("tell");
    let r = a.ask_timeout(ProbeMsg::Seen, Duration::from_secs(1)).await;
    assert!(matches!(r, Err(AskError::Timeout { .. })), "{r:?}");
}

#[tokio::test]
async fn ask_dropped_reply_is_no_reply() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    let r = a.ask(ProbeMsg::Ignore).await;
    assert!(matches!(r, Err(AskError::NoReply { .. })), "{r:?}");
}

#[tokio::test]
async fn sending_to_a_stopped_actor_dead_letters_the_message() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.stop();
    a.handle().wait_stopped().await;
    let mut letters = system.subscribe_dead_letters();
    let r = a.tell(ProbeMsg::Num(1)).await;
    assert!(matches!(r, Err(SendError::ActorStopped { .. })));
    let letter = letters.recv().await.expect("dead letter");
    assert_eq!(letter.target, a.id());
    assert!(matches!(letter.reason, DeadLetterReason::ActorStopped));
    assert!(matches!(
        a.ask(ProbeMsg::Seen).await,
        Err(AskError::ActorStopped { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn bounded_reject_policy_hands_the_message_back() {
    let system = ActorSystem::new("t");
    let opts = SpawnOptions::named("a").mailbox(MailboxConfig::bounded(1, OverflowPolicy::Reject));
    let a = system
        .spawn_with(opts, Probe::new("a", &log()))
        .expect("spawn");
    a.tell(ProbeMsg::Sleep(Duration::from_secs(5)))
        .await
        .expect("first");
    tokio::task::yield_now().await; // let the actor take the sleep message
    a.tell(ProbeMsg::Num(1))
        .await
        .expect("fills the single slot");
    match a.tell(ProbeMsg::Num(2)).await {
        Err(SendError::MailboxFull {
            message: ProbeMsg::Num(2),
            ..
        }) => {}
        other => panic!("expected MailboxFull with the message, got {other:?}"),
    }
    assert_eq!(system.dead_letter_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn bounded_drop_policy_dead_letters_overflow() {
    let system = ActorSystem::new("t");
    let opts = SpawnOptions::named("a")
        .mailbox(MailboxConfig::bounded(1, OverflowPolicy::DropToDeadLetters));
    let a = system
        .spawn_with(opts, Probe::new("a", &log()))
        .expect("spawn");
    a.tell(ProbeMsg::Sleep(Duration::from_secs(5)))
        .await
        .expect("first");
    tokio::task::yield_now().await;
    a.tell(ProbeMsg::Num(1)).await.expect("fills the slot");
    let r = a.tell(ProbeMsg::Num(2)).await;
    assert!(matches!(r, Err(SendError::Dropped { .. })));
    assert_eq!(system.dead_letter_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn bounded_wait_policy_applies_backpressure() {
    let system = ActorSystem::new("t");
    let opts = SpawnOptions::named("a").mailbox(MailboxConfig::bounded(1, OverflowPolicy::Wait));
    let a = system
        .spawn_with(opts, Probe::new("a", &log()))
        .expect("spawn");
    a.tell(ProbeMsg::Sleep(Duration::from_secs(5)))
        .await
        .expect("first");
    tokio::task::yield_now().await;
    a.tell(ProbeMsg::Num(1)).await.expect("fills the slot");
    assert!(matches!(
        a.try_tell(ProbeMsg::Num(2)),
        Err(SendError::MailboxFull { .. })
    ));
    // tell waits until the sleeper finishes, then succeeds.
    a.tell(ProbeMsg::Num(2)).await.expect("waits for room");
    assert_eq!(a.ask(ProbeMsg::Seen).await, Ok(vec![1, 2]));
}

#[tokio::test]
async fn zero_capacity_mailbox_is_refused() {
    let system = ActorSystem::new("t");
    let opts = SpawnOptions::named("a").mailbox(MailboxConfig::bounded(0, OverflowPolicy::Wait));
    let r = system.spawn_with(opts, Probe::new("a", &log()));
    assert_eq!(r.err(), Some(SpawnError::ZeroCapacity));
}

#[tokio::test]
async fn panic_in_handler_fails_only_that_actor() {
    let system = ActorSystem::new("t");
    let l = log();
    let a = system.spawn("a", Probe::new("a", &l)).expect("spawn a");
    let b = system.spawn("b", Probe::new("b", &l)).expect("spawn b");
    let mut letters = system.subscribe_dead_letters();
    a.tell(ProbeMsg::Panic).await.expect("tell");
    let reason = a.handle().wait_stopped().await;
    match reason {
        ExitReason::Failed(f) => {
            assert_eq!(f.actor, a.id());
            assert_eq!(f.phase, FailurePhase::Message);
            assert!(matches!(&f.kind, FailureKind::Panic(m) if m.contains("panicked on purpose")));
        }
        other => panic!("expected a failure, got {other}"),
    }
    let letter = letters
        .recv()
        .await
        .expect("failed message is dead-lettered");
    assert!(matches!(letter.reason, DeadLetterReason::HandlerFailed(_)));
    b.tell(ProbeMsg::Num(3)).await.expect("b unaffected");
    assert_eq!(b.ask(ProbeMsg::Seen).await, Ok(vec![3]));
    assert!(
        entries(&l).contains(&"a:post_stop".to_owned()),
        "post_stop runs after a failure"
    );
}

#[tokio::test]
async fn handler_error_is_a_failure_with_the_error() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.tell(ProbeMsg::Fail).await.expect("tell");
    match a.handle().wait_stopped().await {
        ExitReason::Failed(f) => assert_eq!(
            f.error().map(ToString::to_string).as_deref(),
            Some("failed on purpose")
        ),
        other => panic!("expected failure, got {other}"),
    }
}

struct FailingStart;

impl Actor for FailingStart {
    type Msg = ();
    async fn pre_start(&mut self, _ctx: &mut Context<Self>) -> ActorResult {
        panic!("cannot start")
    }
    async fn handle(&mut self, _msg: (), _ctx: &mut Context<Self>) -> ActorResult {
        Ok(())
    }
}

#[tokio::test]
async fn panic_in_pre_start_is_a_start_failure() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", || FailingStart).expect("spawn");
    match a.handle().wait_stopped().await {
        ExitReason::Failed(f) => assert_eq!(f.phase, FailurePhase::Start),
        other => panic!("expected start failure, got {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn stop_overtakes_queued_messages_which_go_to_dead_letters() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.tell(ProbeMsg::Sleep(Duration::from_secs(1)))
        .await
        .expect("tell");
    tokio::task::yield_now().await;
    for n in 0..10 {
        a.tell(ProbeMsg::Num(n)).await.expect("tell");
    }
    a.stop();
    assert!(matches!(
        a.handle().wait_stopped().await,
        ExitReason::Stopped
    ));
    assert_eq!(
        system.dead_letter_count(),
        10,
        "queued messages are dead-lettered"
    );
}

#[tokio::test]
async fn stopping_itself_is_a_normal_exit_with_hooks_in_order() {
    let system = ActorSystem::new("t");
    let l = log();
    let a = system.spawn("a", Probe::new("a", &l)).expect("spawn");
    a.tell(ProbeMsg::Num(1)).await.expect("tell");
    a.tell(ProbeMsg::StopSelf).await.expect("tell");
    assert!(matches!(
        a.handle().wait_stopped().await,
        ExitReason::Normal
    ));
    assert_eq!(entries(&l), vec!["a:pre_start", "a:post_stop"]);
}

#[tokio::test]
async fn watcher_receives_terminated_exactly_once() {
    let system = ActorSystem::new("t");
    let l = log();
    let target = system.spawn("target", Probe::new("t", &l)).expect("spawn");
    let watcher = system
        .spawn("watcher", watch_on_start(&target, &l))
        .expect("spawn");
    // pre_start watched once; each ask watches again: still one registration.
    watcher.ask(|r| r).await.expect("ask");
    target.stop();
    target.handle().wait_stopped().await;
    // Watching again after the end (already notified) does not notify twice; the
    // Terminated signal overtakes this ask, so the log has it when the ask returns.
    watcher.ask(|r| r).await.expect("ask");
    watcher.ask(|r| r).await.expect("ask");
    let terminated: Vec<_> = entries(&l)
        .into_iter()
        .filter(|e| e.starts_with("watch:terminated"))
        .collect();
    assert_eq!(
        terminated,
        vec!["watch:terminated /user/target stopped".to_owned()]
    );
}

struct WatchOnStart {
    target: palisade_actor_core::ActorHandle,
    log: Log,
}

fn watch_on_start(
    target: &palisade_actor_core::ActorRef<ProbeMsg>,
    log: &Log,
) -> impl FnMut() -> WatchOnStart + Send + 'static {
    let (target, log) = (target.handle(), log.clone());
    move || WatchOnStart {
        target: target.clone(),
        log: log.clone(),
    }
}

impl Actor for WatchOnStart {
    type Msg = ReplyTo<()>;
    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        ctx.watch(&self.target);
        Ok(())
    }
    async fn handle(&mut self, reply: ReplyTo<()>, ctx: &mut Context<Self>) -> ActorResult {
        ctx.watch(&self.target);
        let _ = reply.send(());
        Ok(())
    }
    async fn on_terminated(&mut self, t: Terminated, _ctx: &mut Context<Self>) -> ActorResult {
        self.log
            .lock()
            .expect("log")
            .push(format!("watch:terminated {} {}", t.path, t.reason));
        Ok(())
    }
}

#[tokio::test]
async fn watching_a_dead_actor_delivers_terminated_at_once() {
    let system = ActorSystem::new("t");
    let l = log();
    let target = system.spawn("target", Probe::new("t", &l)).expect("spawn");
    target.stop();
    target.handle().wait_stopped().await;
    let w = system
        .spawn("w", watch_on_start(&target, &l))
        .expect("spawn");
    w.ask(|r| r).await.expect("ask");
    assert!(
        entries(&l)
            .iter()
            .any(|e| e == "watch:terminated /user/target stopped")
    );
}

#[tokio::test]
async fn lookup_finds_live_actors_by_path_with_their_type() {
    let system = ActorSystem::new("t");
    let a = system
        .spawn("orders", Probe::new("a", &log()))
        .expect("spawn");
    let found = system.lookup::<ProbeMsg>("/user/orders").expect("lookup");
    assert_eq!(found, a);
    assert_eq!(found.to_string(), format!("/user/orders{}", a.id()));
    assert!(matches!(
        system.lookup::<u64>("/user/orders"),
        Err(LookupError::WrongMessageType { .. })
    ));
    assert!(matches!(
        system.lookup::<ProbeMsg>("/user/none"),
        Err(LookupError::NotFound(_))
    ));
    a.stop();
    a.handle().wait_stopped().await;
    assert!(
        system.lookup::<ProbeMsg>("/user/orders").is_err(),
        "stopped actors leave"
    );
}

#[tokio::test]
async fn names_are_unique_and_validated() {
    let system = ActorSystem::new("t");
    let _a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    assert!(matches!(
        system.spawn("a", Probe::new("a", &log())),
        Err(SpawnError::NameTaken { .. })
    ));
    assert!(matches!(
        system.spawn("a/b", Probe::new("a", &log())),
        Err(SpawnError::InvalidName { .. })
    ));
}

struct Parent {
    log: Log,
    kids: usize,
}

impl Actor for Parent {
    type Msg = ReplyTo<()>;
    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        for i in 0..self.kids {
            let name: &'static str = ["c0", "c1", "c2"][i];
            ctx.spawn(name, Probe::new(name, &self.log))?;
        }
        Ok(())
    }
    async fn handle(&mut self, reply: ReplyTo<()>, _ctx: &mut Context<Self>) -> ActorResult {
        let _ = reply.send(());
        Ok(())
    }
    async fn post_stop(&mut self, _ctx: &mut Context<Self>) {
        self.log
            .lock()
            .expect("log")
            .push("parent:post_stop".to_owned());
    }
}

#[tokio::test]
async fn shutdown_stops_children_first_in_reverse_start_order() {
    let system = ActorSystem::new("t");
    let l = log();
    let p1 = system.spawn("p1", {
        let l = l.clone();
        move || Parent {
            log: l.clone(),
            kids: 3,
        }
    });
    p1.expect("spawn").ask(|r| r).await.expect("parent started");
    let _last = system.spawn("last", Probe::new("last", &l)).expect("spawn");
    assert!(
        system.lookup_handle("/user/p1/c2").is_some(),
        "child paths nest"
    );
    let report = system.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.stopped, 2);
    let stops: Vec<_> = entries(&l)
        .into_iter()
        .filter(|e| e.ends_with("post_stop"))
        .collect();
    assert_eq!(
        stops,
        vec![
            "last:post_stop",
            "c2:post_stop",
            "c1:post_stop",
            "c0:post_stop",
            "parent:post_stop"
        ]
    );
    assert_eq!(system.actor_count(), 0);
    assert!(matches!(
        system.spawn("late", Probe::new("x", &l)),
        Err(SpawnError::ParentStopping { .. })
    ));
}

struct Stubborn;

impl Actor for Stubborn {
    type Msg = ();
    async fn handle(&mut self, _msg: (), _ctx: &mut Context<Self>) -> ActorResult {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_kills_what_misses_the_deadline() {
    let system = ActorSystem::new("t");
    let s = system.spawn("stubborn", || Stubborn).expect("spawn");
    s.tell(()).await.expect("tell");
    tokio::task::yield_now().await;
    let report = system.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        report,
        palisade_actor_core::ShutdownReport {
            stopped: 0,
            killed: 1
        }
    );
    assert!(matches!(
        s.handle().wait_stopped().await,
        ExitReason::Killed
    ));
}

#[tokio::test(start_paused = true)]
async fn child_shutdown_policy_timeout_kills_a_stuck_child() {
    struct Host;
    impl Actor for Host {
        type Msg = ();
        async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
            let opts =
                SpawnOptions::named("stuck").shutdown(Shutdown::Timeout(Duration::from_secs(2)));
            let stuck = ctx.spawn_with(opts, || Stubborn)?;
            stuck.tell(()).await.map_err(|_| ActorError::msg("tell"))?;
            Ok(())
        }
        async fn handle(&mut self, _msg: (), _ctx: &mut Context<Self>) -> ActorResult {
            Ok(())
        }
    }
    let system = ActorSystem::new("t");
    let host = system.spawn("host", || Host).expect("spawn");
    tokio::task::yield_now().await;
    let stuck = system.lookup_handle("/user/host/stuck").expect("child");
    host.stop();
    assert!(matches!(
        host.handle().wait_stopped().await,
        ExitReason::Stopped
    ));
    assert!(matches!(stuck.wait_stopped().await, ExitReason::Killed));
}

#[tokio::test(start_paused = true)]
async fn send_after_delivers_once_after_the_delay() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    let timer = a.send_after(ProbeMsg::Num(9), Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(a.ask(ProbeMsg::Seen).await, Ok(vec![]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.ask(ProbeMsg::Seen).await, Ok(vec![9]));
    assert!(timer.is_finished());
}

#[tokio::test(start_paused = true)]
async fn send_interval_repeats_until_cancelled() {
    let system = ActorSystem::new("t");
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    let mut n = 0;
    let timer = a.send_interval(Duration::from_secs(1), move || {
        n += 1;
        ProbeMsg::Num(n)
    });
    tokio::time::sleep(Duration::from_millis(3500)).await;
    timer.cancel();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(a.ask(ProbeMsg::Seen).await, Ok(vec![1, 2, 3]));
}

#[tokio::test]
async fn lifecycle_events_report_start_failure_and_stop() {
    let system = ActorSystem::new("t");
    let mut events = system.subscribe_events();
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.tell(ProbeMsg::Panic).await.expect("tell");
    a.handle().wait_stopped().await;
    let mut kinds = Vec::new();
    while let Some(Ok(e)) = events.try_recv() {
        kinds.push(match e {
            LifecycleEvent::Started { .. } => "started",
            LifecycleEvent::Failed(_) => "failed",
            LifecycleEvent::Restarted { .. } => "restarted",
            LifecycleEvent::Stopped { .. } => "stopped",
            LifecycleEvent::MessageHandled { .. } => "timing",
        });
    }
    assert_eq!(kinds, vec!["started", "failed", "stopped"]);
}

#[tokio::test]
async fn message_timing_events_only_when_switched_on() {
    let system = ActorSystem::new("t");
    let mut events = system.subscribe_events();
    let a = system.spawn("a", Probe::new("a", &log())).expect("spawn");
    a.ask(ProbeMsg::Seen).await.expect("ask");
    system.set_message_timing(true);
    a.ask(ProbeMsg::Seen).await.expect("ask");
    let mut timings = 0;
    while let Some(Ok(e)) = events.try_recv() {
        if matches!(e, LifecycleEvent::MessageHandled { .. }) {
            timings += 1;
        }
    }
    assert_eq!(timings, 1);
}
