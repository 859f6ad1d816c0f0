//! The untyped control block every actor has, and `ActorHandle`, the untyped reference
//! used for watching, stopping and supervising an actor whatever its message type.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;

use crate::dead_letters::{DeadLetter, DeadLetterReason};
use crate::failure::{ExitReason, Failure, RestartReason, Terminated};
use crate::id::{ActorId, ActorPath};
use crate::system::SystemShared;

/// How a parent stops a child when it stops itself (or restarts, or shuts down).
///
/// Mirrors OTP's child `shutdown` field. The default is a 5 second timeout, OTP's
/// default for workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Abort the child's task at once: no `post_stop`, queued messages go to dead letters.
    BrutalKill,
    /// Ask it to stop; abort it if it has not finished within the duration.
    Timeout(Duration),
    /// Ask it to stop and wait as long as it takes.
    Infinity,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// How an instance of a supervised child ended, as reported to its supervisor.
#[derive(Clone, Debug)]
pub enum ChildEnd {
    /// It failed (panic or error).
    Failed(Failure),
    /// It stopped gracefully: `Normal` (itself) or `Stopped` (someone asked).
    Exited(ExitReason),
}

/// What a supervised child reports when an instance ends. The child then waits, its
/// mailbox kept, until its supervisor answers through the handle: `resume`, `restart`
/// or `terminate`.
#[derive(Clone, Debug)]
pub struct ChildReport {
    /// The child.
    pub child: ActorHandle,
    /// Which instance ended (1 for the first).
    pub incarnation: u64,
    /// How it ended.
    pub end: ChildEnd,
}

/// The supervisor's side of the parent-child contract: the hook through which a higher
/// layer (palisade-supervision) learns of its children's ends and decides their fate.
///
/// Called from the child's task; implementations must not block (forward the report to
/// the supervisor's mailbox).
pub trait SupervisionHook: Send + Sync + 'static {
    /// An instance of a child ended. Return `Err(HookClosed)` when the supervisor is
    /// gone; the child then stops for good.
    fn child_ended(&self, report: ChildReport) -> Result<(), HookClosed>;

    /// The child's task was aborted (a kill, or a shutdown deadline) instead of ending
    /// through the supervisor protocol: it is gone and cannot be restarted in place.
    fn child_killed(&self, child: &ActorHandle) {
        let _ = child;
    }
}

/// Returned by a `SupervisionHook` whose supervisor no longer exists.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("the supervisor is gone")]
pub struct HookClosed;

pub(crate) enum Signal {
    /// Graceful stop; `consult_parent` lets a supervised child ask its supervisor first.
    Stop {
        consult_parent: bool,
    },
    Resume,
    Halt {
        reason: RestartReason,
        ack: Option<oneshot::Sender<()>>,
    },
    Start {
        delay: Duration,
        ack: Option<oneshot::Sender<()>>,
    },
    Terminated(Terminated),
}

#[derive(Default)]
struct WatchState {
    watchers: Vec<ActorHandle>,
    terminated: Option<Terminated>,
    /// Watchers already told of the end: a repeated watch does not tell them twice.
    notified: Vec<ActorId>,
    /// Woken when the actor has ended; made on the first `wait_stopped`.
    done: Option<Arc<Notify>>,
}

/// An actor's children (or the system's top-level actors), in start order: ids grow
/// with every spawn, so the map's order is the start order.
#[derive(Default)]
pub(crate) struct Children {
    list: BTreeMap<ActorId, ActorHandle>,
    /// Set once the owner is stopping for good: no new child may join.
    closed: bool,
}

impl Children {
    /// Adds a child; false when closed.
    pub(crate) fn add(&mut self, child: ActorHandle) -> bool {
        if self.closed {
            return false;
        }
        self.list.insert(child.id(), child);
        true
    }

    pub(crate) fn remove(&mut self, id: ActorId) {
        self.list.remove(&id);
    }

    /// Takes every child, in start order; with `close`, refuses later ones.
    pub(crate) fn take(&mut self, close: bool) -> Vec<ActorHandle> {
        self.closed |= close;
        std::mem::take(&mut self.list).into_values().collect()
    }

    pub(crate) fn snapshot(&self) -> Vec<ActorHandle> {
        self.list.values().cloned().collect()
    }
}

pub(crate) enum Parent {
    Root,
    Actor(Weak<Cell>),
}

/// What the cell's one mutex guards. Everything here is off the message path: signals,
/// the runner's waker (registered once), children and watches.
#[derive(Default)]
struct CellState {
    signals: VecDeque<Signal>,
    waker: Option<Waker>,
    children: Children,
    /// Boxed: most actors are never watched nor waited for.
    watch: Option<Box<WatchState>>,
    abort: Option<AbortHandle>,
}

pub(crate) struct Cell {
    pub(crate) id: ActorId,
    pub(crate) path: ActorPath,
    message_type: fn() -> &'static str,
    pub(crate) system: Arc<SystemShared>,
    pub(crate) parent: Parent,
    pub(crate) hook: Option<Arc<dyn SupervisionHook>>,
    pub(crate) shutdown: Shutdown,
    signal_pending: AtomicBool,
    done: AtomicBool,
    pub(crate) incarnation: AtomicU64,
    state: Mutex<CellState>,
}

/// Locks a mutex, recovering the data if a panic poisoned it: every critical section in
/// this crate leaves its data consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Cell {
    pub(crate) fn new(
        path: ActorPath,
        message_type: fn() -> &'static str,
        system: Arc<SystemShared>,
        parent: Parent,
        hook: Option<Arc<dyn SupervisionHook>>,
        shutdown: Shutdown,
    ) -> Self {
        Cell {
            id: ActorId::next(),
            path,
            message_type,
            system,
            parent,
            hook,
            shutdown,
            signal_pending: AtomicBool::new(false),
            done: AtomicBool::new(false),
            incarnation: AtomicU64::new(0),
            state: Mutex::new(CellState::default()),
        }
    }

    /// The Rust type name of the actor's messages.
    pub(crate) fn message_type(&self) -> &'static str {
        (self.message_type)()
    }

    pub(crate) fn set_abort(&self, abort: AbortHandle) {
        lock(&self.state).abort = Some(abort);
    }

    pub(crate) fn abort(&self) {
        if let Some(a) = &lock(&self.state).abort {
            a.abort();
        }
    }

    pub(crate) fn push_signal(&self, signal: Signal) {
        let waker = {
            let mut st = lock(&self.state);
            st.signals.push_back(signal);
            self.signal_pending.store(true, Ordering::Release);
            st.waker.clone()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    #[inline]
    pub(crate) fn has_signal(&self) -> bool {
        self.signal_pending.load(Ordering::Acquire)
    }

    pub(crate) fn pop_signal(&self) -> Option<Signal> {
        let mut st = lock(&self.state);
        let s = st.signals.pop_front();
        if st.signals.is_empty() {
            self.signal_pending.store(false, Ordering::Release);
        }
        s
    }

    /// Records the waker `push_signal` wakes. The runner calls it only when its waker
    /// changed, so the steady state takes no lock.
    pub(crate) fn set_waker(&self, waker: Waker) {
        lock(&self.state).waker = Some(waker);
    }

    /// Adds a child; false once this actor is stopping for good.
    pub(crate) fn add_child(&self, child: ActorHandle) -> bool {
        lock(&self.state).children.add(child)
    }

    /// Removes `child` from this cell's children (the child ended on its own).
    pub(crate) fn forget_child(&self, child: ActorId) {
        lock(&self.state).children.remove(child);
    }

    /// Takes the children in start order; with `close`, no new child may join.
    pub(crate) fn take_children(&self, close: bool) -> Vec<ActorHandle> {
        lock(&self.state).children.take(close)
    }

    pub(crate) fn children(&self) -> Vec<ActorHandle> {
        lock(&self.state).children.snapshot()
    }

    /// Publishes a dead letter addressed to this actor.
    #[cold]
    pub(crate) fn dead_letter(&self, reason: DeadLetterReason) {
        self.system.dead_letters.publish(DeadLetter {
            target: self.id,
            path: self.path.clone(),
            message_type: self.message_type(),
            reason,
        });
    }

    /// Registers `watcher`; if this actor has already ended, the watcher is told at once.
    pub(crate) fn add_watcher(&self, watcher: ActorHandle) {
        let mut st = lock(&self.state);
        let w = st.watch.get_or_insert_with(Box::default);
        if let Some(t) = &w.terminated {
            if w.notified.contains(&watcher.id()) {
                return;
            }
            let t = t.clone();
            w.notified.push(watcher.id());
            drop(st);
            watcher.0.push_signal(Signal::Terminated(t));
            return;
        }
        if !w.watchers.iter().any(|h| h.id() == watcher.id()) {
            w.watchers.push(watcher);
        }
    }

    pub(crate) fn remove_watcher(&self, watcher: ActorId) {
        if let Some(w) = lock(&self.state).watch.as_mut() {
            w.watchers.retain(|h| h.id() != watcher);
        }
    }

    /// Records the end and tells every watcher once.
    pub(crate) fn notify_terminated(&self, t: Terminated) {
        let watchers = {
            let mut st = lock(&self.state);
            let w = st.watch.get_or_insert_with(Box::default);
            w.terminated = Some(t.clone());
            let watchers = std::mem::take(&mut w.watchers);
            w.notified = watchers.iter().map(ActorHandle::id).collect();
            st.waker = None;
            watchers
        };
        for watcher in watchers {
            watcher.0.push_signal(Signal::Terminated(t.clone()));
        }
    }

    pub(crate) fn mark_done(&self) {
        self.done.store(true, Ordering::Release);
        let mut st = lock(&self.state);
        st.abort = None;
        let done = st.watch.as_mut().and_then(|w| w.done.take());
        drop(st);
        if let Some(done) = done {
            done.notify_waiters();
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        let st = lock(&self.state);
        st.watch
            .as_ref()
            .and_then(|w| w.terminated.as_ref())
            .map(|t| t.reason.clone())
    }

    pub(crate) async fn wait_done(&self) {
        loop {
            if self.is_done() {
                return;
            }
            let done = {
                let mut st = lock(&self.state);
                let w = st.watch.get_or_insert_with(Box::default);
                Arc::clone(w.done.get_or_insert_with(|| Arc::new(Notify::new())))
            };
            let notified = done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // `mark_done` sets the flag before it notifies: either we see the flag now, or
            // the enabled `notified` is woken.
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }
}

/// An untyped reference to an actor: enough to identify, watch, stop or supervise it,
/// whatever its message type. Cheap to clone (one reference count).
///
/// Equality, ordering and hashing follow the actor id.
#[derive(Clone)]
pub struct ActorHandle(pub(crate) Arc<Cell>);

impl ActorHandle {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.0.id
    }

    /// The actor's path.
    pub fn path(&self) -> &ActorPath {
        &self.0.path
    }

    /// The Rust type name of the messages it takes.
    pub fn message_type(&self) -> &'static str {
        self.0.message_type()
    }

    /// True until the actor has ended for good (a restart does not end it).
    pub fn is_alive(&self) -> bool {
        !self.0.is_done()
    }

    /// Which instance is running: 1 for the first, +1 per restart.
    pub fn incarnation(&self) -> u64 {
        self.0.incarnation.load(Ordering::Acquire)
    }

    /// Asks the actor to stop after the message it is handling. Signals overtake queued
    /// user messages; those still queued go to dead letters. A supervised actor first
    /// asks its supervisor, whose restart policy may restart it instead.
    pub fn stop(&self) {
        self.0.push_signal(Signal::Stop {
            consult_parent: true,
        });
    }

    /// Aborts the actor's task at once: `post_stop` does not run, queued messages go to
    /// dead letters, watchers see `ExitReason::Killed`. Its children are killed too.
    pub fn kill(&self) {
        self.0.abort();
    }

    /// Waits until the actor has ended for good and returns why.
    pub async fn wait_stopped(&self) -> ExitReason {
        self.0.wait_done().await;
        self.0.exit_reason().unwrap_or(ExitReason::Killed)
    }

    /// Stops the actor for good without consulting its supervisor, honouring `policy`:
    /// graceful, then aborted if it has not ended in time. Returns when it has ended.
    pub async fn shutdown(&self, policy: Shutdown) -> ExitReason {
        match policy {
            Shutdown::BrutalKill => self.kill(),
            Shutdown::Timeout(limit) => {
                self.terminate();
                if tokio::time::timeout(limit, self.0.wait_done())
                    .await
                    .is_err()
                {
                    self.kill();
                }
            }
            Shutdown::Infinity => self.terminate(),
        }
        self.wait_stopped().await
    }

    /// The shutdown policy the actor was spawned with.
    pub fn shutdown_policy(&self) -> Shutdown {
        self.0.shutdown
    }

    // ---- supervisor protocol -------------------------------------------------------

    /// Supervisor protocol: a parked child (one that reported an end) continues with its
    /// current instance and state. Ignored when the child is not parked.
    pub fn resume(&self) {
        self.0.push_signal(Signal::Resume);
    }

    /// Supervisor protocol: replace the instance. The old one gets `pre_restart` and
    /// `post_stop` (its children are stopped first), then after `delay` a new one is made
    /// by the factory and gets `pre_start` and `post_restart`. Queued messages are kept;
    /// messages arriving meanwhile queue up to the mailbox capacity.
    pub fn restart(&self, reason: RestartReason, delay: Duration) {
        self.0.push_signal(Signal::Halt { reason, ack: None });
        self.0.push_signal(Signal::Start { delay, ack: None });
    }

    /// Supervisor protocol, first half of a restart: end the current instance (as
    /// `restart` does) and wait, mailbox kept, for `start`. The returned future resolves
    /// when the old instance's `post_stop` has completed (or the actor has ended).
    pub fn halt(&self, reason: RestartReason) -> impl Future<Output = ()> + Send + use<> {
        let (tx, rx) = oneshot::channel();
        self.0.push_signal(Signal::Halt {
            reason,
            ack: Some(tx),
        });
        async move {
            let _ = rx.await;
        }
    }

    /// Supervisor protocol, second half of a restart: start a new instance after `delay`.
    /// Ignored when the child is not halted. The returned future resolves once the new
    /// instance has run `pre_start` and `post_restart` (or failed to), or the actor has
    /// ended; dropping it does not cancel the start.
    pub fn start(&self, delay: Duration) -> impl Future<Output = ()> + Send + use<> {
        let (tx, rx) = oneshot::channel();
        self.0.push_signal(Signal::Start {
            delay,
            ack: Some(tx),
        });
        async move {
            let _ = rx.await;
        }
    }

    /// Supervisor protocol: stop for good, without consulting the supervisor.
    pub fn terminate(&self) {
        self.0.push_signal(Signal::Stop {
            consult_parent: false,
        });
    }
}

impl PartialEq for ActorHandle {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ActorHandle {}

impl Hash for ActorHandle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for ActorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorHandle({}{})", self.0.path, self.0.id)
    }
}

impl fmt::Display for ActorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0.path, self.0.id)
    }
}
