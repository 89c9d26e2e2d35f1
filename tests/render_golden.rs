//! Golden tests: every example in deploy/examples renders (or round-trips) to a checked-in file.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p gregor --test render_golden`.
use std::{fs, path::Path};

use gregor::{
    api::{KafkaCluster, KafkaTopic, KafkaUser},
    model::{self, Observed},
    render,
};

/// A fixed uid so the golden files show the owner references a live cluster gets.
const UID: &str = "00000000-0000-4000-8000-000000000001";

fn render_example(text: &str) -> String {
    let kind =
        serde_yaml::from_str::<serde_yaml::Value>(text).expect("example is YAML")["kind"].as_str().expect("example has a kind").to_owned();
    match kind.as_str() {
        "KafkaCluster" => {
            let mut cluster: KafkaCluster = serde_yaml::from_str(text).expect("example is a KafkaCluster");
            cluster.metadata.uid = Some(UID.to_owned());
            let observed = Observed { cluster_id: model::placeholder_cluster_id(&cluster), ..Observed::default() };
            let validated = model::validate(&cluster, &observed).expect("example is valid");
            let mut out = String::new();
            for warning in &validated.warnings {
                out.push_str(&format!("# warning: {warning}\n"));
            }
            let objects = render::render(&validated.model).expect("example renders");
            out.push_str(&render::to_multi_doc_yaml(&objects).expect("YAML"));
            out
        }
        "KafkaTopic" => {
            let topic: KafkaTopic = serde_yaml::from_str(text).expect("example is a KafkaTopic");
            serde_yaml::to_string(&topic).expect("YAML")
        }
        "KafkaUser" => {
            let user: KafkaUser = serde_yaml::from_str(text).expect("example is a KafkaUser");
            serde_yaml::to_string(&user).expect("YAML")
        }
        other => panic!("unexpected kind {other}"),
    }
}

#[test]
fn examples_match_golden_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut examples: Vec<_> = fs::read_dir(root.join("deploy/examples"))
        .expect("deploy/examples exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "expected at least 5 examples, found {}", examples.len());
    let mut mismatches = Vec::new();
    for example in &examples {
        let rendered = render_example(&fs::read_to_string(example).expect("readable example"));
        let golden = root.join("tests/golden").join(example.file_name().expect("file name"));
        if update {
            fs::write(&golden, &rendered).expect("write golden file");
            continue;
        }
        match fs::read_to_string(&golden) {
            Ok(expected) if expected == rendered => {}
            Ok(_) => mismatches.push(format!("{} differs from {}", example.display(), golden.display())),
            Err(_) => mismatches.push(format!("{} is missing", golden.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}\nrun UPDATE_GOLDEN=1 cargo test -p gregor --test render_golden", mismatches.join("\n"));
}

#[test]
fn three_plus_three_has_the_safety_settings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rendered = render_example(&fs::read_to_string(root.join("deploy/examples/cluster-3c3b.yaml")).expect("example"));
    for needle in [
        "type: OnDelete",
        "podManagementPolicy: Parallel",
        "maxUnavailable: 0",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "start: 100",
        "publishNotReadyAddresses: true",
        "kafka.gregor.dev/revision",
        "uid: 00000000-0000-4000-8000-000000000001",
    ] {
        assert!(rendered.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn crds_directory_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for crd in gregor::api::crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        let on_disk = fs::read_to_string(root.join("crds").join(format!("{name}.yaml"))).expect("crds/ file exists");
        assert_eq!(on_disk, serde_yaml::to_string(&crd).expect("YAML"), "crds/{name}.yaml is stale: run make crds");
    }
}

fn revisions_of(metrics: Option<serde_json::Value>) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("deploy/examples/cluster-jmx-exporter.yaml")).expect("example");
    let mut value: serde_json::Value = serde_yaml::from_str(&text).expect("YAML");
    match metrics {
        Some(m) => value["spec"]["metrics"] = m,
        None => {
            value["spec"].as_object_mut().expect("spec").remove("metrics");
        }
    }
    let cluster: KafkaCluster = serde_json::from_value(value).expect("KafkaCluster");
    let observed = Observed { cluster_id: model::placeholder_cluster_id(&cluster), ..Observed::default() };
    let validated = model::validate(&cluster, &observed).expect("valid");
    render::render(&validated.model).expect("renders").pools.into_iter().map(|p| p.revision).collect()
}

#[test]
fn the_jmx_exporter_changes_the_revision_so_enabling_it_rolls() {
    let without = revisions_of(None);
    let switched_off = revisions_of(Some(serde_json::json!({"jmxExporter": {"enabled": false}})));
    let with = revisions_of(Some(serde_json::json!({"jmxExporter": {}})));
    let other_port = revisions_of(Some(serde_json::json!({"jmxExporter": {"port": 9500}})));
    assert_eq!(without, switched_off, "a switched-off exporter renders as none");
    assert_ne!(without, with);
    assert_ne!(with, other_port);
}
