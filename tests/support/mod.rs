//! Shared pieces of the operator's e2e suites: CRD install, the operator as a real process,
//! and waits on resources. Each suite includes this with `mod support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gregor::api::{self, KafkaCluster};
use gregor_world::World;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;

/// Installs every CRD with server-side apply and waits until each is Established.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in api::crds() {
        let name = crd.metadata.name.clone().expect("crd name");
        crds.patch(&name, &PatchParams::apply("gregor-e2e").force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("install {name}: {e}"));
    }
    for crd in api::crds() {
        let name = crd.metadata.name.clone().expect("crd name");
        wait_for(&format!("CRD {name} established"), Duration::from_secs(30), || {
            let crds = crds.clone();
            let name = name.clone();
            async move {
                let live = crds.get(&name).await.ok()?;
                let ok = live.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
                ok.then_some(())
            }
        })
        .await;
    }
}

pub async fn create_namespace(client: &Client, name: &str) {
    let ns: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    match ns.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create namespace {name}: {e}"),
    }
}

/// Polls `check` every 500 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The operator, run as its real binary against a world. Killed when dropped.
pub struct Operator {
    child: tokio::process::Child,
    pub log: PathBuf,
}

impl Operator {
    /// Starts `gregor run` with the given kubeconfig (the admin one, or a ServiceAccount's).
    pub fn start(world: &World, kubeconfig: &Path, name: &str, extra_args: &[&str]) -> Operator {
        let log = world.dir().join(format!("operator-{name}.log"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("operator log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gregor"))
            .arg("run")
            .args(extra_args)
            .env("KUBECONFIG", kubeconfig)
            .env("GREGOR_KAFKA_HOSTS_FILE", world.hosts_file())
            .env("GREGOR_KAFKA_LOOPBACK_ONLY", "true")
            .env("RUST_LOG", "info,gregor=debug,kube=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(file.try_clone().expect("log fd")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn gregor run");
        Operator { child, log }
    }

    /// The operator's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// The log so far (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The Ready condition of a cluster: (status, reason, message).
pub fn ready(kc: &KafkaCluster) -> Option<(String, String, String)> {
    let c = kc.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the cluster reports Ready=True for its current generation.
pub async fn wait_cluster_ready(client: &Client, ns: &str, name: &str, timeout: Duration, op: &Operator) -> KafkaCluster {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        if let Ok(kc) = api.get(name).await {
            let current = kc.status.as_ref().and_then(|s| s.observed_generation) == kc.metadata.generation;
            if current && ready(&kc).is_some_and(|(s, _, _)| s == "True") {
                return kc;
            }
            if start.elapsed() > timeout {
                panic!(
                    "cluster {ns}/{name} not Ready after {timeout:?}: {:?}\noperator log:\n{}",
                    kc.status,
                    op.log_tail(60)
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The pods of a cluster.
pub async fn cluster_pods(client: &Client, ns: &str, cluster: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default().labels(&format!("kafka.gregor.dev/cluster={cluster}")))
        .await
        .expect("list pods")
        .items
}

/// Applies a KafkaCluster (server-side apply, as `kubectl apply --server-side` would).
pub async fn apply_cluster(client: &Client, ns: &str, value: serde_json::Value) -> KafkaCluster {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let name = value["metadata"]["name"].as_str().expect("name").to_owned();
    api.patch(&name, &PatchParams::apply("e2e-user").force(), &Patch::Apply(&value)).await.expect("apply KafkaCluster")
}
