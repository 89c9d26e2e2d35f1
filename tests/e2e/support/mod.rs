//! Shared pieces of the operator's e2e suites: the world gate that serializes them, CRD install,
//! the operator as a real process, and waits on resources.

pub mod chart_rbac;
pub mod health;
pub mod pod_watch;
pub mod prometheus;
pub mod stall_proxy;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gregor::api::{self, KafkaCluster};
use gregor_world::World;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

/// One world test of this binary at a time: a world is a control plane plus real Kafka JVMs,
/// and two at once on a small machine time out. libtest runs tests in parallel threads, each
/// test with its own runtime; this lock is process-wide and runtime-agnostic.
static WORLD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The start of every world test: `None` (after one printed line) when the world cannot start
/// here and the test is skipped, a panic under `GREGOR_REQUIRE_WORLD=1` (`make test`), else the
/// guard that keeps other world tests of this binary waiting. Bind it before the world, so that
/// the world is torn down before the next test starts its own.
pub async fn world_test(suite: &str) -> Option<WorldTestGuard> {
    if !gregor_world::tools::world_suite_runs(suite) {
        return None;
    }
    let lock = WORLD_LOCK.lock().await;
    Some(WorldTestGuard { _lock: lock, suite: suite.to_owned(), start: Instant::now() })
}

/// Holds the world lock for one test; when dropped, prints how long the test held it (to the
/// real stderr, past the test harness's capture), so a CI log shows where the suite's time goes.
pub struct WorldTestGuard {
    _lock: tokio::sync::MutexGuard<'static, ()>,
    suite: String,
    start: Instant,
}

impl Drop for WorldTestGuard {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "[e2e] {} held the world for {:.0} s", self.suite, self.start.elapsed().as_secs_f64());
    }
}

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

/// Sets (`true`) or lifts (`false`) `kafka.gregor.dev/pause-reconciliation` on a resource.
pub async fn set_paused<K>(api: &Api<K>, name: &str, paused: bool)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({"metadata": {"annotations": {"kafka.gregor.dev/pause-reconciliation": paused.to_string()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap_or_else(|e| panic!("pause {name}: {e}"));
}

/// Waits until a resource's `ReconciliationPaused` condition is True for `generation` (or any
/// generation, with `None`).
pub async fn wait_paused<K>(api: &Api<K>, name: &str, generation: Option<i64>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(&format!("{name}: ReconciliationPaused=True"), Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let obj = serde_json::to_value(api.get(name).await.ok()?).ok()?;
            let conditions = obj["status"]["conditions"].as_array()?.clone();
            let paused = conditions.iter().find(|c| c["type"] == "ReconciliationPaused")?;
            let current = generation.is_none_or(|g| paused["observedGeneration"].as_i64() == Some(g));
            (paused["status"] == "True" && current).then_some(())
        }
    })
    .await;
}

/// The chart's MutatingAdmissionPolicy and its binding (default values: every namespace), as
/// `deploy/gregor.yaml` renders them.
pub fn finalizer_policy_objects() -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gregor.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| serde::Deserialize::deserialize(doc).ok())
        .filter(|v: &serde_json::Value| {
            let kind = v["kind"].as_str().unwrap_or_default();
            kind == "MutatingAdmissionPolicy" || kind == "MutatingAdmissionPolicyBinding"
        })
        .collect()
}

/// Installs the chart's finalizer policy and waits until the API server applies it: a dry-run
/// create of a KafkaTopic in `ns` comes back with Gregor's finalizer.
pub async fn install_finalizer_policy(client: &Client, ns: &str) {
    use kube::api::DynamicObject;
    use kube::discovery::ApiResource;
    let objects = finalizer_policy_objects();
    assert_eq!(objects.len(), 2, "deploy/gregor.yaml should hold the policy and its binding");
    for obj in objects {
        let kind = obj["kind"].as_str().expect("kind").to_owned();
        let name = obj["metadata"]["name"].as_str().expect("name").to_owned();
        let gvk = kube::api::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk));
        api.patch(&name, &PatchParams::apply("gregor-e2e").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("install {kind} {name}: {e}"));
    }
    let topics: Api<api::KafkaTopic> = Api::namespaced(client.clone(), ns);
    let probe: api::KafkaTopic = serde_json::from_value(serde_json::json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": {"name": "finalizer-policy-probe", "namespace": ns},
        "spec": {"cluster": "none", "partitions": 1}
    }))
    .expect("probe topic");
    wait_for("the finalizer policy in effect", Duration::from_secs(30), || {
        let topics = topics.clone();
        let probe = probe.clone();
        async move {
            let created = topics.create(&PostParams { dry_run: true, ..PostParams::default() }, &probe).await.ok()?;
            gregor::controller::topic::lifecycle::has_finalizer(&created.metadata).then_some(())
        }
    })
    .await;
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
    /// Starts `gregor run` with the given kubeconfig: a ServiceAccount's (the chart's, see
    /// [`Operator::start_with_chart_rbac`]), never the admin one.
    pub fn start(world: &World, kubeconfig: &Path, name: &str, extra_args: &[&str]) -> Operator {
        assert_ne!(
            kubeconfig,
            world.kubeconfig_path(),
            "the operator runs with the chart's RBAC (a ServiceAccount token), never as the world's admin (issue #12 item 17)"
        );
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

    /// Starts `gregor run` as the chart's ServiceAccount, with exactly the chart's RBAC and write
    /// guard (installed first from `deploy/gregor.yaml`): how every suite runs the operator, so
    /// a suite that needs more than the chart grants shows the chart is wrong.
    pub async fn start_with_chart_rbac(world: &World, name: &str, extra_args: &[&str]) -> Operator {
        let kubeconfig = chart_rbac::install(world).await;
        Operator::start(world, &kubeconfig, name, extra_args)
    }

    /// Whether the process has ended.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
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

/// Whatever runs the operator and can show the end of its log, for failure messages: a local
/// [`Operator`] process, or the chart's pods in the world ([`InClusterOperator`]).
pub trait LogTail {
    fn log_tail(&self, lines: usize) -> String;
}

impl LogTail for Operator {
    fn log_tail(&self, lines: usize) -> String {
        Operator::log_tail(self, lines)
    }
}

/// The operator as the chart's Deployment runs it in the world: the logs of its pods, which the
/// node agent writes where `kubectl logs` would read them.
pub struct InClusterOperator {
    pub logs: Vec<PathBuf>,
}

impl LogTail for InClusterOperator {
    fn log_tail(&self, lines: usize) -> String {
        self.logs
            .iter()
            .map(|log| {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                format!("--- {}\n{}", log.display(), all[all.len().saturating_sub(lines)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The Ready condition of a cluster: (status, reason, message).
pub fn ready(kc: &KafkaCluster) -> Option<(String, String, String)> {
    let c = kc.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the cluster reports Ready=True for its current generation.
pub async fn wait_cluster_ready(client: &Client, ns: &str, name: &str, timeout: Duration, op: &dyn LogTail) -> KafkaCluster {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        if let Ok(kc) = api.get(name).await {
            let current = kc.status.as_ref().and_then(|s| s.observed_generation) == kc.metadata.generation;
            if current && ready(&kc).is_some_and(|(s, _, _)| s == "True") {
                return kc;
            }
            if start.elapsed() > timeout {
                panic!("cluster {ns}/{name} not Ready after {timeout:?}: {:?}\noperator log:\n{}", kc.status, op.log_tail(60));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The pods of a cluster.
pub async fn cluster_pods(client: &Client, ns: &str, cluster: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default().labels(&format!("kafka.gregor.dev/cluster={cluster}"))).await.expect("list pods").items
}

/// Applies a KafkaCluster (server-side apply, as `kubectl apply --server-side` would).
pub async fn apply_cluster(client: &Client, ns: &str, value: serde_json::Value) -> KafkaCluster {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let name = value["metadata"]["name"].as_str().expect("name").to_owned();
    api.patch(&name, &PatchParams::apply("e2e-user").force(), &Patch::Apply(&value)).await.expect("apply KafkaCluster")
}

/// A Kafka admin client for a cluster's plain listener (port 9092) on its broker pods.
pub fn admin(world: &World, ns: &str, cluster: &str, broker_ids: &[i32]) -> gregor::kafka::Client {
    let bootstrap: Vec<String> =
        broker_ids.iter().map(|id| format!("{cluster}-brokers-{id}.{cluster}-kafka-brokers.{ns}.svc:9092")).collect();
    let config = gregor::kafka::ClientConfig::new(bootstrap)
        .with_resolver(gregor::kafka::ResolverConfig { hosts_file: Some(world.hosts_file().to_path_buf()), loopback_only: true });
    gregor::kafka::Client::new(config).expect("admin client")
}

/// Process ids of a pod's processes on this host (the world runs pods as host processes):
/// those whose environment has its POD_NAME and POD_NAMESPACE.
pub fn pod_pids(ns: &str, pod: &str) -> Vec<i32> {
    let want_name = format!("POD_NAME={pod}");
    let want_ns = format!("POD_NAMESPACE={ns}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        let has = |w: &str| vars.contains(&w.as_bytes());
        if has(&want_name) && has(&want_ns) {
            pids.push(pid);
        }
    }
    pids
}

/// Sends a signal (e.g. "STOP", "CONT") to every process of a pod; returns how many were hit.
pub fn signal_pod(ns: &str, pod: &str, signal: &str) -> usize {
    let pids = pod_pids(ns, pod);
    for pid in &pids {
        let _ = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    }
    pids.len()
}

/// Our admin client against a cluster's brokers (their replication listener, as the operator
/// reaches them), resolving through the world's hosts file. On a secured cluster it logs in as
/// the operator's super user, with the password from the operator's Secret.
pub async fn operator_admin(world: &World, client: &Client, kc: &KafkaCluster) -> gregor::kafka::Client {
    use gregor::kafka::{ClientConfig, ResolverConfig, SaslConfig};
    let cluster_id = kc.status.as_ref().and_then(|s| s.cluster_id.clone()).expect("cluster id");
    let observed = gregor::model::Observed { cluster_id, node_id_starts: gregor::model::Observed::node_id_starts_from_status(kc) };
    let model = gregor::model::validate(kc, &observed).expect("valid cluster").model;
    let access = model.admin_access();
    let mut config = ClientConfig::new(access.bootstrap_servers.clone())
        .with_resolver(ResolverConfig { hosts_file: Some(world.hosts_file().to_path_buf()), loopback_only: true });
    if let Some(creds) = access.credentials {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &model.namespace);
        let secret = secrets.get(&creds.secret_name).await.expect("operator secret");
        let password = secret.data.as_ref().and_then(|d| d.get(&creds.secret_key)).expect("operator password");
        config = config.with_sasl(SaslConfig::ScramSha512 {
            username: creds.username.clone(),
            password: String::from_utf8_lossy(&password.0).into_owned(),
        });
    }
    gregor::kafka::Client::new(config).expect("admin client")
}

/// The Ready condition of any Gregor resource's status conditions: (status, reason, message).
pub fn ready_of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Option<(String, String, String)> {
    let c = conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Applies any namespaced resource given as JSON (server-side apply, field manager `e2e-user`).
pub async fn apply_json<K>(client: &Client, ns: &str, value: serde_json::Value) -> Result<K, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = value["metadata"]["name"].as_str().expect("name").to_owned();
    // Right after the CRDs are created the API server may answer 503 for a few seconds (still
    // loading them), as `kubectl apply` users see too: retry that, and only that.
    let mut tries = 0;
    loop {
        match api.patch(&name, &PatchParams::apply("e2e-user").force(), &Patch::Apply(&value)).await {
            Err(kube::Error::Api(e)) if e.code == 503 && tries < 15 => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// The status a Gregor resource carries, as the e2e waits read it.
pub trait GregorStatus {
    fn observed_generation(&self) -> Option<i64>;
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];
}

impl GregorStatus for gregor::api::topic::KafkaTopicStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

impl GregorStatus for gregor::api::user::KafkaUserStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

/// Waits until a resource's status reflects its current generation with Ready=`want` (and, when
/// given, this reason); panics with the operator's log after `timeout`.
pub async fn wait_ready<K, S>(
    client: &Client,
    ns: &str,
    name: &str,
    (want, reason): (bool, Option<&str>),
    timeout: Duration,
    op: &dyn LogTail,
    status: fn(&K) -> Option<&S>,
) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: GregorStatus + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    let want_status = if want { "True" } else { "False" };
    loop {
        let obj = api.get(name).await.ok();
        if let Some(obj) = &obj {
            let current = status(obj).and_then(|s| s.observed_generation()) == obj.meta().generation;
            let cond = status(obj).and_then(|s| ready_of(s.conditions()));
            if current && cond.as_ref().is_some_and(|(s, r, _)| s == want_status && reason.is_none_or(|want| want == r)) {
                return obj.clone();
            }
        }
        if start.elapsed() > timeout {
            panic!(
                "{} {ns}/{name} not Ready={want_status} {reason:?} after {timeout:?}: {:?}\nmetadata: {:?}\noperator log:\n{}",
                K::kind(&()),
                obj.as_ref().and_then(status),
                obj.as_ref().map(|o| o.meta()),
                op.log_tail(80)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// [`wait_ready`] for a KafkaTopic.
pub async fn wait_topic(
    client: &Client,
    ns: &str,
    name: &str,
    want: bool,
    reason: Option<&str>,
    timeout: Duration,
    op: &dyn LogTail,
) -> gregor::api::KafkaTopic {
    wait_ready(client, ns, name, (want, reason), timeout, op, |t: &gregor::api::KafkaTopic| t.status.as_ref()).await
}

/// [`wait_ready`] for a KafkaUser.
pub async fn wait_user(
    client: &Client,
    ns: &str,
    name: &str,
    want: bool,
    reason: Option<&str>,
    timeout: Duration,
    op: &dyn LogTail,
) -> gregor::api::KafkaUser {
    wait_ready(client, ns, name, (want, reason), timeout, op, |u: &gregor::api::KafkaUser| u.status.as_ref()).await
}

/// A 3-controller + 3-broker cluster (brokers 100-102) with small heaps, as JSON for apply.
pub fn split_cluster(ns: &str, name: &str, version: &str, config: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": version,
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 3,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 3, "nodeIdStart": 100,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}],
            "config": config
        }
    })
}

/// The six pod names of `split_cluster`.
pub fn split_pod_names(name: &str) -> Vec<String> {
    let mut names: Vec<String> = (0..3).map(|i| format!("{name}-controllers-{i}")).collect();
    names.extend([100, 101, 102].iter().map(|i| format!("{name}-brokers-{i}")));
    names
}

/// The plain-listener bootstrap list of `split_cluster`'s brokers.
pub fn split_bootstrap(ns: &str, name: &str) -> String {
    [100, 101, 102].iter().map(|b| format!("{name}-brokers-{b}.{name}-kafka-brokers.{ns}.svc:9092")).collect::<Vec<_>>().join(",")
}

/// Creates a topic with RF 3 and min ISR 2.
pub async fn create_rf3_topic(admin: &gregor::kafka::Client, topic: &str, partitions: i32) {
    let mut t = gregor::kafka::ops::topics::NewTopic::new(topic, partitions, 3);
    t.configs.insert("min.insync.replicas".into(), "2".into());
    for (t, r) in admin.create_topics(&[t], false).await.expect("create topic") {
        r.unwrap_or_else(|e| panic!("create {}: {e}", t.name));
    }
}

/// A secured cluster as JSON for apply: 1 controller and `brokers` brokers (ids from 0) with the
/// given heaps, one SCRAM-SHA-512 listener `scram` on `scram_port`, and the simple authorizer.
pub fn scram_cluster(ns: &str, name: &str, brokers: i32, controller_heap: &str, broker_heap: &str, scram_port: i32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": controller_heap}},
                {"name": "brokers", "roles": ["broker"], "replicas": brokers,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": broker_heap}}
            ],
            "listeners": [{"name": "scram", "port": scram_port, "type": "internal", "tls": false, "authentication": {"type": "scram-sha-512"}}],
            "authorization": {"type": "simple"}
        }
    })
}

/// A free loopback port (for the operator's `--metrics-addr`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The operator's /metrics, parsed (`name value` lines).
pub async fn metrics(port: u16) -> Option<std::collections::HashMap<String, u64>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").await.ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    Some(
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
            .collect(),
    )
}

/// A world with the CRDs, namespace `ns`, and the operator (chart RBAC) started as `name` with
/// `args`.
pub async fn world_with_operator(ns: &str, name: &str, args: &[&str]) -> (World, Client, Operator) {
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, ns).await;
    let op = Operator::start_with_chart_rbac(&world, name, args).await;
    (world, client, op)
}
