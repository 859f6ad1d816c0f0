//! bench-compare: Palisade against its peers (actors, breakers, tower stacks) and against
//! raw tokio and raw sled.
//!
//! ```text
//! cargo run --release --manifest-path bench-compare/Cargo.toml -- [--json PATH] [--quick] [--only FILTER]
//! ```
//!
//! Every case does the same work with the same message: a `u64` counter actor that handles
//! `Add(u64)` (tell) and `Get` (ask, replies with the count). The first row of each group is
//! its reference (the raw tokio floor where there is one, else Palisade): `cargo xtask bench`
//! computes each row's ratio to it. Runtime model (see `harness`): Palisade, ractor, kameo
//! and raw tokio on a tokio multi-thread runtime with 2 workers; actix on its single-thread
//! System, compared with Palisade and raw tokio on a tokio current-thread runtime in the
//! `(current-thread)` groups.
//!
//! The `breaker: ...` groups (see `breakers`) compare Palisade's circuit breaker with
//! failsafe and recloser: synchronous, no runtime; the first row is a bare-call floor.
//!
//! The `tower stack per request` group (see `tower_stack`) measures Palisade's tower
//! layers on a current-thread runtime; its first row is Palisade's full stack, the bare
//! service (the floor) is last.
//!
//! The `journal ...` groups (see `journal`) measure Palisade's sled journal against sled
//! used directly: appends (Buffered, and Durable with and without group commit), replay
//! of one stream, and bytes on disk per event.
//!
//! `--memory PEER` is internal: the parent runs each memory measurement in a fresh child
//! process of this binary and reads `BYTES_PER_ACTOR <n>` from its stdout.

mod actix_peer;
mod breakers;
mod harness;
mod journal;
mod kameo_peer;
mod palisade;
mod ractor_peer;
mod raw;
mod recovery;
mod tower_stack;

use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::Config;

// ----- Workload sizes shared by every peer --------------------------------------------

/// Messages per repetition in the tell groups.
pub const TELL_MESSAGES: u64 = 100_000;
/// Actors in the round-robin group.
pub const ROUND_ROBIN_ACTORS: usize = 100;
/// Sequential asks per repetition.
pub const ASK_ROUND_TRIPS: u64 = 20_000;
/// Spawn+stop cycles per repetition.
pub const SPAWNS_PER_REP: u64 = 100;
/// Panic+restart cycles per repetition.
pub const RESTARTS_PER_REP: u64 = 20;
/// Bounded mailbox capacity wherever the peer has one.
pub const MAILBOX_CAPACITY: usize = 1024;
/// Payload of the intentional panics of the restart group; the panic hook keeps them quiet.
pub const BOOM: &str = "bench-compare: intentional panic (Boom)";

// ----- Groups -------------------------------------------------------------------------

const TELL: &str = "tell 1:1 bounded";
const ROUND_ROBIN: &str = "tell round-robin 100";
const ASK: &str = "ask round trip";
const SPAWN: &str = "spawn and stop";
const RESTART: &str = "restart after panic";
const MEMORY: &str = "idle actor memory";
const CT: &str = " (current-thread)";
const BREAKER_CLOSED: &str = "breaker: closed call recorded as success";
const BREAKER_OPEN: &str = "breaker: open rejection";
const BREAKER_TWO_THREADS: &str = "breaker: 2 threads, closed";
const TOWER_STACK: &str = "tower stack per request";
const JOURNAL: &str = "journal (sled)";
const JOURNAL_DURABLE: &str = "journal durable, 64 appenders";
const JOURNAL_REPLAY: &str = "journal replay";
const JOURNAL_BYTES: &str = "journal bytes on disk";
const RECOVERY: &str = "recovery: 1M events, snapshot 10k from the end";

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    NsPerMsg,
    NsPerOp,
    UsPerOp,
    BytesPerActor,
    NsPerEvent,
    BytesPerEvent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::NsPerMsg => "ns/msg",
            Unit::NsPerOp => "ns/op",
            Unit::UsPerOp => "us/op",
            Unit::BytesPerActor => "bytes/actor",
            Unit::NsPerEvent => "ns/event",
            Unit::BytesPerEvent => "bytes/event",
        }
    }
}

/// What a case returns: `None` = not implemented yet (row omitted), else the median in the
/// row's unit or an error.
type Outcome = Option<Result<f64, String>>;

struct Case {
    group: String,
    name: &'static str,
    unit: Unit,
    run: Box<dyn Fn(&Config) -> Outcome>,
}

struct Row {
    group: String,
    name: &'static str,
    unit: Unit,
    value: Result<f64, String>,
}

fn case(
    group: &str,
    name: &'static str,
    unit: Unit,
    run: impl Fn(&Config) -> Outcome + 'static,
) -> Case {
    Case {
        group: group.to_owned(),
        name,
        unit,
        run: Box::new(run),
    }
}

/// A case on a fresh 2-worker multi-thread runtime.
fn mt(
    f: fn(&tokio::runtime::Runtime, &Config) -> Result<f64, String>,
) -> impl Fn(&Config) -> Outcome {
    move |cfg| {
        Some(harness::with_runtime(harness::multi_thread(), |rt| {
            f(rt, cfg)
        }))
    }
}

/// A case on a fresh current-thread runtime.
fn ct(
    f: fn(&tokio::runtime::Runtime, &Config) -> Result<f64, String>,
) -> impl Fn(&Config) -> Outcome {
    move |cfg| {
        Some(harness::with_runtime(harness::current_thread(), |rt| {
            f(rt, cfg)
        }))
    }
}

/// A case on a fresh actix System.
fn actix(
    f: fn(&actix_rt::SystemRunner, &Config) -> Result<f64, String>,
) -> impl Fn(&Config) -> Outcome {
    move |cfg| Some(actix_peer::with_system(|system| f(system, cfg)))
}

/// A synchronous case (the breaker groups): no runtime.
fn sync(f: fn(&Config) -> Result<f64, String>) -> impl Fn(&Config) -> Outcome {
    move |cfg| Some(f(cfg))
}

/// A memory case: one child process per sample (3, or 1 with `--quick`), median.
fn memory(peer: &'static str) -> impl Fn(&Config) -> Outcome {
    move |cfg| {
        let runs = if cfg.quick { 1 } else { 3 };
        let mut values = Vec::with_capacity(runs);
        for _ in 0..runs {
            match memory_in_child(peer) {
                Ok(v) => values.push(v),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(harness::median(&mut values)))
    }
}

fn cases() -> Vec<Case> {
    use Unit::*;
    let tell_ct = format!("{TELL}{CT}");
    let rr_ct = format!("{ROUND_ROBIN}{CT}");
    let ask_ct = format!("{ASK}{CT}");
    let spawn_ct = format!("{SPAWN}{CT}");
    let memory_ct = format!("{MEMORY}{CT}");
    vec![
        // 1. tell 1:1, bounded(1024) mailbox where the peer has one.
        case(TELL, "raw tokio mpsc(1024)", NsPerMsg, mt(raw::tell_1to1)),
        case(TELL, "palisade", NsPerMsg, mt(palisade::tell_1to1)),
        case(
            TELL,
            "ractor (unbounded)",
            NsPerMsg,
            mt(ractor_peer::tell_1to1),
        ),
        case(TELL, "kameo", NsPerMsg, mt(kameo_peer::tell_1to1)),
        // 2. tell round-robin over 100 actors.
        case(
            ROUND_ROBIN,
            "raw tokio mpsc(1024)",
            NsPerMsg,
            mt(raw::tell_round_robin),
        ),
        case(
            ROUND_ROBIN,
            "palisade",
            NsPerMsg,
            mt(palisade::tell_round_robin),
        ),
        case(
            ROUND_ROBIN,
            "ractor (unbounded)",
            NsPerMsg,
            mt(ractor_peer::tell_round_robin),
        ),
        case(
            ROUND_ROBIN,
            "kameo",
            NsPerMsg,
            mt(kameo_peer::tell_round_robin),
        ),
        // 3. ask round trip.
        case(
            ASK,
            "raw tokio mpsc+oneshot",
            NsPerOp,
            mt(raw::ask_round_trip),
        ),
        case(ASK, "palisade", NsPerOp, mt(palisade::ask_round_trip)),
        case(ASK, "ractor", NsPerOp, mt(ractor_peer::ask_round_trip)),
        case(ASK, "kameo", NsPerOp, mt(kameo_peer::ask_round_trip)),
        // 4. spawn and stop.
        case(SPAWN, "raw tokio task", NsPerOp, mt(raw::spawn_stop)),
        case(SPAWN, "palisade", NsPerOp, mt(palisade::spawn_stop)),
        case(SPAWN, "ractor", NsPerOp, mt(ractor_peer::spawn_stop)),
        case(SPAWN, "kameo", NsPerOp, mt(kameo_peer::spawn_stop)),
        // 5. restart after panic (no raw floor: Palisade is the reference).
        case(RESTART, "palisade", UsPerOp, |cfg| {
            harness::with_runtime(harness::multi_thread(), |rt| {
                palisade::restart_after_panic(rt, cfg)
            })
        }),
        case(
            RESTART,
            "kameo",
            UsPerOp,
            mt(kameo_peer::restart_after_panic),
        ),
        // 6. idle actor memory (child processes).
        case(
            MEMORY,
            "raw tokio task+mpsc(1024)",
            BytesPerActor,
            memory("raw"),
        ),
        case(
            MEMORY,
            "palisade (u64 messages, as the floor)",
            BytesPerActor,
            memory("palisade-u64"),
        ),
        case(
            MEMORY,
            "palisade (16-byte message enum)",
            BytesPerActor,
            memory("palisade"),
        ),
        case(MEMORY, "ractor", BytesPerActor, memory("ractor")),
        case(MEMORY, "kameo", BytesPerActor, memory("kameo")),
        // The current-thread groups: actix against Palisade and raw tokio.
        case(
            &tell_ct,
            "raw tokio mpsc(1024)",
            NsPerMsg,
            ct(raw::tell_1to1),
        ),
        case(&tell_ct, "palisade", NsPerMsg, ct(palisade::tell_1to1)),
        case(
            &tell_ct,
            "palisade (unbounded)",
            NsPerMsg,
            ct(palisade::tell_1to1_unbounded),
        ),
        case(
            &tell_ct,
            "actix (do_send, unbounded)",
            NsPerMsg,
            actix(actix_peer::tell_1to1),
        ),
        case(
            &rr_ct,
            "raw tokio mpsc(1024)",
            NsPerMsg,
            ct(raw::tell_round_robin),
        ),
        case(&rr_ct, "palisade", NsPerMsg, ct(palisade::tell_round_robin)),
        case(
            &rr_ct,
            "palisade (unbounded)",
            NsPerMsg,
            ct(palisade::tell_round_robin_unbounded),
        ),
        case(
            &rr_ct,
            "actix (do_send, unbounded)",
            NsPerMsg,
            actix(actix_peer::tell_round_robin),
        ),
        case(
            &ask_ct,
            "raw tokio mpsc+oneshot",
            NsPerOp,
            ct(raw::ask_round_trip),
        ),
        case(&ask_ct, "palisade", NsPerOp, ct(palisade::ask_round_trip)),
        case(&ask_ct, "actix", NsPerOp, actix(actix_peer::ask_round_trip)),
        case(&spawn_ct, "raw tokio task", NsPerOp, ct(raw::spawn_stop)),
        case(&spawn_ct, "palisade", NsPerOp, ct(palisade::spawn_stop)),
        case(&spawn_ct, "actix", NsPerOp, actix(actix_peer::spawn_stop)),
        case(
            &memory_ct,
            "raw tokio task+mpsc(1024)",
            BytesPerActor,
            memory("raw-ct"),
        ),
        case(&memory_ct, "palisade", BytesPerActor, memory("palisade-ct")),
        case(&memory_ct, "actix", BytesPerActor, memory("actix")),
        // Circuit breakers (synchronous; see `breakers` for what each row calls).
        case(
            BREAKER_CLOSED,
            "palisade try_acquire+record",
            NsPerOp,
            sync(breakers::closed_palisade),
        ),
        case(
            BREAKER_CLOSED,
            "palisade call_sync",
            NsPerOp,
            sync(breakers::closed_palisade_call_sync),
        ),
        case(
            BREAKER_CLOSED,
            "palisade call_sync (defaults)",
            NsPerOp,
            sync(breakers::closed_palisade_defaults),
        ),
        case(
            BREAKER_CLOSED,
            "failsafe (Config::new())",
            NsPerOp,
            sync(breakers::closed_failsafe_default),
        ),
        case(
            BREAKER_CLOSED,
            "failsafe (consecutive(5) only)",
            NsPerOp,
            sync(breakers::closed_failsafe_consecutive),
        ),
        case(
            BREAKER_CLOSED,
            "recloser (default)",
            NsPerOp,
            sync(breakers::closed_recloser),
        ),
        case(
            BREAKER_CLOSED,
            "no breaker (bare call)",
            NsPerOp,
            sync(breakers::closed_floor),
        ),
        case(
            BREAKER_OPEN,
            "palisade try_acquire (forced open)",
            NsPerOp,
            sync(breakers::open_palisade_forced),
        ),
        case(
            BREAKER_OPEN,
            "palisade try_acquire (tripped)",
            NsPerOp,
            sync(breakers::open_palisade_tripped),
        ),
        case(
            BREAKER_OPEN,
            "palisade call_sync (tripped)",
            NsPerOp,
            sync(breakers::open_palisade_call_sync),
        ),
        case(
            BREAKER_OPEN,
            "failsafe",
            NsPerOp,
            sync(breakers::open_failsafe),
        ),
        case(
            BREAKER_OPEN,
            "recloser",
            NsPerOp,
            sync(breakers::open_recloser),
        ),
        case(
            BREAKER_OPEN,
            "no breaker (bare call)",
            NsPerOp,
            sync(breakers::open_floor),
        ),
        case(
            BREAKER_TWO_THREADS,
            "palisade, a breaker per thread",
            NsPerOp,
            sync(breakers::two_palisade_separate),
        ),
        case(
            BREAKER_TWO_THREADS,
            "one shared fetch_add (floor)",
            NsPerOp,
            sync(breakers::two_shared_fetch_add),
        ),
        case(
            BREAKER_TWO_THREADS,
            "palisade try_acquire+record",
            NsPerOp,
            sync(breakers::two_palisade),
        ),
        case(
            BREAKER_TWO_THREADS,
            "failsafe (Config::new())",
            NsPerOp,
            sync(breakers::two_failsafe_default),
        ),
        case(
            BREAKER_TWO_THREADS,
            "failsafe (consecutive(5) only)",
            NsPerOp,
            sync(breakers::two_failsafe_consecutive),
        ),
        case(
            BREAKER_TWO_THREADS,
            "recloser (default)",
            NsPerOp,
            sync(breakers::two_recloser),
        ),
        case(
            BREAKER_TWO_THREADS,
            "no breaker (bare call)",
            NsPerOp,
            sync(breakers::two_floor),
        ),
        // Tower layers (current-thread runtime; see `tower_stack`). Palisade's full stack is
        // the reference, the bare service the floor (last, so ratios are to the stack).
        case(
            TOWER_STACK,
            "palisade: timeout + retry + breaker",
            NsPerOp,
            ct(tower_stack::palisade_stack),
        ),
        case(
            TOWER_STACK,
            "palisade: breaker layer only",
            NsPerOp,
            ct(tower_stack::palisade_breaker_only),
        ),
        case(
            TOWER_STACK,
            "tower-resilience breaker layer",
            NsPerOp,
            ct(tower_stack::tower_resilience),
        ),
        case(
            TOWER_STACK,
            "bare service (no layers)",
            NsPerOp,
            ct(tower_stack::bare),
        ),
        // The sled journal against sled itself (see `journal`).
        case(
            JOURNAL,
            "raw sled insert (256 B)",
            NsPerOp,
            sync(journal::raw_insert),
        ),
        case(
            JOURNAL,
            "raw sled insert, 8 KiB values (per 256 B)",
            NsPerOp,
            sync(journal::raw_insert_batched),
        ),
        case(
            JOURNAL,
            "palisade Buffered append (256 B)",
            NsPerOp,
            mt(journal::buffered_append),
        ),
        case(
            JOURNAL_DURABLE,
            "flush per append",
            NsPerOp,
            sync(journal::raw_flush_per_append),
        ),
        case(
            JOURNAL_DURABLE,
            "flush + fdatasync per append",
            NsPerOp,
            sync(journal::raw_flush_and_fdatasync_per_append),
        ),
        case(
            JOURNAL_DURABLE,
            "raw group commit ceiling (per append)",
            NsPerOp,
            sync(journal::raw_group_commit_ceiling),
        ),
        case(
            JOURNAL_DURABLE,
            "palisade Durable, one appender",
            NsPerOp,
            mt(journal::durable_one_appender),
        ),
        case(
            JOURNAL_DURABLE,
            "palisade Durable, 64 concurrent appenders",
            NsPerOp,
            mt(journal::durable_concurrent),
        ),
        case(
            JOURNAL_REPLAY,
            "raw sled scan + decode",
            NsPerEvent,
            sync(journal::raw_scan_decode),
        ),
        case(
            JOURNAL_REPLAY,
            "palisade read_stream",
            NsPerEvent,
            mt(journal::read_stream),
        ),
        case(
            JOURNAL_BYTES,
            "raw sled (256 B value)",
            BytesPerEvent,
            sync(journal::raw_bytes_on_disk),
        ),
        case(
            JOURNAL_BYTES,
            "palisade, uncompressed",
            BytesPerEvent,
            mt(journal::bytes_uncompressed),
        ),
        case(
            JOURNAL_BYTES,
            "palisade, zstd (compress_above 0)",
            BytesPerEvent,
            mt(journal::bytes_compressed),
        ),
        case(
            RECOVERY,
            "palisade PersistentActor::recover (sled)",
            UsPerOp,
            mt(recovery::recover),
        ),
    ]
}

// ----- Memory child processes ---------------------------------------------------------

/// Child side of `--memory PEER`: measure and print `BYTES_PER_ACTOR <n>`.
fn memory_child(peer: &str) -> Result<f64, String> {
    match peer {
        "raw" => raw::memory(&harness::multi_thread()),
        "palisade" => palisade::memory(&harness::multi_thread()),
        "palisade-u64" => palisade::memory_u64(&harness::multi_thread()),
        "ractor" => ractor_peer::memory(&harness::multi_thread()),
        "kameo" => kameo_peer::memory(&harness::multi_thread()),
        "raw-ct" => raw::memory(&harness::current_thread()),
        "palisade-ct" => palisade::memory(&harness::current_thread()),
        "actix" => actix_peer::with_system(actix_peer::memory),
        other => Err(format!("unknown memory peer {other:?}")),
    }
}

/// Parent side: run `--memory PEER` in a fresh process (bounded to 120 s) and parse it.
fn memory_in_child(peer: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(harness::err)?;
    let mut child = Command::new(exe)
        .args(["--memory", peer])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(harness::err)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().map_err(harness::err)?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("memory child timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().map_err(harness::err)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(value) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BYTES_PER_ACTOR "))
    {
        return value.trim().parse().map_err(harness::err);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detail = stdout
        .lines()
        .chain(stderr.lines())
        .last()
        .unwrap_or("no output");
    Err(format!("memory child failed ({}): {detail}", output.status))
}

// ----- Command line, running, reporting -----------------------------------------------

struct Args {
    json: Option<String>,
    quick: bool,
    only: Option<String>,
    memory: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        json: None,
        quick: false,
        only: None,
        memory: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => args.json = Some(it.next().ok_or("--json needs a path")?),
            "--quick" => args.quick = true,
            "--only" => args.only = Some(it.next().ok_or("--only needs a filter")?),
            "--memory" => args.memory = Some(it.next().ok_or("--memory needs a peer")?),
            "-h" | "--help" => {
                println!(
                    "usage: bench-compare [--json PATH] [--quick] [--only FILTER]\n\
                     FILTER matches case-insensitively as a substring of \"group: case\", e.g.\n\
                     --only tell, --only \"ask round trip\", --only current-thread,\n\
                     --only \"64 appenders: palisade\""
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(args)
}

/// Silences the intentional panics of the restart group (and only those).
fn install_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if text != Some(BOOM) {
            default(info);
        }
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

fn format_value(row: &Row) -> String {
    match &row.value {
        Ok(v) if *v >= 100.0 => format!("{v:.0}"),
        Ok(v) => format!("{v:.1}"),
        Err(_) => String::new(),
    }
}

fn print_row(row: &Row, reference: Option<f64>) {
    if let Err(e) = &row.value {
        println!("  {:<34} ERROR: {e}", row.name);
        return;
    }
    let ratio = match (&row.value, reference) {
        (Ok(v), Some(r)) if r > 0.0 => format!("{:.2}x", v / r),
        _ => String::new(),
    };
    println!(
        "  {:<34} {:>12} {:<12} {:>8}",
        row.name,
        format_value(row),
        row.unit.as_str(),
        ratio
    );
    let _ = std::io::stdout().flush();
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the successful rows as a JSON array (`median` holds the value in the row's
/// unit). Error rows are left out: `median` must be a number for `cargo xtask bench`.
fn write_json(path: &str, rows: &[Row]) -> Result<(), String> {
    let items: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let v = row.value.as_ref().ok()?;
            Some(format!(
                "  {{ \"group\": {}, \"name\": {}, \"median\": {}, \"unit\": {} }}",
                json_string(&row.group),
                json_string(row.name),
                if v.is_finite() {
                    format!("{v:.3}")
                } else {
                    "0".to_owned()
                },
                json_string(row.unit.as_str())
            ))
        })
        .collect();
    std::fs::write(path, format!("[\n{}\n]\n", items.join(",\n")))
        .map_err(|e| format!("{path}: {e}"))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench-compare: {e}");
            std::process::exit(2);
        }
    };
    install_panic_hook();

    if let Some(peer) = args.memory {
        match memory_child(&peer) {
            Ok(v) => {
                println!("BYTES_PER_ACTOR {v}");
                // Skip tearing down 100,000 actors: the process is done.
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            }
            Err(e) => {
                println!("ERROR {e}");
                std::process::exit(1);
            }
        }
    }

    let cfg = Config::new(args.quick);
    let only = args.only.map(|s| s.to_lowercase());
    println!(
        "bench-compare: {} samples/case, ~{} ms/sample, median; multi-thread = tokio 2 workers",
        cfg.samples,
        cfg.target_batch.as_millis()
    );
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut current_group = String::new();
    let mut reference: Option<f64> = None;
    for case in cases() {
        if let Some(only) = &only
            && !format!("{}: {}", case.group, case.name)
                .to_lowercase()
                .contains(only.as_str())
        {
            continue;
        }
        if case.group != current_group {
            println!("\n{}", case.group);
            current_group = case.group.clone();
            reference = None;
        }
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (case.run)(&cfg)))
            .unwrap_or_else(|payload| Some(Err(format!("panicked: {}", panic_message(&*payload)))));
        let Some(value) = outcome else {
            println!(
                "  {:<34} {:>12}",
                case.name, "(not implemented yet, row omitted)"
            );
            continue;
        };
        let row = Row {
            group: case.group,
            name: case.name,
            unit: case.unit,
            value,
        };
        if reference.is_none() {
            reference = row.value.as_ref().ok().copied();
        }
        print_row(&row, reference);
        rows.push(row);
    }
    println!("\ntotal time: {:.1} s", started.elapsed().as_secs_f64());

    if let Some(path) = args.json {
        match write_json(&path, &rows) {
            Ok(()) => println!("wrote {path}"),
            Err(e) => {
                eprintln!("bench-compare: cannot write JSON: {e}");
                std::process::exit(1);
            }
        }
    }
}
