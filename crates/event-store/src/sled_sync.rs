//! [`SledFileSync`]: making what a sled 0.34 database has written survive a power loss.
//!
//! sled 0.34's `Db::flush` writes its log buffers and waits for them with
//! `sync_file_range`, which neither flushes the device's write cache nor commits the
//! file's metadata (its length grows as sled writes new segments), so a power loss or
//! kernel crash can lose what it acknowledged (sled issue #1452). Values that do not fit
//! in a log segment (a tree node over 128 KiB) go to files under `blobs/`, which sled
//! writes without any sync. So a flush that must be durable is
//! [`SledFileSync::flush`]: sled's flush, then [`SledFileSync::sync`] (`fdatasync` on
//! sled's log file, and `fsync` on each blob file not synced yet and then on the
//! `blobs` directory). The journal flushes so (at its checkpoints and in
//! [`crate::SledJournal::flush`]), and so does the sled snapshot store after each
//! write.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The files of one sled database directory that a flush leaves unsynced (see the
/// module docs).
#[derive(Debug)]
pub struct SledFileSync {
    /// sled's log file, `<dir>/db`, opened read-only (enough to sync it).
    log: File,
    blobs: PathBuf,
    /// Blob files synced already.
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
}

impl SledFileSync {
    /// Opens the log file of the sled database at `dir` (open the database first) and
    /// syncs `dir` itself, so that the entries of the files sled created are durable.
    ///
    /// # Errors
    /// I/O errors, for instance when `dir` holds no sled database.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let log = File::open(dir.join("db"))?;
        sync_dir(dir)?;
        Ok(SledFileSync {
            log,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// sled's flush of `tree` (any tree of the database, or the `Db`: it writes all of
    /// sled's buffers), then [`SledFileSync::sync`]: what the database holds is durable
    /// when it returns.
    ///
    /// # Errors
    /// The I/O error of the flush or of a sync.
    pub fn flush(&self, tree: &sled::Tree) -> io::Result<()> {
        tree.flush().map_err(io::Error::other)?;
        self.sync()
    }

    /// Makes everything sled has written so far durable. Call after `Db::flush` (or
    /// `Tree::flush`), which writes sled's buffers; [`SledFileSync::flush`] does both.
    ///
    /// # Errors
    /// The I/O error of a failed sync; what it covered may or may not be durable.
    ///
    /// # Cost
    /// One `fdatasync` (the data is already on the device, so mostly the device cache
    /// flush and, when the file grew, a metadata commit), a listing of `blobs/`, and an
    /// `fsync` per new blob file.
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync_data()?;
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut present = HashSet::with_capacity(synced.len());
        let mut new_blob = false;
        let listing = match std::fs::read_dir(&self.blobs) {
            Ok(listing) => listing,
            // sled creates the directory at open; without it there is no blob to sync.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in listing {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(file) => file.sync_all()?,
                    // Collected by sled since it was listed: nothing to keep.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_blob = true;
            }
            present.insert(name);
        }
        if new_blob {
            sync_dir(&self.blobs)?;
        }
        // Forget the blobs sled has removed.
        *synced = present;
        Ok(())
    }
}

/// Why [`open_synced`] could not open a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenFailure {
    /// Another open database (in this process or another) holds the directory, named
    /// here.
    InUse(String),
    /// sled could not open the database, or its files could not be opened for
    /// syncing: what went wrong.
    Failed(String),
}

/// Opens the sled database in `dir` (`config` must name `dir` as its path), with the
/// [`SledFileSync`] that makes its flushes durable. A directory closed a moment ago can
/// still be locked by sled's threads finishing their last write, so while the
/// directory's lock is held this retries, for up to a second, before it gives up (a
/// directory that another open database holds takes that second to fail).
///
/// # Errors
/// [`OpenFailure::InUse`] for a directory another open database holds;
/// [`OpenFailure::Failed`] for any other failure.
pub fn open_synced(
    config: &sled::Config,
    dir: &Path,
) -> Result<(sled::Db, SledFileSync), OpenFailure> {
    let mut wait = std::time::Duration::from_millis(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(e) if is_in_use(&e) => {
                if std::time::Instant::now() >= deadline {
                    return Err(OpenFailure::InUse(dir.display().to_string()));
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(OpenFailure::Failed(e.to_string())),
        }
    };
    let files = SledFileSync::open(dir)
        .map_err(|e| OpenFailure::Failed(format!("cannot open sled's files for syncing: {e}")))?;
    Ok((db, files))
}

/// Whether sled could not open a directory because another open database (in this
/// process or another) holds its lock.
fn is_in_use(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// `fsync` on a directory, which makes the entries created in it durable. Only on
/// Unix: Windows cannot open a directory as a file, and NTFS journals its entries.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn synced(disk: &SledFileSync) -> usize {
        disk.synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    #[test]
    fn syncs_new_blob_files_once_and_forgets_removed_ones() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("db"), b"log")?;
        let disk = SledFileSync::open(dir.path())?;
        disk.sync()?; // no blobs directory yet
        std::fs::create_dir(dir.path().join("blobs"))?;
        disk.sync()?;
        assert_eq!(synced(&disk), 0);

        std::fs::write(dir.path().join("blobs").join("17"), b"blob")?;
        disk.sync()?;
        assert_eq!(synced(&disk), 1);

        std::fs::remove_file(dir.path().join("blobs").join("17"))?;
        disk.sync()?;
        assert_eq!(synced(&disk), 0);
        Ok(())
    }

    #[test]
    fn a_missing_log_file_is_an_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        assert!(SledFileSync::open(dir.path()).is_err());
        Ok(())
    }
}
