//! Scheduled messages: `send_after` and `send_interval`, cancellable.

use std::time::Duration;

use tokio::task::AbortHandle;

use crate::actor_ref::ActorRef;

/// A scheduled delivery. Dropping the handle does not cancel it; call `cancel`.
/// A schedule also ends by itself when the target has stopped.
#[derive(Debug)]
pub struct TimerHandle {
    task: Option<AbortHandle>,
}

impl TimerHandle {
    /// Cancels the schedule; a message not yet sent will not be.
    pub fn cancel(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    /// True once the schedule can send nothing more (sent, cancelled, or target gone).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(AbortHandle::is_finished)
    }
}

impl<M: Send + 'static> ActorRef<M> {
    /// Sends `msg` after `delay` (through `tell`, so a full `Wait` mailbox delays it
    /// further). If the target has stopped by then, the message goes to dead letters.
    pub fn send_after(&self, msg: M, delay: Duration) -> TimerHandle {
        let target = self.clone();
        self.schedule(async move {
            tokio::time::sleep(delay).await;
            let _ = target.tell(msg).await;
        })
    }

    /// Sends `make()` every `period`, the first after one period, until cancelled or
    /// the target stops. Ticks missed while the mailbox was full are skipped, not
    /// bunched. A zero `period` is treated as one millisecond.
    pub fn send_interval(
        &self,
        period: Duration,
        mut make: impl FnMut() -> M + Send + 'static,
    ) -> TimerHandle {
        let target = self.clone();
        let period = period.max(Duration::from_millis(1));
        self.schedule(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if target.tell(make()).await.is_err() && !target.is_alive() {
                    return;
                }
            }
        })
    }

    fn schedule(&self, job: impl Future<Output = ()> + Send + 'static) -> TimerHandle {
        let task = self
            .cell()
            .system
            .runtime()
            .ok()
            .map(|rt| rt.spawn(job).abort_handle());
        TimerHandle { task }
    }
}
