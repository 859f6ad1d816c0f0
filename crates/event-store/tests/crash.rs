//! The durability promises under a real crash: a child process appends to a
//! `SledJournal` as fast as it can and is killed with SIGKILL at a random moment, 50
//! times over one database. After every kill the reopened journal must hold a prefix of
//! what the child attempted (ids `e-1..e-k` at sequences `1..k`, no gap, nothing beyond
//! the one append in flight); with `Durable`, a prefix that contains every id the child
//! saw acknowledged. With `Buffered` the newest acknowledged appends may be lost (those
//! in sled's buffers and the journal's pending group), but never one in the middle, and
//! the journal must open without a damaged or missing record.
//!
//! The child is this same test binary, re-run with `PALISADE_CRASH_CHILD=<dir>` and a
//! filter that selects only [`crash_child_appends_until_killed`], which does nothing when
//! the variable is unset (so a plain `cargo test` runs it as an empty test). It reports
//! `OPENED <highest>` once the journal is open and `ACK e-<n>` after each append returns,
//! written straight to stdout (not through the test harness's capture) and flushed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use palisade_event_store::{
    Durability, EventType, ExpectedVersion, Journal, NewEvent, SledConfig, SledJournal,
};

/// Set in the child's environment to the journal directory.
const CHILD_ENV: &str = "PALISADE_CRASH_CHILD";
/// Set in the child's environment to `buffered` for a `Buffered` journal.
const DURABILITY_ENV: &str = "PALISADE_CRASH_DURABILITY";
/// The child test's name, as the test binary's filter.
const CHILD_TEST: &str = "crash_child_appends_until_killed";
const STREAM: &str = "crash";
const ROUNDS: u64 = 50;
/// A child that has not opened the journal by then is a failure, not a slow machine.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// A child never outlives this, even if its parent died without killing it.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

fn config(durability: Durability) -> SledConfig {
    SledConfig::default().durability(durability)
}

fn event_id(n: u64) -> String {
    format!("e-{n}")
}

/// splitmix64: a small deterministic PRNG, so a failing round can be replayed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..=hi` for picking a kill time.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// How long round `round` lets the child append before the kill: 5–60 ms, and every
/// fifth round up to 200 ms.
fn kill_after(round: u64) -> Duration {
    let mut rng = SplitMix(round);
    let hi = if round % 5 == 4 { 200 } else { 60 };
    Duration::from_millis(rng.between(5, hi))
}

/// Kills the child if the parent panics before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child on `dir`; its stdout lines arrive on the returned channel, which
/// disconnects when the child's stdout closes (it died).
fn spawn_child(dir: &Path, durability: Durability) -> (KillOnDrop, Receiver<String>) {
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(
            DURABILITY_ENV,
            match durability {
                Durability::Buffered => "buffered",
                Durability::Durable => "durable",
            },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), rx)
}

/// Waits for the child's `OPENED <highest>` line and returns `highest`.
fn wait_opened(rx: &Receiver<String>, round: u64) -> u64 {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(h) = line.strip_prefix("OPENED ") {
                    return h.trim().parse().expect("OPENED carries a number");
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("round {round}: the child did not open the journal in {OPEN_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("round {round}: the child died before opening the journal")
            }
        }
    }
}

/// Every event of the stream, read in pages, as (sequence, position, id).
async fn stored(journal: &SledJournal) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = journal
            .read_stream(STREAM, from, u64::MAX, 1_000)
            .await
            .expect("read the stream after a crash");
        let Some(last) = page.last() else { break };
        from = last.sequence + 1;
        out.extend(page.into_iter().map(|e| (e.sequence, e.position, e.id)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_appends_survive_sigkill_as_an_acknowledged_prefix() {
    crash_rounds(Durability::Durable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_appends_survive_sigkill_as_a_prefix() {
    crash_rounds(Durability::Buffered).await;
}

/// The parent side: `ROUNDS` kills of a child appending with `durability`.
async fn crash_rounds(durability: Durability) {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut stored_before = 0u64;
    let mut acked_total = 0u64;
    for round in 0..ROUNDS {
        let (mut child, rx) = spawn_child(dir.path(), durability);
        let opened_at = wait_opened(&rx, round);
        assert_eq!(
            opened_at, stored_before,
            "round {round}: the child saw a different highest sequence than the parent stored"
        );
        std::thread::sleep(kill_after(round));
        child.0.kill().expect("SIGKILL the child");
        child.0.wait().expect("reap the child");
        // The reader thread ends at EOF: every line the child wrote is in the channel.
        let acked: Vec<u64> = rx
            .iter()
            .filter_map(|line| {
                line.strip_prefix("ACK e-")
                    .map(|n| n.trim().parse().expect("ACK carries a number"))
            })
            .collect();
        let last_acked = acked.last().copied().unwrap_or(opened_at);
        assert!(
            acked.iter().copied().eq(opened_at + 1..=last_acked),
            "round {round}: the child acknowledged out of order: {acked:?}"
        );

        let journal =
            SledJournal::open(dir.path(), config(durability)).expect("reopen after the kill");
        let events = stored(&journal).await;
        let k = events.len() as u64;
        for (i, (sequence, position, id)) in events.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(
                (*sequence, *position, id.as_str()),
                (n, n, event_id(n).as_str()),
                "round {round}: the stored stream is not the prefix e-1..e-{k}"
            );
        }
        assert_eq!(
            journal.highest_sequence(STREAM).await.expect("highest"),
            k,
            "round {round}: the stream's highest sequence disagrees with its events"
        );
        if durability == Durability::Durable {
            assert!(
                k >= last_acked,
                "round {round}: acknowledged e-{last_acked} was lost (only e-1..e-{k} survived)"
            );
        } else {
            assert!(
                k >= opened_at,
                "round {round}: e-{k} survived, but e-{opened_at} was stored before the round"
            );
        }
        assert!(
            k <= last_acked + 1,
            "round {round}: e-{k} is stored but at most e-{} was attempted",
            last_acked + 1
        );
        acked_total += acked.len() as u64;
        stored_before = k;
        drop(journal);
    }
    assert!(
        stored_before > 0,
        "no append survived {ROUNDS} rounds: the test exercised nothing"
    );
    eprintln!(
        "crash test ({durability:?}): {ROUNDS} SIGKILLs, {stored_before} events stored, {acked_total} acknowledged, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The child side (see the crate docs): a no-op unless `PALISADE_CRASH_CHILD` is set.
#[test]
fn crash_child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let durability = match std::env::var(DURABILITY_ENV).as_deref() {
        Ok("buffered") => Durability::Buffered,
        _ => Durability::Durable,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    rt.block_on(async move {
        let journal = SledJournal::open(&dir, config(durability)).expect("child opens the journal");
        let highest = journal.highest_sequence(STREAM).await.expect("highest");
        // Straight to fd 1, not `println!`: the test harness would capture that.
        let mut out = std::io::stdout().lock();
        // The leading newline ends libtest's unterminated "test ... " line.
        writeln!(out, "\nOPENED {highest}").expect("write to the parent");
        out.flush().expect("flush to the parent");
        let deadline = Instant::now() + CHILD_LIFETIME;
        let mut n = highest;
        while Instant::now() < deadline {
            n += 1;
            let id = event_id(n);
            let payload = format!("{{\"n\":{n}}}").into_bytes();
            journal
                .append(
                    STREAM,
                    ExpectedVersion::Any,
                    vec![NewEvent::new(id.as_str(), EventType::StateChanged, payload)],
                )
                .await
                .expect("child append");
            writeln!(out, "ACK {id}").expect("write to the parent");
            out.flush().expect("flush to the parent");
        }
    });
}
