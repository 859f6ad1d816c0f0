//! `SledSnapshotStore`: the [`SnapshotStore`] contract on
//! [sled](https://docs.rs/sled/0.34), the embedded default backend.
//!
//! # On-disk layout
//!
//! One sled database, one tree. Integers are big-endian so that sled's byte order is
//! numeric order.
//!
//! | tree        | key                                               | value                                  |
//! |-------------|---------------------------------------------------|----------------------------------------|
//! | `snapshots` | actor id length (u32) ‖ actor id ‖ sequence (u64) | the record ([`crate::record`] format)  |
//!
//! The actor id is length-prefixed rather than separator-terminated so that no actor id,
//! whatever bytes it holds, falls inside another actor's key range (`"a"` never sees
//! `"ab"`'s snapshots). An actor's snapshots sit together in sequence order, so `load`
//! is one backward range scan from `max_sequence` that stops at the first good match.
//!
//! # Corruption
//!
//! `load` decodes each record it passes through [`crate::record::decode`] and checks
//! that it is the snapshot its key says (actor, sequence) and that its state matches its
//! `state_hash`. A record failing any check is skipped, logged with `tracing::warn!`, and
//! reported in [`Loaded::skipped`]; the next older one is tried. A record that cannot be
//! decoded has no readable timestamp, so it is reported whenever its sequence is in the
//! criteria's range.
//!
//! `delete_matching` likewise deletes an undecodable record whose sequence is in range:
//! it can never be loaded, and cleanup is what the call is for.
//!
//! # Durability and cost
//!
//! Every write (`save`, `delete`, `delete_matching`, `keep_newest`) is made durable
//! before it returns: sled's flush, then [`SledFileSync::sync`] (an `fdatasync` of
//! sled's file and an `fsync` of new blob files, which large snapshots become; sled's
//! flush alone does not survive a power loss). Snapshots are rare and large, so the
//! syncs are cheap next to what they protect, and an acknowledged snapshot survives a
//! crash of the process, the kernel or the power. Every sled call runs
//! on tokio's blocking pool (`spawn_blocking`), as sled can block on I/O.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use palisade_event_store::SledFileSync;
use palisade_event_store::sled_sync::{OpenFailure, open_synced};

use crate::error::SnapshotError;
use crate::record;
use crate::snapshot::{ActorStateSnapshot, Loaded, SnapshotCriteria, SnapshotStore};

/// The tree holding the records.
const TREE: &str = "snapshots";

/// Snapshots in a sled database. Cheap to clone (clones share the database).
#[derive(Clone, Debug)]
pub struct SledSnapshotStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Kept so that the database lives as long as the store.
    _db: sled::Db,
    snapshots: sled::Tree,
    /// What sled's flush leaves unsynced (`None` for a temporary database).
    files: Option<SledFileSync>,
}

impl SledSnapshotStore {
    /// Opens (or creates) the store in the directory `path`.
    ///
    /// # Errors
    /// `InUse` when another open store (in this process or another) holds the
    /// directory (after up to a second of retries, as a store closed a moment ago may
    /// still hold it; see [`palisade_event_store::sled_sync::open_synced`]); `Storage`
    /// when sled cannot open the database otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let dir = path.as_ref();
        let (db, files) =
            open_synced(&sled::Config::new().path(dir), dir).map_err(|e| match e {
                OpenFailure::InUse(dir) => SnapshotError::InUse(dir),
                OpenFailure::Failed(reason) => SnapshotError::Storage(reason),
            })?;
        SledSnapshotStore::with_db(db, Some(files))
    }

    /// A store in a temporary database, removed when the last clone is dropped. For
    /// tests and demos.
    ///
    /// # Errors
    /// `Storage` when sled cannot create the database.
    pub fn temporary() -> Result<Self, SnapshotError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        SledSnapshotStore::with_db(db, None)
    }

    fn with_db(db: sled::Db, files: Option<SledFileSync>) -> Result<Self, SnapshotError> {
        let snapshots = db.open_tree(TREE).map_err(storage)?;
        Ok(SledSnapshotStore {
            inner: Arc::new(Inner {
                _db: db,
                snapshots,
                files,
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, SnapshotError> + Send + 'static,
    ) -> Result<T, SnapshotError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| SnapshotError::Storage(format!("blocking task failed: {e}")))?
    }
}

impl Inner {
    fn save(&self, snapshot: &ActorStateSnapshot) -> Result<(), SnapshotError> {
        let record = record::encode(snapshot)?;
        self.snapshots
            .insert(key(&snapshot.actor_id, snapshot.sequence)?, record)
            .map_err(storage)?;
        self.flush()
    }

    fn load(&self, actor_id: &str, criteria: SnapshotCriteria) -> Result<Loaded, SnapshotError> {
        let mut loaded = Loaded::default();
        if criteria.min_sequence > criteria.max_sequence {
            return Ok(loaded);
        }
        let range = key(actor_id, criteria.min_sequence)?..=key(actor_id, criteria.max_sequence)?;
        for entry in self.snapshots.range(range).rev() {
            let (key, value) = entry.map_err(storage)?;
            let sequence = sequence_of(&key)?;
            let snapshot = match checked(&value, actor_id, sequence) {
                Ok(snapshot) => snapshot,
                Err(reason) => {
                    tracing::warn!(actor_id, sequence, %reason, "unreadable snapshot record; skipped");
                    loaded.skipped.push(sequence);
                    continue;
                }
            };
            if !criteria.matches(&snapshot) {
                continue;
            }
            if !snapshot.is_intact() {
                tracing::warn!(
                    actor_id,
                    sequence,
                    "snapshot state does not match its hash; skipped"
                );
                loaded.skipped.push(sequence);
                continue;
            }
            loaded.snapshot = Some(snapshot);
            break;
        }
        Ok(loaded)
    }

    fn delete(&self, actor_id: &str, sequence: u64) -> Result<(), SnapshotError> {
        self.snapshots
            .remove(key(actor_id, sequence)?)
            .map_err(storage)?;
        self.flush()
    }

    fn delete_matching(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<usize, SnapshotError> {
        if criteria.min_sequence > criteria.max_sequence {
            return Ok(0);
        }
        let range = key(actor_id, criteria.min_sequence)?..=key(actor_id, criteria.max_sequence)?;
        let mut deleted = 0;
        for entry in self.snapshots.range(range) {
            let (key, value) = entry.map_err(storage)?;
            let sequence = sequence_of(&key)?;
            let doomed = match checked(&value, actor_id, sequence) {
                Ok(snapshot) => criteria.matches(&snapshot),
                // Unreadable: its timestamp is unknowable and it can never be loaded.
                Err(_) => true,
            };
            if !doomed {
                continue;
            }
            // Only the record we judged: a concurrent `save` that overwrote it since
            // stays.
            let swapped = self
                .snapshots
                .compare_and_swap(&key, Some(&value), None::<&[u8]>)
                .map_err(storage)?;
            if swapped.is_ok() {
                deleted += 1;
            }
        }
        self.flush()?;
        Ok(deleted)
    }

    fn keep_newest(&self, actor_id: &str, n: usize) -> Result<usize, SnapshotError> {
        let keys = self.keys(actor_id)?;
        let excess = keys.len().saturating_sub(n);
        if excess == 0 {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        for key in keys.into_iter().take(excess) {
            batch.remove(key);
        }
        self.snapshots.apply_batch(batch).map_err(storage)?;
        self.flush()?;
        Ok(excess)
    }

    fn list(&self, actor_id: &str) -> Result<Vec<u64>, SnapshotError> {
        self.keys(actor_id)?
            .iter()
            .map(|k| sequence_of(k))
            .collect()
    }

    /// The keys of `actor_id`'s snapshots, in ascending sequence order.
    fn keys(&self, actor_id: &str) -> Result<Vec<sled::IVec>, SnapshotError> {
        let prefix = actor_prefix(actor_id)?;
        self.snapshots
            .scan_prefix(prefix)
            .keys()
            .map(|k| k.map_err(storage))
            .collect()
    }

    fn flush(&self) -> Result<(), SnapshotError> {
        match &self.files {
            Some(files) => files
                .flush(&self.snapshots)
                .map_err(|e| SnapshotError::Storage(format!("fsync failed: {e}"))),
            None => self.snapshots.flush().map(drop).map_err(storage),
        }
    }
}

/// Decodes `record` and checks it is the snapshot its key names.
fn checked(record: &[u8], actor_id: &str, sequence: u64) -> Result<ActorStateSnapshot, String> {
    let snapshot = record::decode(record).map_err(|e| e.to_string())?;
    if snapshot.actor_id != actor_id || snapshot.sequence != sequence {
        return Err(format!(
            "record holds {}#{}, not {actor_id}#{sequence}",
            snapshot.actor_id, snapshot.sequence
        ));
    }
    Ok(snapshot)
}

/// Actor id length (u32 BE) ‖ actor id.
fn actor_prefix(actor_id: &str) -> Result<Vec<u8>, SnapshotError> {
    let len = u32::try_from(actor_id.len())
        .map_err(|_| SnapshotError::Storage("actor id longer than u32::MAX bytes".to_owned()))?;
    let mut prefix = Vec::with_capacity(4 + actor_id.len() + 8);
    prefix.extend_from_slice(&len.to_be_bytes());
    prefix.extend_from_slice(actor_id.as_bytes());
    Ok(prefix)
}

/// Actor id length (u32 BE) ‖ actor id ‖ sequence (u64 BE).
fn key(actor_id: &str, sequence: u64) -> Result<Vec<u8>, SnapshotError> {
    let mut key = actor_prefix(actor_id)?;
    key.extend_from_slice(&sequence.to_be_bytes());
    Ok(key)
}

/// The sequence at the end of a key.
fn sequence_of(key: &[u8]) -> Result<u64, SnapshotError> {
    key.len()
        .checked_sub(8)
        .and_then(|at| key.get(at..))
        .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| SnapshotError::Storage("unreadable snapshot key".to_owned()))
}

fn storage(e: sled::Error) -> SnapshotError {
    SnapshotError::Storage(e.to_string())
}

#[async_trait]
impl SnapshotStore for SledSnapshotStore {
    async fn save(&self, snapshot: ActorStateSnapshot) -> Result<(), SnapshotError> {
        self.blocking(move |inner| inner.save(&snapshot)).await
    }

    async fn load(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<Loaded, SnapshotError> {
        let actor_id = actor_id.to_owned();
        self.blocking(move |inner| inner.load(&actor_id, criteria))
            .await
    }

    async fn delete(&self, actor_id: &str, sequence: u64) -> Result<(), SnapshotError> {
        let actor_id = actor_id.to_owned();
        self.blocking(move |inner| inner.delete(&actor_id, sequence))
            .await
    }

    async fn delete_matching(
        &self,
        actor_id: &str,
        criteria: SnapshotCriteria,
    ) -> Result<usize, SnapshotError> {
        let actor_id = actor_id.to_owned();
        self.blocking(move |inner| inner.delete_matching(&actor_id, criteria))
            .await
    }

    async fn keep_newest(&self, actor_id: &str, n: usize) -> Result<usize, SnapshotError> {
        let actor_id = actor_id.to_owned();
        self.blocking(move |inner| inner.keep_newest(&actor_id, n))
            .await
    }

    async fn list(&self, actor_id: &str) -> Result<Vec<u64>, SnapshotError> {
        let actor_id = actor_id.to_owned();
        self.blocking(move |inner| inner.list(&actor_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_held_by_an_open_store_is_reported_as_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = SledSnapshotStore::open(dir.path()).expect("open");
        let second = SledSnapshotStore::open(dir.path());
        assert!(
            matches!(&second, Err(SnapshotError::InUse(path)) if path == &dir.path().display().to_string()),
            "{second:?}"
        );
        drop(first);
        assert!(SledSnapshotStore::open(dir.path()).is_ok());
    }

    #[test]
    fn keys_of_one_actor_never_fall_in_another_actors_range() {
        let a_max = key("a", u64::MAX).expect("key");
        let ab_min = key("ab", 0).expect("key");
        let a_prefix = actor_prefix("a").expect("prefix");
        assert!(!ab_min.starts_with(&a_prefix));
        assert!(a_max < ab_min);
        assert_eq!(sequence_of(&key("ab", 7).expect("key")).expect("seq"), 7);
        assert!(sequence_of(&[1, 2, 3]).is_err());
    }
}
