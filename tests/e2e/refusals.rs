//! Issue #12: invalid or dangerous specs are refused, in the real API server (CEL) and by the
//! operator (validation), and nothing running is touched.
//! - item 1: a KafkaUser may not take over the operator's own super user, nor (without
//!   `spec.allowSuperUser`) a cluster super user; checked with Kafka's own console tools;
//! - item 3: growing the static controller quorum is refused before anything is applied;
//! - item 6: `kafka.gregor.dev/` keys in the pod template are refused at apply.

use std::time::Duration;

use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic, KafkaUser};
use gregor::model::{self, Observed};
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);
const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";

/// The API server's refusal of an apply: its message (panics if the apply went through).
fn refused<K: std::fmt::Debug>(what: &str, result: Result<K, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(e)) if e.code == 422 => e.message,
        other => panic!("{what} must be refused at apply (422 Invalid), got {other:?}"),
    }
}

/// `host:port` of every broker's listener on `port`.
fn broker_bootstrap(kc: &KafkaCluster, port: i32) -> String {
    let status = kc.status.as_ref().expect("status");
    let observed =
        Observed { cluster_id: status.cluster_id.clone().expect("id"), node_id_starts: Observed::node_id_starts_from_status(kc) };
    let model = model::validate(kc, &observed).expect("valid").model;
    model
        .broker_pools()
        .flat_map(|p| p.node_ids().map(move |id| (p, id)))
        .map(|(p, id)| format!("{}:{port}", model.pod_host(p, id)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `kafka-topics.sh --list` as `user`/`password` over SASL/SCRAM-SHA-512: (exit status, output).
async fn list_topics_as(world: &World, tool: &KafkaTool, bootstrap: &str, user: &str, password: &str) -> (i32, String) {
    let config = world.dir().join(format!("refusals-{user}-{}.properties", password.len()));
    std::fs::write(
        &config,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{password}\";\nrequest.timeout.ms=10000\ndefault.api.timeout.ms=20000\n"
        ),
    )
    .expect("client config");
    let config = config.to_string_lossy().into_owned();
    let out = tool
        .run(TOPICS, &["--bootstrap-server", bootstrap, "--command-config", &config, "--list"], None, Duration::from_secs(60))
        .await
        .expect("kafka-topics ran");
    (out.status, format!("{}\n{}", out.stdout, out.stderr))
}

/// The operator's own password, from the Secret the model names.
async fn operator_password(kc: &KafkaCluster, secrets: &Api<Secret>) -> String {
    let status = kc.status.as_ref().expect("status");
    let observed =
        Observed { cluster_id: status.cluster_id.clone().expect("id"), node_id_starts: Observed::node_id_starts_from_status(kc) };
    let model = model::validate(kc, &observed).expect("valid").model;
    let creds = model.admin_access().credentials.expect("a secured cluster has operator credentials");
    let secret = secrets.get(&creds.secret_name).await.expect("operator Secret");
    let value = secret.data.as_ref().and_then(|d| d.get(&creds.secret_key)).expect("operator password");
    String::from_utf8_lossy(&value.0).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item1_reserved_operator_user_is_refused() {
    let Some(_serial) = crate::support::world_test("e2e::refusals::item1_reserved_operator_user_is_refused").await else { return };
    const NS: &str = "e2e-refusals-users";
    const CLUSTER: &str = "guarded";
    const SCRAM_PORT: i32 = 9094;
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "refusals-users", &["--resync-seconds", "10"]).await;
    let mut cluster = scram_cluster(NS, CLUSTER, 1, "192Mi", "256Mi", SCRAM_PORT);
    cluster["spec"]["authorization"]["superUsers"] = json!(["admin"]);
    apply_cluster(&client, NS, cluster).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let bootstrap = broker_bootstrap(&kc, SCRAM_PORT);
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let users: Api<KafkaUser> = Api::namespaced(client.clone(), NS);

    // The operator's real credential logs in with Kafka's own tool: the check below is not vacuous.
    let real = operator_password(&kc, &secrets).await;
    let (status, out) = list_topics_as(&world, &tool, &bootstrap, "gregor-operator", &real).await;
    assert_eq!(status, 0, "the operator's own password must log in:\n{out}");

    // A tenant writes a password Secret and a KafkaUser named after the operator's user.
    const TENANT_PASSWORD: &str = "TenantChosenPassw0rd";
    let pw = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "takeover", "namespace": NS}, "stringData": {"password": TENANT_PASSWORD}});
    apply_json::<Secret>(&client, NS, pw).await.expect("tenant Secret");
    let auth = json!({"type": "scram-sha-512", "password": {"valueFrom": {"secretKeyRef": {"name": "takeover", "key": "password"}}}});
    let takeover = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": "gregor-operator", "namespace": NS},
        "spec": {"cluster": CLUSTER, "authentication": auth}});
    let message = refused("KafkaUser gregor-operator", apply_json::<KafkaUser>(&client, NS, takeover).await);
    assert!(message.contains("metadata.name") && message.contains("gregor-operator is reserved"), "{message}");
    println!("PASS CEL refuses KafkaUser gregor-operator: {message}");

    // Give a (wrongly accepted) user time to act, then log in with Kafka's console tool.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (status, out) = list_topics_as(&world, &tool, &bootstrap, "gregor-operator", TENANT_PASSWORD).await;
    assert_ne!(status, 0, "the tenant's password must not log in as gregor-operator:\n{out}");
    assert!(out.contains("Authentication failed") || out.contains("SaslAuthenticationException"), "{out}");
    println!("PASS the tenant's password does not log in as gregor-operator (kafka-topics exit {status})");

    // A cluster super user without the opt-in: accepted by the API server (it needs the cluster),
    // refused by the operator, and its credential is never created.
    let admin_user = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": "admin", "namespace": NS},
        "spec": {"cluster": CLUSTER, "authentication": auth}});
    apply_json::<KafkaUser>(&client, NS, admin_user).await.expect("admin KafkaUser");
    let admin = wait_user(&client, NS, "admin", false, Some("InvalidSpec"), WAIT, &op).await;
    let (_, _, why) = ready_of(&admin.status.expect("status").conditions).expect("Ready");
    assert!(why.contains("metadata.name") && why.contains("allowSuperUser"), "{why}");
    let (status, out) = list_topics_as(&world, &tool, &bootstrap, "admin", TENANT_PASSWORD).await;
    assert_ne!(status, 0, "a refused super user must get no credential:\n{out}");
    println!("PASS super user 'admin' without allowSuperUser: Ready=False InvalidSpec ({why}); no credential (kafka-topics exit {status})");
    users.delete("admin", &DeleteParams::default()).await.expect("delete admin");
    wait_for("the refused KafkaUser is deleted", WAIT, || {
        let users = users.clone();
        async move { users.get_opt("admin").await.ok()?.is_none().then_some(()) }
    })
    .await;

    // The operator still manages the cluster: its credential works and a new topic becomes Ready.
    let (status, out) = list_topics_as(&world, &tool, &bootstrap, "gregor-operator", &real).await;
    assert_eq!(status, 0, "the operator's password must still log in:\n{out}");
    let kt = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": "after-refusal", "namespace": NS},
        "spec": {"cluster": CLUSTER, "partitions": 1}});
    apply_json::<KafkaTopic>(&client, NS, kt).await.expect("topic");
    wait_topic(&client, NS, "after-refusal", true, None, WAIT, &op).await;
    println!("PASS the operator still manages the cluster: KafkaTopic after-refusal Ready");
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
}

fn small_cluster(ns: &str, name: &str, controllers: i32) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": controllers,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 1, "nodeIdStart": 100,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    })
}

/// (name, generation, replicas) of each StatefulSet of the namespace.
async fn stateful_sets(client: &kube::Client, ns: &str) -> Vec<(String, Option<i64>, Option<i32>)> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let mut out: Vec<_> = api
        .list(&Default::default())
        .await
        .expect("statefulsets")
        .items
        .into_iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), s.metadata.generation, s.spec.and_then(|s| s.replicas)))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item3_growing_the_controller_quorum_is_refused() {
    let Some(_serial) = crate::support::world_test("e2e::refusals::item3_growing_the_controller_quorum_is_refused").await else { return };
    const NS: &str = "e2e-refusals-quorum";
    const CLUSTER: &str = "quorum";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "refusals-quorum", &["--resync-seconds", "10"]).await;
    apply_cluster(&client, NS, small_cluster(NS, CLUSTER, 1)).await;
    wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let before = stateful_sets(&client, NS).await;
    assert_eq!(before.len(), 2, "{before:?}");

    // Grow the controller pool 1 → 3: refused before anything is applied.
    let grown = apply_cluster(&client, NS, small_cluster(NS, CLUSTER, 3)).await;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let kc = wait_for("Ready=False ControllerScaleRefused", Duration::from_secs(60), || {
        let clusters = clusters.clone();
        let generation = grown.metadata.generation;
        async move {
            let kc = clusters.get(CLUSTER).await.ok()?;
            let current = kc.status.as_ref()?.observed_generation == generation;
            (current && ready(&kc).is_some_and(|(s, r, _)| s == "False" && r == "ControllerScaleRefused")).then_some(kc)
        }
    })
    .await;
    let (_, _, message) = ready(&kc).expect("Ready");
    assert!(message.contains("controllers") && message.contains("from 1 to 3"), "{message}");
    println!("PASS growing the controller pool: Ready=False ControllerScaleRefused: {message}");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = stateful_sets(&client, NS).await;
    assert_eq!(after, before, "the StatefulSets must stay untouched");
    let pods = cluster_pods(&client, NS, CLUSTER).await;
    assert_eq!(pods.len(), 2, "no new controller pod: {:?}", pods.iter().map(|p| p.metadata.name.clone()).collect::<Vec<_>>());
    println!("PASS nothing applied: StatefulSets {after:?}, 2 pods");

    // The cluster keeps serving.
    let kafka = admin(&world, NS, CLUSTER, &[100]);
    let meta = kafka.refresh_metadata().await.expect("the cluster keeps serving");
    drop(meta);
    kafka.close_all();
    println!("PASS the cluster keeps serving (metadata from broker 100)");

    // Revert: Ready again, still untouched.
    apply_cluster(&client, NS, small_cluster(NS, CLUSTER, 1)).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    assert_eq!(stateful_sets(&client, NS).await, before, "revert leaves the StatefulSets as they were");
    println!("PASS revert: Ready again, StatefulSets unchanged");
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item6_gregor_pod_annotations_are_refused() {
    let Some(_serial) = crate::support::world_test("e2e::refusals::item6_gregor_pod_annotations_are_refused").await else { return };
    const NS: &str = "e2e-refusals-template";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;

    let mut with_annotation = small_cluster(NS, "rolling", 1);
    with_annotation["spec"]["nodePools"][1]["template"] = json!({"podAnnotations": {"kafka.gregor.dev/manual-roll": "true"}});
    let message = refused("podAnnotations kafka.gregor.dev/manual-roll", apply_json::<KafkaCluster>(&client, NS, with_annotation).await);
    assert!(message.contains("template.podAnnotations") && message.contains("kafka.gregor.dev/"), "{message}");
    println!("PASS CEL refuses podAnnotations kafka.gregor.dev/manual-roll: {message}");

    let mut with_label = small_cluster(NS, "labelled", 1);
    with_label["spec"]["nodePools"][0]["template"] = json!({"podLabels": {"kafka.gregor.dev/pool": "other"}});
    let message = refused("podLabels kafka.gregor.dev/pool", apply_json::<KafkaCluster>(&client, NS, with_label).await);
    assert!(message.contains("template.podLabels"), "{message}");
    println!("PASS CEL refuses podLabels kafka.gregor.dev/pool: {message}");

    // Other annotations stay allowed.
    let mut fine = small_cluster(NS, "fine", 1);
    fine["spec"]["nodePools"][1]["template"] = json!({"podAnnotations": {"example.com/team": "data"}});
    apply_json::<KafkaCluster>(&client, NS, fine).await.expect("a foreign annotation is accepted");
    println!("PASS podAnnotations example.com/team accepted");
}
