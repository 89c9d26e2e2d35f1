//! The KafkaUser controller end to end: the real operator binary, the test world's control
//! plane, and a real Kafka cluster with a SCRAM-SHA-512 listener and the StandardAuthorizer.
//! Clients are Kafka's own Java producer (VerifiableProducer, with the generated Secret's
//! `sasl.jaas.config`) and our Rust client (for logins).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic, KafkaUser};
use gregor::kafka::ops::acls::AclFilter;
use gregor::kafka::ops::quotas::QuotaMatch;
use gregor::kafka::{ClientConfig, ResolverConfig, RetryPolicy, SaslConfig};
use gregor::model::{self, Observed};
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use serde_json::json;

const NS: &str = "e2e-users";
const CLUSTER: &str = "secure";
const SCRAM_PORT: i32 = 9094;
const WAIT: Duration = Duration::from_secs(90);
const PRODUCER: &str = "org.apache.kafka.tools.VerifiableProducer";

fn user(name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut spec = spec;
    spec["cluster"] = json!(CLUSTER);
    json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn write_acls(topic: &str) -> serde_json::Value {
    json!({"acls": [{"resource": {"type": "topic", "name": topic, "patternType": "literal"}, "operations": ["Write", "Describe"]}]})
}

/// `host:port` of every broker's SCRAM client listener.
fn client_bootstrap(kc: &KafkaCluster) -> Vec<String> {
    let status = kc.status.as_ref().expect("status");
    let observed =
        Observed { cluster_id: status.cluster_id.clone().expect("id"), node_id_starts: Observed::node_id_starts_from_status(kc) };
    let model = model::validate(kc, &observed).expect("valid").model;
    model
        .broker_pools()
        .flat_map(|p| p.node_ids().map(move |id| (p, id)))
        .map(|(p, id)| format!("{}:{SCRAM_PORT}", model.pod_host(p, id)))
        .collect()
}

fn secret_text(secret: &Secret, key: &str) -> String {
    String::from_utf8_lossy(&secret.data.as_ref().and_then(|d| d.get(key)).unwrap_or_else(|| panic!("key {key}")).0).into_owned()
}

/// Whether `user`/`password` can log in (SASL SCRAM-SHA-512) and read metadata.
async fn can_log_in(world: &World, bootstrap: &[String], user: &str, password: &str) -> Result<(), String> {
    let mut config = ClientConfig::new(bootstrap.to_vec())
        .with_resolver(ResolverConfig { hosts_file: Some(world.hosts_file().to_path_buf()), loopback_only: true })
        .with_sasl(SaslConfig::ScramSha512 { username: user.into(), password: password.into() })
        .with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });
    config.connect_timeout = Duration::from_secs(5);
    let client = gregor::kafka::Client::new(config).map_err(|e| e.to_string())?;
    let result = client.refresh_metadata().await.map(drop).map_err(|e| e.to_string());
    client.close_all();
    result
}

/// Produces 3 records with Kafka's Java producer; returns its output (JSON events and errors).
async fn produce(world: &World, tool: &KafkaTool, bootstrap: &[String], jaas: &str, topic: &str) -> String {
    let config = world.dir().join(format!("producer-{}.properties", rand_suffix()));
    std::fs::write(
        &config,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={jaas}\nmax.block.ms=15000\ndelivery.timeout.ms=20000\nrequest.timeout.ms=10000\nlinger.ms=0\n"
        ),
    )
    .expect("producer config");
    let servers = bootstrap.join(",");
    let config = config.to_string_lossy().into_owned();
    let out = tool
        .run(
            PRODUCER,
            &["--bootstrap-server", &servers, "--topic", topic, "--max-messages", "3", "--acks", "-1", "--command-config", &config],
            None,
            Duration::from_secs(90),
        )
        .await
        .expect("producer ran");
    format!("{}\n{}", out.stdout, out.stderr)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn produced(output: &str) -> bool {
    output.contains("\"name\":\"producer_send_success\"") && !output.contains("producer_send_error")
}

fn denied(output: &str) -> bool {
    output.contains("TopicAuthorizationException")
}

/// Runs the producer until `check` holds for its output (ACLs reach the brokers through the
/// metadata log: allow a few seconds).
async fn produce_until(
    world: &World,
    tool: &KafkaTool,
    bootstrap: &[String],
    jaas: &str,
    topic: &str,
    what: &str,
    check: fn(&str) -> bool,
) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        last = produce(world, tool, bootstrap, jaas, topic).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("producing to {topic}: expected {what}, got:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_with_their_acls_quotas_and_rotation() {
    let Some(_serial) = crate::support::world_test("e2e::users::users_log_in_with_their_acls_quotas_and_rotation").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "users", &["--resync-seconds", "10"]).await;
    apply_cluster(&client, NS, scram_cluster(NS, CLUSTER, 2, "192Mi", "256Mi", SCRAM_PORT)).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let admin = operator_admin(&world, &client, &kc).await;
    let bootstrap = client_bootstrap(&kc);
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let users: Api<KafkaUser> = Api::namespaced(client.clone(), NS);

    // Topics through the topic controller, on the secured cluster.
    for t in ["allowed", "forbidden"] {
        let kt = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": t, "namespace": NS},
            "spec": {"cluster": CLUSTER, "partitions": 1}});
        apply_json::<KafkaTopic>(&client, NS, kt).await.expect("topic");
        wait_topic(&client, NS, t, true, None, WAIT, &op).await;
    }

    // A SCRAM user with a generated password, ACLs on "allowed" and quotas.
    let quotas = json!({"producerByteRate": 1048576, "consumerByteRate": 2097152});
    apply_json::<KafkaUser>(
        &client,
        NS,
        user("alice", json!({"authentication": {"type": "scram-sha-512"}, "authorization": write_acls("allowed"), "quotas": quotas})),
    )
    .await
    .expect("alice");
    let alice = wait_user(&client, NS, "alice", true, None, WAIT, &op).await;
    let status = alice.status.clone().expect("status");
    assert_eq!((status.username.as_deref(), status.secret.as_deref()), (Some("alice"), Some("alice")));
    let secret = secrets.get("alice").await.expect("alice's Secret");
    let password = secret_text(&secret, "password");
    let jaas = secret_text(&secret, "sasl.jaas.config");
    assert_eq!(password.len(), 32);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        jaas,
        format!("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{password}\";")
    );
    println!("PASS user Ready: status.username=alice status.secret=alice, Secret keys password (32 alphanumerics) and sasl.jaas.config");

    // A real client logs in with the Secret and produces where its ACLs allow; elsewhere it is denied.
    let out = produce_until(&world, &tool, &bootstrap, &jaas, "allowed", "acked records", produced).await;
    println!("PASS produce allowed: {}", out.lines().find(|l| l.contains("producer_send_success")).unwrap_or_default());
    let out = produce_until(&world, &tool, &bootstrap, &jaas, "forbidden", "TOPIC_AUTHORIZATION_FAILED", denied).await;
    println!("PASS produce forbidden: {}", out.lines().find(|l| l.contains("TopicAuthorizationException")).unwrap_or_default());

    // Quotas are visible through DescribeClientQuotas.
    let q = admin.describe_client_quotas(&[QuotaMatch::Exact("user".into(), "alice".into())], true).await.expect("quotas");
    let values: BTreeMap<String, f64> = q.into_iter().flat_map(|(_, v)| v).collect();
    assert_eq!(values, BTreeMap::from([("consumer_byte_rate".to_owned(), 2097152.0), ("producer_byte_rate".to_owned(), 1048576.0)]));
    println!("PASS quotas in DescribeClientQuotas: {values:?}");

    // Pause: a quota edit waits while the user is paused and lands when the pause ends.
    set_paused(&users, "alice", true).await;
    let doubled = json!({"producerByteRate": 2097152, "consumerByteRate": 2097152});
    let edited = apply_json::<KafkaUser>(
        &client,
        NS,
        user("alice", json!({"authentication": {"type": "scram-sha-512"}, "authorization": write_acls("allowed"), "quotas": doubled})),
    )
    .await
    .expect("alice paused edit");
    wait_paused(&users, "alice", edited.metadata.generation).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let producer_rate = || async {
        let q = admin.describe_client_quotas(&[QuotaMatch::Exact("user".into(), "alice".into())], true).await.expect("quotas");
        q.into_iter().flat_map(|(_, v)| v).find(|(k, _)| k == "producer_byte_rate").map(|(_, v)| v)
    };
    assert_eq!(producer_rate().await, Some(1048576.0), "a paused user was changed");
    set_paused(&users, "alice", false).await;
    wait_for("the quota edit lands after the pause", WAIT, || async { (producer_rate().await == Some(2097152.0)).then_some(()) }).await;
    let resumed = wait_user(&client, NS, "alice", true, None, WAIT, &op).await;
    assert!(
        resumed.status.expect("status").conditions.iter().all(|c| c.type_ != "ReconciliationPaused"),
        "the paused condition is cleared"
    );
    println!("PASS pause: a quota edit waits while paused and lands on resume");

    // An ACL edit: the old grant is gone, the new one works.
    apply_json::<KafkaUser>(
        &client,
        NS,
        user("alice", json!({"authentication": {"type": "scram-sha-512"}, "authorization": write_acls("forbidden"), "quotas": quotas})),
    )
    .await
    .expect("alice edit");
    wait_user(&client, NS, "alice", true, None, WAIT, &op).await;
    let acls = admin.describe_acls(&AclFilter::principal("User:alice")).await.expect("acls");
    let names: Vec<(&str, String)> = acls.iter().map(|a| (a.resource_name.as_str(), format!("{:?}", a.operation))).collect();
    assert_eq!(names, vec![("forbidden", "Write".to_owned()), ("forbidden", "Describe".to_owned())], "exactly the new ACL set");
    produce_until(&world, &tool, &bootstrap, &jaas, "allowed", "TOPIC_AUTHORIZATION_FAILED after the edit", denied).await;
    produce_until(&world, &tool, &bootstrap, &jaas, "forbidden", "acked records after the edit", produced).await;
    println!("PASS ACL edit: DescribeAcls shows only the new grant; old topic denied, new topic produces");

    // Rotation: a password taken from a Secret the user names; changing that Secret rotates it.
    let source = |pw: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bob-password", "namespace": NS}, "stringData": {"password": pw}});
    apply_json::<Secret>(&client, NS, source("FirstPassw0rd")).await.expect("bob-password");
    let bob_spec = json!({"authentication": {"type": "scram-sha-512", "password": {"valueFrom": {"secretKeyRef": {"name": "bob-password", "key": "password"}}}}});
    apply_json::<KafkaUser>(&client, NS, user("bob", bob_spec)).await.expect("bob");
    wait_user(&client, NS, "bob", true, None, WAIT, &op).await;
    wait_for("bob logs in with the first password", WAIT, || {
        let (world, bootstrap) = (&world, &bootstrap);
        async move { can_log_in(world, bootstrap, "bob", "FirstPassw0rd").await.ok() }
    })
    .await;
    assert_eq!(secret_text(&secrets.get("bob").await.expect("bob's Secret"), "password"), "FirstPassw0rd");
    apply_json::<Secret>(&client, NS, source("SecondPassw0rd")).await.expect("rotate");
    wait_for("the new password works", WAIT, || {
        let (world, bootstrap) = (&world, &bootstrap);
        async move { can_log_in(world, bootstrap, "bob", "SecondPassw0rd").await.ok() }
    })
    .await;
    let old = can_log_in(&world, &bootstrap, "bob", "FirstPassw0rd").await;
    assert!(old.is_err(), "the old password must fail after rotation");
    assert_eq!(secret_text(&secrets.get("bob").await.expect("bob's Secret"), "password"), "SecondPassw0rd");
    println!("PASS rotation: new password logs in, old one fails: {}", old.err().unwrap_or_default());

    // Deletion: credentials, ACLs, quotas and the Secret go.
    assert!(can_log_in(&world, &bootstrap, "alice", &password).await.is_ok());
    users.delete("alice", &DeleteParams::default()).await.expect("delete alice");
    wait_for("alice gone", WAIT, || {
        let users = users.clone();
        async move { users.get_opt("alice").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let login = wait_for("alice's login fails", Duration::from_secs(30), || {
        let (world, bootstrap, password) = (&world, &bootstrap, &password);
        async move { can_log_in(world, bootstrap, "alice", password).await.err() }
    })
    .await;
    let acls = admin.describe_acls(&AclFilter::principal("User:alice")).await.expect("acls");
    assert!(acls.is_empty(), "no ACL may remain: {acls:?}");
    let q = admin.describe_client_quotas(&[QuotaMatch::Exact("user".into(), "alice".into())], true).await.expect("quotas");
    assert!(q.iter().all(|(_, v)| v.is_empty()), "no quota may remain: {q:?}");
    assert!(secrets.get_opt("alice").await.expect("get").is_none(), "the Secret is deleted");
    println!("PASS deletion: login fails ({login}), no ACL, no quota, no Secret");

    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
    drop(op);
}
