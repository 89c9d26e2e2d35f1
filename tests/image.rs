//! #18 item 1: the image `make image` builds (hack/build-image.sh), read as an OCI image layout
//! with no Gregor code: its config names user 65532 and the entrypoint, its labels carry source,
//! version and revision, it agrees with the Dockerfile's final stage, and its single layer's
//! binary runs `gregor version` chrooted into that layer alone, as user 65532 (so it needs no
//! library of the host).
//!
//! `make test` builds the image first. A plain `cargo test` without `target/image/` skips, unless
//! GREGOR_REQUIRE_WORLD=1 says every suite must run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const USER: &str = "65532:65532";
const ENTRYPOINT: &str = "/usr/local/bin/gregor";

fn image_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    target.join("image")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algo, hex) = digest.split_once(':').expect("digest algo:hex");
    layout.join("blobs").join(algo).join(hex)
}

/// The image manifest of a layout whose index names one image, directly or through a nested index.
fn manifest(layout: &Path) -> Value {
    let mut doc = json(&layout.join("index.json"));
    loop {
        let manifests = doc["manifests"].as_array().expect("manifests").clone();
        assert_eq!(manifests.len(), 1, "one image in the layout: {doc}");
        let next = json(&blob(layout, manifests[0]["digest"].as_str().expect("digest")));
        if next.get("layers").is_some() {
            return next;
        }
        doc = next;
    }
}

/// The final stage of the Dockerfile: its USER, ENTRYPOINT, CMD and EXPOSE lines.
fn dockerfile_final_stage() -> (String, Vec<String>, Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text.lines().collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).expect("a FROM line");
    let (mut user, mut entrypoint, mut cmd, mut expose) = (String::new(), vec![], vec![], vec![]);
    for line in &lines[last_from..] {
        let exec_form = |rest: &str| serde_json::from_str::<Vec<String>>(rest.trim()).expect("exec form");
        if let Some(rest) = line.strip_prefix("USER ") {
            user = rest.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = exec_form(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            cmd = exec_form(rest);
        } else if let Some(rest) = line.strip_prefix("EXPOSE ") {
            expose = rest.split_whitespace().map(|p| if p.contains('/') { p.to_string() } else { format!("{p}/tcp") }).collect();
        }
    }
    (user, entrypoint, cmd, expose)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[test]
fn item1_the_image_runs_as_65532_its_one_binary_and_matches_the_dockerfile() {
    let dir = image_dir();
    let layout = dir.join("oci");
    if !layout.join("index.json").exists() {
        let required = std::env::var("GREGOR_REQUIRE_WORLD").is_ok_and(|v| v == "1");
        assert!(!required, "no image at {}: run `make image` (make test does)", layout.display());
        eprintln!("SKIPPED image test: no image at {}; run `make image`", layout.display());
        return;
    }
    let manifest = manifest(&layout);
    let config_doc = json(&blob(&layout, manifest["config"]["digest"].as_str().expect("config digest")));
    let config = &config_doc["config"];
    println!("image config: {config}");
    assert_eq!(config_doc["os"], "linux");
    assert_eq!(config_doc["architecture"], "amd64");

    // User and entrypoint, as the issue asks, and the same as the Dockerfile's final stage.
    assert_eq!(config["User"], USER);
    assert_eq!(strings(&config["Entrypoint"]), vec![ENTRYPOINT.to_string()]);
    let (user, entrypoint, cmd, expose) = dockerfile_final_stage();
    assert_eq!(config["User"].as_str(), Some(user.as_str()), "Dockerfile USER");
    assert_eq!(strings(&config["Entrypoint"]), entrypoint, "Dockerfile ENTRYPOINT");
    assert_eq!(strings(&config["Cmd"]), cmd, "Dockerfile CMD");
    let ports: Vec<String> = config["ExposedPorts"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    assert_eq!(ports, expose, "Dockerfile EXPOSE");

    // OCI labels: source, version (this crate's), revision (a commit).
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert!(labels["org.opencontainers.image.source"].as_str().is_some_and(|s| s.starts_with("https://")), "{labels}");
    let revision = labels["org.opencontainers.image.revision"].as_str().unwrap_or_default();
    assert!(revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()), "revision {revision:?}");

    // One layer, holding the binary, passwd/group and /tmp, nothing else.
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    let rootfs = tempfile::tempdir().expect("tempdir");
    let layer = blob(&layout, layers[0]["digest"].as_str().expect("layer digest"));
    let untar = Command::new("tar").arg("-xf").arg(&layer).arg("-C").arg(rootfs.path()).status().expect("tar");
    assert!(untar.success());
    let listing = Command::new("find").arg(".").current_dir(rootfs.path()).output().expect("find");
    let mut entries: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().map(str::to_string).collect();
    entries.sort();
    assert_eq!(
        entries,
        [".", "./etc", "./etc/group", "./etc/passwd", "./tmp", "./usr", "./usr/local", "./usr/local/bin", "./usr/local/bin/gregor"]
    );
    let passwd = std::fs::read_to_string(rootfs.path().join("etc/passwd")).expect("passwd");
    assert!(passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")), "{passwd}");

    // The binary alone, in that file system only, as user 65532 (chroot needs root: the world does too).
    let run =
        Command::new("chroot").arg(format!("--userspec={USER}")).arg(rootfs.path()).args([ENTRYPOINT, "version"]).output().expect("chroot");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("chroot gregor version: {stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "gregor version failed in the image's own file system");
    assert_eq!(stdout.trim(), format!("gregor {}", env!("CARGO_PKG_VERSION")));
}
