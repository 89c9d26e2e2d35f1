//! The supported-version table agrees with the real Kafka jars: each release's default
//! metadata.version and its feature level, as `kafka-storage version-mapping` prints them.

use std::process::Command;

use gregor::model::version::{SUPPORTED_VERSIONS, metadata_version_level, metadata_version_name};

#[test]
fn metadata_versions_match_the_real_jars() {
    if !gregor_world::tools::world_suite_runs("kafka_versions") {
        return;
    }
    for v in SUPPORTED_VERSIONS {
        let home = gregor_world::tools::kafka_home(v.version).expect("kafka jars cached (make tools)");
        let out = Command::new("java")
            .arg("-cp")
            .arg(format!("{}/libs/*", home.display()))
            .args(["kafka.tools.StorageTool", "version-mapping"])
            .output()
            .expect("java runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("metadata.version="))
            .unwrap_or_else(|| panic!("no metadata.version line for {}: {stdout}", v.version));
        let level = metadata_version_level(v.default_metadata_version).expect("known level");
        assert_eq!(line, format!("metadata.version={level} ({})", v.default_metadata_version), "release {}", v.version);
        assert_eq!(metadata_version_name(level), Some(v.default_metadata_version));
    }
}
