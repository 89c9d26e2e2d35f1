//! Issue #12 item 17: every suite runs the operator with the chart's RBAC. `Operator::start`
//! refuses the world's admin kubeconfig at run time; this test, which needs no world, reads the
//! suites' sources so a suite that would start the operator as the admin fails here at once.

use std::path::Path;

#[test]
fn item17_every_suite_runs_the_operator_with_the_chart_rbac() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut starts = 0;
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/e2e") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") || path.ends_with("chart_rbac_everywhere.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (at, _) in text.match_indices("Operator::start") {
            starts += 1;
            // The call's arguments, up to the closing parenthesis of the call.
            let call: String = text[at..].chars().take_while(|c| *c != ';').collect();
            if call.contains("kubeconfig_path()") {
                offenders.push(format!("{}: {}", path.display(), call.lines().next().unwrap_or_default()));
            }
        }
    }
    assert!(starts >= 10, "found only {starts} operator starts: is this still the e2e directory?");
    assert!(offenders.is_empty(), "suites starting the operator as the world's admin:\n{}", offenders.join("\n"));
}
