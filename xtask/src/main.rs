//! `cargo xtask`: maintenance tasks for the Palisade workspace.
//!
//! Run `cargo xtask help` for the list of subcommands. Every subcommand prints
//! what it does; any failure is printed as `error: ...` and the process exits
//! with status 1.

mod bench;
mod cargo;
mod ci;
mod demos;
mod layers;

use std::process::ExitCode;

/// Usage text printed by `cargo xtask help` (and when no subcommand is given).
const USAGE: &str = "\
usage: cargo xtask <subcommand> [args]

subcommands:
  layers           check that Palisade crates only depend on lower layers
  demos [NAME...]  build and run the examples of palisade-examples (all, or the named ones)
  ci               run the full CI pipeline (test, fmt, clippy, layers, doc, deny)
  bench            run the peer comparison in bench-compare/ and update docs/benchmarks.md
  help             print this message
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();

    let result = match command.as_deref() {
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some("layers") => no_args("layers", &rest).and_then(|()| layers::run()),
        Some("demos") => demos::run(&rest),
        Some("ci") => no_args("ci", &rest).and_then(|()| ci::run()),
        Some("bench") => no_args("bench", &rest).and_then(|()| bench::run()),
        Some(other) => {
            eprint!("{USAGE}");
            Err(format!("unknown subcommand `{other}`"))
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Fails when a subcommand that takes no arguments was given some.
fn no_args(command: &str, rest: &[String]) -> Result<(), String> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`{command}` takes no arguments (got: {})",
            rest.join(" ")
        ))
    }
}
