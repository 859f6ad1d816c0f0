//! `cargo xtask ci`: the CI pipeline, step by step, stopping at the first
//! failure. It mirrors `.ci/run`.

use std::process::Stdio;

use crate::{cargo, layers};

/// One step of the pipeline.
enum Step {
    /// `cargo ARGS` with extra environment variables.
    Cargo {
        /// Arguments after `cargo`.
        args: &'static [&'static str],
        /// Extra environment variables.
        envs: &'static [(&'static str, &'static str)],
    },
    /// `cargo xtask layers`, run in-process.
    Layers,
    /// Install cargo-deny when missing, then `cargo deny check ...`.
    Deny,
}

/// The pipeline, in order.
const STEPS: &[Step] = &[
    Step::Cargo {
        args: &["test", "--workspace"],
        envs: &[],
    },
    Step::Cargo {
        args: &["fmt", "--all", "--check"],
        envs: &[],
    },
    Step::Cargo {
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        envs: &[],
    },
    Step::Layers,
    // Each crate stands alone: the breaker builds without its optional integrations.
    Step::Cargo {
        args: &[
            "check",
            "-p",
            "palisade-circuit-breaker",
            "--no-default-features",
        ],
        envs: &[],
    },
    Step::Cargo {
        args: &["doc", "--no-deps", "--workspace"],
        envs: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step::Deny,
];

/// Arguments of the cargo-deny check.
const DENY_CHECK: &[&str] = &["deny", "check", "licenses", "bans", "sources"];

impl Step {
    /// The command line shown to the user.
    fn describe(&self) -> String {
        match self {
            Self::Cargo { args, envs } => {
                let prefix: String = envs.iter().map(|(k, v)| format!("{k}=\"{v}\" ")).collect();
                format!("{prefix}{}", cargo::display(args))
            }
            Self::Layers => "cargo xtask layers".to_owned(),
            Self::Deny => cargo::display(DENY_CHECK),
        }
    }

    /// Runs the step.
    fn run(&self) -> Result<(), String> {
        match self {
            Self::Cargo { args, envs } => cargo::run_checked(args, envs),
            Self::Layers => layers::run(),
            Self::Deny => {
                ensure_cargo_deny()?;
                cargo::run_checked(DENY_CHECK, &[])
            }
        }
    }
}

/// Installs cargo-deny when `cargo deny --version` does not work.
fn ensure_cargo_deny() -> Result<(), String> {
    let present = cargo::cargo()
        .args(["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if present {
        return Ok(());
    }
    let install = ["install", "--locked", "cargo-deny"];
    println!(
        "ci: cargo-deny not found, running `{}`",
        cargo::display(&install)
    );
    cargo::run_checked(&install, &[])
}

/// Runs every step in order, stopping at the first failure.
pub(crate) fn run() -> Result<(), String> {
    let total = STEPS.len();
    for (index, step) in STEPS.iter().enumerate() {
        let number = index + 1;
        let line = step.describe();
        println!("ci: step {number}/{total}: {line}");
        step.run()
            .map_err(|e| format!("ci: step {number}/{total} failed: {line}\n{e}"))?;
    }
    println!("ci: all steps passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_order_matches_ci_run() {
        let lines: Vec<String> = STEPS.iter().map(Step::describe).collect();
        assert_eq!(
            lines,
            vec![
                "cargo test --workspace",
                "cargo fmt --all --check",
                "cargo clippy --workspace --all-targets -- -D warnings",
                "cargo xtask layers",
                "cargo check -p palisade-circuit-breaker --no-default-features",
                "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --workspace",
                "cargo deny check licenses bans sources",
            ]
        );
    }
}
