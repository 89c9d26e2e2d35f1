//! (d) A version upgrade 4.3.1 → 4.4.0 under acks=all traffic: every node rolls to the new image,
//! metadata.version is raised only after the last pod, the status shows both versions, and no
//! produce fails.

use std::time::Duration;

use crate::support::pod_watch::PodWatch;
use crate::support::traffic::{Producer, consume_all};
use crate::support::*;
use gregor_world::World;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

const NS: &str = "e2e-upgrade";

fn image(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.containers.iter().find(|c| c.name == "kafka")?.image.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_rolls_binaries_then_raises_metadata_version() {
    let Some(_serial) = crate::support::world_test("e2e::upgrade::upgrade_rolls_binaries_then_raises_metadata_version").await else {
        return;
    };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "main", &[]).await;
    apply_cluster(&client, NS, split_cluster(NS, "events", "4.3.1", json!({}))).await;
    let kc = wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let status = kc.status.expect("status");
    assert_eq!((status.kafka_version.as_deref(), status.metadata_version.as_deref()), (Some("4.3.1"), Some("4.3-IV0")));

    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    create_rf3_topic(&admin, "orders", 3).await;
    let names = split_pod_names("events");
    let watch = PodWatch::start(&client, NS, "events", &names);
    let bootstrap = split_bootstrap(NS, "events");
    let producer = Producer::start(&world, "4.3.1", &bootstrap, "orders", 200);
    tokio::time::sleep(Duration::from_secs(5)).await;

    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({}))).await;
    // While any pod still runs the old binaries, metadata.version must stay at 4.3-IV0 (level 30).
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let levels_during_roll = std::sync::Mutex::new(Vec::new());
    wait_for("every pod on apache/kafka:4.4.0 and Ready", Duration::from_secs(900), || {
        let pods = &pods;
        let admin = &admin;
        let levels = &levels_during_roll;
        async move {
            let list = pods.list(&Default::default()).await.ok()?;
            let done = list.items.len() == 6
                && list.items.iter().all(|p| {
                    image(p).as_deref() == Some("apache/kafka:4.4.0")
                        && p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                });
            if !done && let Ok(f) = admin.describe_features().await {
                levels.lock().expect("levels").push(f.metadata_version());
            }
            done.then_some(())
        }
    })
    .await;
    let levels_during_roll = levels_during_roll.into_inner().expect("levels");
    assert!(!levels_during_roll.is_empty());
    assert!(
        levels_during_roll.iter().all(|l| *l == Some(30)),
        "metadata.version changed before every node ran 4.4.0: {levels_during_roll:?}"
    );
    let kc = wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let status = kc.status.expect("status");
    assert_eq!((status.kafka_version.as_deref(), status.metadata_version.as_deref()), (Some("4.4.0"), Some("4.4-IV2")));
    assert_eq!(admin.describe_features().await.expect("features").metadata_version(), Some(33));

    let produced = producer.stop().await;
    let history = watch.snapshot();
    assert!(history.restart_counts().len() == 6 && history.restart_counts().values().all(|n| *n == 1), "{:?}", history.restarts);
    assert!(history.max_unready <= 1, "two pods down at once: {history:?}");
    assert!(produced.errors.is_empty(), "produce errors: {:?}", &produced.errors[..produced.errors.len().min(5)]);
    assert!(produced.acked.len() > 500, "the producer kept writing: {}", produced.acked.len());
    let consumed = consume_all(&world, "4.4.0", &bootstrap, "orders").await;
    let lost: Vec<&String> = produced.acked.difference(&consumed).take(10).collect();
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
    drop(op);
}
