//! `cargo xtask layers`: enforce the layer table of the Palisade crates.
//!
//! Every crate of the table may only depend (normal, dev or build dependency)
//! on crates of a strictly lower layer. A table crate must not depend on a
//! workspace crate outside the table (such as `palisade-examples`), and every
//! `palisade*` workspace crate except `palisade-examples` must be in the table.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use crate::cargo;

/// The layer table: crate name and layer, lowest layer first.
pub(crate) const LAYERS: &[(&str, u32)] = &[
    ("palisade-actor-core", 0),
    ("palisade-supervision", 1),
    ("palisade-circuit-breaker", 2),
    ("palisade-event-store", 3),
    ("palisade-snapshot-store", 4),
    ("palisade-observability", 5),
    ("palisade-cascade-prevention", 6),
    ("palisade", 7),
];

/// Workspace crates named `palisade*` that are deliberately outside the table.
const EXEMPT: &[&str] = &["palisade-examples"];

/// The layer of a crate, or `None` when it is not in the table.
pub(crate) fn layer_of(name: &str) -> Option<u32> {
    LAYERS
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|(_, layer)| *layer)
}

/// The kind of a dependency edge, as reported by `cargo metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DepKind {
    /// A `[dependencies]` entry.
    Normal,
    /// A `[dev-dependencies]` entry.
    Dev,
    /// A `[build-dependencies]` entry.
    Build,
}

/// One dependency of a workspace package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    /// The package name of the dependency (not its rename).
    pub(crate) name: String,
    /// Which section of the manifest declares it.
    pub(crate) kind: DepKind,
}

/// A workspace package and its declared dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    /// The package name.
    pub(crate) name: String,
    /// Its dependencies, of every kind.
    pub(crate) dependencies: Vec<Dependency>,
}

/// A breach of the layering rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A table crate depends on a crate of a higher layer.
    Upward {
        /// The dependent crate.
        from: String,
        /// Its layer.
        from_layer: u32,
        /// The dependency.
        to: String,
        /// The dependency's layer.
        to_layer: u32,
        /// The kind of the edge.
        kind: DepKind,
    },
    /// A table crate depends on another crate of the same layer.
    SameLayer {
        /// The dependent crate.
        from: String,
        /// The dependency.
        to: String,
        /// The shared layer.
        layer: u32,
        /// The kind of the edge.
        kind: DepKind,
    },
    /// A table crate depends on a workspace crate that is not in the table.
    OutsideTable {
        /// The dependent crate.
        from: String,
        /// Its layer.
        from_layer: u32,
        /// The workspace crate outside the table.
        to: String,
        /// The kind of the edge.
        kind: DepKind,
    },
    /// A `palisade*` workspace crate is missing from the layer table.
    UnknownCrate {
        /// The crate name.
        name: String,
    },
}

/// Suffix naming the edge kind in messages (empty for normal dependencies).
fn kind_suffix(kind: DepKind) -> &'static str {
    match kind {
        DepKind::Normal => "",
        DepKind::Dev => " [dev-dependency]",
        DepKind::Build => " [build-dependency]",
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Upward {
                from,
                from_layer,
                to,
                to_layer,
                kind,
            } => write!(
                f,
                "upward dependency: {from} (layer {from_layer}) -> {to} (layer {to_layer}){}",
                kind_suffix(*kind)
            ),
            Self::SameLayer {
                from,
                to,
                layer,
                kind,
            } => write!(
                f,
                "same-layer dependency: {from} (layer {layer}) -> {to} (layer {layer}){}",
                kind_suffix(*kind)
            ),
            Self::OutsideTable {
                from,
                from_layer,
                to,
                kind,
            } => write!(
                f,
                "dependency outside the layer table: {from} (layer {from_layer}) -> {to}{}",
                kind_suffix(*kind)
            ),
            Self::UnknownCrate { name } => write!(
                f,
                "unknown crate {name}: add it to the layer table in xtask/src/layers.rs"
            ),
        }
    }
}

/// Checks the layering rules over the workspace packages.
///
/// `graph` must hold the workspace members only. Returns every violation, in
/// package order; an empty vector means the graph is clean.
pub(crate) fn check_layers(graph: &[Package]) -> Vec<Violation> {
    let workspace: HashSet<&str> = graph.iter().map(|p| p.name.as_str()).collect();
    let mut violations = Vec::new();

    for package in graph {
        let Some(from_layer) = layer_of(&package.name) else {
            if package.name.starts_with("palisade") && !EXEMPT.contains(&package.name.as_str()) {
                violations.push(Violation::UnknownCrate {
                    name: package.name.clone(),
                });
            }
            continue;
        };

        for dep in &package.dependencies {
            let violation = match layer_of(&dep.name) {
                Some(to_layer) if to_layer > from_layer => Violation::Upward {
                    from: package.name.clone(),
                    from_layer,
                    to: dep.name.clone(),
                    to_layer,
                    kind: dep.kind,
                },
                Some(to_layer) if to_layer == from_layer => Violation::SameLayer {
                    from: package.name.clone(),
                    to: dep.name.clone(),
                    layer: from_layer,
                    kind: dep.kind,
                },
                Some(_) => continue,
                None if workspace.contains(dep.name.as_str()) => Violation::OutsideTable {
                    from: package.name.clone(),
                    from_layer,
                    to: dep.name.clone(),
                    kind: dep.kind,
                },
                None => continue,
            };
            if !violations.contains(&violation) {
                violations.push(violation);
            }
        }
    }
    violations
}

/// Number of workspace packages that are in the layer table.
pub(crate) fn checked_count(graph: &[Package]) -> usize {
    graph.iter().filter(|p| layer_of(&p.name).is_some()).count()
}

/// Extracts the workspace packages and their dependencies from the JSON of
/// `cargo metadata --format-version 1`.
///
/// When `workspace_members` is present, only those packages are kept (so the
/// output of a run without `--no-deps` works too).
pub(crate) fn parse_metadata(metadata: &Value) -> Result<Vec<Package>, String> {
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("cargo metadata: missing `packages` array")?;
    let members: Option<HashSet<&str>> = metadata
        .get("workspace_members")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect());

    let mut graph = Vec::new();
    for package in packages {
        let name = str_field(package, "name", "package")?;
        if let Some(members) = &members {
            let id = str_field(package, "id", name)?;
            if !members.contains(id) {
                continue;
            }
        }
        let deps = package
            .get("dependencies")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("cargo metadata: package {name} has no `dependencies` array"))?;
        let mut dependencies = Vec::with_capacity(deps.len());
        for dep in deps {
            let dep_name = str_field(dep, "name", name)?;
            let kind = match dep.get("kind") {
                None | Some(Value::Null) => DepKind::Normal,
                Some(Value::String(k)) if k == "normal" => DepKind::Normal,
                Some(Value::String(k)) if k == "dev" => DepKind::Dev,
                Some(Value::String(k)) if k == "build" => DepKind::Build,
                Some(other) => {
                    return Err(format!(
                        "cargo metadata: dependency {dep_name} of {name} has unknown kind {other}"
                    ));
                }
            };
            dependencies.push(Dependency {
                name: dep_name.to_owned(),
                kind,
            });
        }
        graph.push(Package {
            name: name.to_owned(),
            dependencies,
        });
    }
    Ok(graph)
}

/// Reads a string field of a JSON object, with a helpful error.
fn str_field<'a>(value: &'a Value, field: &str, context: &str) -> Result<&'a str, String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("cargo metadata: `{field}` missing or not a string in {context}"))
}

/// Runs the check on the real workspace and prints the result.
pub(crate) fn run() -> Result<(), String> {
    println!("layers: checking the layer table against `cargo metadata --no-deps`");
    let graph = parse_metadata(&cargo::metadata()?)?;
    let violations = check_layers(&graph);
    if violations.is_empty() {
        println!("layers: ok ({} crates checked)", checked_count(&graph));
        Ok(())
    } else {
        for violation in &violations {
            println!("{violation}");
        }
        Err(format!(
            "layers: {} layering violation(s)",
            violations.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, deps: &[(&str, DepKind)]) -> Package {
        Package {
            name: name.to_owned(),
            dependencies: deps
                .iter()
                .map(|(dep, kind)| Dependency {
                    name: (*dep).to_owned(),
                    kind: *kind,
                })
                .collect(),
        }
    }

    fn clean_graph() -> Vec<Package> {
        vec![
            package("palisade-actor-core", &[("tokio", DepKind::Normal)]),
            package(
                "palisade-supervision",
                &[
                    ("palisade-actor-core", DepKind::Normal),
                    ("proptest", DepKind::Dev),
                ],
            ),
            package(
                "palisade",
                &[
                    ("palisade-actor-core", DepKind::Normal),
                    ("palisade-supervision", DepKind::Normal),
                ],
            ),
            package(
                "palisade-examples",
                &[("palisade", DepKind::Normal), ("tokio", DepKind::Normal)],
            ),
            package("xtask", &[("serde_json", DepKind::Normal)]),
        ]
    }

    #[test]
    fn clean_graph_passes() {
        let graph = clean_graph();
        assert_eq!(check_layers(&graph), Vec::new());
        assert_eq!(checked_count(&graph), 3);
    }

    #[test]
    fn table_is_strictly_increasing() {
        for pair in LAYERS.windows(2) {
            assert!(pair[0].1 < pair[1].1, "{pair:?}");
        }
    }

    #[test]
    fn upward_edge_fails_and_names_the_edge() {
        let mut graph = clean_graph();
        graph[0].dependencies.push(Dependency {
            name: "palisade-supervision".to_owned(),
            kind: DepKind::Normal,
        });
        let violations = check_layers(&graph);
        assert_eq!(violations.len(), 1);
        assert_eq!(
            violations[0].to_string(),
            "upward dependency: palisade-actor-core (layer 0) -> palisade-supervision (layer 1)"
        );
    }

    #[test]
    fn upward_dev_dependency_fails() {
        let graph = vec![package(
            "palisade-actor-core",
            &[("palisade", DepKind::Dev)],
        )];
        let violations = check_layers(&graph);
        assert_eq!(
            violations,
            vec![Violation::Upward {
                from: "palisade-actor-core".to_owned(),
                from_layer: 0,
                to: "palisade".to_owned(),
                to_layer: 7,
                kind: DepKind::Dev,
            }]
        );
        assert!(violations[0].to_string().ends_with("[dev-dependency]"));
    }

    #[test]
    fn same_layer_edge_fails() {
        let graph = vec![package(
            "palisade-supervision",
            &[("palisade-supervision", DepKind::Build)],
        )];
        let violations = check_layers(&graph);
        assert_eq!(violations.len(), 1);
        assert!(matches!(
            violations[0],
            Violation::SameLayer { layer: 1, .. }
        ));
        assert!(violations[0].to_string().starts_with(
            "same-layer dependency: palisade-supervision (layer 1) -> palisade-supervision (layer 1)"
        ));
    }

    #[test]
    fn unknown_palisade_crate_fails() {
        let mut graph = clean_graph();
        graph.push(package("palisade-telepathy", &[]));
        let violations = check_layers(&graph);
        assert_eq!(
            violations,
            vec![Violation::UnknownCrate {
                name: "palisade-telepathy".to_owned()
            }]
        );
        assert!(
            violations[0]
                .to_string()
                .contains("add it to the layer table")
        );
    }

    #[test]
    fn dependency_on_workspace_crate_outside_table_fails() {
        let mut graph = clean_graph();
        graph[2].dependencies.push(Dependency {
            name: "palisade-examples".to_owned(),
            kind: DepKind::Dev,
        });
        let violations = check_layers(&graph);
        assert_eq!(violations.len(), 1);
        assert!(matches!(violations[0], Violation::OutsideTable { .. }));
        assert!(
            violations[0]
                .to_string()
                .contains("palisade (layer 7) -> palisade-examples")
        );
    }

    #[test]
    fn parses_hand_written_metadata() {
        let json = r#"{
            "packages": [
                {
                    "name": "palisade-supervision",
                    "id": "path+file:///w/crates/supervision#palisade-supervision@0.1.0",
                    "dependencies": [
                        { "name": "palisade-actor-core", "kind": null, "rename": null },
                        { "name": "proptest", "kind": "dev" },
                        { "name": "cc", "kind": "build" }
                    ]
                },
                {
                    "name": "not-a-member",
                    "id": "registry+https://github.com/rust-lang/crates.io-index#not-a-member@1.0.0",
                    "dependencies": []
                }
            ],
            "workspace_members": [
                "path+file:///w/crates/supervision#palisade-supervision@0.1.0"
            ]
        }"#;
        let value: Value = serde_json::from_str(json).expect("valid JSON");
        let graph = parse_metadata(&value).expect("parses");
        assert_eq!(
            graph,
            vec![package(
                "palisade-supervision",
                &[
                    ("palisade-actor-core", DepKind::Normal),
                    ("proptest", DepKind::Dev),
                    ("cc", DepKind::Build),
                ],
            )]
        );
        assert_eq!(check_layers(&graph), Vec::new());
    }

    #[test]
    fn parse_rejects_malformed_metadata() {
        let value: Value = serde_json::from_str(r#"{"packages": [{"id": "x"}]}"#).expect("JSON");
        assert!(parse_metadata(&value).is_err());
        let value: Value = serde_json::from_str(r#"{"version": 1}"#).expect("JSON");
        assert!(parse_metadata(&value).is_err());
    }
}
