//! The commit log of `Durable` journals: what makes a group survive a crash before sled
//! has made it durable.
//!
//! sled's own flush is slow to share (each one wakes all of sled's pool threads) and is
//! not a real fsync (see [`crate::SledFileSync`]). So a `Durable` group is appended to
//! this file, which is synced with `fdatasync`, while it is inserted into sled as usual
//! (the sync's wait overlaps the insert); the group is acknowledged after both. A
//! *checkpoint* (sled flush plus [`crate::SledFileSync`]) makes sled's copy durable,
//! after which the log starts over; it runs when the log reaches its capacity, after a
//! failed write, and at open, and never while a group is going into sled (the flush
//! must include it). At open, the groups in the log that sled lost are
//! inserted again before anything else reads the journal.
//!
//! # Format (all integers big-endian)
//!
//! Two header slots, at 0 and at 512, written alternately so that a torn header write
//! leaves the other one whole; the valid slot with the higher epoch counts:
//!
//! | field   | size | value                                            |
//! |---------|-----:|--------------------------------------------------|
//! | magic   | 8    | `PALWAL\0\0`                                     |
//! | version | 4    | [`VERSION`]                                      |
//! | epoch   | 8    | bumped by every start-over                       |
//! | base    | 8    | positions up to this one were durable in sled    |
//! | CRC32   | 4    | of the fields above                              |
//!
//! Frames from [`FRAMES_START`] on, one per group, each starting at a multiple of 8:
//!
//! | field          | size | value                                         |
//! |----------------|-----:|-----------------------------------------------|
//! | length         | 4    | of the group                                  |
//! | group CRC32    | 4    | of the group and its padding                  |
//! | first position | 8    | of the group                                  |
//! | last position  | 8    | of the group                                  |
//! | header CRC32   | 4    | of the 24 bytes above                         |
//! | zero           | 4    |                                               |
//! | group          | …    | the value inserted into sled                  |
//! | padding        | 0–7  | zeros, up to the next multiple of 8           |
//!
//! A header checks on its own, so that a frame can be recognised wherever it starts
//! (below); alignment keeps that search to one offset in eight.
//!
//! Frames chain: the first after the header starts at `base + 1`, each next one right
//! after the last position of the one before. Reading stops at zeros, at the end of
//! the file, or at a whole frame of an older epoch (whose positions are at most
//! `base`, as positions only grow): that is the end of the log. A frame that is not
//! whole (a CRC fails, or the file ends inside it) also ends it when it is a torn last
//! write, which has nothing of its epoch after it: a frame is acknowledged only after
//! it and every frame before it are synced, and a commit writes one frame, so a torn
//! commit leaves no whole frame of its own after its damage. But when a frame of later
//! positions follows (or a whole frame skips positions), the damage hit an
//! acknowledged frame, and open reports it (`InvalidData`, `Corrupt` at the journal)
//! rather than drop the frames after it. As damage may have zeroed a frame or hit its
//! length, which says where the next frame starts, the rest of the file is searched
//! at every frame boundary for a header of later positions, at every open (one read of
//! the file: 18 ms for a full 64 MiB log here, from the page cache).
//!
//! The file is extended ahead of the frames by writing zeros (64 KiB first, doubling up
//! to [`PREALLOCATE`] at a time), so that a commit's `fdatasync` seldom has a file length
//! to commit (measured here: 78 µs for 25 KB into a written file, 188 µs when each
//! write grows the file).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The log's file name inside the journal directory.
pub(super) const FILE_NAME: &str = "palisade.wal";
/// Format version of the header and frames.
pub(super) const VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"PALWAL\0\0";
const SLOT_LEN: u64 = 512;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4;
/// Where the first frame starts.
pub(super) const FRAMES_START: u64 = 2 * SLOT_LEN;
const FRAME_HEADER_LEN: usize = 4 + 4 + 8 + 8 + 4 + 4;
/// Frames start at multiples of this.
const ALIGN: usize = 8;
/// The file grows by at most this much at a time.
pub(super) const PREALLOCATE: u64 = 4 << 20;
/// The first growth.
const FIRST_ALLOCATION: u64 = 64 << 10;

/// A group read back from the log.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) group: Vec<u8>,
}

/// An open log, positioned after its last frame.
#[derive(Debug)]
pub(super) struct Wal {
    file: File,
    epoch: u64,
    /// Where the next frame goes.
    end: u64,
    /// The file's length (zeros past `end`).
    allocated: u64,
    /// Past this many bytes of frames the next commit checkpoints instead.
    capacity: u64,
    /// A commit failed: the frames no longer chain, so the next commit checkpoints
    /// (whose sled flush covers the groups the failed one left out).
    broken: bool,
}

impl Wal {
    /// Opens (or creates) the log in `dir` and reads its frames that chain after the
    /// base (none for a new log, whose base is 0 until the first [`Wal::start_over`]).
    ///
    /// # Errors
    /// I/O errors; `InvalidData` when neither header slot is valid although frames may
    /// follow (the log is damaged: its frames cannot be trusted or dropped silently).
    pub(super) fn open(dir: &Path, capacity: u64) -> io::Result<(Wal, Vec<Frame>)> {
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let allocated = file.metadata()?.len();
        let header = if allocated >= SLOT_LEN + HEADER_LEN as u64 {
            read_header(&mut file)?
        } else {
            None
        };
        let Some((epoch, base)) = header else {
            if allocated > 0 && !frames_area_is_blank(&mut file, allocated)? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{FILE_NAME}: no valid header, but frames follow"),
                ));
            }
            // New, or created by an open that crashed before its first header was
            // synced: nothing in it was ever acknowledged.
            let mut wal = Wal {
                file,
                epoch: 0,
                end: FRAMES_START,
                allocated,
                capacity,
                broken: false,
            };
            wal.start_over(0)?;
            crate::sled_sync::sync_dir(dir)?;
            return Ok((wal, Vec::new()));
        };
        let mut frames = Vec::new();
        let mut end = FRAMES_START;
        let mut last = base;
        file.seek(SeekFrom::Start(end))?;
        let mut reader = io::BufReader::new(&file);
        // Where the search for frames after the end starts: past a damaged frame whose
        // header is whole (it may be the torn last write).
        let mut search_from = end;
        loop {
            match read_frame(&mut reader, allocated - end, last)? {
                Next::Frame(frame) => {
                    end += frame_len(frame.group.len()) as u64;
                    last = frame.last;
                    frames.push(frame);
                }
                Next::End => break,
                Next::Damaged(skip) => {
                    search_from = end + skip;
                    break;
                }
                Next::Gap(first) => {
                    return Err(damaged(
                        end,
                        &format!("positions {} to {} are missing", last + 1, first - 1),
                    ));
                }
            }
        }
        drop(reader);
        // Where the log ends there is nothing of its epoch after it, unless damage
        // ended it early: a torn last write leaves nothing whole after it either (a
        // commit is one frame, and the next commit starts after this one's sync). A
        // frame of later positions anywhere after the end means that the damage hit a
        // frame that was acknowledged (zeroed it, or its length, which says where the
        // next frame starts), so it is looked for at every frame boundary.
        if let Some(at) = later_frame(&file, search_from, allocated, last)? {
            return Err(damaged(
                end,
                &format!(
                    "the log reads as ending there, but a frame of later positions follows \
                     at byte {at}"
                ),
            ));
        }
        let wal = Wal {
            file,
            epoch,
            end,
            allocated,
            capacity,
            broken: false,
        };
        Ok((wal, frames))
    }

    /// Whether an earlier commit failed: the next one must checkpoint (groups it left
    /// out must be made durable first), whatever its frames.
    pub(super) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Makes the next commit checkpoint: a group whose frame was appended could not be
    /// written to sled, and its positions will be handed out again.
    pub(super) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Appends the frames `frames` (built with [`push_frame`]) and syncs the file. The
    /// journal commits one frame at a time, which telling a torn commit from damage at
    /// open relies on (see the module docs). False when the log is full, broken, or
    /// the write fails (it is broken then): the caller must [`Wal::checkpoint`]
    /// instead. A failed write may have left part of a frame, which the next frames
    /// overwrite after the checkpoint.
    pub(super) fn try_append(&mut self, frames: &[u8]) -> bool {
        let fits = self.end - FRAMES_START + frames.len() as u64 <= self.capacity;
        if self.broken || !fits {
            return false;
        }
        let appended = self.append(frames).is_ok();
        self.broken = !appended;
        appended
    }

    /// Runs `checkpoint` (which must make every group written so far durable in sled)
    /// and starts over after position `last`.
    ///
    /// # Errors
    /// The checkpoint's I/O error; the log stays broken, so the next commit checkpoints
    /// whatever its frames.
    pub(super) fn checkpoint(
        &mut self,
        last: u64,
        checkpoint: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let done = checkpoint().and_then(|()| self.start_over(last));
        self.broken = done.is_err();
        done
    }

    /// [`Wal::try_append`], or else [`Wal::checkpoint`]: a whole commit, as the
    /// journal makes it in two steps (the append overlapping its sled insert).
    #[cfg(test)]
    pub(super) fn commit(
        &mut self,
        frames: &[u8],
        last: u64,
        checkpoint: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        if self.try_append(frames) {
            return Ok(());
        }
        self.checkpoint(last, checkpoint)
    }

    /// Starts over after a checkpoint: a new epoch whose frames follow `base`.
    pub(super) fn start_over(&mut self, base: u64) -> io::Result<()> {
        let epoch = self.epoch + 1;
        let slot = (epoch % 2) * SLOT_LEN;
        self.preallocate(FRAMES_START)?;
        self.file.seek(SeekFrom::Start(slot))?;
        self.file.write_all(&header(VERSION, epoch, base))?;
        self.file.sync_data()?;
        self.epoch = epoch;
        self.end = FRAMES_START;
        Ok(())
    }

    fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        let end = self.end + frames.len() as u64;
        self.preallocate(end)?;
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(frames)?;
        self.file.sync_data()?;
        self.end = end;
        Ok(())
    }

    /// Grows the file with zeros until it holds `len` bytes: to twice its length, at
    /// least [`FIRST_ALLOCATION`] and at most [`PREALLOCATE`] more (or `len`).
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        if len <= self.allocated {
            return Ok(());
        }
        let step = self.allocated.clamp(FIRST_ALLOCATION, PREALLOCATE);
        let target = len.max(self.allocated + step);
        let zeros = vec![0u8; 1 << 20];
        self.file.seek(SeekFrom::Start(self.allocated))?;
        let mut at = self.allocated;
        while at < target {
            let n = (target - at).min(zeros.len() as u64);
            // `n` is at most the buffer's length.
            self.file.write_all(&zeros[..n as usize])?;
            at += n;
        }
        self.allocated = target;
        Ok(())
    }
}

/// A header slot's bytes.
fn header(version: u32, epoch: u64, base: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&version.to_be_bytes());
    header.extend_from_slice(&epoch.to_be_bytes());
    header.extend_from_slice(&base.to_be_bytes());
    header.extend_from_slice(&crc32fast::hash(&header).to_be_bytes());
    header
}

/// The bytes a frame of a `group_len`-byte group takes, padding included.
fn frame_len(group_len: usize) -> usize {
    FRAME_HEADER_LEN + group_len.next_multiple_of(ALIGN)
}

/// Adds the frame of a group (`first..=last`) to `out`.
pub(super) fn push_frame(out: &mut Vec<u8>, first: u64, last: u64, group: &[u8]) {
    let padding = group.len().next_multiple_of(ALIGN) - group.len();
    out.reserve(frame_len(group.len()));
    let head_at = out.len();
    // A group over 4 GiB cannot be a sled value; saturating keeps this total, and
    // such a frame would fail its CRC check rather than be misread.
    out.extend_from_slice(&u32::try_from(group.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(group);
    crc.update(&[0u8; ALIGN][..padding]);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&last.to_be_bytes());
    let head_crc = crc32fast::hash(&out[head_at..]);
    out.extend_from_slice(&head_crc.to_be_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(group);
    out.extend_from_slice(&[0u8; ALIGN][..padding]);
}

/// The (length, positions) of a frame header whose own CRC holds.
fn frame_header(head: &[u8]) -> Option<(usize, u64, u64)> {
    (crc32fast::hash(&head[..24]) == u32_at(head, 24) && u32_at(head, 28) == 0)
        .then(|| (u32_at(head, 0) as usize, u64_at(head, 8), u64_at(head, 16)))
}

/// The valid header slot with the higher epoch: (epoch, base).
///
/// # Errors
/// `InvalidData` for a whole header of another format version.
fn read_header(file: &mut File) -> io::Result<Option<(u64, u64)>> {
    let mut best: Option<(u64, u64)> = None;
    for slot in [0, SLOT_LEN] {
        let mut buf = [0u8; HEADER_LEN];
        file.seek(SeekFrom::Start(slot))?;
        file.read_exact(&mut buf)?;
        let (fields, crc) = buf.split_at(HEADER_LEN - 4);
        if &fields[..8] != MAGIC || crc32fast::hash(fields) != u32_at(crc, 0) {
            continue;
        }
        let version = u32_at(fields, 8);
        if version != VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{FILE_NAME} has format version {version}; this build reads version \
                     {VERSION} (open the journal with the build that wrote it to replay it)"
                ),
            ));
        }
        let (epoch, base) = (u64_at(fields, 12), u64_at(fields, 20));
        if best.is_none_or(|(e, _)| epoch > e) {
            best = Some((epoch, base));
        }
    }
    Ok(best)
}

/// What the log holds where the next frame would be.
enum Next {
    /// A whole frame that starts right after `last`.
    Frame(Frame),
    /// Zeros, the end of the file, or a whole frame of an older epoch (positions at
    /// most `last`): the log ends here.
    End,
    /// A whole frame that starts past `last + 1`: frames are missing.
    Gap(u64),
    /// Bytes that are not a whole frame (a CRC fails, the length is impossible, or the
    /// file ends inside it): a torn last write, or damage. The frame spans this many
    /// bytes as far as is known (its length when its header is whole).
    Damaged(u64),
}

/// Reads what follows (at most `room` bytes) as a frame after position `last`.
fn read_frame(reader: &mut impl Read, room: u64, last: u64) -> io::Result<Next> {
    let mut head = [0u8; FRAME_HEADER_LEN];
    if room < FRAME_HEADER_LEN as u64 || !read_all(reader, &mut head)? {
        // Too short for a frame: nothing, unless a write was torn here.
        return Ok(Next::End);
    }
    if head.iter().all(|&b| b == 0) {
        return Ok(Next::End);
    }
    let Some((len, first, frame_last)) = frame_header(&head) else {
        return Ok(Next::Damaged(ALIGN as u64));
    };
    let spans = frame_len(len) as u64;
    let padded = len.next_multiple_of(ALIGN);
    if padded as u64 > room - FRAME_HEADER_LEN as u64 {
        return Ok(Next::Damaged(spans));
    }
    let mut group = vec![0u8; padded];
    if !read_all(reader, &mut group)? {
        return Ok(Next::Damaged(spans));
    }
    if crc32fast::hash(&group) != u32_at(&head, 4) || frame_last < first {
        return Ok(Next::Damaged(spans));
    }
    group.truncate(len);
    Ok(if first <= last {
        Next::End
    } else if first > last + 1 {
        Next::Gap(first)
    } else {
        Next::Frame(Frame {
            first,
            last: frame_last,
            group,
        })
    })
}

/// Where a frame of a position after `last` starts, looking at every frame boundary
/// (multiple of [`ALIGN`]) from `from` to `to`: a frame of the current epoch, as older
/// epochs' positions are at most the base. A header whose own CRC holds is enough: the
/// frame's group need not be whole for the frame to show that the log went on. Cost:
/// one read of the bytes, a compare per boundary, a CRC of 24 bytes where the
/// positions fit.
fn later_frame(file: &File, from: u64, to: u64, last: u64) -> io::Result<Option<u64>> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut reader = file;
    let mut at = from;
    while at + FRAME_HEADER_LEN as u64 <= to {
        // `buf` is CHUNK bytes long, so `n` fits; headers cut by the chunk's end are
        // read again at the start of the next chunk.
        let n = (to - at).min(CHUNK as u64) as usize;
        reader.seek(SeekFrom::Start(at))?;
        reader.read_exact(&mut buf[..n])?;
        let mut i = 0;
        while i + FRAME_HEADER_LEN <= n {
            let head = &buf[i..i + FRAME_HEADER_LEN];
            let first = u64_at(head, 8);
            // The compare skips most offsets; the header's CRC decides.
            if first > last && first - last <= 1 << 32 && frame_header(head).is_some() {
                return Ok(Some(at + i as u64));
            }
            i += ALIGN;
        }
        at += i as u64;
    }
    Ok(None)
}

fn damaged(at: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{FILE_NAME} is damaged at byte {at} ({what}); its groups from there on cannot \
             be read (moving the file aside opens the journal without them)"
        ),
    )
}

/// Fills `buf`; false at end of file.
fn read_all(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Whether the first frame's place holds only zeros (or the file ends before it).
fn frames_area_is_blank(file: &mut File, allocated: u64) -> io::Result<bool> {
    if allocated < FRAMES_START + FRAME_HEADER_LEN as u64 {
        return Ok(true);
    }
    let mut head = [0u8; FRAME_HEADER_LEN];
    file.seek(SeekFrom::Start(FRAMES_START))?;
    file.read_exact(&mut head)?;
    Ok(head.iter().all(|&b| b == 0))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The frames of `groups` (first, last position), each group's bytes naming them.
    pub(in crate::sled_journal) fn frames(groups: &[(u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(first, last) in groups {
            push_frame(
                &mut out,
                first,
                last,
                format!("group {first}-{last}").as_bytes(),
            );
        }
        out
    }

    fn positions(frames: &[Frame]) -> Vec<(u64, u64)> {
        frames.iter().map(|f| (f.first, f.last)).collect()
    }

    fn no_checkpoint() -> io::Result<()> {
        Err(io::Error::other("no checkpoint expected"))
    }

    /// A closed log in a new directory, one commit per entry of `commits` (each a list
    /// of groups): the directory, the file's path and its bytes.
    fn written_log(
        commits: &[&[(u64, u64)]],
    ) -> Result<(tempfile::TempDir, std::path::PathBuf, Vec<u8>), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20)?;
        for groups in commits {
            let last = groups.last().map_or(0, |g| g.1);
            wal.commit(&frames(groups), last, no_checkpoint)?;
        }
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&path)?;
        Ok((dir, path, bytes))
    }

    #[test]
    fn frames_come_back_in_order_after_reopen() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (mut wal, found) = Wal::open(dir.path(), 1 << 20)?;
        assert!(found.is_empty());
        wal.commit(&frames(&[(1, 3), (4, 4)]), 4, no_checkpoint)?;
        wal.commit(&frames(&[(5, 9)]), 9, no_checkpoint)?;
        drop(wal);
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert_eq!(positions(&found), vec![(1, 3), (4, 4), (5, 9)]);
        assert_eq!(found[2].group, b"group 5-9");
        Ok(())
    }

    #[test]
    fn a_torn_or_damaged_last_frame_ends_the_log() -> TestResult {
        let (dir, path, mut bytes) = written_log(&[&[(1, 1), (2, 2)]])?;
        let second = FRAMES_START as usize + frame_len(b"group 1-1".len());
        bytes[second + FRAME_HEADER_LEN] ^= 0x40;
        std::fs::write(&path, &bytes)?;
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert_eq!(positions(&found), vec![(1, 1)]);

        // Cut inside the first frame: nothing whole is left.
        bytes.truncate(FRAMES_START as usize + 10);
        std::fs::write(&path, &bytes)?;
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert!(found.is_empty());
        Ok(())
    }

    #[test]
    fn damage_with_frames_after_it_is_reported() -> TestResult {
        let (dir, path, mut bytes) = written_log(&[&[(1, 1), (2, 2), (3, 3)]])?;
        // The first frame's group: acknowledged, and two frames follow it.
        bytes[FRAMES_START as usize + FRAME_HEADER_LEN] ^= 0x40;
        std::fs::write(&path, &bytes)?;
        let err = Wal::open(dir.path(), 1 << 20).err().ok_or("opened")?;
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("later positions follows"), "{err}");
        Ok(())
    }

    // The length field says where the next frame starts, so damage to it hides the
    // frames after it from a reader that follows the chain; the search finds them.
    #[test]
    fn a_damaged_length_or_a_zeroed_frame_with_frames_after_it_is_reported() -> TestResult {
        let (dir, path, bytes) = written_log(&[&[(1, 1)], &[(2, 2)], &[(3, 3)]])?;
        let second = FRAMES_START as usize + frame_len(b"group 1-1".len());
        let third = second + frame_len(b"group 2-2".len());
        for (what, at, flip) in [
            ("length too long", second + 3, 0x40u8),
            ("length too short", second + 3, 0x08),
            ("length impossible", second, 0xff),
        ] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            std::fs::write(&path, &damaged)?;
            let err = Wal::open(dir.path(), 1 << 20).err().ok_or(what)?;
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}");
        }
        let mut zeroed = bytes.clone();
        zeroed[second..third].fill(0);
        std::fs::write(&path, &zeroed)?;
        let err = Wal::open(dir.path(), 1 << 20).err().ok_or("zeroed")?;
        assert!(
            err.to_string().contains(&format!("at byte {third}")),
            "{err}"
        );

        // The same damage to the last frame is a torn write: the log ends before it.
        let mut last = bytes.clone();
        last[third + 3] ^= 0x40;
        std::fs::write(&path, &last)?;
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert_eq!(positions(&found), vec![(1, 1), (2, 2)]);
        Ok(())
    }

    #[test]
    fn after_a_start_over_only_the_new_epoch_counts() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20)?;
        wal.commit(&frames(&[(1, 1), (2, 2), (3, 3)]), 3, no_checkpoint)?;
        wal.start_over(3)?;
        drop(wal);
        // The old frames are still in the file but start at or before the base.
        let (mut wal, found) = Wal::open(dir.path(), 1 << 20)?;
        assert!(found.is_empty());
        wal.commit(&frames(&[(4, 4)]), 4, no_checkpoint)?;
        drop(wal);
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert_eq!(positions(&found), vec![(4, 4)]);
        Ok(())
    }

    #[test]
    fn a_torn_header_falls_back_to_the_other_slot() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20)?;
        wal.commit(&frames(&[(1, 2)]), 2, no_checkpoint)?;
        wal.start_over(2)?; // epoch 2, slot 0
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path)?;
        bytes[20] ^= 1; // the base in slot 0
        std::fs::write(&path, &bytes)?;
        // Epoch 1 (base 0) counts again, and its frame still chains.
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert_eq!(positions(&found), vec![(1, 2)]);
        Ok(())
    }

    #[test]
    fn no_valid_header_with_frames_behind_it_is_an_error() -> TestResult {
        let (dir, path, mut bytes) = written_log(&[&[(1, 1)]])?;
        bytes[0] ^= 1;
        bytes[SLOT_LEN as usize] ^= 1;
        std::fs::write(&path, &bytes)?;
        let err = Wal::open(dir.path(), 1 << 20).err().ok_or("opened")?;
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // Zeros behind the header: a log whose first header never reached the disk.
        let blank = vec![0u8; 4096];
        std::fs::write(&path, &blank)?;
        let (_, found) = Wal::open(dir.path(), 1 << 20)?;
        assert!(found.is_empty());
        Ok(())
    }

    // The search reads the file in 1 MiB chunks: a header cut by a chunk's end is
    // looked at again in the next chunk.
    #[test]
    fn the_search_finds_a_frame_whose_header_straddles_its_read_chunks() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), 4 << 20)?;
        // The search starts 8 bytes into the damaged first frame; its first chunk ends
        // 1 MiB later, 16 bytes into the second frame's 32-byte header.
        let search_from = FRAMES_START as usize + ALIGN;
        let second = search_from + (1 << 20) - 16;
        let big = vec![7u8; second - FRAMES_START as usize - FRAME_HEADER_LEN];
        let mut out = Vec::new();
        push_frame(&mut out, 1, 1, &big);
        wal.commit(&out, 1, no_checkpoint)?;
        wal.commit(&frames(&[(2, 2)]), 2, no_checkpoint)?;
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path)?;
        bytes[FRAMES_START as usize + 1] ^= 0x01; // the first frame's length
        std::fs::write(&path, &bytes)?;
        let err = Wal::open(dir.path(), 4 << 20).err().ok_or("opened")?;
        assert!(
            err.to_string().contains(&format!("at byte {second}")),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn a_log_of_another_format_version_is_an_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut bytes = vec![0u8; 4096];
        bytes[SLOT_LEN as usize..SLOT_LEN as usize + HEADER_LEN].copy_from_slice(&header(
            VERSION - 1,
            1,
            0,
        ));
        std::fs::write(dir.path().join(FILE_NAME), &bytes)?;
        let err = Wal::open(dir.path(), 1 << 20).err().ok_or("opened")?;
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("format version 1"), "{err}");
        Ok(())
    }

    #[test]
    fn a_full_log_checkpoints_and_starts_over_after_the_groups() -> TestResult {
        let dir = tempfile::tempdir()?;
        let one = frames(&[(1, 1)]).len() as u64;
        let (mut wal, _) = Wal::open(dir.path(), 2 * one)?;
        wal.commit(&frames(&[(1, 1)]), 1, no_checkpoint)?;
        wal.commit(&frames(&[(2, 2)]), 2, no_checkpoint)?;
        let mut checkpoints = 0;
        wal.commit(&frames(&[(3, 3)]), 3, || {
            checkpoints += 1;
            Ok(())
        })?;
        assert_eq!(checkpoints, 1);
        // Group 3 was made durable by the checkpoint, not logged.
        wal.commit(&frames(&[(4, 4)]), 4, no_checkpoint)?;
        drop(wal);
        let (_, found) = Wal::open(dir.path(), 2 * one)?;
        assert_eq!(positions(&found), vec![(4, 4)]);

        // A failed checkpoint is the commit's error.
        let (mut wal, _) = Wal::open(dir.path(), 2 * one)?;
        wal.commit(&frames(&[(5, 5)]), 5, no_checkpoint)?;
        assert!(wal.commit(&frames(&[(6, 6)]), 6, no_checkpoint).is_err());
        Ok(())
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Commit one group of this many positions and bytes.
        Commit(u64, usize),
        StartOver,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            8 => (1u64..5, 1usize..3_000).prop_map(|(n, len)| Op::Commit(n, len)),
            1 => Just(Op::StartOver),
            1 => Just(Op::Reopen),
        ]
    }

    /// Where damage strikes at the end: none, a cut of the file, or a flipped byte, at
    /// this fraction of the committed frames' bytes.
    #[derive(Clone, Debug)]
    enum Damage {
        None,
        Cut(f64),
        Flip(f64),
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The model: a reopened log returns exactly the groups committed since its last
        /// start-over (explicit, or a checkpoint when full), in order. A cut of the file
        /// (a torn write) cuts the list at the torn frame. A flipped byte in the last
        /// frame drops it; in an earlier frame (its length field included) it is an
        /// error (`InvalidData`). Nothing damaged is ever returned.
        #[test]
        fn reopening_returns_the_frames_since_the_last_start_over(
            ops in proptest::collection::vec(op(), 1..40),
            capacity in 4_096u64..32_768,
            damage in proptest::prop_oneof![
                proptest::strategy::Just(Damage::None),
                (0.0f64..1.0).prop_map(Damage::Cut),
                (0.0f64..1.0).prop_map(Damage::Flip),
            ],
        ) {
            use proptest::prelude::*;
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let io = |e: io::Error| TestCaseError::fail(e.to_string());
            let (mut wal, _) = Wal::open(dir.path(), capacity).map_err(io)?;
            // (first, last, group) since the last start-over, and the last position.
            let mut expected: Vec<(u64, u64, Vec<u8>)> = Vec::new();
            let mut last = 0u64;
            for op in ops {
                match op {
                    Op::Commit(n, len) => {
                        let group = vec![(last % 251) as u8; len];
                        let mut out = Vec::new();
                        push_frame(&mut out, last + 1, last + n, &group);
                        let mut checkpointed = false;
                        wal.commit(&out, last + n, || {
                            checkpointed = true;
                            Ok(())
                        })
                        .map_err(io)?;
                        if checkpointed {
                            expected.clear();
                        } else {
                            expected.push((last + 1, last + n, group));
                        }
                        last += n;
                    }
                    Op::StartOver => {
                        wal.start_over(last).map_err(io)?;
                        expected.clear();
                    }
                    Op::Reopen => {
                        drop(wal);
                        let (reopened, found) = Wal::open(dir.path(), capacity).map_err(io)?;
                        let found: Vec<_> =
                            found.into_iter().map(|f| (f.first, f.last, f.group)).collect();
                        prop_assert_eq!(&found, &expected);
                        wal = reopened;
                    }
                }
            }
            drop(wal);
            let path = dir.path().join(FILE_NAME);
            let bytes = std::fs::read(&path).map_err(io)?;
            // Frame i spans ends[i - 1]..ends[i] (ends[-1] = FRAMES_START).
            let mut ends = Vec::new();
            let mut end = FRAMES_START as usize;
            for (_, _, group) in &expected {
                end += frame_len(group.len());
                ends.push(end);
            }
            let span = end - FRAMES_START as usize;
            let at = |f: f64| FRAMES_START as usize + ((span as f64 * f) as usize).min(span.saturating_sub(1));
            // (frames kept, whether an error is required, whether one is allowed)
            let (keep, must_fail, may_fail) = match damage {
                Damage::None => (expected.len(), false, false),
                _ if span == 0 => (expected.len(), false, false),
                Damage::Cut(f) => {
                    let cut = at(f);
                    std::fs::write(&path, &bytes[..cut]).map_err(io)?;
                    (ends.iter().filter(|&&e| e <= cut).count(), false, false)
                }
                Damage::Flip(f) => {
                    let hit = at(f);
                    let mut damaged = bytes.clone();
                    damaged[hit] ^= 0x5a;
                    std::fs::write(&path, &damaged).map_err(io)?;
                    let i = ends.iter().filter(|&&e| e <= hit).count();
                    let is_last = i + 1 == expected.len();
                    (i, !is_last, !is_last)
                }
            };
            match Wal::open(dir.path(), capacity) {
                Ok((_, found)) => {
                    prop_assert!(!must_fail, "damage before the last frame went unreported");
                    let found: Vec<_> =
                        found.into_iter().map(|f| (f.first, f.last, f.group)).collect();
                    prop_assert_eq!(&found[..], &expected[..keep]);
                }
                Err(e) => {
                    prop_assert!(may_fail, "unexpected error: {}", e);
                    prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                }
            }
        }
    }

    #[test]
    fn the_file_grows_ahead_of_the_frames() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), 64 << 20)?;
        let len = || std::fs::metadata(dir.path().join(FILE_NAME)).map(|m| m.len());
        assert_eq!(len()?, FIRST_ALLOCATION);
        let big = vec![7u8; 100_000];
        let mut out = Vec::new();
        push_frame(&mut out, 1, 1, &big);
        wal.commit(&out, 1, no_checkpoint)?;
        // Doubled: 128 KiB holds the 100 KB frame.
        assert_eq!(len()?, 2 * FIRST_ALLOCATION);
        Ok(())
    }
}
