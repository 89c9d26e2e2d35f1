//! Live run: rendered objects applied to the test world start real Kafka nodes that become Ready and
//! serve (open and secured clusters). This checks the start script, server.properties and the probes
//! against real brokers, without the operator.
use std::{path::Path, time::Duration};

use gregor::{
    api::KafkaCluster,
    model::{self, Observed, names},
    render::{self, ObjectRef},
};
use gregor_world::{World, WorldOptions, kafka::classes};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

/// Half-second ticks to wait for Ready pods.
const LIVE_WAIT_TICKS: u32 = 480;

fn apply() -> PatchParams {
    PatchParams::apply("gregor").force()
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples").join(name);
    serde_yaml::from_str(&std::fs::read_to_string(&path).expect("example")).expect("example YAML")
}

/// Small heaps and fast-start JVM flags, so several nodes fit on a test machine.
fn slim(value: &mut Value) {
    for pool in value["spec"]["nodePools"].as_array_mut().expect("pools") {
        pool["jvmOptions"] = json!({"heap": "256Mi", "extraOptions": ["-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"]});
        pool["storage"] = json!({"type": "persistentClaim", "size": "1Gi"});
        pool.as_object_mut().expect("pool").remove("resources");
    }
}

async fn apply_all(client: &Client, namespace: &str, objects: &render::ClusterObjects) {
    for object in objects.iter() {
        let name = object.name().to_owned();
        let result = match object {
            ObjectRef::ServiceAccount(o) => {
                Api::<ServiceAccount>::namespaced(client.clone(), namespace).patch(&name, &apply(), &Patch::Apply(o)).await.map(drop)
            }
            ObjectRef::Service(o) => {
                Api::<Service>::namespaced(client.clone(), namespace).patch(&name, &apply(), &Patch::Apply(o)).await.map(drop)
            }
            ObjectRef::PodDisruptionBudget(o) => {
                Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace).patch(&name, &apply(), &Patch::Apply(o)).await.map(drop)
            }
            ObjectRef::ConfigMap(o) => {
                Api::<ConfigMap>::namespaced(client.clone(), namespace).patch(&name, &apply(), &Patch::Apply(o)).await.map(drop)
            }
            ObjectRef::StatefulSet(o) => {
                Api::<StatefulSet>::namespaced(client.clone(), namespace).patch(&name, &apply(), &Patch::Apply(o)).await.map(drop)
            }
        };
        result.unwrap_or_else(|e| panic!("apply {} {name}: {e}", object.kind()));
    }
}

fn ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn wait_ready(world: &World, client: &Client, namespace: &str, cluster: &str, expected: usize) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{}={cluster}", names::labels::CLUSTER);
    for _ in 0..LIVE_WAIT_TICKS {
        let list = pods.list(&ListParams::default().labels(&selector)).await.expect("list pods");
        if list.items.iter().filter(|p| ready(p)).count() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let list = pods.list(&ListParams::default().labels(&selector)).await.expect("list pods");
    let mut report = String::new();
    for pod in &list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let log = std::fs::read_to_string(world.pod_log_path(namespace, &name, "kafka")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let statuses =
            serde_json::to_string(&pod.status.as_ref().map(|s| (&s.phase, &s.container_statuses, &s.conditions))).unwrap_or_default();
        report.push_str(&format!(
            "\n== {name} ready={} status={statuses}\n{}",
            ready(pod),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    panic!("{namespace}/{cluster}: not all {expected} pods Ready{report}");
}

async fn start_cluster(world: &World, namespace: &str, mut value: Value) -> model::ClusterModel {
    let client = world.client();
    let ns: Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})).expect("ns");
    Api::<Namespace>::all(client.clone()).patch(namespace, &apply(), &Patch::Apply(&ns)).await.expect("namespace");
    value["metadata"]["namespace"] = json!(namespace);
    slim(&mut value);
    // No uid: no owner reference (there is no KafkaCluster object for the garbage collector to find).
    let cluster: KafkaCluster = serde_json::from_value(value).expect("cluster");
    let observed = Observed { cluster_id: model::new_cluster_id(), ..Observed::default() };
    let model = model::validate(&cluster, &observed).expect("valid").model;
    if let Some(credentials) = model.operator_credentials() {
        // What the operator's Secret holds: the password and its salted SCRAM credential.
        let mut data = gregor::controller::cluster::identity::salted_keys("s3cretOperatorPassword");
        data.insert(credentials.secret_key.clone(), "s3cretOperatorPassword".to_owned());
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": credentials.secret_name, "namespace": namespace},
            "stringData": data
        }))
        .expect("secret");
        Api::<Secret>::namespaced(client.clone(), namespace)
            .patch(&credentials.secret_name, &apply(), &Patch::Apply(&secret))
            .await
            .expect("secret");
    }
    apply_all(&client, namespace, &render::render(&model).expect("renders")).await;
    let nodes = model.pools.iter().map(|p| p.replicas as usize).sum();
    wait_ready(world, &client, namespace, &model.name, nodes).await;
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_clusters_run_real_kafka() {
    let Some(_serial) = crate::support::world_test("e2e::render_live::rendered_clusters_run_real_kafka").await else { return };
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    // The world's directory is kept out of /tmp: the node agent mounts each pod's own /tmp first, which
    // hides volume sources that live under /tmp (seen with the default root /tmp/gregor-worlds).
    let root = std::env::var_os("GREGOR_WORLD_ROOT").map_or_else(|| std::path::PathBuf::from("/var/tmp/gregor-worlds"), Into::into);
    let dir = root.join(format!("render-live-{}", std::process::id()));
    let world = World::start_with(WorldOptions { dir: Some(dir), ..WorldOptions::default() }).await.expect("world starts");

    // 3 controllers + 3 brokers, plaintext: a topic created without a replication factor gets RF 3.
    let open = start_cluster(&world, "live-open", example("cluster-3c3b.yaml")).await;
    let tool = gregor_world::KafkaTool::new(&world, "4.4.0").expect("tool");
    let bootstrap = open.bootstrap_servers(&open.listeners[0]);
    let brokers = open.admin_access().bootstrap_servers.join(",");
    let _ = bootstrap;
    tool.run_ok(
        classes::TOPICS,
        &["--bootstrap-server", &brokers, "--create", "--topic", "t1", "--partitions", "3"],
        None,
        Duration::from_secs(60),
    )
    .await
    .expect("create topic");
    let describe = tool
        .run_ok(classes::TOPICS, &["--bootstrap-server", &brokers, "--describe", "--topic", "t1"], None, Duration::from_secs(60))
        .await
        .expect("describe topic");
    assert!(describe.stdout.contains("ReplicationFactor: 3"), "{}", describe.stdout);
    let quorum = tool
        .run_ok(classes::METADATA_QUORUM, &["--bootstrap-server", &brokers, "describe", "--status"], None, Duration::from_secs(60))
        .await
        .expect("quorum");
    assert!(quorum.stdout.contains("CurrentVoters"), "{}", quorum.stdout);
    println!("open cluster: {}\n{}", describe.stdout, quorum.stdout);

    // Secured: 1 controller + 2 brokers, SCRAM client listener, ACLs; the operator's user works on the
    // replication listener thanks to the SCRAM credential added at format time.
    let mut secure = example("two-broker-pools.yaml");
    secure["spec"]["nodePools"] = json!([
        {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "persistentClaim", "size": "1Gi"}},
        {"name": "brokers", "roles": ["broker"], "replicas": 2, "storage": {"type": "persistentClaim", "size": "1Gi"}}
    ]);
    let secured = start_cluster(&world, "live-secure", secure).await;
    let brokers = secured.admin_access().bootstrap_servers.join(",");
    let client_config = world.dir().join("operator-client.properties");
    std::fs::write(
        &client_config,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"gregor-operator\" password=\"s3cretOperatorPassword\";\n",
    )
    .expect("client config");
    let config_path = client_config.to_string_lossy().into_owned();
    tool.run_ok(
        classes::TOPICS,
        &["--bootstrap-server", &brokers, "--command-config", &config_path, "--create", "--topic", "s1", "--partitions", "2"],
        None,
        Duration::from_secs(60),
    )
    .await
    .expect("operator creates a topic over SCRAM");
    drop(world);
}
