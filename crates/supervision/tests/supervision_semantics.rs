//! One test per supervision promise of docs/runtime-semantics.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_actor_core::{
    Actor, ActorError, ActorRef, ActorResult, ActorSystem, Context, DeadLetterReason, ExitReason,
    ReplyTo, RestartReason, Shutdown,
};
use palisade_supervision::{
    AutoShutdown, Backoff, ChildSpec, ChildStatus, Decider, Escalation, RestartPolicy,
    RootSupervisor, SupervisionDirective, SupervisionStrategy, Supervisor, SupervisorRef,
};
use tokio::time::Instant;

type Log = Arc<Mutex<Vec<String>>>;

fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().expect("log").clone()
}

fn push(log: &Log, s: String) {
    log.lock().expect("log").push(s);
}

/// A worker that records its lifecycle and counts what it handled.
struct Worker {
    name: &'static str,
    log: Log,
    handled: u32,
}

enum Msg {
    Work,
    Panic,
    Fail,
    StopSelf,
    Count(ReplyTo<u32>),
}

fn worker(name: &'static str, log: &Log) -> impl Fn() -> Worker + Send + Sync + 'static {
    let log = log.clone();
    move || Worker {
        name,
        log: log.clone(),
        handled: 0,
    }
}

impl Actor for Worker {
    type Msg = Msg;

    async fn pre_start(&mut self, ctx: &mut Context<Self>) -> ActorResult {
        push(
            &self.log,
            format!("{}:pre_start#{}", self.name, ctx.incarnation()),
        );
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self>) -> ActorResult {
        match msg {
            Msg::Work => self.handled += 1,
            Msg::Panic => panic!("{} panics", self.name),
            Msg::Fail => return Err(ActorError::msg("worker failed")),
            Msg::StopSelf => ctx.stop(),
            Msg::Count(reply) => {
                let _ = reply.send(self.handled);
            }
        }
        Ok(())
    }

    async fn pre_restart(&mut self, reason: &RestartReason, _ctx: &mut Context<Self>) {
        let why = match reason {
            RestartReason::Failed(_) => "failed",
            RestartReason::Exited(_) => "exited",
            RestartReason::SiblingRestarted(_) => "sibling",
        };
        push(&self.log, format!("{}:pre_restart({why})", self.name));
    }

    async fn post_stop(&mut self, _ctx: &mut Context<Self>) {
        // An await inside post_stop: the new instance must still wait for it.
        tokio::time::sleep(Duration::from_millis(5)).await;
        push(&self.log, format!("{}:post_stop", self.name));
    }
}

fn fast() -> SupervisionStrategy {
    SupervisionStrategy::one_for_one()
        .backoff(Backoff::none())
        .intensity(100, Duration::from_secs(1))
}

async fn started(sup: &SupervisorRef) {
    // The supervisor starts its children in pre_start; any answered ask proves it ran.
    sup.stats().await.expect("supervisor running");
}

fn child(sup: &SupervisorRef, name: &str) -> ActorRef<Msg> {
    sup.child::<Msg>(name).expect("child")
}

#[tokio::test(start_paused = true)]
async fn restart_keeps_actor_ref_valid_and_queued_messages() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast(),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    for _ in 0..10 {
        w.tell(Msg::Work)
            .await
            .expect("queued behind the failing message");
    }
    assert_eq!(
        w.ask(Msg::Count).await,
        Ok(10),
        "the new instance handles the queued messages"
    );
    assert_eq!(w.handle().incarnation(), 2);
    assert_eq!(sup.child::<Msg>("w").expect("same path"), w);
}

#[tokio::test(start_paused = true)]
async fn failed_message_goes_to_dead_letters_with_the_error() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast(),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let mut letters = system.subscribe_dead_letters();
    child(&sup, "w").tell(Msg::Fail).await.expect("tell");
    let letter = letters.recv().await.expect("letter");
    match letter.reason {
        DeadLetterReason::HandlerFailed(f) => {
            assert_eq!(
                f.error().map(ToString::to_string).as_deref(),
                Some("worker failed")
            );
        }
        other => panic!("unexpected reason {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn restart_never_overlaps_old_post_stop_before_new_pre_start() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast(),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    w.ask(Msg::Count).await.expect("restarted");
    assert_eq!(
        entries(&log),
        vec![
            "w:pre_start#1",
            "w:pre_restart(failed)",
            "w:post_stop",
            "w:pre_start#2"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn resume_directive_keeps_the_instance_and_its_state() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().decider(Decider::always(SupervisionDirective::Resume));
    let sup = Supervisor::spawn(
        &system,
        "sup",
        strategy,
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Work).await.expect("tell");
    w.tell(Msg::Panic).await.expect("tell");
    w.tell(Msg::Work).await.expect("tell");
    assert_eq!(w.ask(Msg::Count).await, Ok(2), "state survives a resume");
    assert_eq!(w.handle().incarnation(), 1);
    assert_eq!(sup.stats().await.expect("stats").children[0].restarts, 0);
}

#[tokio::test(start_paused = true)]
async fn stop_directive_ends_the_child() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().decider(Decider::always(SupervisionDirective::Stop));
    let sup = Supervisor::spawn(
        &system,
        "sup",
        strategy,
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    assert!(matches!(
        w.handle().wait_stopped().await,
        ExitReason::Failed(_)
    ));
    let stats = sup.stats().await.expect("stats");
    assert_eq!(stats.children[0].status, ChildStatus::Terminated);
}

#[tokio::test(start_paused = true)]
async fn decider_sees_the_error_type() {
    #[derive(Debug, thiserror::Error)]
    #[error("fatal")]
    struct Fatal;
    struct Picky;
    impl Actor for Picky {
        type Msg = bool;
        async fn handle(&mut self, fatal: bool, _ctx: &mut Context<Self>) -> ActorResult {
            if fatal {
                Err(Fatal.into())
            } else {
                Err(ActorError::msg("transient"))
            }
        }
    }
    let decider = Decider::new(|f| {
        if f.error()
            .is_some_and(|e| e.downcast_ref::<Fatal>().is_some())
        {
            SupervisionDirective::Stop
        } else {
            SupervisionDirective::Restart
        }
    });
    let system = ActorSystem::new("t");
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast().decider(decider),
        vec![ChildSpec::new("p", || Picky)],
    )
    .expect("spawn");
    started(&sup).await;
    let p = sup.child::<bool>("p").expect("child");
    p.tell(false).await.expect("tell");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(p.handle().incarnation(), 2);
    p.tell(true).await.expect("tell");
    assert!(matches!(
        p.handle().wait_stopped().await,
        ExitReason::Failed(_)
    ));
}

async fn end_with(policy: RestartPolicy, how: &str) -> (u64, bool) {
    let system = ActorSystem::new("t");
    let log = new_log();
    let spec = ChildSpec::new("w", worker("w", &log)).restart(policy);
    let sup = Supervisor::spawn(&system, "sup", fast(), vec![spec]).expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    match how {
        "fail" => w.tell(Msg::Panic).await.expect("tell"),
        "self-stop" => w.tell(Msg::StopSelf).await.expect("tell"),
        _ => w.stop(),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    (w.handle().incarnation(), w.is_alive())
}

#[tokio::test(start_paused = true)]
async fn restart_policy_table_holds() {
    use RestartPolicy::*;
    let table = [
        (Always, "fail", true),
        (Always, "self-stop", true),
        (Always, "outside-stop", false),
        (OnFailure, "fail", true),
        (OnFailure, "self-stop", false),
        (OnFailure, "outside-stop", false),
        (Never, "fail", false),
        (Never, "self-stop", false),
        (Never, "outside-stop", false),
        (OnStop, "fail", true),
        (OnStop, "self-stop", true),
        (OnStop, "outside-stop", true),
    ];
    for (policy, how, restarted) in table {
        let (incarnation, alive) = end_with(policy, how).await;
        assert_eq!(alive, restarted, "{policy:?} after {how}: alive");
        if restarted {
            assert_eq!(incarnation, 2, "{policy:?} after {how}: one restart");
        }
    }
}

fn three(log: &Log) -> Vec<ChildSpec> {
    vec![
        ChildSpec::new("a", worker("a", log)),
        ChildSpec::new("b", worker("b", log)),
        ChildSpec::new("c", worker("c", log)),
    ]
}

#[tokio::test(start_paused = true)]
async fn all_for_one_restarts_every_child_stop_reverse_start_in_order() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = SupervisionStrategy::all_for_one().backoff(Backoff::none());
    let sup = Supervisor::spawn(&system, "sup", strategy, three(&log)).expect("spawn");
    started(&sup).await;
    log.lock().expect("log").clear();
    child(&sup, "b").tell(Msg::Panic).await.expect("tell");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        entries(&log),
        vec![
            "c:pre_restart(sibling)",
            "c:post_stop",
            "b:pre_restart(failed)",
            "b:post_stop",
            "a:pre_restart(sibling)",
            "a:post_stop",
            "a:pre_start#2",
            "b:pre_start#2",
            "c:pre_start#2",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = SupervisionStrategy::rest_for_one().backoff(Backoff::none());
    let sup = Supervisor::spawn(&system, "sup", strategy, three(&log)).expect("spawn");
    started(&sup).await;
    log.lock().expect("log").clear();
    child(&sup, "b").tell(Msg::Panic).await.expect("tell");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        entries(&log),
        vec![
            "c:pre_restart(sibling)",
            "c:post_stop",
            "b:pre_restart(failed)",
            "b:post_stop",
            "b:pre_start#2",
            "c:pre_start#2",
        ]
    );
    assert_eq!(child(&sup, "a").handle().incarnation(), 1);
}

#[tokio::test(start_paused = true)]
async fn exceeding_intensity_stops_children_and_escalates() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().intensity(2, Duration::from_secs(10));
    let root = RootSupervisor::start(&system, strategy, three(&log)).expect("spawn");
    started(&root).await;
    let a = root.child::<Msg>("a").expect("a");
    let c = root.child::<Msg>("c").expect("c");
    for _ in 0..3 {
        a.tell(Msg::Panic).await.expect("tell");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match root.wait_stopped().await {
        ExitReason::Failed(f) => {
            let e = f
                .error()
                .and_then(|e| e.downcast_ref::<Escalation>())
                .expect("escalation");
            assert!(
                e.reason.contains("restart intensity exceeded"),
                "{}",
                e.reason
            );
        }
        other => panic!("expected escalation, got {other}"),
    }
    assert!(!c.is_alive(), "children are stopped first");
    let post_stops: Vec<_> = entries(&log)
        .into_iter()
        .filter(|e| e.ends_with("post_stop"))
        .collect();
    assert_eq!(
        &post_stops[post_stops.len() - 3..],
        ["c:post_stop", "b:post_stop", "a:post_stop"]
    );
}

#[tokio::test(start_paused = true)]
async fn intensity_counts_across_all_children() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().intensity(2, Duration::from_secs(10));
    let sup = Supervisor::spawn(&system, "sup", strategy, three(&log)).expect("spawn");
    started(&sup).await;
    for name in ["a", "b", "c"] {
        child(&sup, name).tell(Msg::Panic).await.expect("tell");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(sup.wait_stopped().await, ExitReason::Failed(_)));
}

#[tokio::test(start_paused = true)]
async fn per_child_limit_escalates_before_the_supervisor_limit() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let spec = ChildSpec::new("w", worker("w", &log)).max_restarts(1, Duration::from_secs(10));
    let sup = Supervisor::spawn(&system, "sup", fast(), vec![spec]).expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.tell(Msg::Panic).await.expect("tell");
    assert!(matches!(sup.wait_stopped().await, ExitReason::Failed(_)));
}

#[tokio::test(start_paused = true)]
async fn failures_spread_beyond_the_window_do_not_escalate() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().intensity(1, Duration::from_secs(1));
    let sup = Supervisor::spawn(
        &system,
        "sup",
        strategy,
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    for _ in 0..5 {
        w.tell(Msg::Panic).await.expect("tell");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(sup.handle().is_alive());
    assert_eq!(w.handle().incarnation(), 6);
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_restarts_and_keeps_messages_meanwhile() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let backoff = Backoff {
        restart_delay: Duration::from_secs(1),
        backoff_multiplier: 2.0,
        max_restart_delay: Duration::from_secs(3),
        jitter: 0.0,
        reset_after: Duration::from_secs(60),
    };
    let strategy = fast().backoff(backoff);
    let sup = Supervisor::spawn(
        &system,
        "sup",
        strategy,
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    let mut waits = Vec::new();
    for _ in 0..4 {
        w.tell(Msg::Panic).await.expect("tell");
        let t0 = Instant::now();
        w.tell(Msg::Work).await.expect("queued during backoff");
        w.ask(Msg::Count)
            .await
            .expect("answered by the next instance");
        waits.push(t0.elapsed().as_millis() / 100);
    }
    // 1 s, 2 s, then capped at 3 s (time in tenths of seconds, post_stop adds 5 ms).
    assert_eq!(waits, vec![10, 20, 30, 30]);
    let stats = sup.stats().await.expect("stats");
    assert_eq!(stats.children[0].current_backoff, Duration::from_secs(3));
    assert_eq!(stats.children[0].restarts, 4);
}

#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_stable_period() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let backoff = Backoff {
        restart_delay: Duration::from_secs(1),
        backoff_multiplier: 2.0,
        max_restart_delay: Duration::from_secs(30),
        jitter: 0.0,
        reset_after: Duration::from_secs(10),
    };
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast().backoff(backoff),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    w.ask(Msg::Count).await.expect("restarted");
    w.tell(Msg::Panic).await.expect("tell");
    w.ask(Msg::Count).await.expect("restarted");
    assert_eq!(
        sup.stats().await.expect("stats").children[0].current_backoff,
        Duration::from_secs(2)
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    w.tell(Msg::Panic).await.expect("tell");
    w.ask(Msg::Count).await.expect("restarted");
    assert_eq!(
        sup.stats().await.expect("stats").children[0].current_backoff,
        Duration::from_secs(1)
    );
}

#[tokio::test(start_paused = true)]
async fn significant_child_ending_shuts_down_supervisor_with_any_significant() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().auto_shutdown(AutoShutdown::AnySignificant);
    let specs = vec![
        ChildSpec::new("main", worker("main", &log))
            .restart(RestartPolicy::OnFailure)
            .significant(true),
        ChildSpec::new("helper", worker("helper", &log)),
    ];
    let sup = Supervisor::spawn(&system, "sup", strategy, specs).expect("spawn");
    started(&sup).await;
    child(&sup, "main").tell(Msg::StopSelf).await.expect("tell");
    assert!(matches!(sup.wait_stopped().await, ExitReason::Normal));
}

#[tokio::test(start_paused = true)]
async fn all_significant_waits_for_every_significant_child() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let strategy = fast().auto_shutdown(AutoShutdown::AllSignificant);
    let specs = vec![
        ChildSpec::new("a", worker("a", &log))
            .restart(RestartPolicy::Never)
            .significant(true),
        ChildSpec::new("b", worker("b", &log))
            .restart(RestartPolicy::Never)
            .significant(true),
    ];
    let sup = Supervisor::spawn(&system, "sup", strategy, specs).expect("spawn");
    started(&sup).await;
    child(&sup, "a").tell(Msg::StopSelf).await.expect("tell");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        sup.handle().is_alive(),
        "one significant child is still running"
    );
    child(&sup, "b").tell(Msg::StopSelf).await.expect("tell");
    assert!(matches!(sup.wait_stopped().await, ExitReason::Normal));
}

#[tokio::test(start_paused = true)]
async fn dynamic_children_can_be_added_and_removed() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(&system, "sup", fast(), vec![]).expect("spawn");
    let handle = sup
        .add_child(ChildSpec::new("late", worker("late", &log)))
        .await
        .expect("add");
    assert_eq!(handle.path().to_string(), "/user/sup/late");
    assert!(
        sup.add_child(ChildSpec::new("late", worker("late", &log)))
            .await
            .is_err()
    );
    let late = child(&sup, "late");
    late.tell(Msg::Panic).await.expect("tell");
    late.ask(Msg::Count)
        .await
        .expect("supervised like static children");
    sup.remove_child("late").await.expect("remove");
    assert!(!late.is_alive());
    assert!(sup.remove_child("late").await.is_err());
}

#[tokio::test(start_paused = true)]
async fn stats_report_restarts_and_last_failure() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast(),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let w = child(&sup, "w");
    w.tell(Msg::Panic).await.expect("tell");
    w.ask(Msg::Count).await.expect("restarted");
    let stats = sup.stats().await.expect("stats");
    let c = &stats.children[0];
    assert_eq!((c.restarts, c.incarnation), (1, 2));
    let last = c.last_failure.as_ref().expect("last failure");
    assert!(
        last.panic && last.description.contains("w panics"),
        "{}",
        last.description
    );
}

#[tokio::test(start_paused = true)]
async fn killed_child_is_respawned_at_the_same_path() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(
        &system,
        "sup",
        fast(),
        vec![ChildSpec::new("w", worker("w", &log))],
    )
    .expect("spawn");
    started(&sup).await;
    let old = child(&sup, "w");
    old.handle().kill();
    assert!(matches!(
        old.handle().wait_stopped().await,
        ExitReason::Killed
    ));
    sup.stats().await.expect("stats");
    let new = child(&sup, "w");
    assert_ne!(new, old);
    assert_eq!(new.ask(Msg::Count).await, Ok(0));
}

#[tokio::test(start_paused = true)]
async fn nested_supervisor_escalation_restarts_the_subtree() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let inner = ChildSpec::supervisor(
        "inner",
        fast().intensity(0, Duration::from_secs(10)),
        vec![ChildSpec::new("leaf", worker("leaf", &log))],
    )
    .expect("spec");
    let root = RootSupervisor::start(&system, fast(), vec![inner]).expect("root");
    started(&root).await;
    let inner = SupervisorRef::lookup(&system, "/user/root/inner").expect("inner");
    started(&inner).await;
    let leaf = inner.child::<Msg>("leaf").expect("leaf");
    leaf.tell(Msg::Panic).await.expect("tell");
    // The leaf failed and its supervisor gave up on it: it ends with that failure.
    assert!(matches!(
        leaf.handle().wait_stopped().await,
        ExitReason::Failed(_)
    ));
    let tree = root.tree().await.expect("tree");
    assert_eq!(
        tree.stats.children[0].restarts, 1,
        "the inner supervisor was restarted"
    );
    let inner = SupervisorRef::lookup(&system, "/user/root/inner").expect("inner");
    let leaf = inner.child::<Msg>("leaf").expect("fresh leaf");
    assert_eq!(leaf.ask(Msg::Count).await, Ok(0));
    let text = root.tree().await.expect("tree").to_string();
    assert!(text.contains("/user/root/inner"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn removing_a_child_honours_its_shutdown_policy() {
    struct Stuck;
    impl Actor for Stuck {
        type Msg = ();
        async fn handle(&mut self, _m: (), _ctx: &mut Context<Self>) -> ActorResult {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
    let system = ActorSystem::new("t");
    let spec =
        ChildSpec::new("stuck", || Stuck).shutdown(Shutdown::Timeout(Duration::from_secs(1)));
    let sup = Supervisor::spawn(&system, "sup", fast(), vec![spec]).expect("spawn");
    started(&sup).await;
    let stuck = sup.child::<()>("stuck").expect("child");
    stuck.tell(()).await.expect("tell");
    let t0 = Instant::now();
    sup.remove_child("stuck").await.expect("remove");
    assert_eq!(t0.elapsed().as_secs(), 1);
    assert!(matches!(
        stuck.handle().wait_stopped().await,
        ExitReason::Killed
    ));
}

#[tokio::test(start_paused = true)]
async fn temporary_children_are_forgotten_once_they_end() {
    let system = ActorSystem::new("t");
    let log = new_log();
    let sup = Supervisor::spawn(&system, "sup", fast(), vec![]).expect("spawn");
    for i in 0..20 {
        let spec =
            ChildSpec::new(format!("job-{i}"), worker("job", &log)).restart(RestartPolicy::Never);
        sup.add_child(spec).await.expect("add");
        let job = sup.child::<Msg>(&format!("job-{i}")).expect("child");
        job.tell(Msg::StopSelf).await.expect("tell");
        job.handle().wait_stopped().await;
    }
    assert!(
        sup.stats().await.expect("stats").children.is_empty(),
        "no record of ended temporaries"
    );
}
