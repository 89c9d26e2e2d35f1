//! The generated alert rules, checked and unit-tested by Prometheus's own `promtool` (Debian's
//! `prometheus` package; `.ci/run` installs it). Without promtool the test prints one SKIPPED
//! line, and fails under `GREGOR_REQUIRE_WORLD=1` (`make test`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var("GREGOR_REQUIRE_WORLD").is_ok_and(|v| v == "1");
        assert!(!required, "promtool is not installed (apt-get install prometheus) and GREGOR_REQUIRE_WORLD=1");
        println!("SKIPPED monitoring_rules: promtool is not installed (apt-get install prometheus)");
    }
    found
}

fn run(promtool: &Path, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(promtool).args(args).current_dir(root).output().expect("running promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("promtool {}:\n{text}", args.join(" "));
    assert!(out.status.success(), "promtool {} failed:\n{text}", args.join(" "));
    text
}

#[test]
fn item4_promtool_checks_and_tests_the_alert_rules() {
    let Some(promtool) = promtool() else { return };
    let checked = run(&promtool, &["check", "rules", "deploy/monitoring/gregor-rules.yaml"]);
    let alerts = gregor::monitoring::rules::alerts();
    assert!(checked.contains(&format!("SUCCESS: {} rules found", alerts.len())), "{checked}");
    run(&promtool, &["test", "rules", "deploy/monitoring/tests/rules-test.yaml"]);
    // Every alert has a test that makes it fire.
    let tests =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring/tests/rules-test.yaml")).expect("tests");
    for a in &alerts {
        assert!(tests.contains(&format!("name: {} fires on its series", a.name)), "no promtool test fires {}", a.name);
    }
}

#[test]
fn the_rules_file_is_what_the_binary_generates() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring/gregor-rules.yaml")).expect("rules file");
    let generated = gregor::monitoring::rules::rules_file(&gregor::monitoring::rules::Options::default()).expect("rules");
    assert_eq!(committed, generated, "deploy/monitoring/gregor-rules.yaml is stale: run make generate");
}
