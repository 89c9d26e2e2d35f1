//! #15: the operator's cluster-health metrics and the generated alert rules, judged by a real
//! Prometheus (Debian's `/usr/bin/prometheus`) scraping the operator's `--metrics-addr` every
//! second, with the rules `gregor monitoring rules --for-scale 0.01` prints (every `for:` a
//! hundredth, every expression identical).
//!
//! A 3-broker cluster with an RF 3 / min ISR 2 topic. One broker frozen (SIGSTOP of its JVM: the
//! pod stays, Kafka fences it; a SIGKILLed JVM is restarted by the world's node agent within
//! seconds, before a 30 s health round can see it) fires KafkaBrokerFenced and
//! KafkaUnderReplicatedPartitions in `/api/v1/alerts`; a second fires KafkaUnderMinIsrPartitions;
//! after SIGCONT every Kafka alert of the cluster resolves. Kafka's own TopicCommand confirms the
//! partition states. Every rule's value expression and every dashboard panel's query is run
//! against that Prometheus and must return a series, except the ones listed with the reason they
//! cannot here.

use std::time::Duration;

use gregor::monitoring::{broker_dashboard, dashboards, rules};
use gregor_world::{KafkaTool, World};
use serde_json::json;

use crate::support::prometheus::{Prometheus, available, get_text};
use crate::support::*;

const NS: &str = "e2e-monitoring";
/// The Kafka alerts this test judges: all but the disk ones. The world's volumes are directories
/// on the host's file system, whose free space moves with everything else on the machine, so the
/// disk alerts' state says nothing about this cluster here.
fn judged(alert: &str) -> bool {
    alert.starts_with("Kafka") && !alert.starts_with("KafkaBrokerDisk")
}

/// Kafka's TopicCommand against broker 100 only (the others may be frozen).
async fn describe(tool: &KafkaTool, flag: &str) -> String {
    let bootstrap = format!("events-brokers-100.events-kafka-brokers.{NS}.svc:9092");
    let out = tool
        .run_ok(
            gregor_world::kafka::classes::TOPICS,
            &["--bootstrap-server", &bootstrap, "--describe", flag, "--topic", "orders"],
            None,
            Duration::from_secs(90),
        )
        .await
        .expect("kafka-topics --describe");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item4_alerts_fire_and_resolve_in_a_real_prometheus() {
    let Some(_serial) = crate::support::world_test("e2e::monitoring::item4_alerts_fire_and_resolve_in_a_real_prometheus").await else {
        return;
    };
    if !available("e2e::monitoring") {
        return;
    }
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let metrics_port = free_port();
    let op = Operator::start_with_chart_rbac(&world, "main", &[&format!("--metrics-addr=127.0.0.1:{metrics_port}")]).await;
    apply_cluster(&client, NS, split_cluster(NS, "events", "4.4.0", json!({}))).await;
    wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let admin = admin(&world, NS, "events", &[100, 101, 102]);
    create_rf3_topic(&admin, "orders", 3).await;
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");

    let dir = world.dir().join("prometheus");
    std::fs::create_dir_all(&dir).expect("dir");
    let prom = Prometheus::start_with_rules(&dir, metrics_port, "events").await;

    // A healthy baseline: three registered, unfenced brokers, every partition in sync.
    wait_for("a healthy cluster in Prometheus", Duration::from_secs(120), || {
        let prom = &prom;
        async move {
            let (_, registered) = prom.query("gregor_kafka_broker_registered{cluster=\"events\"} == 1").await?;
            let (_, in_sync) = prom.query("gregor_kafka_under_replicated_partitions{cluster=\"events\"} == 0").await?;
            let (_, orders) = prom.query("gregor_kafka_partitions{cluster=\"events\"} >= 3").await?;
            (registered.len() == 3 && in_sync.len() == 1 && orders.len() == 1).then_some(())
        }
    })
    .await;
    let (_, usable) = prom.query("gregor_kafka_log_dir_usable_bytes{cluster=\"events\"} > 0").await.expect("query");
    assert_eq!(usable.len(), 3, "DescribeLogDirs usable bytes of every broker: {usable:?}");
    tokio::time::sleep(Duration::from_secs(3)).await; // a few samples for the range functions

    // Every rule's expression and dashboard query against the real Prometheus; the lag and
    // certificate ones have their series in item1_consumer_lag_and_certificate_expiry_in_a_real_prometheus.
    let exported = get_text(metrics_port).await;
    let elsewhere = |expr: &str| {
        (expr.contains(CONSUMER_LAG) || expr.contains(rules::EXPIRY)).then_some(
            "this cluster has no spec.metrics.consumerLag and no TLS listener: item1_consumer_lag_and_certificate_expiry_in_a_real_prometheus runs it with a series",
        )
    };
    run_every_expression(&prom, &exported, NS, "events", &elsewhere).await;
    let baseline = prom.alerts().await.expect("alerts");
    assert!(!baseline.iter().any(|(a, _)| judged(a)), "a healthy cluster raises no Kafka alert: {baseline:?}");

    // One broker frozen: fenced, and every partition of `orders` under-replicated.
    assert!(signal_pod(NS, "events-brokers-102", "STOP") > 0, "found broker 102's processes");
    prom.wait_firing(&["KafkaBrokerFenced", "KafkaUnderReplicatedPartitions"], &op).await;
    let urp = describe(&tool, "--under-replicated-partitions").await;
    assert!(urp.contains("orders"), "Kafka agrees: under-replicated\n{urp}");
    let (_, fenced) = prom.query("gregor_kafka_broker_fenced{cluster=\"events\"} == 1").await.expect("query");
    assert_eq!(fenced.iter().map(|s| s["metric"]["node"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["102"]);

    // A second: below min.insync.replicas.
    assert!(signal_pod(NS, "events-brokers-101", "STOP") > 0, "found broker 101's processes");
    prom.wait_firing(&["KafkaUnderMinIsrPartitions"], &op).await;
    let under_min = describe(&tool, "--under-min-isr-partitions").await;
    assert!(under_min.contains("orders"), "Kafka agrees: under min ISR\n{under_min}");

    // Recovery: every Kafka alert of the cluster resolves.
    assert!(signal_pod(NS, "events-brokers-101", "CONT") > 0);
    assert!(signal_pod(NS, "events-brokers-102", "CONT") > 0);
    let resolved = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            if let Some(alerts) = prom.alerts().await
                && !alerts.iter().any(|(a, _)| judged(a))
            {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    match resolved {
        Ok(left) => println!("PASS after recovery no Kafka alert is pending or firing (left: {left:?})"),
        Err(_) => panic!("alerts did not resolve: {:?}\noperator log:\n{}", prom.alerts().await, op.log_tail(40)),
    }
    let healthy = describe(&tool, "--under-replicated-partitions").await;
    assert!(!healthy.contains("orders"), "Kafka agrees: in sync again\n{healthy}");
    drop(op);
}

const CONSUMER_LAG: &str = "gregor_kafka_consumer_group_lag_records";

/// Runs every rule's expression and every dashboard panel's query (variables set to
/// `namespace`/`cluster`) against `prom`: each parses, and each returns a series, except those
/// that read a counter without samples in this run, and those `excused` names with its reason.
async fn run_every_expression(
    prom: &Prometheus,
    exported: &str,
    namespace: &str,
    cluster: &str,
    excused: &dyn Fn(&str) -> Option<&'static str>,
) {
    let mut without_series = Vec::new();
    for a in rules::alerts() {
        let (status, _) = prom.query(&a.expr()).await.expect("query");
        assert_eq!(status, "success", "{}: {}", a.name, a.expr());
        let (_, series) = prom.query(&a.value).await.expect("query");
        if series.is_empty() {
            let why =
                if [rules::OUTCOMES, rules::FAILURES].iter().any(|m| a.value.contains(m) && !exported.contains(&format!("# TYPE {m} "))) {
                    "this operator build does not export the counter it reads"
                } else if a.value.contains(rules::OUTCOMES) {
                    "no reconcile ended with these reasons in this run (the counter has no series for them yet)"
                } else if a.value.contains(rules::FAILURES) {
                    "no reconcile failed in this run (the counter has no series yet)"
                } else if let Some(why) = excused(&a.value) {
                    why
                } else {
                    panic!("{}: {} returned no series\n/metrics:\n{exported}", a.name, a.value)
                };
            without_series.push((a.name, why));
        }
    }
    println!(
        "PASS every rule expression parses; value expressions with a series: {} of {}; without, and why: {without_series:?}",
        rules::alerts().len() - without_series.len(),
        rules::alerts().len()
    );
    let mut panels = 0;
    let mut panels_without = Vec::new();
    for d in dashboards::dashboards() {
        for p in &d.panels {
            for (expr, _) in &p.queries {
                if d.uid == broker_dashboard::UID {
                    // Its series come from the brokers' JMX exporter, which this cluster does not
                    // run; e2e::jmx runs every one of its queries against a cluster that does.
                    panels_without.push((d.uid, p.title, "reads the JMX exporter's series (judged in e2e::jmx)"));
                    panels += 1;
                    continue;
                }
                let expr = dashboards::with_variables(expr, namespace, cluster, "1m");
                let (status, series) = prom.query(&expr).await.expect("query");
                assert_eq!(status, "success", "{} / {}: {expr}", d.uid, p.title);
                panels += 1;
                if series.is_empty() {
                    let reads_missing =
                        [rules::OUTCOMES, rules::FAILURES].iter().any(|m| expr.contains(m) && !exported.contains(&format!("# TYPE {m} ")));
                    let why = if reads_missing {
                        "this operator build does not export the counter it reads"
                    } else if expr.contains(rules::FAILURES) {
                        "no reconcile failed in this run"
                    } else if expr.contains("gregor_pod_restarts_by_reason_total")
                        && !exported.contains("gregor_pod_restarts_by_reason_total{")
                    {
                        "no pod was restarted by this operator process yet (the counter has no series)"
                    } else if let Some(why) = excused(&expr) {
                        why
                    } else {
                        panic!("{} / {}: {expr} returned no series\n/metrics:\n{exported}", d.uid, p.title)
                    };
                    panels_without.push((d.uid, p.title, why));
                }
            }
        }
    }
    println!(
        "PASS every dashboard query runs: {} of {panels} with a series; without, and why: {panels_without:?}",
        panels - panels_without.len()
    );
}

/// The total LAG Kafka's own ConsumerGroupCommand reports for `group` (an independent client).
async fn kafka_group_lag(tool: &KafkaTool, bootstrap: &str, group: &str) -> Option<u64> {
    let out = tool
        .run(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &["--bootstrap-server", bootstrap, "--describe", "--group", group],
            None,
            Duration::from_secs(90),
        )
        .await
        .ok()?;
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    let rows: Vec<Vec<&str>> =
        out.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|c| c.first() == Some(&group)).collect();
    (!rows.is_empty()).then(|| rows.iter().filter_map(|c| c.get(5)?.parse::<u64>().ok()).sum())
}

/// The lag Prometheus has for `group` on topic `orders` of cluster `lag`.
async fn prometheus_lag(prom: &Prometheus, group: &str) -> Option<u64> {
    let (_, r) = prom.query(&format!("{CONSUMER_LAG}{{cluster=\"lag\",group=\"{group}\",topic=\"orders\"}}")).await?;
    r.first()?["value"][1].as_str()?.parse().ok()
}

/// #15 item 1 (consumer lag, opt-in with a glob), item 4 (the lag alert), #13 item 8 (certificate
/// expiry): a real consumer group made by Kafka's console consumer has lag; the operator
/// exports it, Prometheus scrapes it, and it equals what Kafka's ConsumerGroupCommand reports;
/// more records make KafkaConsumerGroupLagGrowing fire; a group the glob does not match is not
/// exported. The cluster has a TLS listener: the cluster CA's and every node's certificate
/// expiry are exported, the CA's equal to the not-after openssl reads from its Secret. Every rule
/// and dashboard query then returns a series in that Prometheus (or is listed with the reason).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item1_consumer_lag_and_certificate_expiry_in_a_real_prometheus() {
    let Some(_serial) = crate::support::world_test("e2e::monitoring::item1_consumer_lag_and_certificate_expiry_in_a_real_prometheus").await
    else {
        return;
    };
    if !available("e2e::monitoring") {
        return;
    }
    const LAG_NS: &str = "e2e-lag";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, LAG_NS).await;
    let metrics_port = free_port();
    let op = Operator::start_with_chart_rbac(&world, "main", &[&format!("--metrics-addr=127.0.0.1:{metrics_port}")]).await;
    let mut spec = split_cluster(LAG_NS, "lag", "4.4.0", json!({}));
    spec["spec"]["listeners"] = json!([
        {"name": "plain", "port": 9092, "type": "internal", "tls": false},
        {"name": "tls", "port": 9093, "type": "internal", "tls": true}
    ]);
    spec["spec"]["metrics"] = json!({"consumerLag": {"groups": "lag-*"}});
    apply_cluster(&client, LAG_NS, spec).await;
    wait_cluster_ready(&client, LAG_NS, "lag", Duration::from_secs(420), &op).await;
    let admin = admin(&world, LAG_NS, "lag", &[100, 101, 102]);
    // One partition: the console consumer's commit then covers the whole topic, so the lag is
    // exactly what was produced minus what was read (with three, a partition the consumer never
    // fetched has no commit, its lag is left out by Kafka and by Gregor alike, and the records
    // produced later could land there: the grown lag was not always "+40").
    create_rf3_topic(&admin, "orders", 1).await;
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let bootstrap = split_bootstrap(LAG_NS, "lag");

    let dir = world.dir().join("prometheus-lag");
    std::fs::create_dir_all(&dir).expect("dir");
    let prom = Prometheus::start_with_rules(&dir, metrics_port, "lag").await;

    // 30 records; two groups read 10 of them each with Kafka's console consumer and commit.
    let produce = |n: usize, from: usize| {
        let input: String = (from..from + n).map(|i| format!("record-{i}\n")).collect();
        let (tool, bootstrap) = (&tool, &bootstrap);
        async move {
            tool.run_ok(
                gregor_world::kafka::classes::CONSOLE_PRODUCER,
                &["--bootstrap-server", bootstrap, "--topic", "orders", "--producer-property", "acks=all"],
                Some(input.as_bytes()),
                Duration::from_secs(120),
            )
            .await
            .expect("console producer");
        }
    };
    produce(30, 0).await;
    for group in ["lag-app", "unwatched-app"] {
        tool.run_ok(
            gregor_world::kafka::classes::CONSOLE_CONSUMER,
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                "orders",
                "--group",
                group,
                "--from-beginning",
                "--max-messages",
                "10",
                "--consumer-property",
                "max.poll.records=10",
                "--timeout-ms",
                "60000",
            ],
            None,
            Duration::from_secs(120),
        )
        .await
        .expect("console consumer");
    }
    let kafka_lag = wait_for("Kafka's ConsumerGroupCommand to describe lag-app", Duration::from_secs(60), || {
        kafka_group_lag(&tool, &bootstrap, "lag-app")
    })
    .await;
    assert_eq!(kafka_lag, 20, "the console consumer read and committed 10 of the 30 records");
    let seen = wait_for("Prometheus to have lag-app's lag as Kafka reports it", Duration::from_secs(120), || {
        let prom = &prom;
        async move { (prometheus_lag(prom, "lag-app").await? == kafka_lag).then_some(kafka_lag) }
    })
    .await;
    println!("PASS lag of lag-app on orders: {seen} in Prometheus, {kafka_lag} from Kafka's ConsumerGroupCommand");
    let (_, unwatched) = prom.query(&format!("{CONSUMER_LAG}{{group=\"unwatched-app\"}}")).await.expect("query");
    assert!(unwatched.is_empty(), "a group the glob does not match is not exported: {unwatched:?}");
    println!("PASS unwatched-app (not matching lag-*) is not exported");

    // More records: the lag grows, and the lag alert fires.
    produce(40, 30).await;
    let grown = wait_for("the grown lag in Prometheus", Duration::from_secs(120), || {
        let prom = &prom;
        async move { prometheus_lag(prom, "lag-app").await.filter(|l| *l == kafka_lag + 40) }
    })
    .await;
    assert_eq!(kafka_group_lag(&tool, &bootstrap, "lag-app").await, Some(grown), "Kafka agrees on the grown lag");
    prom.wait_firing(&["KafkaConsumerGroupLagGrowing"], &op).await;

    // Certificate expiry: the CA's equals the not-after openssl reads from its public Secret.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client.clone(), LAG_NS);
    let ca = secrets.get("lag-cluster-ca-cert").await.expect("public CA Secret");
    let pem = ca.data.as_ref().and_then(|d| d.get("ca.crt")).map(|b| b.0.clone()).expect("ca.crt");
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, pem).expect("write ca.crt");
    let enddate =
        std::process::Command::new("openssl").args(["x509", "-noout", "-enddate", "-in"]).arg(&ca_file).output().expect("openssl");
    let enddate = String::from_utf8_lossy(&enddate.stdout).trim().trim_start_matches("notAfter=").to_owned();
    let epoch = std::process::Command::new("date").args(["-u", "-d", &enddate, "+%s"]).output().expect("date");
    let openssl_not_after: i64 = String::from_utf8_lossy(&epoch.stdout).trim().parse().expect("epoch seconds");
    let (_, certs) = prom.query(&format!("{}{{cluster=\"lag\"}}", rules::EXPIRY)).await.expect("query");
    let by_kind = |kind: &str| certs.iter().filter(|c| c["metric"]["kind"] == kind).count();
    assert_eq!((by_kind("cluster-ca"), by_kind("node")), (1, 6), "the CA and six node certificates: {certs:?}");
    let ca_series = certs.iter().find(|c| c["metric"]["kind"] == "cluster-ca").expect("CA series");
    let exported_not_after: i64 = ca_series["value"][1].as_str().and_then(|v| v.parse().ok()).expect("value");
    assert_eq!(exported_not_after, openssl_not_after, "the exported CA not-after is the one openssl reads ({enddate})");
    println!("PASS certificate expiry: CA {exported_not_after} (openssl: {enddate}), 6 node certificates");

    let exported = get_text(metrics_port).await;
    let excused = |_: &str| None;
    run_every_expression(&prom, &exported, LAG_NS, "lag", &excused).await;
    drop(op);
}
