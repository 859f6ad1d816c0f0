//! `RestartPolicy`: which ends of a child lead to a restart.

use palisade_actor_core::{ChildEnd, ExitReason};

/// When a child is restarted. OTP's restart types, plus the origin design's `OnStop`.
///
/// | policy | OTP | after a failure | after a kill | after stopping itself | after an outside `stop` |
/// |---|---|---|---|---|---|
/// | `Always` | permanent | restart | respawn | restart | stays stopped |
/// | `OnFailure` | transient | restart | respawn | stays stopped | stays stopped |
/// | `Never` | temporary | stays stopped | stays stopped | stays stopped | stays stopped |
/// | `OnStop` | (none) | restart | respawn | restart | restart |
///
/// "After a failure" means: when the decider says `Restart`. A restart keeps the mailbox
/// and every `ActorRef`; a kill aborts the child's task, so the supervisor spawns a fresh
/// actor at the same path (refs to the killed one are dead, as with a new pid in OTP).
/// A child is never restarted when its supervisor itself stops it (removal, shutdown,
/// escalation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    /// OTP `permanent`: restarted whenever it ends on its own, failure or not.
    #[default]
    Always,
    /// OTP `transient`: restarted only after a failure.
    OnFailure,
    /// OTP `temporary`: never restarted.
    Never,
    /// Restarted even when someone other than its supervisor stops it: only the
    /// supervisor can end it.
    OnStop,
}

impl RestartPolicy {
    /// Whether a child with this policy is restarted after `end`, assuming the decider
    /// chose `Restart` for failures.
    pub fn restarts_after(self, end: &ChildEnd) -> bool {
        match (self, end) {
            (RestartPolicy::Never, _) => false,
            (_, ChildEnd::Failed(_)) => true,
            (RestartPolicy::OnFailure, ChildEnd::Exited(reason)) => {
                matches!(reason, ExitReason::Killed)
            }
            (RestartPolicy::Always, ChildEnd::Exited(reason)) => {
                matches!(reason, ExitReason::Normal | ExitReason::Killed)
            }
            (RestartPolicy::OnStop, ChildEnd::Exited(_)) => true,
        }
    }
}
