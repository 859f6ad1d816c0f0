//! `cargo xtask demos [NAME...]`: build and run the examples of
//! `palisade-examples`, each with a time limit, and summarise the results.

use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cargo;

/// The package whose examples are the demos.
const EXAMPLES_PACKAGE: &str = "palisade-examples";

/// Time limit for one demo.
const TIMEOUT: Duration = Duration::from_secs(120);

/// How often a running demo is polled for completion.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How one demo ended.
#[derive(Debug)]
enum Outcome {
    /// Exited successfully.
    Pass,
    /// Exited unsuccessfully with this status.
    Failed(ExitStatus),
    /// Was killed after running longer than [`TIMEOUT`].
    TimedOut,
}

/// Lists the example targets of `package` in `cargo metadata` JSON, sorted by
/// name.
fn example_names(metadata: &Value, package: &str) -> Result<Vec<String>, String> {
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("cargo metadata: missing `packages` array")?;
    let pkg = packages
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(package))
        .ok_or_else(|| format!("package {package} is not a workspace member"))?;
    let targets = pkg
        .get("targets")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("cargo metadata: package {package} has no `targets` array"))?;
    let mut names: Vec<String> = targets
        .iter()
        .filter(|t| {
            t.get("kind")
                .and_then(Value::as_array)
                .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some("example")))
        })
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Picks the demos to run: all of them, or the requested ones in the given
/// order (every requested name must exist).
fn select(available: &[String], requested: &[String]) -> Result<Vec<String>, String> {
    if requested.is_empty() {
        return Ok(available.to_vec());
    }
    let unknown: Vec<&str> = requested
        .iter()
        .filter(|name| !available.contains(name))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        Ok(requested.to_vec())
    } else {
        Err(format!(
            "unknown example(s): {} (available: {})",
            unknown.join(", "),
            available.join(", ")
        ))
    }
}

/// Runs one demo through `cargo run`, its output passed through, killing it
/// after [`TIMEOUT`].
fn run_demo(name: &str) -> Result<Outcome, String> {
    let args = ["run", "--quiet", "-p", EXAMPLES_PACKAGE, "--example", name];
    let mut command = cargo::cargo();
    command.args(args);
    // Own process group, so a timeout can kill the example and anything it
    // spawned, not only `cargo`.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", cargo::display(&args)))?;

    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(Outcome::Pass),
            Ok(Some(status)) => return Ok(Outcome::Failed(status)),
            Ok(None) if started.elapsed() >= TIMEOUT => {
                kill(&mut child);
                return Ok(Outcome::TimedOut);
            }
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(e) => {
                kill(&mut child);
                return Err(format!("cannot wait for example {name}: {e}"));
            }
        }
    }
}

/// Kills a timed-out demo (its whole process group on Unix) and reaps it.
fn kill(child: &mut Child) {
    #[cfg(unix)]
    {
        // `kill -KILL -- -PGID` signals the whole group created in `run_demo`.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Formats how a failed demo ended.
fn failure_reason(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Pass => "passed".to_owned(),
        Outcome::Failed(status) => match status.code() {
            Some(code) => format!("exit code {code}"),
            None => format!("{status}"),
        },
        Outcome::TimedOut => format!("timed out after {} s", TIMEOUT.as_secs()),
    }
}

/// Builds all examples once, then runs the selected ones and prints a summary.
pub(crate) fn run(requested: &[String]) -> Result<(), String> {
    println!("demos: listing the examples of {EXAMPLES_PACKAGE}");
    let available = example_names(&cargo::metadata()?, EXAMPLES_PACKAGE)?;
    if available.is_empty() {
        return Err(format!("no example found in package {EXAMPLES_PACKAGE}"));
    }
    let selected = select(&available, requested)?;

    let build = ["build", "--quiet", "-p", EXAMPLES_PACKAGE, "--examples"];
    println!(
        "demos: building {} example(s): {}",
        available.len(),
        cargo::display(&build)
    );
    cargo::run_checked(&build, &[])?;

    let mut failed = Vec::new();
    for name in &selected {
        println!("demos: running {name} (time limit {} s)", TIMEOUT.as_secs());
        let started = Instant::now();
        let outcome = run_demo(name)?;
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Outcome::Pass => println!("demo {name}: pass ({secs:.1} s)"),
            _ => {
                println!(
                    "demo {name}: FAIL ({}, {secs:.1} s)",
                    failure_reason(&outcome)
                );
                failed.push(name.as_str());
            }
        }
    }

    println!(
        "demos: {} passed, {} failed",
        selected.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed demo(s): {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_examples_of_the_package() {
        let json = r#"{"packages": [
            {"name": "palisade", "targets": [{"name": "ex_other", "kind": ["example"]}]},
            {"name": "palisade-examples", "targets": [
                {"name": "supervision_tree", "kind": ["example"]},
                {"name": "palisade_examples", "kind": ["lib"]},
                {"name": "basic_actor", "kind": ["example"]}
            ]}
        ]}"#;
        let value: Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(
            example_names(&value, EXAMPLES_PACKAGE).expect("lists"),
            vec!["basic_actor".to_owned(), "supervision_tree".to_owned()]
        );
        assert!(example_names(&value, "missing").is_err());
    }

    #[test]
    fn selects_all_or_the_requested_ones() {
        let available = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(select(&available, &[]).expect("all"), available);
        assert_eq!(
            select(&available, &["b".to_owned()]).expect("one"),
            vec!["b".to_owned()]
        );
        let err = select(&available, &["c".to_owned()]).expect_err("unknown");
        assert!(
            err.contains("c") && err.contains("available: a, b"),
            "{err}"
        );
    }
}
