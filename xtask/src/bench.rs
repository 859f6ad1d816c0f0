//! `cargo xtask bench`: run the peer comparison in `bench-compare/` and write
//! its results as a markdown table into `docs/benchmarks.md`.
//!
//! The bench-compare binary is called with `--json PATH` and must write to
//! `PATH` a JSON array of objects
//! `{ "group": str, "name": str, "median": number, "unit": str }`; `median` is in the
//! row's unit (nanoseconds for `ns/…` units).
//! The table replaces whatever lies between the marker lines
//! [`BEGIN_MARKER`] and [`END_MARKER`] of `docs/benchmarks.md` (the section is
//! appended when the markers are missing).

use std::fmt::Write as _;
use std::fs;

use serde_json::Value;

use crate::cargo;

/// Line that opens the generated section of `docs/benchmarks.md`.
pub(crate) const BEGIN_MARKER: &str = "<!-- bench-compare:begin -->";
/// Line that closes the generated section of `docs/benchmarks.md`.
pub(crate) const END_MARKER: &str = "<!-- bench-compare:end -->";

/// One benchmark result from bench-compare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// Comparison group; the first row of a group is its baseline.
    pub(crate) group: String,
    /// Benchmark name within the group (typically the implementation).
    pub(crate) name: String,
    /// Median time in nanoseconds.
    pub(crate) median: f64,
    /// What one measured iteration is (e.g. `msg`, `op`); `""` or `ns` for none.
    pub(crate) unit: String,
}

/// Parses the JSON written by bench-compare.
pub(crate) fn parse_rows(json: &str) -> Result<Vec<Row>, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("bench-compare JSON: {e}"))?;
    let items = value
        .as_array()
        .ok_or("bench-compare JSON: expected an array of rows")?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let text = |field: &str| {
                item.get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        format!(
                            "bench-compare JSON: row {index}: `{field}` missing or not a string"
                        )
                    })
            };
            let median = item.get("median").and_then(Value::as_f64).ok_or_else(|| {
                format!("bench-compare JSON: row {index}: `median` missing or not a number")
            })?;
            Ok(Row {
                group: text("group")?,
                name: text("name")?,
                median,
                unit: text("unit")?,
            })
        })
        .collect()
}

/// Formats a duration in nanoseconds with a fitting unit (`ns`, `µs`, `ms`, `s`).
fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {unit}")
}

/// The median cell. Units starting with `ns/` (such as `ns/msg`) hold nanoseconds and are
/// scaled (`1.20 µs/msg`); any other unit (`us/op`, `bytes/actor`) is printed as is.
fn format_median(row: &Row) -> String {
    match row.unit.strip_prefix("ns/") {
        Some(per) => format!("{}/{per}", format_ns(row.median)),
        None if row.unit.is_empty() || row.unit == "ns" => format_ns(row.median),
        None => {
            let digits = if row.median < 10.0 {
                2
            } else if row.median < 100.0 {
                1
            } else {
                0
            };
            format!("{:.digits$} {}", row.median, row.unit)
        }
    }
}

/// Escapes text for a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Renders the rows as a markdown table: group | name | median | ratio.
///
/// Rows are grouped by group (groups in order of first appearance, rows in
/// input order) and the ratio is relative to the first row of the group.
pub(crate) fn render_table(rows: &[Row]) -> String {
    let mut groups: Vec<&str> = Vec::new();
    for row in rows {
        if !groups.contains(&row.group.as_str()) {
            groups.push(&row.group);
        }
    }

    let mut out = String::from("| group | name | median | ratio |\n| --- | --- | ---: | ---: |\n");
    for group in groups {
        let mut members = rows.iter().filter(|row| row.group == group);
        let Some(baseline) = members.next() else {
            continue;
        };
        for row in std::iter::once(baseline).chain(members) {
            let ratio = if baseline.median > 0.0 && row.median.is_finite() {
                format!("{:.2}x", row.median / baseline.median)
            } else {
                "n/a".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&row.group),
                cell(&row.name),
                format_median(row),
                ratio
            );
        }
    }
    out
}

/// Replaces the text between the marker lines of `doc` with `table`, or
/// appends a marked section holding `table` when the markers are missing.
pub(crate) fn replace_section(doc: &str, table: &str) -> String {
    let mut table = table.to_owned();
    if !table.ends_with('\n') {
        table.push('\n');
    }

    // Byte offsets of the begin line's end and of the end line's start.
    let mut offset = 0;
    let mut after_begin = None;
    let mut before_end = None;
    for line in doc.split_inclusive('\n') {
        let trimmed = line.trim();
        if after_begin.is_none() && trimmed == BEGIN_MARKER {
            after_begin = Some(offset + line.len());
        } else if after_begin.is_some() && trimmed == END_MARKER {
            before_end = Some(offset);
            break;
        }
        offset += line.len();
    }

    if let (Some(start), Some(end)) = (after_begin, before_end) {
        let mut head = doc[..start].to_owned();
        if !head.ends_with('\n') {
            head.push('\n');
        }
        return format!("{head}{table}{}", &doc[end..]);
    }

    let mut out = doc.to_owned();
    if !out.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    format!("{out}{BEGIN_MARKER}\n{table}{END_MARKER}\n")
}

/// Runs bench-compare and updates `docs/benchmarks.md`.
pub(crate) fn run() -> Result<(), String> {
    let root = cargo::workspace_root();
    let manifest = root.join("bench-compare").join("Cargo.toml");
    if !manifest.is_file() {
        return Err(format!(
            "bench: the peer comparison workspace is missing ({} not found)",
            manifest.display()
        ));
    }
    let target = root.join("target");
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let json_path = target.join("bench-compare.json");
    let json_arg = json_path.to_string_lossy().into_owned();
    let args = [
        "run",
        "--release",
        "--manifest-path",
        "bench-compare/Cargo.toml",
        "--",
        "--json",
        json_arg.as_str(),
    ];
    println!(
        "bench: running the peer comparison: {}",
        cargo::display(&args)
    );
    // A stale file must not pass for fresh results.
    if json_path.exists() {
        fs::remove_file(&json_path)
            .map_err(|e| format!("cannot remove {}: {e}", json_path.display()))?;
    }
    cargo::run_checked(&args, &[])?;

    let json = fs::read_to_string(&json_path)
        .map_err(|e| format!("cannot read {}: {e}", json_path.display()))?;
    let rows = parse_rows(&json)?;
    if rows.is_empty() {
        return Err(format!("bench: {} holds no rows", json_path.display()));
    }

    let doc_path = root.join("docs").join("benchmarks.md");
    let doc = match fs::read_to_string(&doc_path) {
        Ok(doc) => doc,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(format!("cannot read {}: {e}", doc_path.display())),
    };
    let updated = replace_section(&doc, &render_table(&rows));
    if let Some(dir) = doc_path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(&doc_path, updated)
        .map_err(|e| format!("cannot write {}: {e}", doc_path.display()))?;
    println!(
        "bench: wrote {} row(s) to {}",
        rows.len(),
        doc_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, name: &str, median: f64, unit: &str) -> Row {
        Row {
            group: group.to_owned(),
            name: name.to_owned(),
            median,
            unit: unit.to_owned(),
        }
    }

    #[test]
    fn renders_groups_with_ratio_to_first_row() {
        let rows = vec![
            row("tell", "palisade", 120.0, "ns/msg"),
            row("ask", "palisade", 2_500.0, ""),
            row("tell", "peer", 60.0, "ns/msg"),
            row("ask", "peer", 5_000.0, "ns"),
        ];
        assert_eq!(
            render_table(&rows),
            "| group | name | median | ratio |\n\
             | --- | --- | ---: | ---: |\n\
             | tell | palisade | 120 ns/msg | 1.00x |\n\
             | tell | peer | 60.0 ns/msg | 0.50x |\n\
             | ask | palisade | 2.50 µs | 1.00x |\n\
             | ask | peer | 5.00 µs | 2.00x |\n"
        );
    }

    #[test]
    fn units_other_than_nanoseconds_print_as_they_are() {
        let rows = vec![
            row("mem", "a", 1747.0, "bytes/actor"),
            row("r", "b", 4.5, "us/op"),
        ];
        let table = render_table(&rows);
        assert!(
            table.contains("| mem | a | 1747 bytes/actor | 1.00x |"),
            "{table}"
        );
        assert!(table.contains("| r | b | 4.50 us/op | 1.00x |"), "{table}");
    }

    #[test]
    fn zero_baseline_has_no_ratio_and_pipes_are_escaped() {
        let rows = vec![row("g", "a|b", 0.0, ""), row("g", "c", 1.5e9, "ns/op")];
        let table = render_table(&rows);
        assert!(table.contains("| g | a\\|b | 0.00 ns | n/a |"), "{table}");
        assert!(table.contains("| g | c | 1.50 s/op | n/a |"), "{table}");
    }

    #[test]
    fn formats_units() {
        assert_eq!(format_ns(999.0), "999 ns");
        assert_eq!(format_ns(12_345.0), "12.3 µs");
        assert_eq!(format_ns(4_200_000.0), "4.20 ms");
    }

    #[test]
    fn replaces_between_markers() {
        let doc = "# Benchmarks\n\nintro\n\n<!-- bench-compare:begin -->\nold table\nmore\n<!-- bench-compare:end -->\n\nfooter\n";
        assert_eq!(
            replace_section(doc, "NEW"),
            "# Benchmarks\n\nintro\n\n<!-- bench-compare:begin -->\nNEW\n<!-- bench-compare:end -->\n\nfooter\n"
        );
    }

    #[test]
    fn replacing_twice_is_stable() {
        let doc = "a\n<!-- bench-compare:begin -->\n<!-- bench-compare:end -->\nb";
        let once = replace_section(doc, "T\n");
        assert_eq!(
            once,
            "a\n<!-- bench-compare:begin -->\nT\n<!-- bench-compare:end -->\nb"
        );
        assert_eq!(replace_section(&once, "T\n"), once);
    }

    #[test]
    fn appends_section_when_markers_are_missing() {
        assert_eq!(
            replace_section("# Benchmarks\nno table yet", "T\n"),
            "# Benchmarks\nno table yet\n\n<!-- bench-compare:begin -->\nT\n<!-- bench-compare:end -->\n"
        );
        assert_eq!(
            replace_section("", "T\n"),
            "<!-- bench-compare:begin -->\nT\n<!-- bench-compare:end -->\n"
        );
        // An end marker before any begin marker does not count.
        let doc = "<!-- bench-compare:end -->\n";
        assert!(
            replace_section(doc, "T")
                .ends_with("\n\n<!-- bench-compare:begin -->\nT\n<!-- bench-compare:end -->\n")
        );
    }

    #[test]
    fn parses_rows() {
        let json = r#"[
            {"group": "tell", "name": "palisade", "median": 120.5, "unit": "msg"},
            {"group": "tell", "name": "peer", "median": 60, "unit": ""}
        ]"#;
        assert_eq!(
            parse_rows(json).expect("parses"),
            vec![
                row("tell", "palisade", 120.5, "msg"),
                row("tell", "peer", 60.0, "")
            ]
        );
        assert!(parse_rows(r#"[{"group": "g", "name": "n", "unit": "u"}]"#).is_err());
        assert!(parse_rows(r#"{"group": "g"}"#).is_err());
        assert!(parse_rows("not json").is_err());
    }
}
