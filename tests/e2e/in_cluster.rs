//! #18 item 2: the chart's Deployment runs the operator's real image in the world, the way users
//! run it. The node agent runs the image from `make image` (`target/image/oci`): its own binary,
//! chrooted into its own file system, as the chart's user 65532, with a projected ServiceAccount
//! token from the TokenRequest API and KUBERNETES_SERVICE_HOST/PORT, so kube's in-cluster
//! configuration works unchanged; its probes are the chart's httpGet /healthz and /readyz.
//!
//! `helm install` with the default values: two replicas become Ready through their probes,
//! exactly one leads (the Lease names it, and only its /metrics says `gregor_leader 1`), and the
//! playground's cluster, topic and user reach Ready. Deleting the leader's pod hands the Lease to
//! a live replica within the Lease's duration (the old leader releases it on SIGTERM), and
//! the new leader reconciles a new topic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gregor::api::{KafkaTopic, KafkaUser};
use gregor_world::{World, WorldOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::install::{RELEASE, RELEASE_NS, helm, helm_install, read_yaml, repo};
use crate::support::pod_watch::PodWatch;
use crate::support::*;

const NS: &str = "kafka";
const LEASE: &str = "gregor-leader";

fn image_layout() -> PathBuf {
    let layout = repo().join("target/image/oci");
    assert!(layout.join("index.json").exists(), "no operator image at {}: run `make image` (make test does)", layout.display());
    layout
}

async fn operator_pods(client: &kube::Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let lp = ListParams::default().labels("app.kubernetes.io/name=gregor");
    pods.list(&lp).await.expect("list operator pods").items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
}

fn pod_ready(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn name_of(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// `gregor_leader` from a pod's own /metrics, on its address in the world (what Prometheus would scrape).
async fn leader_gauge(p: &Pod) -> Option<u64> {
    let ip = p.status.as_ref()?.pod_ip.clone()?;
    let body = http_get(&format!("{ip}:8080"), "/metrics").await?;
    body.lines().find_map(|l| l.strip_prefix("gregor_leader ")).and_then(|v| v.trim().parse::<f64>().ok()).map(|v| v as u64)
}

async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get(LEASE).await.ok()?.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item2_helm_install_runs_the_image_two_replicas_one_leader_failover() {
    let Some(_serial) = world_test("e2e::in_cluster::item2_helm_install_runs_the_image_two_replicas_one_leader_failover").await else {
        return;
    };
    let image = format!("gregor:{}", env!("CARGO_PKG_VERSION"));
    let opts = WorldOptions { images: BTreeMap::from([(image.clone(), image_layout())]), ..WorldOptions::default() };
    let world = World::start_with(opts).await.expect("world");
    let client = world.client();
    helm_install(&world, RELEASE_NS, &[]);
    install_crds(&client).await;
    create_namespace(&client, NS).await;

    // Two replicas Ready through their real probes.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NS);
    let started = Instant::now();
    let pods = wait_for("2 Ready operator pods", Duration::from_secs(180), || async {
        let pods = operator_pods(&client).await;
        (pods.len() == 2 && pods.iter().all(pod_ready)).then_some(pods)
    })
    .await;
    println!("2 operator pods Ready after {:?}", started.elapsed());
    let deploy = deployments.get(RELEASE).await.expect("deployment");
    let container = &deploy.spec.as_ref().expect("spec").template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(container.image.as_deref(), Some(image.as_str()));
    let op = InClusterOperator { logs: pods.iter().map(|p| world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).collect() };
    for p in &pods {
        let log = std::fs::read_to_string(world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).unwrap_or_default();
        assert!(!log.is_empty(), "{} logged nothing", name_of(p));
        // The image's binary, run as the chart's user, inside the image's own file system.
        let status = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        assert!(status.iter().all(|c| c.restart_count == 0), "{}: {status:?}\n{}", name_of(p), op.log_tail(40));
    }
    let uids = operator_process_uids(&pods);
    assert_eq!(uids, vec![65532; 2], "both operator processes run as 65532");

    // Exactly one leads: the Lease names it, and only its /metrics says so.
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    let leader = wait_for("a Lease holder", Duration::from_secs(60), || async { holder(&leases).await }).await;
    let names: Vec<String> = pods.iter().map(name_of).collect();
    assert!(names.contains(&leader), "the Lease holder {leader} is one of {names:?}");
    let gauges = wait_for("gregor_leader on both pods", Duration::from_secs(30), || async {
        let mut g = Vec::new();
        for p in &pods {
            g.push((name_of(p), leader_gauge(p).await?));
        }
        Some(g)
    })
    .await;
    println!("leader {leader}; gregor_leader per pod {gauges:?}");
    assert_eq!(gauges.iter().filter(|(_, v)| *v == 1).count(), 1, "{gauges:?}");
    assert!(gauges.iter().any(|(n, v)| *n == leader && *v == 1), "{gauges:?}");

    // The playground reaches Ready, reconciled by the in-cluster operator.
    apply_cluster(&client, NS, read_yaml("deploy/playground/cluster.yaml", NS)).await;
    apply_json::<KafkaTopic>(&client, NS, read_yaml("deploy/playground/topic.yaml", NS)).await.expect("apply topic");
    apply_json::<KafkaUser>(&client, NS, read_yaml("deploy/playground/user.yaml", NS)).await.expect("apply user");
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    wait_topic(&client, NS, "orders", true, None, Duration::from_secs(120), &op).await;
    wait_user(&client, NS, "app", true, None, Duration::from_secs(120), &op).await;
    println!("cluster, topic and user Ready after {:?}", started.elapsed());

    // Failover: the leader's pod deleted, the other replica takes the Lease within its duration.
    let lease = leases.get(LEASE).await.expect("lease");
    let duration = Duration::from_secs(lease.spec.as_ref().and_then(|s| s.lease_duration_seconds).unwrap_or(15) as u64);
    let other = names.iter().find(|n| **n != leader).expect("the other replica").clone();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let deleted = Instant::now();
    pods_api.delete(&leader, &DeleteParams::default()).await.expect("delete the leader's pod");
    let new_leader = wait_for("a new Lease holder", duration * 3, || async { holder(&leases).await.filter(|h| *h != leader) }).await;
    let took = deleted.elapsed();
    println!("Lease moved from {leader} to {new_leader} in {took:?} (lease duration {duration:?})");
    // The old leader releases the Lease on SIGTERM, so whichever replica polls first takes it:
    // usually the one that was standing by, sometimes the Deployment's replacement pod.
    let live: Vec<String> = operator_pods(&client).await.iter().map(name_of).collect();
    assert!(live.contains(&new_leader), "the new holder {new_leader} is a live replica of {live:?} (standby was {other})");
    assert!(took <= duration, "took over in {took:?}, lease duration {duration:?}");
    let log = std::fs::read_to_string(world.pod_log_path(RELEASE_NS, &leader, "gregor")).unwrap_or_default();
    assert!(log.contains("released the Lease"), "the deleted leader released its Lease on SIGTERM:\n{}", op.log_tail(20));

    // The new leader reconciles.
    let mut topic = read_yaml("deploy/playground/topic.yaml", NS);
    topic["metadata"]["name"] = "after-failover".into();
    topic["spec"]["topicName"] = "after-failover".into();
    apply_json::<KafkaTopic>(&client, NS, topic).await.expect("apply a second topic");
    wait_topic(&client, NS, "after-failover", true, None, Duration::from_secs(120), &op).await;
}

/// The uid of each operator pod's process: the process whose environment names the pod (the
/// chart sets GREGOR_IDENTITY from metadata.name) and whose command is the image's entrypoint.
fn operator_process_uids(pods: &[Pod]) -> Vec<u32> {
    pods.iter()
        .map(|p| {
            let identity = format!("GREGOR_IDENTITY={}", name_of(p));
            let uid = std::fs::read_dir("/proc").into_iter().flatten().flatten().find_map(|entry| {
                let env = std::fs::read(entry.path().join("environ")).ok()?;
                env.split(|b| *b == 0).any(|v| v == identity.as_bytes()).then_some(())?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                cmdline.starts_with(b"/usr/local/bin/gregor\0").then_some(())?;
                let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
                status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().next()?.parse().ok())
            });
            uid.unwrap_or_else(|| panic!("no /usr/local/bin/gregor process of pod {}", name_of(p)))
        })
        .collect()
}

/// The Kafka pods of the playground cluster: name → uid.
async fn kafka_pod_uids(client: &kube::Client) -> BTreeMap<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let lp = ListParams::default().labels("kafka.gregor.dev/cluster=events");
    pods.list(&lp).await.expect("list Kafka pods").items.iter().map(|p| (name_of(p), p.metadata.uid.clone().unwrap_or_default())).collect()
}

/// Two Ready operator pods, none of `old`: the operator as a whole came (back) up.
async fn wait_operator_pods(client: &kube::Client, old: &[String], what: &str) -> Vec<Pod> {
    wait_for(what, Duration::from_secs(180), || async {
        let pods = operator_pods(client).await;
        (pods.len() == 2 && pods.iter().all(pod_ready) && pods.iter().all(|p| !old.contains(&name_of(p)))).then_some(pods)
    })
    .await
}

/// #18 acceptance, after the install: a roll in progress survives a failover with no node
/// restarted twice; `helm upgrade` with a changed value rolls the Deployment and restarts no Kafka
/// pod; `helm uninstall` leaves the CRDs, the cluster, its topic, user, Secrets, PVCs and Kafka
/// pods in place; installing again adopts them without a restart and reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item2_failover_mid_roll_helm_upgrade_uninstall_and_reinstall_keep_kafka_running() {
    let Some(_serial) =
        world_test("e2e::in_cluster::item2_failover_mid_roll_helm_upgrade_uninstall_and_reinstall_keep_kafka_running").await
    else {
        return;
    };
    let image = format!("gregor:{}", env!("CARGO_PKG_VERSION"));
    let opts = WorldOptions { images: BTreeMap::from([(image.clone(), image_layout())]), ..WorldOptions::default() };
    let world = World::start_with(opts).await.expect("world");
    let client = world.client();
    let kubeconfig = world.kubeconfig_path().to_path_buf();
    helm_install(&world, RELEASE_NS, &[]);
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let pods = wait_operator_pods(&client, &[], "2 Ready operator pods").await;
    let mut op = InClusterOperator { logs: pods.iter().map(|p| world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).collect() };

    let cluster = read_yaml("deploy/playground/cluster.yaml", NS);
    apply_cluster(&client, NS, cluster.clone()).await;
    apply_json::<KafkaTopic>(&client, NS, read_yaml("deploy/playground/topic.yaml", NS)).await.expect("apply topic");
    apply_json::<KafkaUser>(&client, NS, read_yaml("deploy/playground/user.yaml", NS)).await.expect("apply user");
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    wait_topic(&client, NS, "orders", true, None, Duration::from_secs(120), &op).await;
    wait_user(&client, NS, "app", true, None, Duration::from_secs(120), &op).await;
    let kafka_pods: Vec<String> = kafka_pod_uids(&client).await.into_keys().collect();
    assert_eq!(kafka_pods.len(), 3, "the playground's three nodes: {kafka_pods:?}");

    // A roll (a read-only key), and the leader's pod deleted once the first node has restarted.
    let watch = PodWatch::start(&client, NS, "events", &kafka_pods);
    let mut rolled = cluster.clone();
    rolled["spec"]["config"]["queued.max.requests"] = 600.into();
    apply_cluster(&client, NS, rolled).await;
    wait_for("the roll's first restart", Duration::from_secs(300), || {
        let watch = &watch;
        async move { (!watch.snapshot().restarts.is_empty()).then_some(()) }
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    let leader = wait_for("a Lease holder", Duration::from_secs(60), || async { holder(&leases).await }).await;
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    pods_api.delete(&leader, &DeleteParams::default()).await.expect("delete the leader's pod mid-roll");
    let new_leader =
        wait_for("a new Lease holder", Duration::from_secs(60), || async { holder(&leases).await.filter(|h| *h != leader) }).await;
    println!("mid-roll failover: {leader} -> {new_leader} after restarts {:?}", watch.snapshot().restarts);
    op.logs = operator_pods(&client).await.iter().map(|p| world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).collect();
    wait_for("all three nodes restarted", Duration::from_secs(900), || {
        let watch = &watch;
        async move { (watch.snapshot().restarts.len() >= 3).then_some(()) }
    })
    .await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let history = watch.snapshot();
    assert_eq!(history.restart_counts().len(), 3, "every node restarted: {:?}", history.restarts);
    assert!(history.restart_counts().values().all(|n| *n == 1), "no node restarted twice across the failover: {:?}", history.restarts);
    assert!(history.max_unready <= 1, "two nodes were down at once: {history:?}");
    println!("PASS the roll finished across the failover, each node once: {:?}", history.restarts);

    // helm upgrade with a changed value: the Deployment rolls, no Kafka pod restarts.
    let uids = kafka_pod_uids(&client).await;
    watch.reset();
    let before: Vec<String> = operator_pods(&client).await.iter().map(name_of).collect();
    helm(&["upgrade", RELEASE, "charts/gregor", "--namespace", RELEASE_NS, "--set", "logging.level=debug\\,kube=warn"], Some(&kubeconfig));
    let pods = wait_operator_pods(&client, &before, "the upgraded Deployment's 2 Ready pods").await;
    op.logs = pods.iter().map(|p| world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).collect();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NS);
    let deploy = deployments.get(RELEASE).await.expect("deployment");
    let env = deploy.spec.and_then(|s| s.template.spec).map(|s| s.containers[0].env.clone().unwrap_or_default()).unwrap_or_default();
    assert!(env.iter().any(|e| e.value.as_deref() == Some("debug,kube=warn")), "the new log level is in the pod template: {env:?}");
    wait_for("a Lease holder after the upgrade", Duration::from_secs(60), || async {
        holder(&leases).await.filter(|h| pods.iter().any(|p| name_of(p) == *h))
    })
    .await;
    let mut topic = read_yaml("deploy/playground/topic.yaml", NS);
    topic["metadata"]["name"] = "after-upgrade".into();
    topic["spec"]["topicName"] = "after-upgrade".into();
    apply_json::<KafkaTopic>(&client, NS, topic.clone()).await.expect("apply a topic");
    wait_topic(&client, NS, "after-upgrade", true, None, Duration::from_secs(120), &op).await;
    assert_eq!(kafka_pod_uids(&client).await, uids, "helm upgrade restarted no Kafka pod");
    assert!(watch.snapshot().restarts.is_empty(), "{:?}", watch.snapshot().restarts);
    println!(
        "PASS helm upgrade rolled the Deployment ({before:?} -> {:?}); no Kafka pod restarted",
        pods.iter().map(name_of).collect::<Vec<_>>()
    );

    // helm uninstall: the operator goes, everything it manages stays.
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let claims = |l: Vec<k8s_openapi::api::core::v1::PersistentVolumeClaim>| {
        l.iter().map(|c| c.metadata.uid.clone().unwrap_or_default()).collect::<std::collections::BTreeSet<_>>()
    };
    let claims_before = claims(pvcs.list(&ListParams::default()).await.expect("pvcs").items);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), NS);
    let user_secret = secrets.get("app").await.expect("the user's Secret").metadata.uid;
    helm(&["uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait"], Some(&kubeconfig));
    wait_for("the operator's pods gone", Duration::from_secs(120), || async { operator_pods(&client).await.is_empty().then_some(()) })
        .await;
    // Long enough for the garbage collector to act on anything that depended on the release.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    for crd in ["kafkaclusters.kafka.gregor.dev", "kafkatopics.kafka.gregor.dev", "kafkausers.kafka.gregor.dev"] {
        crds.get(crd).await.unwrap_or_else(|e| panic!("CRD {crd} kept after helm uninstall: {e}"));
    }
    let kcs: Api<gregor::api::KafkaCluster> = Api::namespaced(client.clone(), NS);
    kcs.get("events").await.expect("the KafkaCluster kept");
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), NS);
    for t in ["orders", "after-upgrade"] {
        topics.get(t).await.unwrap_or_else(|e| panic!("KafkaTopic {t} kept: {e}"));
    }
    let users: Api<KafkaUser> = Api::namespaced(client.clone(), NS);
    users.get("app").await.expect("the KafkaUser kept");
    assert_eq!(secrets.get("app").await.expect("the user's Secret kept").metadata.uid, user_secret);
    assert_eq!(claims(pvcs.list(&ListParams::default()).await.expect("pvcs").items), claims_before, "every PVC kept");
    assert_eq!(kafka_pod_uids(&client).await, uids, "helm uninstall restarted no Kafka pod");
    println!(
        "PASS helm uninstall kept the CRDs, the cluster, 2 topics, the user and its Secret, {} PVCs and 3 Kafka pods",
        claims_before.len()
    );

    // Installing again adopts all of it: no restart, and it reconciles. At debug level, so a
    // failure here shows what the adopting operator did.
    helm_install(&world, RELEASE_NS, &["logging.level=debug\\,kube=warn"]);
    let pods = wait_operator_pods(&client, &pods.iter().map(name_of).collect::<Vec<_>>(), "the reinstalled operator's 2 Ready pods").await;
    op.logs = pods.iter().map(|p| world.pod_log_path(RELEASE_NS, &name_of(p), "gregor")).collect();
    topic["metadata"]["name"] = "after-reinstall".into();
    topic["spec"]["topicName"] = "after-reinstall".into();
    apply_json::<KafkaTopic>(&client, NS, topic).await.expect("apply a topic");
    wait_topic(&client, NS, "after-reinstall", true, None, Duration::from_secs(120), &op).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(120), &op).await;
    wait_user(&client, NS, "app", true, None, Duration::from_secs(120), &op).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(kafka_pod_uids(&client).await, uids, "the reinstalled operator restarted no Kafka pod");
    assert!(watch.snapshot().restarts.is_empty(), "{:?}", watch.snapshot().restarts);
    assert_eq!(
        secrets.get("app").await.expect("the user's Secret").metadata.uid,
        user_secret,
        "the user's Secret was adopted, not re-made"
    );
    println!("PASS reinstall adopted the cluster, topics and user with no restart");
}
