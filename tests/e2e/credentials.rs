//! The operator's own credential end to end (issue #12 items 4, 5 and 9): it never reaches a
//! command line, it outlives a KafkaCluster whose volumes are kept, and turning authentication on
//! or off on a running cluster is refused instead of wedging it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic};
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::json;

const SCRAM_PORT: i32 = 9094;
const READY: Duration = Duration::from_secs(300);

/// The command lines of every process whose environment says it belongs to a pod of `ns`,
/// sampled every few milliseconds until `stop`.
fn sample_cmdlines(ns: &str, stop: Arc<AtomicBool>, seen: Arc<Mutex<BTreeSet<String>>>) -> std::thread::JoinHandle<()> {
    let want = format!("POD_NAMESPACE={ns}");
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().parse::<i32>().is_err() {
                    continue;
                }
                let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
                if !env.split(|b| *b == 0).any(|v| v == want.as_bytes()) {
                    continue;
                }
                let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if !cmd.is_empty() {
                    seen.lock().expect("lock").insert(cmd);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

fn secret_text(secret: &Secret, key: &str) -> String {
    String::from_utf8_lossy(&secret.data.as_ref().and_then(|d| d.get(key)).unwrap_or_else(|| panic!("key {key}")).0).into_owned()
}

async fn operator_secret(client: &Client, ns: &str, cluster: &str) -> Secret {
    Api::<Secret>::namespaced(client.clone(), ns).get(&format!("{cluster}-kafka-operator")).await.expect("operator Secret")
}

/// A client config for Kafka's console tools: the operator's super user over the replication listener.
fn super_user_config(world: &World, password: &str) -> String {
    let path = world.dir().join("super-user.properties");
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"gregor-operator\" password=\"{password}\";\n"
        ),
    )
    .expect("client config");
    path.to_string_lossy().into_owned()
}

/// `host:port` of every broker on `port`.
fn broker_bootstrap(kc: &KafkaCluster, port: i32) -> Vec<String> {
    let status = kc.status.as_ref().expect("status");
    let observed = gregor::model::Observed {
        cluster_id: status.cluster_id.clone().expect("id"),
        node_id_starts: gregor::model::Observed::node_id_starts_from_status(kc),
    };
    let model = gregor::model::validate(kc, &observed).expect("valid").model;
    model
        .broker_pools()
        .flat_map(|p| p.node_ids().map(move |id| (p, id)))
        .map(|(p, id)| format!("{}:{port}", model.pod_host(p, id)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item9_no_password_on_any_command_line() {
    let Some(_serial) = crate::support::world_test("e2e::credentials::item9_no_password_on_any_command_line").await else { return };
    const NS: &str = "e2e-cred9";
    const CLUSTER: &str = "secure";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "cred9", &["--resync-seconds", "10"]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sampler = sample_cmdlines(NS, stop.clone(), seen.clone());
    apply_cluster(&client, NS, scram_cluster(NS, CLUSTER, 1, "192Mi", "256Mi", SCRAM_PORT)).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, READY, &op).await;
    let admin = operator_admin(&world, &client, &kc).await;
    admin.refresh_metadata().await.expect("the operator's super user logs in");
    println!("PASS secured cluster Ready; the operator's credential logs in");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");

    let secret = operator_secret(&client, NS, CLUSTER).await;
    let password = secret_text(&secret, "password");
    let salted =
        secret.data.as_ref().and_then(|d| d.get("scram-sha-512-salted-password")).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let seen = seen.lock().expect("lock").clone();
    assert!(seen.iter().any(|c| c.contains("kafka.Kafka")), "the sampler saw the Kafka JVMs: {seen:?}");
    for cmd in &seen {
        assert!(!cmd.contains(&password), "the operator password is on a command line: {cmd}");
        assert!(!cmd.contains("password="), "`password=` is on a command line: {cmd}");
        if let Some(salted) = &salted {
            assert!(!cmd.contains(salted.as_str()), "the salted password is on a command line: {cmd}");
        }
    }
    let format_seen: Vec<&String> = seen.iter().filter(|c| c.contains("StorageTool") || c.contains("format.args")).collect();
    println!("PASS {} sampled command lines of the pods' processes, none with a credential; format step seen: {format_seen:?}", seen.len());

    // The format step is short: the rendered start script is the other half of the proof.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let scripts: Vec<String> = cms
        .list(&ListParams::default().labels(&format!("kafka.gregor.dev/cluster={CLUSTER}")))
        .await
        .expect("config maps")
        .items
        .into_iter()
        .filter_map(|cm| cm.data.and_then(|d| d.get("start.sh").cloned()))
        .collect();
    assert!(!scripts.is_empty(), "start scripts rendered");
    for script in &scripts {
        // `saltedpassword=` goes into the argfile; a clear `password=` must appear nowhere.
        assert!(!script.replace("saltedpassword=", "").contains("password="), "the start script has `password=`:\n{script}");
        assert!(script.contains("\"@$ARGS\""), "the start script formats through an @argfile:\n{script}");
    }
    println!("PASS {} start scripts format through an @argfile and hold no `password=`", scripts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item5_recreated_secured_cluster_keeps_its_data() {
    let Some(_serial) = crate::support::world_test("e2e::credentials::item5_recreated_secured_cluster_keeps_its_data").await else {
        return;
    };
    const NS: &str = "e2e-cred5";
    const CLUSTER: &str = "secure";
    const TOPIC: &str = "kept";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "cred5", &["--resync-seconds", "10"]).await;
    let mut spec = scram_cluster(NS, CLUSTER, 1, "192Mi", "256Mi", SCRAM_PORT);
    // Deleting the cluster takes its controller and broker together; a broker that lost its controller
    // waits out its grace period (default 300 s): keep that short here.
    for pool in spec["spec"]["nodePools"].as_array_mut().into_iter().flatten() {
        pool["template"] = json!({"terminationGracePeriodSeconds": 30});
    }
    apply_cluster(&client, NS, spec.clone()).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, READY, &op).await;
    let cluster_id = kc.status.as_ref().and_then(|s| s.cluster_id.clone()).expect("cluster id");
    let topic = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": TOPIC, "namespace": NS},
        "spec": {"cluster": CLUSTER, "partitions": 1}});
    apply_json::<KafkaTopic>(&client, NS, topic).await.expect("topic");
    wait_topic(&client, NS, TOPIC, true, None, Duration::from_secs(90), &op).await;

    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let password = secret_text(&operator_secret(&client, NS, CLUSTER).await, "password");
    let config = super_user_config(&world, &password);
    let bootstrap = broker_bootstrap(&kc, 9091).join(",");
    tool.run_ok(
        "org.apache.kafka.tools.ConsoleProducer",
        &["--bootstrap-server", &bootstrap, "--topic", TOPIC, "--command-config", &config],
        Some(b"one\ntwo\nthree\n"),
        Duration::from_secs(90),
    )
    .await
    .expect("console producer");
    println!("PASS produced 3 records to {TOPIC} on cluster {cluster_id}");

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    clusters.delete(CLUSTER, &DeleteParams::default()).await.expect("delete cluster");
    wait_for("the cluster and its pods gone", Duration::from_secs(240), || async {
        // A transient API error (a loaded machine) is just "not yet".
        let gone = clusters.get_opt(CLUSTER).await.ok()?.is_none();
        let pods: Vec<String> = cluster_pods(&client, NS, CLUSTER).await.into_iter().filter_map(|p| p.metadata.name).collect();
        println!("waiting: cluster gone {gone}, pods {pods:?}");
        (gone && pods.is_empty()).then_some(())
    })
    .await;
    println!("PASS KafkaCluster deleted, pods gone");

    apply_cluster(&client, NS, spec).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, READY, &op).await;
    let again = kc.status.as_ref().and_then(|s| s.cluster_id.clone()).expect("cluster id");
    assert_eq!(again, cluster_id, "the recreated cluster runs on the same data");
    let admin = operator_admin(&world, &client, &kc).await;
    admin.refresh_metadata().await.expect("the operator logs in to the recreated cluster");
    let password = secret_text(&operator_secret(&client, NS, CLUSTER).await, "password");
    let config = super_user_config(&world, &password);
    let out = tool
        .run_ok(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                TOPIC,
                "--from-beginning",
                "--max-messages",
                "3",
                "--timeout-ms",
                "60000",
                "--command-config",
                &config,
            ],
            None,
            Duration::from_secs(120),
        )
        .await
        .expect("console consumer");
    let records: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(records, ["one", "two", "three"], "the records survived the recreation; stderr:\n{}", out.stderr);
    println!("PASS recreated cluster Ready on cluster id {again}; console consumer read {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item4_security_change_is_refused() {
    let Some(_serial) = crate::support::world_test("e2e::credentials::item4_security_change_is_refused").await else { return };
    const NS: &str = "e2e-cred4";
    const CLUSTER: &str = "flip";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "cred4", &["--resync-seconds", "10"]).await;
    let secured = scram_cluster(NS, CLUSTER, 1, "192Mi", "256Mi", SCRAM_PORT);
    let mut plain = secured.clone();
    plain["spec"]["listeners"] = json!([{"name": "plain", "port": 9092, "type": "internal", "tls": false}]);
    if let Some(spec) = plain["spec"].as_object_mut() {
        spec.remove("authorization");
    }
    apply_cluster(&client, NS, plain.clone()).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, READY, &op).await;
    let uids =
        |pods: Vec<k8s_openapi::api::core::v1::Pod>| -> BTreeSet<String> { pods.into_iter().filter_map(|p| p.metadata.uid).collect() };
    let before = uids(cluster_pods(&client, NS, CLUSTER).await);
    println!("PASS plain cluster Ready, pods {before:?}");

    let applied = apply_cluster(&client, NS, secured).await;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let refused = wait_for("SecurityChangeRefused", Duration::from_secs(90), || async {
        let kc = clusters.get(CLUSTER).await.expect("get");
        let s = kc.status.as_ref()?;
        (s.observed_generation >= applied.metadata.generation).then_some(())?;
        let ready = ready_of(&s.conditions)?;
        (ready.0 == "False" && ready.1 == "SecurityChangeRefused").then_some(ready)
    })
    .await;
    println!("PASS refused: {refused:?}");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(uids(cluster_pods(&client, NS, CLUSTER).await), before, "no pod was rolled");
    let config = gregor::kafka::ClientConfig::new(broker_bootstrap(&kc, 9092))
        .with_resolver(gregor::kafka::ResolverConfig { hosts_file: Some(world.hosts_file().to_path_buf()), loopback_only: true });
    let plain_client = gregor::kafka::Client::new(config).expect("plaintext client");
    plain_client.refresh_metadata().await.expect("plaintext clients still served");
    println!("PASS after 20 s: pods unchanged, plaintext listener serves");

    apply_cluster(&client, NS, plain).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, READY, &op).await;
    assert_eq!(uids(cluster_pods(&client, NS, CLUSTER).await), before, "the revert rolled nothing");
    println!("PASS reverted: Ready {:?}", kc.status.as_ref().and_then(|s| ready_of(&s.conditions)));
}
