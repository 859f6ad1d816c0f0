//! `InMemorySnapshotStore`: the [`SnapshotStore`] contract in a map, for tests and
//! demos.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::SnapshotError;
use crate::snapshot::{ActorStateSnapshot, Loaded, SnapshotCriteria, SnapshotStore};

/// Snapshots per actor, keyed by sequence, in memory; lost when dropped.
///
/// Snapshots are stored as given: a snapshot whose `state` no longer matches its
/// `state_hash` is kept, listed, and skipped by [`SnapshotStore::load`] (as a
/// corrupted record would be in a durable backend). Every call takes one lock for the
/// time of a map operation; `load` clones the snapshot it returns.
#[derive(Debug, Default)]
pub struct InMemorySnapshotStore {
    actors: Mutex<HashMap<String, BTreeMap<u64, ActorStateSnapshot>>>,
}

type Actors = HashMap<String, BTreeMap<u64, ActorStateSnapshot>>;

impl InMemorySnapshotStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemorySnapshotStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Actors> {
        // The map is consistent after every statement, so a panic elsewhere while the
        // lock was held leaves nothing half-done.
        self.actors.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the snapshots of `actor_id` that `doomed` selects; returns how many.
    fn remove_where(&self, actor_id: &str, doomed: impl Fn(&ActorStateSnapshot) -> bool) -> usize {
        let mut actors = self.lock();
        let Some(snapshots) = actors.get_mut(actor_id) else {
            return 0;
        };
        let before = snapshots.len();
        snapshots.retain(|_, s| !doomed(s));
        let removed = before - snapshots.len();
        if snapshots.is_empty() {
            actors.remove(actor_id);
        }
        removed
    }
}

#[async_trait]
impl SnapshotStore for InMemorySnapshotStore {
    async fn save(&self, snapshot: ActorStateSnapshot) -> Result<(), SnapshotError> {
        self.lock()
            .entry(snapshot.actor_id.clone())
            .or_default()
            .insert(snapshot.sequence, snapshot);
        Ok(())
    }

    async fn load(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<Loaded, SnapshotError> {
        let actors = self.lock();
        let mut loaded = Loaded::default();
        let Some(snapshots) = actors.get(actor_id) else {
            return Ok(loaded);
        };
        for snapshot in snapshots.values().rev() {
            if !criteria.matches(snapshot) {
                continue;
            }
            if snapshot.is_intact() {
                loaded.snapshot = Some(snapshot.clone());
                break;
            }
            tracing::warn!(
                actor_id,
                sequence = snapshot.sequence,
                "snapshot state does not match its hash; skipped"
            );
            loaded.skipped.push(snapshot.sequence);
        }
        Ok(loaded)
    }

    async fn delete(&self, actor_id: &str, sequence: u64) -> Result<(), SnapshotError> {
        self.remove_where(actor_id, |s| s.sequence == sequence);
        Ok(())
    }

    async fn delete_matching(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<usize, SnapshotError> {
        Ok(self.remove_where(actor_id, |s| criteria.matches(s)))
    }

    async fn keep_newest(&self, actor_id: &str, n: usize) -> Result<usize, SnapshotError> {
        let mut actors = self.lock();
        let Some(snapshots) = actors.get_mut(actor_id) else {
            return Ok(0);
        };
        let excess = snapshots.len().saturating_sub(n);
        let doomed: Vec<u64> = snapshots.keys().take(excess).copied().collect();
        for sequence in &doomed {
            snapshots.remove(sequence);
        }
        if snapshots.is_empty() {
            actors.remove(actor_id);
        }
        Ok(doomed.len())
    }

    async fn list(&self, actor_id: &str) -> Result<Vec<u64>, SnapshotError> {
        Ok(self
            .lock()
            .get(actor_id)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default())
    }
}
