//! Helpers shared by the subcommands: locating the workspace root, building
//! `cargo` commands and reading `cargo metadata`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The workspace root: the parent of this crate's manifest directory.
///
/// Prefers `CARGO_MANIFEST_DIR` from the environment (set by `cargo run`) over
/// the value baked in at compile time, so a binary reused from a shared target
/// directory still acts on the workspace it was launched from.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command run from the workspace root.
///
/// Uses the `CARGO` environment variable (set by `cargo run`) so the same
/// toolchain that launched xtask is used, falling back to `cargo` on `PATH`.
pub(crate) fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// Renders a command line for display, e.g. `cargo test --workspace`.
pub(crate) fn display(args: &[&str]) -> String {
    let mut line = String::from("cargo");
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// Runs `cargo ARGS` with inherited stdio and returns its exit status.
pub(crate) fn run_status(args: &[&str], envs: &[(&str, &str)]) -> Result<ExitStatus, String> {
    let mut command = cargo();
    command.args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    command
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", display(args)))
}

/// Runs `cargo ARGS` with inherited stdio and fails unless it exits successfully.
pub(crate) fn run_checked(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let status = run_status(args, envs)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(args)))
    }
}

/// Runs `cargo metadata --format-version 1 --no-deps` and parses its output.
pub(crate) fn metadata() -> Result<serde_json::Value, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`cargo metadata` failed ({})", output.status));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cannot parse `cargo metadata` output: {e}"))
}
