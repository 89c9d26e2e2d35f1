//! (e) A broker stopped out of band leaves partitions at min ISR. A roll that would restart
//! another broker in those ISRs waits, with a condition naming the partitions, and resumes by
//! itself when the ISR recovers.

use std::time::Duration;

use crate::support::pod_watch::PodWatch;
use crate::support::*;
use gregor::api::KafkaCluster;
use gregor_world::World;
use kube::api::Api;
use serde_json::json;

const NS: &str = "e2e-blocked";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roll_waits_for_the_isr_and_resumes() {
    let Some(_serial) = crate::support::world_test("e2e::blocked::roll_waits_for_the_isr_and_resumes").await else { return };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "main", &[]).await;
    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({}))).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    create_rf3_topic(&admin, "orders", 3).await;

    // Stop broker 102 out of band (SIGSTOP): it is fenced and leaves every ISR.
    assert!(signal_pod(NS, "events-brokers-102", "STOP") > 0, "found the broker's processes");
    wait_for("broker 102 out of every ISR", Duration::from_secs(120), || {
        let admin = &admin;
        async move {
            let snap = admin.refresh_metadata().await.ok()?;
            let t = snap.topic("orders")?;
            t.partitions.iter().all(|p| p.isr.len() == 2 && !p.isr.contains(&102)).then_some(())
        }
    })
    .await;

    let watch = PodWatch::start(&client, NS, "events", &split_pod_names("events"));
    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({"queued.max.requests": 600}))).await;
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let message = wait_for("a RollBlocked condition", Duration::from_secs(120), || {
        let api = api.clone();
        async move {
            let kc = api.get("events").await.ok()?;
            let (status, reason, message) = ready(&kc)?;
            (status == "False" && reason == "RollBlocked").then_some(message)
        }
    })
    .await;
    assert!(message.contains("orders-0") && message.contains("orders-1") && message.contains("orders-2"), "{message}");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let history = watch.snapshot();
    assert!(history.restarts.is_empty(), "nothing may restart while partitions sit at min ISR: {:?}", history.restarts);

    // The ISR recovers: the roll resumes by itself and completes, one pod at a time.
    assert!(signal_pod(NS, "events-brokers-102", "CONT") > 0);
    wait_for("all six pods restarted", Duration::from_secs(900), || {
        let watch = &watch;
        async move { (watch.snapshot().restarts.len() >= 6).then_some(()) }
    })
    .await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let history = watch.snapshot();
    assert!(history.restart_counts().values().all(|n| *n == 1), "{:?}", history.restarts);
    assert!(history.max_unready <= 1, "two pods down at once: {history:?}");
    drop(op);
}
