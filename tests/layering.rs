//! The pure rooms (`src/model`, `src/render`, `src/roll`, `src/balance`) do no I/O: they import neither the
//! Kafka client (`gregor_kafka`, re-exported as `crate::kafka`) nor kube's client. The controller
//! converts the model's types to the client's at its edge.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn item3_pure_rooms_import_no_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for room in ["model", "render", "roll", "balance"] {
        rust_files(&root.join(room), &mut files);
    }
    assert!(files.len() > 10, "found the pure rooms' sources: {files:?}");
    let forbidden = ["crate::kafka", "gregor_kafka", "kube::Client", "kube::api", "kube::runtime"];
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for f in forbidden.iter().filter(|f| code.contains(**f)) {
                found.push(format!("{}:{}: {f}", file.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "the pure rooms import a client:\n{}", found.join("\n"));
}

/// The balance planner, like the roll planner, depends on nothing of the operator but its own
/// types: no `crate::` path outside `crate::balance`, and no kube or Kafka crate at all.
#[test]
fn item3_balance_imports_nothing_of_the_operator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/balance");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 5, "found the planner's sources: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let foreign = code.match_indices("crate::").any(|(i, _)| !code[i..].starts_with("crate::balance"));
            if foreign || ["kube", "k8s_openapi", "gregor_kafka", "tokio"].iter().any(|c| code.contains(&format!("{c}::"))) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "src/balance imports the operator:\n{}", found.join("\n"));
}
