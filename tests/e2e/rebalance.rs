//! Issue #17, the KafkaRebalance resource, with the real operator binary, the test world's
//! control plane and real brokers. Kafka's own tools are the judges: TopicCommand for replicas and
//! leaders, ConfigCommand for the throttles, VerifiableProducer and the console consumer for the
//! traffic.
//!
//! - bad input: a throttle of 0 is refused at apply (CEL); removing a broker that does not exist,
//!   or so many that the replication factor cannot be met, is Ready=False Stalled=True naming
//!   `spec.brokers`, with nothing moved;
//! - a full rebalance of 12 partitions (RF 2) all on brokers 100 and 101 of 3: the proposal waits
//!   for approval with nothing moved; approved, it runs in throttled batches under acks=all
//!   idempotent traffic; a second KafkaRebalance meanwhile is refused; at the end replica and
//!   leader counts are within ±1, no throttle is left, no send failed and no record is lost;
//! - a stop after the first batch lets it finish, starts no other, and removes the throttles;
//! - remove-brokers [102] empties broker 102, and every acknowledged record is still there;
//! - remove-brokers of one of three brokers is refused once __consumer_offsets has RF 3.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::traffic::{Producer, consume_all};
use crate::support::*;
use gregor::api::KafkaRebalance;
use gregor::api::rebalance::{KafkaRebalanceStatus, RebalancePhase};
use gregor_world::{KafkaTool, World};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const NS: &str = "e2e-rebalance";
const CLUSTER: &str = "bal";
const VERSION: &str = "4.4.0";
const WAIT: Duration = Duration::from_secs(240);
const TOPIC: &str = "skewed";
const CONFIG_COMMAND: &str = "org.apache.kafka.tools.ConfigCommand";

impl GregorStatus for KafkaRebalanceStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

fn cluster() -> serde_json::Value {
    scaled(CLUSTER, 3, json!(null))
}

/// One controller and `brokers` brokers (ids from 100), with `rebalance` as spec.rebalance.
fn scaled(name: &str, brokers: i32, rebalance: serde_json::Value) -> serde_json::Value {
    let mut value = json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "version": VERSION,
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": brokers, "nodeIdStart": 100,
                 "storage": {"type": "persistentClaim", "size": "2Gi"}, "jvmOptions": {"heap": "256Mi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    });
    if !rebalance.is_null() {
        value["spec"]["rebalance"] = rebalance;
    }
    value
}

fn bootstrap() -> String {
    bootstrap_of(CLUSTER)
}

/// Brokers 100..102 of cluster `name` (the ones every stage of a test has).
fn bootstrap_of(name: &str) -> String {
    (100..103).map(|id| format!("{name}-brokers-{id}.{name}-kafka-brokers.{NS}.svc:9092")).collect::<Vec<_>>().join(",")
}

fn rebalance(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaRebalance", "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

/// One partition as TopicCommand describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Described {
    topic: String,
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
}

/// Every partition of every topic, by Kafka's TopicCommand.
async fn describe_all(tool: &KafkaTool) -> Vec<Described> {
    describe_in(tool, &bootstrap()).await
}

async fn describe_in(tool: &KafkaTool, bootstrap: &str) -> Vec<Described> {
    let out = tool
        .run_ok(gregor_world::kafka::classes::TOPICS, &["--bootstrap-server", bootstrap, "--describe"], None, Duration::from_secs(90))
        .await
        .expect("kafka-topics --describe");
    let mut parts = Vec::new();
    for line in out.stdout.lines().filter(|l| l.contains("Partition:")) {
        let field = |name: &str| line.split(name).nth(1).map(|r| r.split_whitespace().next().unwrap_or("").to_owned()).unwrap_or_default();
        let ids = |s: String| s.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().expect("broker id")).collect::<Vec<i32>>();
        parts.push(Described {
            topic: field("Topic:"),
            partition: field("Partition:").parse().expect("partition"),
            leader: field("Leader:").parse().unwrap_or(-1),
            replicas: ids(field("Replicas:")),
        });
    }
    parts
}

/// (replicas, leaders) per broker of 100..103.
fn counts(parts: &[Described]) -> BTreeMap<i32, (usize, usize)> {
    counts_over(parts, 100..103)
}

fn counts_over(parts: &[Described], brokers: std::ops::Range<i32>) -> BTreeMap<i32, (usize, usize)> {
    let mut out: BTreeMap<i32, (usize, usize)> = brokers.map(|b| (b, (0, 0))).collect();
    for p in parts {
        for r in &p.replicas {
            out.entry(*r).or_default().0 += 1;
        }
        out.entry(p.leader).or_default().1 += 1;
    }
    out
}

/// The throttle keys ConfigCommand shows on a broker or a topic.
async fn throttles(tool: &KafkaTool, entity_type: &str, name: &str) -> Vec<String> {
    throttles_in(tool, &bootstrap(), entity_type, name).await
}

async fn throttles_in(tool: &KafkaTool, bootstrap: &str, entity_type: &str, name: &str) -> Vec<String> {
    let out = tool
        .run_ok(
            CONFIG_COMMAND,
            &["--bootstrap-server", bootstrap, "--describe", "--entity-type", entity_type, "--entity-name", name],
            None,
            Duration::from_secs(90),
        )
        .await
        .expect("kafka-configs --describe");
    let mut keys: Vec<String> = out
        .stdout
        .split(|c: char| !(c.is_ascii_lowercase() || c == '.'))
        .filter(|w| w.contains("replication.throttled"))
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

async fn status_of(api: &Api<KafkaRebalance>, name: &str) -> Option<KafkaRebalanceStatus> {
    api.get(name).await.ok()?.status
}

async fn wait_phase(api: &Api<KafkaRebalance>, name: &str, phase: RebalancePhase, op: &Operator) -> KafkaRebalanceStatus {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = status_of(api, name).await;
        if status.as_ref().and_then(|s| s.phase) == Some(phase) {
            return status.unwrap_or_default();
        }
        if std::time::Instant::now() > deadline {
            panic!("KafkaRebalance {name} not {phase:?} after {WAIT:?}: {status:?}\noperator log:\n{}", op.log_tail(80));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn spread_of(per_broker: &BTreeMap<i32, (usize, usize)>, pick: fn(&(usize, usize)) -> usize) -> usize {
    let v: Vec<usize> = per_broker.values().map(pick).collect();
    v.iter().max().copied().unwrap_or(0) - v.iter().min().copied().unwrap_or(0)
}

fn stalled_message(status: &KafkaRebalanceStatus) -> String {
    let stalled = status.conditions.iter().find(|c| c.type_ == "Stalled").expect("Stalled condition");
    assert_eq!(stalled.status, "True", "{status:?}");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready condition");
    assert_eq!(ready.status, "False", "{status:?}");
    ready.message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposal_approval_throttled_batches_under_traffic_and_bad_input() {
    let Some(_serial) = crate::support::world_test("e2e::rebalance::proposal_approval_throttled_batches_under_traffic_and_bad_input").await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "rebalance", &[]).await;
    apply_cluster(&client, NS, cluster()).await;
    wait_cluster_ready(&client, NS, CLUSTER, WAIT, &op).await;
    let tool = KafkaTool::new(&world, VERSION).expect("kafka tool");
    let api: Api<KafkaRebalance> = Api::namespaced(client.clone(), NS);

    // Skew: 12 partitions with RF 2, all on brokers 100 and 101 (Kafka's TopicCommand).
    let assignment = (0..12).map(|p| if p % 2 == 0 { "100:101" } else { "101:100" }).collect::<Vec<_>>().join(",");
    tool.run_ok(
        gregor_world::kafka::classes::TOPICS,
        &[
            "--bootstrap-server",
            &bootstrap(),
            "--create",
            "--topic",
            TOPIC,
            "--replica-assignment",
            &assignment,
            "--config",
            "min.insync.replicas=1",
        ],
        None,
        Duration::from_secs(90),
    )
    .await
    .expect("create the skewed topic");
    // About 24 MB of data, so that the moves take long enough at the throttle to be seen.
    tool.run_ok(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            TOPIC,
            "--num-records",
            "24000",
            "--record-size",
            "1000",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={}", bootstrap()),
            "acks=1",
        ],
        None,
        Duration::from_secs(180),
    )
    .await
    .expect("preload");
    let before = describe_all(&tool).await;
    assert!(before.iter().filter(|p| p.topic == TOPIC).all(|p| !p.replicas.contains(&102)), "{before:?}");

    // Bad input, each with nothing moved.
    let zero = apply_json::<KafkaRebalance>(&client, NS, rebalance("zero", json!({"cluster": CLUSTER, "throttleBytesPerSecond": 0}))).await;
    let refused = zero.expect_err("a throttle of 0 is refused at apply").to_string();
    assert!(refused.contains("throttleBytesPerSecond"), "{refused}");
    println!("PASS throttle 0 refused at apply: {refused}");
    apply_json::<KafkaRebalance>(&client, NS, rebalance("unknown", json!({"cluster": CLUSTER, "mode": "remove-brokers", "brokers": [7]})))
        .await
        .expect("apply");
    let unknown = stalled_message(&wait_phase(&api, "unknown", RebalancePhase::Invalid, &op).await);
    assert!(unknown.contains("spec.brokers") && unknown.contains('7'), "{unknown}");
    apply_json::<KafkaRebalance>(
        &client,
        NS,
        rebalance("too-many", json!({"cluster": CLUSTER, "mode": "remove-brokers", "brokers": [100, 101]})),
    )
    .await
    .expect("apply");
    let too_many = stalled_message(&wait_phase(&api, "too-many", RebalancePhase::Invalid, &op).await);
    assert!(too_many.contains("spec.brokers") && too_many.contains("replication factor 2"), "{too_many}");
    for name in ["unknown", "too-many"] {
        api.delete(name, &Default::default()).await.expect("delete");
    }
    assert_eq!(describe_all(&tool).await, before, "bad input moved nothing");
    println!("PASS bad input: {unknown:?}; {too_many:?}; nothing moved");

    // A full rebalance: the proposal waits for approval, with nothing moved.
    apply_json::<KafkaRebalance>(&client, NS, rebalance("full", json!({"cluster": CLUSTER, "throttleBytesPerSecond": 1_000_000})))
        .await
        .expect("apply");
    let proposed = wait_phase(&api, "full", RebalancePhase::ProposalReady, &op).await;
    let proposal = proposed.proposal.clone().expect("proposal");
    assert!(proposal.moves > 0 && proposal.replicas_moved >= proposal.replicas_moved_lower_bound, "{proposal:?}");
    assert!(proposal.bytes_to_move > 10_000_000, "{proposal:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(describe_all(&tool).await, before, "an unapproved proposal moves nothing");
    println!(
        "PASS proposal: {} moves, {} replicas (lower bound {}), {} bytes, {} batches, replica spread {} -> {}",
        proposal.moves,
        proposal.replicas_moved,
        proposal.replicas_moved_lower_bound,
        proposal.bytes_to_move,
        proposal.batches,
        proposal.before.replica_spread,
        proposal.after.replica_spread
    );

    // Approve, under acks=all idempotent traffic.
    let producer = Producer::start(&world, VERSION, &bootstrap(), TOPIC, 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let approve = json!({"metadata": {"annotations": {"kafka.gregor.dev/rebalance": "approve"}}});
    api.patch("full", &PatchParams::default(), &Patch::Merge(&approve)).await.expect("approve");
    wait_phase(&api, "full", RebalancePhase::Rebalancing, &op).await;
    let seen_throttles = wait_for("a replication throttle on broker 102 (kafka-configs)", WAIT, || {
        let tool = &tool;
        async move {
            let t = throttles(tool, "brokers", "102").await;
            (!t.is_empty()).then_some(t)
        }
    })
    .await;
    println!("PASS throttles set during the moves: broker 102 has {seen_throttles:?}");

    // A second rebalance while one runs is refused, and moves nothing of its own.
    apply_json::<KafkaRebalance>(&client, NS, rebalance("second", json!({"cluster": CLUSTER}))).await.expect("apply");
    let second = stalled_message(&wait_phase(&api, "second", RebalancePhase::Invalid, &op).await);
    assert!(second.contains("full") && second.contains("already rebalancing"), "{second}");
    api.delete("second", &Default::default()).await.expect("delete");
    println!("PASS second rebalance refused: {second}");

    let done = wait_phase(&api, "full", RebalancePhase::Ready, &op).await;
    assert!(done.throttles.is_none(), "{done:?}");
    let after = describe_all(&tool).await;
    let per_broker = counts(&after);
    assert!(spread_of(&per_broker, |c| c.0) <= 1 && spread_of(&per_broker, |c| c.1) <= 1, "replicas and leaders within ±1: {per_broker:?}");
    for b in ["100", "101", "102"] {
        assert_eq!(throttles(&tool, "brokers", b).await, Vec::<String>::new(), "throttle left on broker {b}");
    }
    assert_eq!(throttles(&tool, "topics", TOPIC).await, Vec::<String>::new(), "throttle left on {TOPIC}");
    let produced = producer.stop().await;
    assert!(produced.errors.is_empty(), "failed sends: {:?}", &produced.errors[..produced.errors.len().min(5)]);
    println!(
        "PASS full rebalance: (replicas, leaders) per broker {per_broker:?}; no throttle left; {} records acked, 0 failed",
        produced.acked.len()
    );

    // Cancel: a drain of 102 in one-move batches, stopped after its first batch. The batch in
    // flight finishes, no other starts, and the throttles go.
    apply_json::<KafkaRebalance>(
        &client,
        NS,
        rebalance(
            "cancelled",
            json!({"cluster": CLUSTER, "mode": "remove-brokers", "brokers": [102], "autoApprove": true, "movesPerBroker": 1, "throttleBytesPerSecond": 1_000_000}),
        ),
    )
    .await
    .expect("apply");
    wait_for("the first batch of the cancelled drain done", WAIT, || {
        let api = api.clone();
        async move { (status_of(&api, "cancelled").await?.progress?.batches_done >= 1).then_some(()) }
    })
    .await;
    let stop = json!({"metadata": {"annotations": {"kafka.gregor.dev/rebalance": "stop"}}});
    api.patch("cancelled", &PatchParams::default(), &Patch::Merge(&stop)).await.expect("stop");
    let stopped = wait_phase(&api, "cancelled", RebalancePhase::Stopped, &op).await;
    let progress = stopped.progress.clone().unwrap_or_default();
    let total = stopped.proposal.as_ref().map_or(0, |p| p.batches);
    assert!(progress.batches_done < total && progress.batch_in_flight.is_none(), "{stopped:?}");
    assert!(stopped.throttles.is_none(), "{stopped:?}");
    let mid = describe_all(&tool).await;
    assert!(mid.iter().all(|p| p.replicas.len() == 2), "a reassignment is still running after the stop: {mid:?}");
    assert!(mid.iter().any(|p| p.replicas.contains(&102)), "the stop came before the end, so 102 keeps replicas");
    for b in ["100", "101", "102"] {
        assert_eq!(throttles(&tool, "brokers", b).await, Vec::<String>::new(), "throttle left on broker {b} after the stop");
    }
    println!("PASS stop: {} of {total} batches done, none in flight, no throttle left, broker 102 keeps replicas", progress.batches_done);

    // remove-brokers [102], auto-approved: broker 102 ends empty.
    apply_json::<KafkaRebalance>(
        &client,
        NS,
        rebalance("drain", json!({"cluster": CLUSTER, "mode": "remove-brokers", "brokers": [102], "autoApprove": true})),
    )
    .await
    .expect("apply");
    wait_phase(&api, "drain", RebalancePhase::Ready, &op).await;
    let drained = describe_all(&tool).await;
    let left: Vec<&Described> = drained.iter().filter(|p| p.replicas.contains(&102)).collect();
    assert!(left.is_empty(), "replicas left on 102: {left:?}");
    assert_eq!(throttles(&tool, "brokers", "102").await, Vec::<String>::new());
    println!("PASS remove-brokers [102]: no replica left on broker 102 ({} partitions)", drained.len());

    // Every acknowledged record survived both rebalances (the console consumer reads them all).
    let consumed = consume_all(&world, VERSION, &bootstrap(), TOPIC).await;
    let lost: Vec<&String> = produced.acked.iter().filter(|v| !consumed.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acked records lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    println!("PASS {} acked records all consumed after both rebalances: 0 lost", produced.acked.len());

    // The consumer made __consumer_offsets with RF 3: two brokers cannot hold it.
    apply_json::<KafkaRebalance>(&client, NS, rebalance("rf3", json!({"cluster": CLUSTER, "mode": "remove-brokers", "brokers": [100]})))
        .await
        .expect("apply");
    let rf3 = stalled_message(&wait_phase(&api, "rf3", RebalancePhase::Invalid, &op).await);
    assert!(rf3.contains("spec.brokers") && rf3.contains("replication factor 3 of __consumer_offsets"), "{rf3}");
    println!("PASS remove-brokers against RF 3 refused: {rf3}");

    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
    drop(op);
}

/// Issue #17 items 3 and 4, and the crash acceptance: scaling a 3-broker cluster with 60
/// partitions of RF 3 to 5 brokers makes an add-brokers KafkaRebalance by itself; the operator is
/// SIGKILLed while it runs and started again, and the same plan (same ConfigMap) completes; then
/// 5 → 3 drains brokers 103 and 104 through a remove-brokers KafkaRebalance before the StatefulSet
/// shrinks and they are unregistered. All under VerifiableProducer traffic (acks=all, idempotent),
/// with TopicCommand sampling for partitions under min ISR throughout the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item3_scaling_moves_replicas_by_itself_and_survives_a_crash() {
    let Some(_serial) = crate::support::world_test("e2e::rebalance::item3_scaling_moves_replicas_by_itself_and_survives_a_crash").await
    else {
        return;
    };
    const NAME: &str = "elastic";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let mut op = Operator::start_with_chart_rbac(&world, "scale-rebalance", &[]).await;
    let settings = json!({"throttleBytesPerSecond": 1_000_000});
    apply_cluster(&client, NS, scaled(NAME, 3, settings.clone())).await;
    wait_cluster_ready(&client, NS, NAME, WAIT, &op).await;
    let tool = KafkaTool::new(&world, VERSION).expect("kafka tool");
    let boot = bootstrap_of(NAME);
    tool.run_ok(
        gregor_world::kafka::classes::TOPICS,
        &["--bootstrap-server", &boot, "--create", "--topic", "wide", "--partitions", "60", "--replication-factor", "3"],
        None,
        Duration::from_secs(90),
    )
    .await
    .expect("create the topic");
    tool.run_ok(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            "wide",
            "--num-records",
            "30000",
            "--record-size",
            "1000",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={boot}"),
            "acks=all",
        ],
        None,
        Duration::from_secs(240),
    )
    .await
    .expect("preload");
    let producer = Producer::start(&world, VERSION, &boot, "wide", 100);
    let api: Api<KafkaRebalance> = Api::namespaced(client.clone(), NS);

    // Scale up: the operator makes the add-brokers rebalance itself.
    apply_cluster(&client, NS, scaled(NAME, 5, settings.clone())).await;
    let fill = wait_for("an add-brokers KafkaRebalance made by the operator", WAIT, || {
        let api = api.clone();
        async move {
            api.list(&Default::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|r| r.spec.cluster == NAME && r.metadata.name.as_deref().is_some_and(|n| n.contains("-add-")))
        }
    })
    .await;
    let fill_name = fill.metadata.name.clone().expect("name");
    assert_eq!(fill.spec.brokers, vec![103, 104], "{:?}", fill.spec);
    let running = wait_phase(&api, &fill_name, RebalancePhase::Rebalancing, &op).await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), NS);
    let plan_cm = cms.get(&format!("{fill_name}-plan")).await.expect("plan ConfigMap");
    let fill_throttles = wait_for("a replication throttle on new broker 103 (kafka-configs)", WAIT, || {
        let (tool, boot) = (&tool, &boot);
        async move {
            let t = throttles_in(tool, boot, "brokers", "103").await;
            (!t.is_empty()).then_some(t)
        }
    })
    .await;
    println!(
        "PASS scale-up made {fill_name}: (moves, batches) {:?}; broker 103 throttled during the moves: {fill_throttles:?}",
        running.proposal.as_ref().map(|p| (p.moves, p.batches))
    );

    // SIGKILL mid-rebalance, then start again: the same plan goes on.
    op.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let op = Operator::start_with_chart_rbac(&world, "scale-rebalance-2", &[]).await;
    let done = wait_phase(&api, &fill_name, RebalancePhase::Ready, &op).await;
    let plan_after = cms.get(&format!("{fill_name}-plan")).await.expect("plan ConfigMap");
    assert_eq!(
        plan_after.metadata.resource_version, plan_cm.metadata.resource_version,
        "the restarted operator kept the plan: no second plan"
    );
    assert_eq!(done.proposal.as_ref().map(|p| p.moves), running.proposal.as_ref().map(|p| p.moves));
    let grown = describe_in(&tool, &boot).await;
    let per_broker = counts_over(&grown, 100..105);
    assert!(spread_of(&per_broker, |c| c.0) <= 1, "replicas within ±1 after the scale-up: {per_broker:?}");
    assert!(spread_of(&per_broker, |c| c.1) <= 1, "leaders within ±1 after the scale-up: {per_broker:?}");
    for b in 100..105 {
        assert_eq!(throttles_in(&tool, &boot, "brokers", &b.to_string()).await, Vec::<String>::new(), "throttle left on {b}");
    }
    assert_eq!(throttles_in(&tool, &boot, "topics", "wide").await, Vec::<String>::new());
    println!("PASS scale-up 3 -> 5 across a SIGKILL: (replicas, leaders) per broker {per_broker:?}; same plan; no throttle left");

    // Scale down: brokers 103 and 104 are drained first, under a min-ISR sampler.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (tool, boot, sampling) = (KafkaTool::new(&world, VERSION).expect("tool"), boot.clone(), sampling.clone());
        tokio::spawn(async move {
            let (mut samples, mut under) = (0usize, Vec::new());
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let args = ["--bootstrap-server", boot.as_str(), "--describe", "--under-min-isr-partitions"];
                if let Ok(out) = tool.run(gregor_world::kafka::classes::TOPICS, &args, None, Duration::from_secs(60)).await
                    && out.status == 0
                {
                    samples += 1;
                    under.extend(out.stdout.lines().filter(|l| l.contains("Partition:")).map(str::to_owned));
                }
            }
            (samples, under)
        })
    };
    apply_cluster(&client, NS, scaled(NAME, 3, settings)).await;
    let drain = format!("{NAME}-drain-103-104");
    wait_phase(&api, &drain, RebalancePhase::Ready, &op).await;
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(client.clone(), NS);
    wait_for("the brokers StatefulSet at 3", WAIT, || {
        let sts = sts.clone();
        async move { (sts.get(&format!("{NAME}-brokers")).await.ok()?.spec?.replicas == Some(3)).then_some(()) }
    })
    .await;
    let remaining = admin(&world, NS, NAME, &[100, 101, 102]);
    wait_for("brokers 103 and 104 unregistered", WAIT, || {
        let admin = &remaining;
        async move {
            let c = admin.describe_cluster().await.ok()?;
            (c.broker(103).is_none() && c.broker(104).is_none()).then_some(())
        }
    })
    .await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (samples, under) = sampler.await.expect("sampler");
    assert!(samples > 0, "the sampler ran");
    assert!(under.is_empty(), "partitions under min ISR during the drain: {under:?}");
    let shrunk = describe_in(&tool, &boot).await;
    assert!(shrunk.iter().all(|p| p.replicas.iter().all(|r| *r < 103)), "replicas left on 103/104");
    let produced = producer.stop().await;
    assert!(produced.errors.is_empty(), "failed sends: {:?}", &produced.errors[..produced.errors.len().min(5)]);
    let consumed = consume_all(&world, VERSION, &boot, "wide").await;
    let lost = produced.acked.iter().filter(|v| !consumed.contains(*v)).count();
    assert_eq!(lost, 0, "acked records lost");
    println!(
        "PASS scale-down 5 -> 3: drained by {drain}, StatefulSet at 3, 103/104 unregistered; {samples} min-ISR samples, none under; {} records acked, 0 failed, 0 lost",
        produced.acked.len()
    );
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "operator panicked:\n{}", op.log_tail(80));
}
