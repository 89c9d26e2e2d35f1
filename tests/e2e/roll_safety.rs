//! Issue #12 items 7, 15 and 16: what the roll planner's inputs must be, in a real world.
//!
//! - item 7: a crash-looping sidecar injected into a serving, in-sync broker's pod does not make
//!   that broker "stuck": it is not restarted out of turn while another broker is down.
//! - item 15: the restart check reads the metadata of the freshest broker: a broker whose
//!   metadata lags (its metadata log frozen) does not let a restart through that fresh metadata
//!   blocks.
//! - item 16: a halted roll does not probe Kafka on every reconcile.

use std::time::Duration;

use crate::support::pod_watch::PodWatch;
use crate::support::*;
use gregor::api::KafkaCluster;
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

const VERSION: &str = "4.4.0";

async fn reconciles(port: u16) -> u64 {
    wait_for("the operator's /metrics", Duration::from_secs(30), || async { metrics(port).await?.get("gregor_reconciles_total").copied() })
        .await
}

/// Waits until the operator has run `n` more cluster reconciles than `from`.
async fn reconciles_after(port: u16, from: u64, n: u64) -> u64 {
    wait_for(&format!("{n} more reconciles"), Duration::from_secs(300), || async move {
        let now = metrics(port).await?.get("gregor_reconciles_total").copied()?;
        (now >= from + n).then_some(now)
    })
    .await
}

/// Full Kafka probes so far, counted from the operator's debug log: `kafka_facts::gather` logs
/// one "kafka facts" line per probe that Kafka answered.
fn probes_logged(op: &Operator) -> usize {
    std::fs::read_to_string(&op.log).unwrap_or_default().lines().filter(|l| l.contains(": kafka facts")).count()
}

/// `kafka-topics.sh --describe` of one topic, by Kafka's own tool: (partition, ISR) per line.
async fn isr_by_tool(tool: &KafkaTool, bootstrap: &str, topic: &str) -> Option<Vec<(i32, Vec<i32>)>> {
    let out = tool
        .run(
            gregor_world::kafka::classes::TOPICS,
            &["--bootstrap-server", bootstrap, "--describe", "--topic", topic],
            None,
            Duration::from_secs(60),
        )
        .await
        .ok()?;
    if out.status != 0 {
        return None;
    }
    let mut parts = Vec::new();
    for line in out.stdout.lines().filter(|l| l.contains("Partition:")) {
        let field = |name: &str| line.split(name).nth(1).map(|r| r.split_whitespace().next().unwrap_or("").to_owned());
        let partition = field("Partition:")?.parse().ok()?;
        let isr = field("Isr:")?.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect::<Option<Vec<i32>>>()?;
        parts.push((partition, isr));
    }
    (!parts.is_empty()).then_some(parts)
}

/// A pod name the sidecar policy also matches, for a dry-run check that it is in effect.
const PROBE_POD: &str = "e2e-sidecar-probe";

/// A MutatingAdmissionPolicy that injects a container into one pod as it is created, as a
/// service mesh or a log shipper would: `command` runs in it.
async fn inject_sidecar(client: &kube::Client, ns: &str, pod: &str, container: &str, command: &[&str]) {
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": "e2e-sidecar"},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
            "matchConditions": [{"name": "the-pod", "expression": format!("object.metadata.name in ['{pod}', '{PROBE_POD}']")}],
            "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": format!(
                "[JSONPatch{{op: 'add', path: '/spec/containers/-', value: Object.spec.containers{{name: '{container}', image: 'apache/kafka:{VERSION}', command: {}}}}}]",
                serde_json::to_string(command).expect("json"))}}]
        }
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": "e2e-sidecar"},
        "spec": {"policyName": "e2e-sidecar", "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}}
    });
    for obj in [policy, binding] {
        let kind = obj["kind"].as_str().expect("kind").to_owned();
        let gvk = kube::api::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk));
        api.patch("e2e-sidecar", &PatchParams::apply("gregor-e2e").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("install {kind}: {e}"));
    }
    // In effect once a dry-run create of a probe pod comes back with the container.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let probe: Pod = serde_json::from_value(json!({"metadata": {"name": PROBE_POD, "namespace": ns},
        "spec": {"containers": [{"name": "kafka", "image": "busybox"}]}}))
    .expect("probe pod");
    wait_for("the sidecar policy in effect", Duration::from_secs(30), || {
        let (pods, probe) = (pods.clone(), probe.clone());
        async move {
            let created = pods
                .create(&PostParams { dry_run: true, ..PostParams::default() }, &probe)
                .await
                .map_err(|e| println!("dry-run create of the probe pod: {}", e.to_string().chars().take(300).collect::<String>()))
                .ok()?;
            created.spec?.containers.iter().any(|c| c.name == container).then_some(())
        }
    })
    .await;
}

fn container_waiting<'a>(pod: &'a Pod, container: &str) -> Option<&'a str> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find(|s| s.name == container)?.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn container_ready(pod: &Pod, container: &str) -> bool {
    pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs.iter().any(|s| s.name == container && s.ready))
}

/// A world and the operator (chart RBAC) serving `/metrics` on a free port, returned.
async fn start(ns: &str, name: &str) -> (World, Client, Operator, u16) {
    let port = free_port();
    let metrics_addr = format!("--metrics-addr=127.0.0.1:{port}");
    let (world, client, op) = world_with_operator(ns, name, &[&metrics_addr]).await;
    (world, client, op, port)
}

/// Item 7: broker 100's pod gets an injected sidecar that crash-loops, next to a Kafka container
/// that serves and is in every ISR; broker 101 is stopped (fenced, out of every ISR). A roll of
/// the brokers must not restart broker 100 "out of turn": that would take a second broker down
/// and leave the RF-3, min-ISR-2 topic below its min ISR.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item7_crash_looping_sidecar_does_not_let_a_second_broker_go_down() {
    let Some(_serial) =
        crate::support::world_test("e2e::roll_safety::item7_crash_looping_sidecar_does_not_let_a_second_broker_go_down").await
    else {
        return;
    };
    const NS: &str = "e2e-item7";
    let (world, client, op, port) = start(NS, "item7").await;
    let spec = split_cluster(NS, "events", VERSION, json!({}));
    apply_cluster(&client, NS, spec.clone()).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    create_rf3_topic(&admin, "orders", 3).await;
    let tool = KafkaTool::new(&world, VERSION).expect("kafka tool");
    let bootstrap = split_bootstrap(NS, "events");

    // Broker 100's next pod gets a sidecar that exits at once, for ever (CrashLoopBackOff).
    inject_sidecar(&client, NS, "events-brokers-100", "mesh-proxy", &["/bin/sh", "-c", "exit 1"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.delete("events-brokers-100", &DeleteParams::default()).await.expect("delete broker 100's pod");
    let pod100 = wait_for("broker 100 back, serving, with a crash-looping sidecar", Duration::from_secs(300), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("events-brokers-100").await.ok()?;
            let looping = container_waiting(&p, "mesh-proxy") == Some("CrashLoopBackOff");
            (p.metadata.deletion_timestamp.is_none() && looping && container_ready(&p, "kafka")).then_some(p)
        }
    })
    .await;
    // Kafka's own tool: broker 100 is in the ISR of every partition (healthy and in sync).
    wait_for("broker 100 in every ISR (kafka-topics)", Duration::from_secs(180), || {
        let (tool, bootstrap) = (&tool, &bootstrap);
        async move { isr_by_tool(tool, bootstrap, "orders").await?.iter().all(|(_, isr)| isr.len() == 3).then_some(()) }
    })
    .await;
    println!("PASS broker 100 serves and is in sync; its pod's sidecar crash-loops");

    // Broker 101 goes down out of band: fenced, out of every ISR, which now sits at min ISR.
    // (Kafka's tool then bootstraps from the other two: a stopped broker still accepts
    // connections, and never answers.)
    assert!(signal_pod(NS, "events-brokers-101", "STOP") > 0, "found broker 101's processes");
    let bootstrap =
        [100, 102].iter().map(|b| format!("events-brokers-{b}.events-kafka-brokers.{NS}.svc:9092")).collect::<Vec<_>>().join(",");
    wait_for("broker 101 out of every ISR (kafka-topics)", Duration::from_secs(180), || {
        let (tool, bootstrap) = (&tool, &bootstrap);
        async move {
            let parts = isr_by_tool(tool, bootstrap, "orders").await?;
            parts.iter().all(|(_, isr)| isr.len() == 2 && !isr.contains(&101)).then_some(())
        }
    })
    .await;
    println!("PASS broker 101 is down: every orders partition sits at min ISR (2)");

    // Roll the brokers (a pod template change), and give the operator many reconciles.
    let watch = PodWatch::start(&client, NS, "events", &split_pod_names("events"));
    let mut rolled = spec.clone();
    rolled["spec"]["nodePools"][1]["template"] = json!({"podLabels": {"e2e.gregor.dev/roll": "1"}});
    let kc = apply_cluster(&client, NS, rolled).await;
    let generation = kc.metadata.generation;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    wait_for("the roll's generation observed", Duration::from_secs(120), || {
        let api = api.clone();
        async move { (api.get("events").await.ok()?.status?.observed_generation == generation).then_some(()) }
    })
    .await;
    let from = reconciles(port).await;
    reconciles_after(port, from, 8).await;

    let now = pods.get("events-brokers-100").await.expect("broker 100's pod");
    let history = watch.snapshot();
    let isr = isr_by_tool(&tool, &bootstrap, "orders").await.expect("describe orders");
    // The roll is real: broker 100's pod is outdated (the StatefulSet has a new revision).
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(client.clone(), NS);
    let template = sts.get("events-brokers").await.expect("broker StatefulSet").spec.expect("spec").template;
    let revision = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.annotations.as_ref().and_then(|a| a.get("kafka.gregor.dev/revision").cloned())
    };
    let template_revision = template.metadata.as_ref().and_then(revision);
    assert!(template_revision.is_some() && template_revision != revision(&pod100.metadata), "broker 100's pod should be outdated");
    assert!(signal_pod(NS, "events-brokers-101", "CONT") > 0);
    assert!(
        now.metadata.uid == pod100.metadata.uid && now.metadata.deletion_timestamp.is_none() && history.restarts.is_empty(),
        "broker 100 (serving, in sync, only its sidecar crash-looping) was restarted while broker 101 was down: restarts {:?}\n{}",
        history.restarts,
        op.log_tail(40)
    );
    assert!(isr.iter().all(|(_, isr)| isr.len() >= 2), "a partition fell below min ISR: {isr:?}");
    let (status, reason, message) = ready(&api.get("events").await.expect("cluster")).expect("Ready condition");
    println!("PASS no broker restarted; the roll waits: Ready={status} {reason}: {message}");
    drop(op);
}

/// Item 16: a roll halted on an unschedulable broker pod probes Kafka at most about once per
/// backoff interval, not on every reconcile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item16_halted_roll_does_not_probe_kafka_every_reconcile() {
    let Some(_serial) = crate::support::world_test("e2e::roll_safety::item16_halted_roll_does_not_probe_kafka_every_reconcile").await
    else {
        return;
    };
    const NS: &str = "e2e-item16";
    let (_world, client, op, port) = start(NS, "item16").await;
    let spec = json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "halt", "namespace": NS},
        "spec": {
            "version": VERSION,
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 1,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "192Mi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 2, "nodeIdStart": 100,
                 "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    });
    apply_cluster(&client, NS, spec.clone()).await;
    wait_cluster_ready(&client, NS, "halt", Duration::from_secs(300), &op).await;

    // A node selector no node matches: the first broker restarted stays Pending, unschedulable,
    // on the current revision, and the roll halts.
    let mut halted = spec.clone();
    halted["spec"]["nodePools"][1]["template"] = json!({"nodeSelector": {"e2e.gregor.dev/nowhere": "true"}});
    apply_cluster(&client, NS, halted).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let message = wait_for("a RollHalted condition", Duration::from_secs(300), || {
        let api = api.clone();
        async move {
            let (status, reason, message) = ready(&api.get("halt").await.ok()?)?;
            (status == "False" && reason == "RollHalted").then_some(message)
        }
    })
    .await;
    println!("PASS the roll halts: {message}");

    // Over a fixed number of reconciles of the halted roll, count the full Kafka probes.
    let from = reconciles(port).await;
    let probes_before = probes_logged(&op);
    let to = reconciles_after(port, from, 30).await;
    let probes = probes_logged(&op) - probes_before;
    let n = to - from;
    let metric = metrics(port).await.and_then(|m| m.get("gregor_kafka_probes_total").copied());
    println!("{n} reconciles of the halted roll made {probes} full Kafka probes (gregor_kafka_probes_total now {metric:?})");
    assert!(probes >= 1, "the halted roll still looks at Kafka now and then");
    assert!(probes as u64 * 4 <= n, "{probes} full Kafka probes in {n} reconciles of a halted roll: it should back off");
    let (_, reason, _) = ready(&api.get("halt").await.expect("cluster")).expect("Ready");
    assert_eq!(reason, "RollHalted", "still halted at the end of the count");
    drop(op);
}

/// Stops (ptrace) the threads of a process whose names start with a prefix, each inside a system
/// call (where the JVM counts it as safepoint-safe: the rest of the JVM runs on), until the
/// script's stdin closes or it is killed; the kernel then resumes them. Prints "frozen <tids>".
const FREEZE_THREADS: &str = r#"
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
SEIZE, INTERRUPT, DETACH, WALL = 0x4206, 0x4207, 17, 0x40000000
pid, prefix = int(sys.argv[1]), sys.argv[2]
task = f"/proc/{pid}/task"
tids = [int(t) for t in os.listdir(task) if open(f"{task}/{t}/comm").read().startswith(prefix)]
if not tids:
    sys.exit(f"no thread of {pid} named {prefix}*")
frozen = []
for tid in tids:
    for attempt in range(1000):
        if libc.ptrace(SEIZE, tid, None, None) != 0:
            sys.exit(f"PTRACE_SEIZE {tid}: errno {ctypes.get_errno()}")
        libc.ptrace(INTERRUPT, tid, None, None)
        os.waitpid(tid, WALL)
        if open(f"{task}/{tid}/syscall").read().split()[0] not in ("running", "-1"):
            frozen.append(tid)
            break
        libc.ptrace(DETACH, tid, None, None)
        time.sleep(0.005)
    else:
        sys.exit(f"thread {tid} never caught inside a system call")
print("frozen", frozen, flush=True)
sys.stdin.read()
"#;

/// The JVM of a pod (its process named `java`).
fn pod_jvm(ns: &str, pod: &str) -> i32 {
    let pids = pod_pids(ns, pod);
    *pids
        .iter()
        .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "java"))
        .unwrap_or_else(|| panic!("no JVM among {pod}'s processes {pids:?}"))
}

/// Item 15: broker 100's metadata log is frozen (its raft threads stopped), so its metadata
/// lags: it never learns of a topic created afterwards, while it stays registered, unfenced and
/// answering requests. The topic's ISR then sits at min ISR with broker 101 in it. A manual roll
/// of broker 101 must be refused on the fresh metadata (the freshest broker's), not let through
/// on broker 100's stale metadata, which does not know the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item15_stale_metadata_does_not_let_a_restart_through() {
    let Some(_serial) = crate::support::world_test("e2e::roll_safety::item15_stale_metadata_does_not_let_a_restart_through").await else {
        return;
    };
    const NS: &str = "e2e-item15";
    let (world, client, op, port) = start(NS, "item15").await;
    apply_cluster(&client, NS, split_cluster(NS, "events", VERSION, json!({}))).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let tool = KafkaTool::new(&world, VERSION).expect("kafka tool");
    let fresh = [101, 102].iter().map(|b| format!("events-brokers-{b}.events-kafka-brokers.{NS}.svc:9092")).collect::<Vec<_>>().join(",");

    // Freeze broker 100's metadata log.
    let jvm = pod_jvm(NS, "events-brokers-100");
    let mut freezer = tokio::process::Command::new("python3")
        .args(["-c", FREEZE_THREADS, &jvm.to_string(), "kafka-100-raft"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let mut out = tokio::io::BufReader::new(freezer.stdout.take().expect("stdout"));
    tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line).await.expect("freezer output");
    assert!(line.starts_with("frozen"), "could not freeze broker 100's raft threads: {line:?}");
    println!("PASS broker 100's metadata log is frozen ({})", line.trim());

    // A topic on all three brokers, led by 101 and 102, min ISR 2, created with Kafka's tool.
    tool.run_ok(
        gregor_world::kafka::classes::TOPICS,
        &[
            "--bootstrap-server",
            &fresh,
            "--create",
            "--topic",
            "orders",
            "--replica-assignment",
            "101:102:100,102:101:100",
            "--config",
            "min.insync.replicas=2",
        ],
        None,
        Duration::from_secs(60),
    )
    .await
    .expect("create orders");
    // Broker 100 never fetches it: its leaders drop 100 from the ISR, which sits at min ISR.
    wait_for("orders at min ISR without broker 100 (kafka-topics)", Duration::from_secs(180), || {
        let (tool, fresh) = (&tool, &fresh);
        async move {
            let parts = isr_by_tool(tool, fresh, "orders").await?;
            (parts.len() == 2 && parts.iter().all(|(_, isr)| isr.len() == 2 && !isr.contains(&100))).then_some(())
        }
    })
    .await;
    // ...and broker 100, still answering, does not know the topic.
    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    let stale = admin.fetch_metadata(gregor::kafka::Target::Node(100), None).await.expect("broker 100 answers Metadata");
    assert!(stale.topic("orders").is_none(), "broker 100's metadata should lag");
    let registered = admin.describe_cluster().await.expect("describe cluster");
    assert!(registered.broker(100).is_some_and(|b| !b.fenced), "broker 100 stays unfenced: {registered:?}");
    println!("PASS broker 100 is unfenced and answers, without orders; orders sits at min ISR (101, 102)");

    // Ask for a manual roll of broker 101: restarting it would take orders below min ISR.
    let watch = PodWatch::start(&client, NS, "events", &split_pod_names("events"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod101 = pods.get("events-brokers-101").await.expect("pod 101");
    pods.patch(
        "events-brokers-101",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"kafka.gregor.dev/manual-roll": "true"}}})),
    )
    .await
    .expect("annotate pod 101");
    let from = reconciles(port).await;
    reconciles_after(port, from, 8).await;
    let now = pods.get("events-brokers-101").await.expect("pod 101");
    let history = watch.snapshot();
    let kc: KafkaCluster = Api::namespaced(client.clone(), NS).get("events").await.expect("cluster");
    let condition = ready(&kc).expect("Ready");
    drop(freezer);
    assert!(
        now.metadata.uid == pod101.metadata.uid && now.metadata.deletion_timestamp.is_none() && history.restarts.is_empty(),
        "broker 101 was restarted although orders sits at min ISR with it (stale metadata let it through): restarts {:?}, Ready {condition:?}\n{}",
        history.restarts,
        op.log_tail(40)
    );
    let (status, reason, message) = condition;
    assert!(
        status == "False" && reason == "RollBlocked" && message.contains("orders-0") && message.contains("orders-1"),
        "{reason}: {message}"
    );
    println!("PASS broker 101 not restarted; Ready={status} {reason}: {message}");
    drop(op);
}
