//! A small measurement harness (no criterion): calibrate a batch size, warm up, take N
//! samples, report the median time per operation.
//!
//! Every case is expressed as a closure `run(reps) -> elapsed` that executes `reps`
//! repetitions of a fixed workload of `ops_per_rep` operations and returns the time of the
//! measured section only (setup such as spawning the actors happens outside it). The
//! harness picks `reps` so that one sample takes about [`Config::target_batch`], runs one
//! full-size warm-up batch, then [`Config::samples`] samples.
//!
//! Runtimes are built here so that every peer runs on the same model:
//! - [`multi_thread`]: tokio multi-thread runtime with 2 worker threads (Palisade, ractor,
//!   kameo, raw tokio);
//! - [`current_thread`]: tokio current-thread runtime (Palisade and raw tokio, compared
//!   with actix, whose `System` is single-threaded).
//!
//! The measured future is always *spawned* as a task ([`run_batch`]) rather than driven by
//! `block_on` on the main thread, so the sender runs on a runtime worker like every actor
//! and no peer gets a third thread for free.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// Upper bound for a single batch (one sample or one warm-up); a case that exceeds it
/// fails with an error row instead of hanging the run.
pub const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Never calibrate to more repetitions than this, whatever the first estimate says.
const MAX_REPS: u64 = 1_000_000;

/// Run settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Samples per case (the median of these is reported).
    pub samples: usize,
    /// Wanted duration of one sample.
    pub target_batch: Duration,
    /// `--quick`: fewer samples, shorter batches, one memory child per peer.
    pub quick: bool,
}

impl Config {
    /// The defaults: 15 samples of ~100 ms, or 5 samples of ~50 ms with `--quick`.
    pub fn new(quick: bool) -> Self {
        if quick {
            Config {
                samples: 5,
                target_batch: Duration::from_millis(50),
                quick,
            }
        } else {
            Config {
                samples: 15,
                target_batch: Duration::from_millis(100),
                quick,
            }
        }
    }
}

/// Measures a case and returns the median in nanoseconds per operation.
///
/// `run(reps)` must execute `reps` repetitions of a workload of `ops_per_rep` operations
/// and return the elapsed time of that work.
pub fn measure(
    cfg: &Config,
    ops_per_rep: u64,
    mut run: impl FnMut(u64) -> Result<Duration, String>,
) -> Result<f64, String> {
    // Warm-up + calibration: double the repetitions until a batch takes a meaningful time,
    // then extrapolate to the target batch duration.
    run(1)?;
    let mut reps = 1u64;
    let mut elapsed = run(reps)?;
    while elapsed < cfg.target_batch / 8 && reps < MAX_REPS {
        reps = (reps * 2).min(MAX_REPS);
        elapsed = run(reps)?;
    }
    let reps = extrapolate(cfg, reps, elapsed);
    // One full-size warm-up batch (which also refines the estimate: the first small
    // batches can be slowed by cold paths), then the samples.
    let reps = extrapolate(cfg, reps, run(reps)?);
    let ops = (reps * ops_per_rep) as f64;
    let mut samples = Vec::with_capacity(cfg.samples);
    for _ in 0..cfg.samples {
        let elapsed = run(reps)?;
        samples.push(elapsed.as_nanos() as f64 / ops);
    }
    Ok(median(&mut samples))
}

/// The repetitions that should take `cfg.target_batch`, given that `reps` took `elapsed`.
fn extrapolate(cfg: &Config, reps: u64, elapsed: Duration) -> u64 {
    let per_rep = elapsed.as_secs_f64() / reps as f64;
    ((cfg.target_batch.as_secs_f64() / per_rep.max(1e-9)).round() as u64).clamp(1, MAX_REPS)
}

/// Median of a non-empty slice (mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// tokio multi-thread runtime with 2 workers: the model for Palisade, ractor, kameo, raw.
pub fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the tokio multi-thread runtime")
}

/// tokio current-thread runtime: the model compared with actix's single-thread System.
pub fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio current-thread runtime")
}

/// Runs `case` with a fresh runtime and shuts the runtime down afterwards (bounded), so a
/// case leaves no tasks behind for the next one.
pub fn with_runtime<T>(rt: Runtime, case: impl FnOnce(&Runtime) -> T) -> T {
    let out = case(&rt);
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

/// Spawns `work` as a task on `rt` and waits for it, at most [`BATCH_TIMEOUT`].
pub fn run_batch<F>(rt: &Runtime, work: F) -> Result<Duration, String>
where
    F: Future<Output = Result<Duration, String>> + Send + 'static,
{
    rt.block_on(async move {
        match tokio::time::timeout(BATCH_TIMEOUT, tokio::spawn(work)).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(format!("task failed: {join}")),
            Err(_) => Err(format!("timed out after {BATCH_TIMEOUT:?}")),
        }
    })
}

/// Runs a setup future to completion on `rt` (not timed), bounded by [`BATCH_TIMEOUT`].
pub fn setup<T, F>(rt: &Runtime, work: F) -> Result<T, String>
where
    F: Future<Output = Result<T, String>>,
{
    rt.block_on(async move {
        tokio::time::timeout(BATCH_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| Err(format!("setup timed out after {BATCH_TIMEOUT:?}")))
    })
}

/// Times an async section.
pub async fn timed<F: Future<Output = Result<(), String>>>(work: F) -> Result<Duration, String> {
    let start = Instant::now();
    work.await?;
    Ok(start.elapsed())
}

/// Formats any displayable error as a `String` (the error type of every case).
pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Checks the counter value read back at the end of a batch: a mismatch means messages
/// were lost or not yet handled, and the case is reported as an error.
pub fn check_count(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: counter is {got}, expected {want}"))
    }
}

// ---------------------------------------------------------------------------------------
// Memory measurement helpers (used inside the `--memory PEER` child processes).
// ---------------------------------------------------------------------------------------

/// Number of idle actors spawned by the memory cases.
pub const MEMORY_ACTORS: usize = 100_000;

/// Resident set size of this process in bytes: `/proc/self/statm` field 2 (resident
/// pages) × 4096.
pub fn rss_bytes() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(err)?;
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("malformed /proc/self/statm")?
        .parse()
        .map_err(err)?;
    Ok(resident * 4096)
}

/// Lets freshly spawned tasks run up to their idle await point before RSS is read.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Bytes per actor from two RSS readings.
pub fn per_actor(before: u64, after: u64) -> f64 {
    after.saturating_sub(before) as f64 / MEMORY_ACTORS as f64
}
