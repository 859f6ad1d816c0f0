//! The `SnapshotStore` contract (and Akka's snapshot-store behaviours), run against every
//! backend. A backend joins by adding a `backend!` line at the bottom; sled-only promises
//! (reopening, damaged records) follow it.
//!
//! A corrupt snapshot is made the same way for every backend: by saving one whose state
//! no longer matches its `state_hash` (stores keep what they are given and check on load).

use std::sync::Arc;

use palisade_snapshot_store::{
    ActorStateSnapshot, InMemorySnapshotStore, SledSnapshotStore, SnapshotCriteria, SnapshotStore,
    StateCodec,
};

/// A snapshot of `actor` at `sequence`, taken at `timestamp`, whose state names both.
fn snap(actor: &str, sequence: u64, timestamp: u64) -> ActorStateSnapshot {
    let state = format!("{actor}@{sequence}").into_bytes();
    let mut s = ActorStateSnapshot::new(actor, "Counter", sequence, state, StateCodec::Raw);
    s.timestamp = timestamp;
    s
}

/// A snapshot whose state was changed after its hash was taken.
fn tampered(actor: &str, sequence: u64, timestamp: u64) -> ActorStateSnapshot {
    let mut s = snap(actor, sequence, timestamp);
    s.state[0] ^= 0x01;
    assert!(!s.is_intact());
    s
}

async fn save_all(store: &dyn SnapshotStore, snapshots: Vec<ActorStateSnapshot>) {
    for s in snapshots {
        store.save(s).await.expect("save");
    }
}

async fn loaded_sequence(
    store: &dyn SnapshotStore,
    actor: &str,
    criteria: SnapshotCriteria,
) -> Option<u64> {
    store
        .load(actor, criteria)
        .await
        .expect("load")
        .snapshot
        .map(|s| s.sequence)
}

async fn load_returns_the_newest_saved_snapshot_with_every_field(store: Arc<dyn SnapshotStore>) {
    let empty = store
        .load("acct", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(empty.snapshot, None);
    assert!(empty.skipped.is_empty());

    let mut newest = snap("acct", 20, 2_000);
    newest.metadata.insert("node".into(), "n1".into());
    newest.codec = StateCodec::Json;
    save_all(&*store, vec![snap("acct", 10, 1_000), newest.clone()]).await;
    let loaded = store
        .load("acct", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(loaded.snapshot, Some(newest));
    assert!(loaded.skipped.is_empty());
}

async fn load_selects_by_max_sequence(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        vec![snap("a", 5, 100), snap("a", 10, 200), snap("a", 15, 300)],
    )
    .await;
    let at = |seq| SnapshotCriteria::at_or_before_sequence(seq);
    assert_eq!(loaded_sequence(&*store, "a", at(14)).await, Some(10));
    assert_eq!(loaded_sequence(&*store, "a", at(15)).await, Some(15));
    assert_eq!(loaded_sequence(&*store, "a", at(5)).await, Some(5));
    assert_eq!(loaded_sequence(&*store, "a", at(4)).await, None);
    let window = SnapshotCriteria {
        min_sequence: 6,
        ..at(14)
    };
    assert_eq!(loaded_sequence(&*store, "a", window).await, Some(10));
    let empty_window = SnapshotCriteria {
        min_sequence: 11,
        ..at(14)
    };
    assert_eq!(loaded_sequence(&*store, "a", empty_window).await, None);
}

async fn load_selects_by_max_timestamp(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        vec![snap("a", 5, 100), snap("a", 10, 200), snap("a", 15, 300)],
    )
    .await;
    let at = |ts| SnapshotCriteria::at_or_before_time(ts);
    assert_eq!(loaded_sequence(&*store, "a", at(299)).await, Some(10));
    assert_eq!(loaded_sequence(&*store, "a", at(300)).await, Some(15));
    assert_eq!(loaded_sequence(&*store, "a", at(99)).await, None);
    let window = SnapshotCriteria {
        min_timestamp: 150,
        ..at(250)
    };
    assert_eq!(loaded_sequence(&*store, "a", window).await, Some(10));
}

async fn saving_at_a_stored_sequence_overwrites_it(store: Arc<dyn SnapshotStore>) {
    store.save(snap("a", 7, 100)).await.expect("save");
    let mut replacement = snap("a", 7, 200);
    replacement.state = b"second".to_vec();
    replacement.state_hash = crc32fast::hash(&replacement.state);
    store.save(replacement.clone()).await.expect("overwrite");
    assert_eq!(store.list("a").await.expect("list"), vec![7]);
    let loaded = store
        .load("a", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(loaded.snapshot, Some(replacement));
}

async fn delete_removes_one_snapshot(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        vec![snap("a", 1, 10), snap("a", 2, 20), snap("a", 3, 30)],
    )
    .await;
    store.delete("a", 2).await.expect("delete");
    assert_eq!(store.list("a").await.expect("list"), vec![1, 3]);
    store.delete("a", 3).await.expect("delete");
    assert_eq!(
        loaded_sequence(&*store, "a", SnapshotCriteria::latest()).await,
        Some(1)
    );
    store
        .delete("a", 99)
        .await
        .expect("deleting nothing is fine");
    store
        .delete("nobody", 1)
        .await
        .expect("unknown actor is fine");
    assert_eq!(store.list("a").await.expect("list"), vec![1]);
}

async fn delete_matching_removes_exactly_the_matching_snapshots(store: Arc<dyn SnapshotStore>) {
    save_all(&*store, (1..=6).map(|i| snap("a", i, i * 100)).collect()).await;
    let by_sequence = store
        .delete_matching("a", SnapshotCriteria::at_or_before_sequence(2))
        .await
        .expect("delete");
    assert_eq!(by_sequence, 2);
    assert_eq!(store.list("a").await.expect("list"), vec![3, 4, 5, 6]);
    let by_time = store
        .delete_matching(
            "a",
            SnapshotCriteria {
                min_timestamp: 400,
                ..SnapshotCriteria::at_or_before_time(500)
            },
        )
        .await
        .expect("delete");
    assert_eq!(by_time, 2);
    assert_eq!(store.list("a").await.expect("list"), vec![3, 6]);
    let none = store
        .delete_matching("nobody", SnapshotCriteria::latest())
        .await
        .expect("delete");
    assert_eq!(none, 0);
    let all = store
        .delete_matching("a", SnapshotCriteria::latest())
        .await
        .expect("delete");
    assert_eq!(all, 2);
    assert!(store.list("a").await.expect("list").is_empty());
}

async fn keep_newest_deletes_all_but_the_newest_n(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        [5, 1, 4, 2, 3].iter().map(|&i| snap("a", i, i)).collect(),
    )
    .await;
    assert_eq!(store.keep_newest("a", 10).await.expect("keep"), 0);
    assert_eq!(store.keep_newest("a", 2).await.expect("keep"), 3);
    assert_eq!(store.list("a").await.expect("list"), vec![4, 5]);
    assert_eq!(store.keep_newest("a", 0).await.expect("keep"), 2);
    assert!(store.list("a").await.expect("list").is_empty());
    assert_eq!(store.keep_newest("nobody", 1).await.expect("keep"), 0);
}

async fn a_ten_kilobyte_snapshot_round_trips(store: Arc<dyn SnapshotStore>) {
    let state: Vec<u8> = (0..10 * 1024).map(|i| (i % 251) as u8).collect();
    let big = ActorStateSnapshot::new("big", "Blob", 3, state, StateCodec::Bincode);
    store.save(big.clone()).await.expect("save");
    let loaded = store
        .load("big", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(loaded.snapshot, Some(big));
}

async fn a_corrupt_newest_snapshot_is_skipped_and_reported(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        vec![
            snap("a", 1, 10),
            snap("a", 2, 20),
            tampered("a", 3, 30),
            tampered("a", 4, 40),
        ],
    )
    .await;
    let loaded = store
        .load("a", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(loaded.snapshot, Some(snap("a", 2, 20)));
    assert_eq!(loaded.skipped, vec![4, 3], "newest first");

    // Only snapshots the criteria select are checked and reported.
    let older = store
        .load("a", SnapshotCriteria::at_or_before_sequence(3))
        .await
        .expect("load");
    assert_eq!(older.snapshot.map(|s| s.sequence), Some(2));
    assert_eq!(older.skipped, vec![3]);

    // Corrupt snapshots are still stored and listed: deletion is the caller's decision.
    assert_eq!(store.list("a").await.expect("list"), vec![1, 2, 3, 4]);
}

async fn only_corrupt_snapshots_load_nothing(store: Arc<dyn SnapshotStore>) {
    store.save(tampered("a", 1, 10)).await.expect("save");
    let loaded = store
        .load("a", SnapshotCriteria::latest())
        .await
        .expect("load");
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.skipped, vec![1]);
}

async fn actors_never_see_each_others_snapshots(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        vec![snap("a", 1, 10), snap("ab", 5, 50), snap("b", 9, 90)],
    )
    .await;
    assert_eq!(store.list("a").await.expect("list"), vec![1]);
    assert_eq!(store.list("ab").await.expect("list"), vec![5]);
    assert_eq!(
        loaded_sequence(&*store, "a", SnapshotCriteria::latest()).await,
        Some(1)
    );
    assert_eq!(
        loaded_sequence(&*store, "", SnapshotCriteria::latest()).await,
        None
    );
    assert_eq!(
        store
            .delete_matching("a", SnapshotCriteria::latest())
            .await
            .expect("delete"),
        1
    );
    assert_eq!(store.keep_newest("b", 0).await.expect("keep"), 1);
    assert_eq!(store.list("ab").await.expect("list"), vec![5]);
}

async fn list_is_ascending_whatever_the_save_order(store: Arc<dyn SnapshotStore>) {
    save_all(
        &*store,
        [300, 2, 1_000_000, 45, 256]
            .iter()
            .map(|&i| snap("a", i, i))
            .collect(),
    )
    .await;
    assert_eq!(
        store.list("a").await.expect("list"),
        vec![2, 45, 256, 300, 1_000_000]
    );
    assert!(store.list("nobody").await.expect("list").is_empty());
}

macro_rules! backend {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let store: Arc<dyn SnapshotStore> = $make;
                        super::$name(store).await;
                    }
                };
            }
            case!(load_returns_the_newest_saved_snapshot_with_every_field);
            case!(load_selects_by_max_sequence);
            case!(load_selects_by_max_timestamp);
            case!(saving_at_a_stored_sequence_overwrites_it);
            case!(delete_removes_one_snapshot);
            case!(delete_matching_removes_exactly_the_matching_snapshots);
            case!(keep_newest_deletes_all_but_the_newest_n);
            case!(a_ten_kilobyte_snapshot_round_trips);
            case!(a_corrupt_newest_snapshot_is_skipped_and_reported);
            case!(only_corrupt_snapshots_load_nothing);
            case!(actors_never_see_each_others_snapshots);
            case!(list_is_ascending_whatever_the_save_order);
        }
    };
}

backend!(in_memory, Arc::new(InMemorySnapshotStore::new()));
backend!(
    sled,
    Arc::new(SledSnapshotStore::temporary().expect("sled"))
);

/// Sled-only promises: what survives a reopen, and damage done behind the store's back.
mod sled_durability {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_keeps_every_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledSnapshotStore::open(dir.path()).expect("open");
            save_all(
                &store,
                vec![snap("a", 1, 10), snap("a", 2, 20), snap("b", 7, 70)],
            )
            .await;
            store.delete("a", 1).await.expect("delete");
        }
        let store = SledSnapshotStore::open(dir.path()).expect("reopen");
        assert_eq!(store.list("a").await.expect("list"), vec![2]);
        let loaded = store
            .load("b", SnapshotCriteria::latest())
            .await
            .expect("load");
        assert_eq!(loaded.snapshot, Some(snap("b", 7, 70)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_larger_than_a_sled_segment_are_synced_and_kept() {
        // Over 128 KiB: sled stores the node in a blob file, which its flush never
        // syncs; the store syncs it (and the blobs directory) itself.
        let dir = tempfile::tempdir().expect("tempdir");
        let state: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let big = ActorStateSnapshot::new("big", "Counter", 3, state, StateCodec::Raw);
        {
            let store = SledSnapshotStore::open(dir.path()).expect("open");
            store.save(big.clone()).await.expect("save");
            let blobs = std::fs::read_dir(dir.path().join("blobs")).expect("blobs");
            assert!(blobs.count() > 0, "the snapshot went to a blob file");
        }
        let store = SledSnapshotStore::open(dir.path()).expect("reopen");
        let loaded = store
            .load("big", SnapshotCriteria::latest())
            .await
            .expect("load");
        assert_eq!(loaded.snapshot, Some(big));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_byte_flipped_on_disk_is_skipped_not_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledSnapshotStore::open(dir.path()).expect("open");
            save_all(&store, vec![snap("a", 1, 10), snap("a", 2, 20)]).await;
        }
        {
            // Damage the last byte of the newest record behind the store's back.
            let db = ::sled::open(dir.path()).expect("raw open");
            let tree = db.open_tree("snapshots").expect("tree");
            let (key, value) = tree.last().expect("read").expect("entry");
            let mut damaged = value.to_vec();
            let last = damaged.len() - 1;
            damaged[last] ^= 0x01;
            tree.insert(key, damaged).expect("overwrite");
            db.flush().expect("flush");
        }
        let store = SledSnapshotStore::open(dir.path()).expect("reopen");
        let loaded = store
            .load("a", SnapshotCriteria::latest())
            .await
            .expect("load");
        assert_eq!(loaded.snapshot, Some(snap("a", 1, 10)));
        assert_eq!(loaded.skipped, vec![2]);
        assert_eq!(store.list("a").await.expect("list"), vec![1, 2]);
        // An unreadable record can never be loaded, so cleanup removes it.
        assert_eq!(
            store
                .delete_matching("a", SnapshotCriteria::at_or_before_time(15))
                .await
                .expect("delete"),
            2
        );
        assert!(store.list("a").await.expect("list").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_filed_under_the_wrong_key_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledSnapshotStore::open(dir.path()).expect("open");
            save_all(&store, vec![snap("a", 1, 10), snap("b", 2, 20)]).await;
        }
        {
            // Copy b's record under a's sequence 2: it decodes, but is not a's.
            let db = ::sled::open(dir.path()).expect("raw open");
            let tree = db.open_tree("snapshots").expect("tree");
            let (_, b_record) = tree.last().expect("read").expect("entry");
            let mut key = vec![0, 0, 0, 1, b'a'];
            key.extend_from_slice(&2u64.to_be_bytes());
            tree.insert(key, b_record).expect("insert");
            db.flush().expect("flush");
        }
        let store = SledSnapshotStore::open(dir.path()).expect("reopen");
        let loaded = store
            .load("a", SnapshotCriteria::latest())
            .await
            .expect("load");
        assert_eq!(loaded.snapshot, Some(snap("a", 1, 10)));
        assert_eq!(loaded.skipped, vec![2]);
    }
}
