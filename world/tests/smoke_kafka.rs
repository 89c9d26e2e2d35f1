//! Smoke e2e, no operator: a hand-written StatefulSet of 3 combined KRaft nodes running real
//! brokers; RF=3/min.insync=2 topic; 1000 records with acks=all; a pod deleted and recreated
//! with its data; ISR shrinks to 2 and returns to 3; all 1000 records consumed.
use gregor_world::fixtures::kraft_statefulset;
use gregor_world::kafka::classes;
use gregor_world::{KafkaTool, World};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const VERSION: &str = "4.4.0";

/// partition -> ISR broker ids, from `kafka-topics --describe`.
async fn isr(tool: &KafkaTool, bootstrap: &str, topic: &str) -> Option<BTreeMap<u32, Vec<u32>>> {
    let out = tool
        .run(classes::TOPICS, &["--bootstrap-server", bootstrap, "--describe", "--topic", topic], None, Duration::from_secs(60))
        .await
        .ok()?;
    if out.status != 0 {
        return None;
    }
    let mut m = BTreeMap::new();
    for line in out.stdout.lines().filter(|l| l.contains("Partition:")) {
        let field = |name: &str| -> Option<String> {
            let mut it = line.split('\t').map(str::trim);
            it.find(|t| t.starts_with(name)).map(|t| t[name.len()..].trim().to_string())
        };
        let p: u32 = field("Partition:")?.parse().ok()?;
        let isr: Vec<u32> = field("Isr:")?.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        m.insert(p, isr);
    }
    (!m.is_empty()).then_some(m)
}

#[tokio::test]
async fn kraft_statefulset_survives_pod_deletion() {
    if !gregor_world::tools::world_suite_runs("gregor-world::smoke_kafka::kraft_statefulset_survives_pod_deletion") {
        return;
    }
    let _ = tracing_subscriber::fmt().with_env_filter("info,kube=warn").with_test_writer().try_init();
    let world = World::start().await.expect("world starts");
    eprintln!("world started in {:?} at {}", world.started_in(), world.dir().display());

    let t0 = Instant::now();
    let kafka = kraft_statefulset(&world, "smoke", "kafka", VERSION, 3).await.expect("3 Ready brokers");
    eprintln!("3 brokers Ready {:?} after apply", t0.elapsed());
    assert_eq!(kafka.bound_pvcs(&world).await.expect("pvcs"), 3);

    let tool = kafka.tool(&world).expect("kafka tool");
    let bs = kafka.bootstrap_servers();
    let topic = "smoke";
    tool.run_ok(
        classes::TOPICS,
        &[
            "--bootstrap-server",
            &bs,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
        None,
        Duration::from_secs(120),
    )
    .await
    .expect("create topic");

    let records: String = (0..1000).map(|i| format!("record-{i}\n")).collect();
    tool.run_ok(
        classes::CONSOLE_PRODUCER,
        &["--bootstrap-server", &bs, "--topic", topic, "--producer-property", "acks=all", "--producer-property", "linger.ms=5"],
        Some(records.as_bytes()),
        Duration::from_secs(120),
    )
    .await
    .expect("produce 1000 records");

    let full = isr(&tool, &bs, topic).await.expect("describe");
    assert!(full.values().all(|i| i.len() == 3), "ISR full before deletion: {full:?}");

    // Delete broker 2's pod: SIGTERM, controlled shutdown; the ISR shrinks to the other two.
    let others = format!("{},{}", kafka.bootstrap[0], kafka.bootstrap[1]);
    let old_uid = kafka.delete_pod(&world, 2).await.expect("delete pod");
    let start = Instant::now();
    let shrunk = loop {
        if let Some(m) = isr(&tool, &others, topic).await
            && m.values().all(|i| i.len() == 2 && !i.contains(&2))
        {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "ISR never shrank to 2");
    };
    eprintln!("ISR shrank: {shrunk:?}");

    let t1 = Instant::now();
    kafka.wait_pod_back(&world, 2, &old_uid, Duration::from_secs(180)).await.expect("pod back");
    eprintln!("recreated broker pod Ready {:?} after the ISR shrank", t1.elapsed());
    let start = Instant::now();
    let back = loop {
        if let Some(m) = isr(&tool, &bs, topic).await
            && m.values().all(|i| i.len() == 3)
        {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "ISR never returned to 3");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("ISR back: {back:?}");
    // Same data: the recreated pod found its volume formatted and did not format again.
    let log = std::fs::read_to_string(world.pod_log_path("smoke", "kafka-2", "kafka")).expect("pod log");
    assert_eq!(log.matches("Formatting").count(), 1, "kafka-2 formatted its volume once only");

    let out = tool
        .run_ok(
            classes::CONSOLE_CONSUMER,
            &["--bootstrap-server", &bs, "--topic", topic, "--from-beginning", "--max-messages", "1000", "--timeout-ms", "60000"],
            None,
            Duration::from_secs(120),
        )
        .await
        .expect("consume");
    let mut got: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("record-")).collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 1000, "consumed all 1000 distinct records");
}
