//! The Kafka admin client against a real 3-node KRaft cluster in the test world.
//! One world, one cluster, steps in sequence (each step prints what it saw).

mod kafka_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gregor_kafka::consume::OffsetSpec;
use gregor_kafka::ops::acls::{AclBinding, AclFilter, AclOperation, AclResourceType};
use gregor_kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource};
use gregor_kafka::ops::features::UpgradeType;
use gregor_kafka::ops::quotas::{CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE, QuotaAlteration, QuotaMatch, user_entity};
use gregor_kafka::ops::scram::generate_password;
use gregor_kafka::ops::topics::NewTopic;
use gregor_kafka::produce::{OutRecord, Producer, ProducerConfig};
use gregor_kafka::safety::RestartDecision;
use gregor_kafka::{Client, ResponseError, SaslConfig, StaticToken, TopicPartition};
use kafka_support::{SASL, SSL, TestCluster, eventually};

fn code(e: &gregor_kafka::Error) -> Option<ResponseError> {
    e.kafka_code()
}

/// One world at a time: the two versions' tests take turns (each runs 3 JVMs). Each test has
/// its own runtime on its own thread, so holding this blocking lock across `.await` is the point.
static ONE_WORLD: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn admin_client_against_kafka_4_4() {
    if !gregor_world::tools::world_suite_runs("kafka_admin") {
        return;
    }
    let _turn = ONE_WORLD.lock().unwrap_or_else(|p| p.into_inner());
    run(std::env::var("GREGOR_KAFKA_VERSION").unwrap_or_else(|_| "4.4.0".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn admin_client_against_kafka_4_3() {
    if !gregor_world::tools::world_suite_runs("kafka_admin") {
        return;
    }
    let _turn = ONE_WORLD.lock().unwrap_or_else(|p| p.into_inner());
    run("4.3.1".into()).await;
}

async fn run(version: String) {
    let _ = tracing_subscriber::fmt().with_env_filter("gregor=info").with_test_writer().try_init();
    let world = gregor_world::World::start().await.expect("world");
    let tc = kafka_support::start(&world, "kafka-client", "kc", &version).await;
    println!("cluster up: {:?} (Kafka {version})", tc.kraft.bootstrap);

    let admin = Client::connect(tc.config(kafka_support::PLAIN)).await.expect("connect");
    cluster_and_quorum(&admin).await;
    topics_and_configs(&admin).await;
    produce_consume_groups(&admin).await;
    scram_acls_quotas(&admin, &tc).await;
    oauth_and_tls(&tc).await;
    roll_safety(&admin, &tc, &world).await;
    drop(world);
}

async fn cluster_and_quorum(admin: &Client) {
    let c = admin.describe_cluster().await.unwrap();
    println!("describe_cluster: {} brokers {:?}", c.cluster_id, c.brokers.iter().map(|b| (b.id, b.fenced)).collect::<Vec<_>>());
    assert_eq!(c.brokers.len(), 3);
    assert!(c.brokers.iter().all(|b| !b.fenced));
    let m = admin.metadata().await.unwrap();
    assert_eq!(m.brokers.len(), 3);
    assert_eq!(m.cluster_id.as_deref(), Some(c.cluster_id.as_str()));
    let q = admin.describe_quorum().await.unwrap();
    println!("describe_quorum: leader {} epoch {} voters {:?}", q.leader_id, q.leader_epoch, q.voters);
    assert_eq!(q.voters.len(), 3);
    assert!(q.leader().is_some());
    let qc = eventually("controllers caught up", Duration::from_secs(30), || async {
        let r = admin.controllers_caught_up(1000, 10_000).await.unwrap();
        r.is_caught_up().then_some(r)
    })
    .await;
    println!("controllers_caught_up: {qc:?}");
    let f = admin.describe_features().await.unwrap();
    let mv = f.metadata_version().expect("metadata.version");
    println!("features: metadata.version {mv}, supported {:?}", f.supported.get("metadata.version"));
    admin.set_metadata_version(mv, UpgradeType::Upgrade, true).await.expect("validate-only UpdateFeatures at current level");
    let too_high = admin.set_metadata_version(mv + 100, UpgradeType::Upgrade, true).await.unwrap_err();
    println!("update_features beyond support: {too_high}");
    let e = admin.unregister_broker(4242).await.unwrap_err();
    println!("unregister unknown broker: {e}");
    assert_eq!(code(&e), Some(ResponseError::BrokerIdNotRegistered));
    // DescribeLogDirs v4 (KIP-827): each broker's directories with their file system's sizes.
    for b in &c.brokers {
        let dirs = admin.describe_log_dirs(b.id).await.unwrap();
        println!("describe_log_dirs {}: {dirs:?}", b.id);
        assert!(!dirs.is_empty());
        for d in &dirs {
            let (total, usable) = (d.total_bytes.expect("total bytes"), d.usable_bytes.expect("usable bytes"));
            assert!(d.error.is_none() && total > 0 && usable <= total, "{d:?}");
        }
    }
}

async fn topics_and_configs(admin: &Client) {
    // Batched creation: 20 topics in batches of the client's batch size.
    let topics: Vec<NewTopic> = (0..20).map(|i| NewTopic::new(format!("batch-{i:02}"), 2, 3).config("min.insync.replicas", "2")).collect();
    let t0 = std::time::Instant::now();
    let res = admin.create_topics(&topics, false).await.unwrap();
    assert!(res.iter().all(|(_, r)| r.is_ok()), "{res:?}");
    println!("create_topics: 20 topics in {:?}", t0.elapsed());
    let again = admin.create_topics(&topics[..1], false).await.unwrap();
    assert_eq!(again[0].1.as_ref().map_err(code).unwrap_err(), Some(ResponseError::TopicAlreadyExists));

    // Configs: topic, one broker, cluster-wide default; read-only flags.
    // A new topic reaches every broker through the metadata log; wait until it is described.
    let res = eventually("batch-00 described", Duration::from_secs(20), || async {
        let r = admin
            .describe_configs(&[ConfigResource::topic("batch-00"), ConfigResource::broker(1), ConfigResource::topic("no-such-topic")], None)
            .await
            .ok()?;
        r.iter().find(|x| x.resource == ConfigResource::topic("batch-00"))?.entries.is_ok().then_some(r)
    })
    .await;
    let topic = res.iter().find(|r| r.resource == ConfigResource::topic("batch-00")).unwrap();
    assert_eq!(topic.get("min.insync.replicas").unwrap().value.as_deref(), Some("2"));
    let broker = res.iter().find(|r| r.resource == ConfigResource::broker(1)).unwrap();
    let node_id = broker.get("node.id").unwrap();
    let retention = broker.get("log.retention.ms").unwrap();
    println!("describe_configs broker 1: node.id read_only={} log.retention.ms read_only={}", node_id.read_only, retention.read_only);
    assert!(node_id.read_only && !retention.read_only);
    let missing = res.iter().find(|r| r.resource.name == "no-such-topic").unwrap();
    assert_eq!(missing.entries.as_ref().map_err(code).unwrap_err(), Some(ResponseError::UnknownTopicOrPartition));

    let alts = [
        ConfigAlteration {
            resource: ConfigResource::topic("batch-00"),
            changes: vec![("retention.ms".into(), AlterOp::Set("3600000".into()))],
        },
        ConfigAlteration {
            resource: ConfigResource::cluster_broker_default(),
            changes: vec![("log.cleaner.threads".into(), AlterOp::Set("2".into()))],
        },
        ConfigAlteration {
            resource: ConfigResource::broker(2),
            changes: vec![("message.max.bytes".into(), AlterOp::Set("2000000".into()))],
        },
    ];
    let out = admin.incremental_alter_configs(&alts, false).await.unwrap();
    assert!(out.iter().all(|o| o.result.is_ok()), "{out:?}");
    // Changes travel through the metadata log: every broker sees them shortly after.
    eventually("altered configs visible", Duration::from_secs(30), || async {
        let after = admin
            .describe_configs(
                &[ConfigResource::topic("batch-00"), ConfigResource::broker(2), ConfigResource::broker(0)],
                Some(&["retention.ms", "message.max.bytes", "log.cleaner.threads"]),
            )
            .await
            .ok()?;
        let get =
            |r: &ConfigResource, k: &str| after.iter().find(|x| &x.resource == r).and_then(|x| x.get(k)).and_then(|e| e.value.clone());
        (get(&ConfigResource::topic("batch-00"), "retention.ms").as_deref() == Some("3600000")
            && get(&ConfigResource::broker(2), "message.max.bytes").as_deref() == Some("2000000")
            && get(&ConfigResource::broker(0), "log.cleaner.threads").as_deref() == Some("2"))
        .then_some(())
    })
    .await;
    println!("incremental_alter_configs: topic, broker 2 and cluster default visible");

    // Partitions only grow.
    let grow = admin.create_partitions(&[("batch-01".into(), 4)], false).await.unwrap();
    assert!(grow[0].1.is_ok());
    let shrink = admin.create_partitions(&[("batch-01".into(), 1)], false).await.unwrap();
    let e = shrink[0].1.as_ref().unwrap_err();
    println!("partition decrease: {e}");
    assert_eq!(code(e), Some(ResponseError::InvalidPartitions));
    // The broker answering Metadata learns the new partitions from the metadata log a moment
    // after the controller accepted them.
    let mut md = admin.topic_metadata(&["batch-01".into(), "no-such-topic".into()]).await.unwrap();
    for _ in 0..50 {
        if md.topic("batch-01").is_some_and(|t| t.partitions.len() == 4) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        md = admin.topic_metadata(&["batch-01".into(), "no-such-topic".into()]).await.unwrap();
    }
    assert_eq!(md.topic("batch-01").unwrap().partitions.len(), 4);
    assert_eq!(md.topic("no-such-topic").unwrap().error.map(|c| c.0), Some(ResponseError::UnknownTopicOrPartition));

    // Reassignment: reverse the replica order of batch-02/0, wait until applied.
    let meta = admin.metadata().await.unwrap();
    let mut replicas = meta.partition("batch-02", 0).unwrap().replicas.clone();
    replicas.reverse();
    let tp = TopicPartition { topic: "batch-02".into(), partition: 0 };
    let r = admin.alter_partition_reassignments(&[(tp.clone(), Some(replicas.clone()))]).await.unwrap();
    assert!(r[&tp].is_ok(), "{r:?}");
    let ongoing = admin.list_partition_reassignments(None).await.unwrap();
    println!("list_partition_reassignments right after: {ongoing:?}");
    eventually("reassignment applied", Duration::from_secs(60), || async {
        let m = admin.metadata().await.ok()?;
        (m.partition("batch-02", 0)?.replicas == replicas).then_some(())
    })
    .await;
    let none = admin.alter_partition_reassignments(&[(tp.clone(), None)]).await.unwrap();
    println!("cancel with nothing ongoing: {:?}", none[&tp]);
    assert_eq!(none[&tp].as_ref().map_err(code).unwrap_err(), Some(ResponseError::NoReassignmentInProgress));

    // Batched deletion, one unknown.
    let mut names: Vec<String> = (10..20).map(|i| format!("batch-{i:02}")).collect();
    names.push("no-such-topic".into());
    let del = admin.delete_topics(&names).await.unwrap();
    assert!(del[..10].iter().all(|(_, r)| r.is_ok()));
    assert_eq!(del[10].1.as_ref().map_err(code).unwrap_err(), Some(ResponseError::UnknownTopicOrPartition));
    println!("delete_topics: 10 deleted, unknown topic reported");
}

async fn produce_consume_groups(admin: &Client) {
    let p = Producer::new(admin.clone(), ProducerConfig::default()).await.unwrap();
    let recs: Vec<OutRecord> = (0..10).map(|i| OutRecord::value(format!("m{i}"))).collect();
    let base = p.send("batch-03", 1, &recs).await.unwrap();
    let base2 = p.send("batch-03", 1, &recs[..2]).await.unwrap();
    assert_eq!(base2, base + 10);
    let latest = admin.list_offset("batch-03", 1, OffsetSpec::Latest).await.unwrap();
    assert_eq!(latest, base + 12);
    let f = admin.fetch("batch-03", 1, base, 1 << 20, 500).await.unwrap();
    let values: Vec<String> =
        f.records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect();
    assert_eq!(values.len(), 12);
    assert_eq!(values[0], "m0");
    println!("produce/fetch: 12 records, hw {}", f.high_watermark);

    let offs = BTreeMap::from([(TopicPartition { topic: "batch-03".into(), partition: 1 }, f.next_offset)]);
    admin.commit_group_offsets("client-test-group", &offs).await.unwrap();
    let groups = admin.list_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.group_id == "client-test-group"), "{groups:?}");
    let got = admin.list_group_offsets("client-test-group").await.unwrap();
    assert_eq!(got, offs);
    println!("groups: {groups:?}, offsets {got:?}");
}

async fn scram_acls_quotas(admin: &Client, tc: &TestCluster) {
    let password = generate_password(32);
    admin.upsert_scram_sha512("alice", &password, 8192).await.unwrap();
    let creds = eventually("alice's credential described", Duration::from_secs(20), || async {
        admin.describe_scram_credentials(Some(&["alice".into()])).await.ok().filter(|c| c.get("alice").is_some_and(|r| r.is_ok()))
    })
    .await;
    println!("describe_scram_credentials: {creds:?}");
    assert_eq!(creds["alice"].as_ref().unwrap()[0].iterations, 8192);

    let sasl = |pw: &str| tc.config(SASL).with_sasl(SaslConfig::ScramSha512 { username: "alice".into(), password: pw.into() });
    // Credentials propagate through the metadata log; allow a moment.
    let alice = eventually("alice can log in", Duration::from_secs(20), || async { Client::connect(sasl(&password)).await.ok() }).await;
    let bad = Client::connect(sasl("wrong-password")).await.unwrap_err();
    println!("wrong password: {bad}");
    assert!(bad.is_authentication_failure(), "{bad:?}");

    // Authorization: no ACL yet.
    let denied = alice.create_topics(&[NewTopic::new("alice-topic", 1, 3)], false).await.unwrap();
    let e = denied[0].1.as_ref().unwrap_err();
    println!("create without ACL: {e}");
    assert!(e.is_authorization_failure());
    let denied = alice.describe_configs(&[ConfigResource::topic("batch-00")], None).await.unwrap();
    assert_eq!(denied[0].entries.as_ref().map_err(code).unwrap_err(), Some(ResponseError::TopicAuthorizationFailed));

    let want = vec![
        AclBinding::allow("alice", AclResourceType::Topic, "batch-00", AclOperation::DescribeConfigs),
        AclBinding::allow("alice", AclResourceType::Topic, "batch-00", AclOperation::Read),
    ];
    let (created, deleted) = admin.reconcile_acls("User:alice", &want).await.unwrap();
    assert_eq!((created, deleted), (2, 0));
    let now = eventually("ACLs described", Duration::from_secs(20), || async {
        admin.describe_acls(&AclFilter::principal("User:alice")).await.ok().filter(|a| a.len() == 2)
    })
    .await;
    assert_eq!(now, {
        let mut w = want.clone();
        w.sort();
        w
    });
    eventually("ACL effective", Duration::from_secs(20), || async {
        let r = alice.describe_configs(&[ConfigResource::topic("batch-00")], None).await.ok()?;
        r[0].entries.is_ok().then_some(())
    })
    .await;
    // Reconcile to a smaller set deletes the stale binding.
    let (created, deleted) = admin.reconcile_acls("User:alice", &want[..1]).await.unwrap();
    println!("reconcile to one binding: created {created}, deleted {deleted}");
    assert_eq!(created, 0);
    // Reads are eventually consistent: reconcile until the described set is exactly the desired one.
    eventually("stale ACL gone", Duration::from_secs(20), || async {
        admin.reconcile_acls("User:alice", &want[..1]).await.ok()?;
        let now = admin.describe_acls(&AclFilter::principal("User:alice")).await.ok()?;
        (now == want[..1]).then_some(())
    })
    .await;
    println!("acls: reconcile created 2, then removed 1 stale");

    // Quotas.
    let q = admin
        .alter_client_quotas(
            &[QuotaAlteration {
                entity: user_entity("alice"),
                ops: vec![(PRODUCER_BYTE_RATE.into(), Some(1_048_576.0)), (CONSUMER_BYTE_RATE.into(), Some(2_097_152.0))],
            }],
            false,
        )
        .await
        .unwrap();
    assert!(q[0].1.is_ok());
    let d = eventually("quotas described", Duration::from_secs(20), || async {
        admin.describe_client_quotas(&[QuotaMatch::Exact("user".into(), "alice".into())], true).await.ok().filter(|d| !d.is_empty())
    })
    .await;
    println!("quotas: {d:?}");
    assert_eq!(d[0].1.get(PRODUCER_BYTE_RATE), Some(&1_048_576.0));

    // Deleting the credential ends logins.
    admin.delete_scram_sha512("alice").await.unwrap();
    let gone =
        eventually("login refused after deletion", Duration::from_secs(20), || async { Client::connect(sasl(&password)).await.err() })
            .await;
    assert!(gone.is_authentication_failure(), "{gone:?}");
    admin.delete_acls(&[AclFilter::principal("User:alice")]).await.unwrap();
}

async fn oauth_and_tls(tc: &TestCluster) {
    let cfg = tc.config(SASL).with_sasl(SaslConfig::OAuthBearer { provider: Arc::new(StaticToken(kafka_support::unsecured_jwt("admin"))) });
    let c = Client::connect(cfg).await.expect("oauthbearer login");
    assert_eq!(c.describe_cluster().await.unwrap().brokers.len(), 3);
    let bad = tc.config(SASL).with_sasl(SaslConfig::OAuthBearer { provider: Arc::new(StaticToken("not-a-jwt".into())) });
    let e = Client::connect(bad).await.unwrap_err();
    assert!(e.is_authentication_failure(), "{e:?}");
    println!("oauthbearer: token accepted; garbage refused ({e})");

    let tls = Client::connect(tc.config(SSL).with_tls(tc.tls())).await.expect("mTLS connect");
    let c = tls.describe_cluster().await.unwrap();
    // CN=admin is a super user: an admin op succeeds over mTLS.
    let t = tls.create_topics(&[NewTopic::new("tls-topic", 1, 3)], false).await.unwrap();
    assert!(t[0].1.is_ok(), "{t:?}");
    println!("tls: {} brokers over mTLS, topic created as CN=admin", c.brokers.len());
    // Without a client certificate the broker refuses the handshake (client.auth=required).
    let mut no_cert = tc.tls();
    no_cert.client_cert_pem = None;
    no_cert.client_key_pem = None;
    let mut cfg = tc.config(SSL).with_tls(no_cert);
    cfg.retry.max_attempts = 1;
    assert!(Client::connect(cfg).await.is_err());
}

async fn roll_safety(admin: &Client, tc: &TestCluster, world: &gregor_world::World) {
    let res = admin.create_topics(&[NewTopic::new("safety", 6, 3).config("min.insync.replicas", "2")], false).await.unwrap();
    assert!(res[0].1.is_ok());
    eventually("all in sync", Duration::from_secs(60), || async { admin.can_restart(1).await.ok()?.is_ok().then_some(()) }).await;
    println!("can_restart(1) before: Ok");

    // Stop broker 0 (graceful delete; the StatefulSet brings it back).
    let uid = tc.kraft.delete_pod(world, 0).await.unwrap();
    let blocked = eventually("can_restart(1) Blocked", Duration::from_secs(60), || async {
        match admin.can_restart(1).await.ok()? {
            b @ RestartDecision::Blocked { .. } => Some(b),
            RestartDecision::Ok { .. } | RestartDecision::Unknown { .. } => None,
        }
    })
    .await;
    let RestartDecision::Blocked { at_risk, .. } = &blocked else { unreachable!() };
    println!("can_restart(1) with broker 0 down: Blocked on {:?}", at_risk.iter().map(|a| a.partition.to_string()).collect::<Vec<_>>());
    assert!(at_risk.iter().any(|a| a.partition.topic == "safety"));
    let cu = admin.caught_up(0).await.unwrap();
    println!("caught_up(0) while down: {cu:?}");
    assert!(!cu.is_caught_up());

    tc.kraft.wait_pod_back(world, 0, &uid, Duration::from_secs(180)).await.unwrap();
    let cu = eventually("broker 0 caught up", Duration::from_secs(120), || async {
        let c = admin.caught_up(0).await.ok()?;
        c.is_caught_up().then_some(c)
    })
    .await;
    println!("caught_up(0) after restart: {cu:?}");
    let d =
        eventually("can_restart(1) Ok again", Duration::from_secs(60), || async { admin.can_restart(1).await.ok().filter(|d| d.is_ok()) })
            .await;
    println!("can_restart(1) after: {d:?}");
    let q = eventually("controllers caught up after restart", Duration::from_secs(60), || async {
        admin.controllers_caught_up(1000, 10_000).await.ok().filter(|q| q.is_caught_up())
    })
    .await;
    println!("controllers_caught_up after restart: {q:?}");
    let e = admin.list_offset("safety", 0, OffsetSpec::Latest).await;
    assert!(e.is_ok());
}
