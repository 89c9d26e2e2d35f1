//! Table test: invalid KafkaCluster specs, each with the error it must produce (field path and message).
use gregor::{
    api::KafkaCluster,
    model::{self, Observed},
};
use serde_json::{Value, json};

const CLUSTER_ID: &str = "dskQdtOFrgMLd0axg10yEw";

fn base() -> Value {
    json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "events", "namespace": "streaming"},
        "spec": {
            "version": "4.4.0",
            "nodePools": [
                {"name": "controllers", "roles": ["controller"], "replicas": 3, "storage": {"type": "persistentClaim", "size": "10Gi"}},
                {"name": "brokers", "roles": ["broker"], "replicas": 3, "storage": {"type": "persistentClaim", "size": "100Gi"}}
            ],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    })
}

/// Applies `edit` to the base cluster and returns every error as `path: message`.
fn errors_of(edit: impl FnOnce(&mut Value), observed: &Observed) -> Vec<String> {
    let mut value = base();
    edit(&mut value);
    let cluster: KafkaCluster = serde_json::from_value(value).expect("edit keeps the spec deserializable");
    match model::validate(&cluster, observed) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn observed() -> Observed {
    Observed { cluster_id: CLUSTER_ID.to_owned(), ..Observed::default() }
}

type Edit = Box<dyn FnOnce(&mut Value)>;

fn set(pointer: &'static str, v: Value) -> Edit {
    Box::new(move |value: &mut Value| {
        let (parent, last) = pointer.rsplit_once('/').expect("pointer has a parent");
        let parent = value.pointer_mut(parent).expect("parent exists");
        match parent {
            Value::Array(items) => items[last.parse::<usize>().expect("index")] = v,
            Value::Object(fields) => {
                fields.insert(last.to_owned(), v);
            }
            _ => panic!("parent of {pointer} is a scalar"),
        }
    })
}

fn config(key: &'static str, v: Value) -> Edit {
    Box::new(move |value: &mut Value| {
        value["spec"]["config"] = json!({ key: v });
    })
}

fn cases() -> Vec<(&'static str, Edit, &'static str)> {
    vec![
        // Operator-owned keys.
        ("listeners", config("listeners", json!("PLAINTEXT://:9092")), "spec.config.listeners: is owned by the operator"),
        ("advertised", config("advertised.listeners", json!("x")), "spec.config.advertised.listeners: is owned by the operator"),
        ("broker.id", config("broker.id", json!(1)), "spec.config.broker.id: is owned by the operator"),
        (
            "listener.name",
            config("listener.name.plain.sasl.enabled.mechanisms", json!("PLAIN")),
            "spec.config.listener.name.plain.sasl.enabled.mechanisms: is owned by the operator",
        ),
        ("sasl", config("sasl.enabled.mechanisms", json!("PLAIN")), "spec.config.sasl.enabled.mechanisms: is owned by the operator"),
        ("ssl", config("ssl.keystore.location", json!("/x")), "spec.config.ssl.keystore.location: is owned by the operator"),
        (
            "security",
            config("security.inter.broker.protocol", json!("SSL")),
            "spec.config.security.inter.broker.protocol: is owned by the operator",
        ),
        ("log.dirs", config("log.dirs", json!("/data")), "spec.config.log.dirs: is owned by the operator"),
        ("authorizer", config("authorizer.class.name", json!("x")), "spec.config.authorizer.class.name: is owned by the operator"),
        ("super.users", config("super.users", json!("User:x")), "spec.config.super.users: is owned by the operator"),
        ("node.id", config("node.id", json!(5)), "spec.config.node.id: is owned by the operator"),
        ("process.roles", config("process.roles", json!("broker")), "spec.config.process.roles: is owned by the operator"),
        (
            "controller.quorum.voters",
            config("controller.quorum.voters", json!("x")),
            "spec.config.controller.quorum.voters: is owned by the operator",
        ),
        ("metadata.log.dir", config("metadata.log.dir", json!("/m")), "spec.config.metadata.log.dir: is owned by the operator"),
        ("zookeeper", config("zookeeper.connect", json!("zk:2181")), "spec.config.zookeeper.connect: is owned by the operator"),
        ("port", config("port", json!(9092)), "spec.config.port: is owned by the operator"),
        ("password", config("password.encoder.secret", json!("x")), "spec.config.password.encoder.secret: is owned by the operator"),
        // Values of known keys.
        (
            "rf above brokers",
            config("default.replication.factor", json!(4)),
            "spec.config.default.replication.factor: replication factor 4 is greater than the number of brokers (3)",
        ),
        (
            "offsets rf above brokers",
            config("offsets.topic.replication.factor", json!(5)),
            "spec.config.offsets.topic.replication.factor: replication factor 5 is greater than the number of brokers (3)",
        ),
        (
            "rf not a number",
            config("default.replication.factor", json!("three")),
            "spec.config.default.replication.factor: must be an integer",
        ),
        ("min isr zero", config("min.insync.replicas", json!(0)), "spec.config.min.insync.replicas: must be between 1 and"),
        ("bool key", config("auto.create.topics.enable", json!("yes")), "spec.config.auto.create.topics.enable: must be true or false"),
        ("compression", config("compression.type", json!("brotli")), "spec.config.compression.type: must be one of"),
        (
            "cleanup policy",
            config("log.cleanup.policy", json!("delete,forever")),
            "spec.config.log.cleanup.policy: must be a comma-separated list",
        ),
        ("object value", config("log.retention.ms", json!({"a": 1})), "spec.config.log.retention.ms: must be a string, number or boolean"),
        ("null value", config("num.partitions", Value::Null), "spec.config.num.partitions: must have a value"),
        ("newline", config("my.plugin.key", json!("a\nb")), "spec.config.my.plugin.key: must not contain line breaks"),
        // Version.
        ("unsupported version", set("/spec/version", json!("3.9.0")), "spec.version: Kafka version \"3.9.0\" is not supported"),
        (
            "metadata too new",
            Box::new(|v: &mut Value| {
                v["spec"]["version"] = json!("4.3.1");
                v["spec"]["metadataVersion"] = json!("4.4-IV2");
            }),
            "spec.metadataVersion: \"4.4-IV2\" is newer than Kafka 4.3.1 supports",
        ),
        (
            "metadata unknown",
            set("/spec/metadataVersion", json!("4.4-IV9")),
            "spec.metadataVersion: \"4.4-IV9\" is not a known metadata.version",
        ),
        ("blank image", set("/spec/image", json!(" ")), "spec.image: must be a container image reference"),
        // Pools.
        ("zero replicas", set("/spec/nodePools/1/replicas", json!(0)), "spec.nodePools[1].replicas: must be at least 1"),
        ("too many replicas", set("/spec/nodePools/1/replicas", json!(101)), "spec.nodePools[1].replicas: must be at most 100"),
        (
            "no controller",
            set("/spec/nodePools/0/roles", json!(["broker"])),
            "spec.nodePools: at least one node pool must have the controller role",
        ),
        (
            "no broker",
            set("/spec/nodePools/1/roles", json!(["controller"])),
            "spec.nodePools: at least one node pool must have the broker role",
        ),
        ("no pools", set("/spec/nodePools", json!([])), "spec.nodePools: must list at least one node pool"),
        ("empty roles", set("/spec/nodePools/1/roles", json!([])), "spec.nodePools[1].roles: must list controller, broker or both"),
        ("repeated role", set("/spec/nodePools/1/roles", json!(["broker", "broker"])), "spec.nodePools[1].roles: must not repeat a role"),
        (
            "duplicate pool",
            set("/spec/nodePools/1/name", json!("controllers")),
            "spec.nodePools[1].name: duplicate pool name \"controllers\"",
        ),
        ("bad pool name", set("/spec/nodePools/1/name", json!("Brokers")), "spec.nodePools[1].name: must be lowercase letters"),
        ("pool name too long", set("/spec/nodePools/1/name", json!("b".repeat(50))), "spec.nodePools[1].name: \"events-bbbbbbbb"),
        (
            "size missing",
            set("/spec/nodePools/1/storage", json!({"type": "persistentClaim"})),
            "spec.nodePools[1].storage.size: is required for persistentClaim storage",
        ),
        (
            "bad size",
            set("/spec/nodePools/1/storage/size", json!("100GB")),
            "spec.nodePools[1].storage.size: \"100GB\" is not a positive quantity",
        ),
        (
            "class on ephemeral",
            set("/spec/nodePools/1/storage", json!({"type": "ephemeral", "class": "fast"})),
            "spec.nodePools[1].storage.class: applies only to persistentClaim storage",
        ),
        (
            "bad heap",
            set("/spec/nodePools/1/jvmOptions", json!({"heap": "lots"})),
            "spec.nodePools[1].jvmOptions.heap: \"lots\" is not a quantity of at least 64Mi",
        ),
        (
            "heap over limit",
            Box::new(|v: &mut Value| {
                v["spec"]["nodePools"][1]["jvmOptions"] = json!({"heap": "2Gi"});
                v["spec"]["nodePools"][1]["resources"] = json!({"limits": {"memory": "2Gi"}});
            }),
            "spec.nodePools[1].jvmOptions.heap: must be below the container memory limit",
        ),
        ("negative node id", set("/spec/nodePools/1/nodeIdStart", json!(-5)), "spec.nodePools[1].nodeIdStart: must not be negative"),
        (
            "overlapping node ids",
            Box::new(|v: &mut Value| {
                v["spec"]["nodePools"][0]["nodeIdStart"] = json!(0);
                v["spec"]["nodePools"][1]["nodeIdStart"] = json!(2);
            }),
            "spec.nodePools[1].nodeIdStart: node ids 2..4 overlap those of pool controllers",
        ),
        (
            "reserved annotation",
            set("/spec/nodePools/1/template", json!({"podAnnotations": {"kafka.gregor.dev/revision": "x"}})),
            "spec.nodePools[1].template.podAnnotations.kafka.gregor.dev/revision: is reserved for the operator",
        ),
        (
            "item 6: manual-roll in the pod template would roll every pod for ever",
            set("/spec/nodePools/1/template", json!({"podAnnotations": {"kafka.gregor.dev/manual-roll": "true"}})),
            "spec.nodePools[1].template.podAnnotations.kafka.gregor.dev/manual-roll: is reserved for the operator",
        ),
        (
            "reserved label",
            set("/spec/nodePools/1/template", json!({"podLabels": {"app.kubernetes.io/name": "x"}})),
            "spec.nodePools[1].template.podLabels.app.kubernetes.io/name: is reserved for the operator",
        ),
        (
            "short grace",
            set("/spec/nodePools/1/template", json!({"terminationGracePeriodSeconds": 5})),
            "spec.nodePools[1].template.terminationGracePeriodSeconds: must be at least 30",
        ),
        // Listeners.
        (
            "reserved listener name",
            set("/spec/listeners/0/name", json!("replication")),
            "spec.listeners[0].name: \"replication\" is reserved",
        ),
        (
            "bad listener name",
            set("/spec/listeners/0/name", json!("Plain")),
            "spec.listeners[0].name: must be lowercase letters and digits",
        ),
        (
            "listener name too long",
            set("/spec/listeners/0/name", json!("abcdefghijkl")),
            "spec.listeners[0].name: must be lowercase letters and digits",
        ),
        ("reserved port", set("/spec/listeners/0/port", json!(9091)), "spec.listeners[0].port: 9091 is reserved"),
        ("low port", set("/spec/listeners/0/port", json!(80)), "spec.listeners[0].port: must be between 1024 and 65535"),
        (
            "duplicate listener port",
            set(
                "/spec/listeners",
                json!([
                    {"name": "a", "port": 9092, "type": "internal"}, {"name": "b", "port": 9092, "type": "internal"}
                ]),
            ),
            "spec.listeners[1].port: duplicate port (also spec.listeners[0])",
        ),
        (
            "duplicate listener name",
            set(
                "/spec/listeners",
                json!([
                    {"name": "a", "port": 9092, "type": "internal"}, {"name": "a", "port": 9093, "type": "internal"}
                ]),
            ),
            "spec.listeners[1].name: duplicate listener name (also spec.listeners[0])",
        ),
        (
            "certificate validity out of range",
            set("/spec/certificates", json!({"caValidityDays": 0})),
            "spec.certificates.caValidityDays: 0 must be between 1 and 36500 days",
        ),
        (
            "leaf outlives its CA",
            set("/spec/certificates", json!({"caValidityDays": 100, "validityDays": 200})),
            "spec.certificates.validityDays: 200 days is longer than the CA's validity (100 days, caValidityDays)",
        ),
        (
            "consumer lag with an empty group pattern",
            set("/spec/metrics", json!({"consumerLag": {"groups": ""}})),
            "spec.metrics.consumerLag.groups: must not be empty: give a glob such as \"orders-*\", or \"*\" for every group",
        ),
        (
            "renewal window as long as the validity",
            set("/spec/certificates", json!({"validityDays": 30})),
            "spec.certificates.renewalDays: 30 days must be less than the node certificates' validity (30 days, validityDays)",
        ),
        (
            "tls auth",
            set("/spec/listeners/0/authentication", json!({"type": "tls"})),
            "spec.listeners[0].authentication: type tls (mutual TLS) needs a TLS listener: set tls: true",
        ),
        // Cluster-wide.
        (
            "super user prefix",
            set("/spec/authorization", json!({"type": "simple", "superUsers": ["User:admin"]})),
            "spec.authorization.superUsers[0]: must be a user name without \"User:\"",
        ),
        (
            "rack key",
            set("/spec/rack", json!({"topologyKey": "kubernetes.io/hostname"})),
            "spec.rack.topologyKey: \"kubernetes.io/hostname\" is not supported",
        ),
        (
            "negative pdb",
            set("/spec/podDisruptionBudget", json!({"maxUnavailable": -1})),
            "spec.podDisruptionBudget.maxUnavailable: must not be negative",
        ),
        // Metrics.
        (
            "jmx exporter privileged port",
            set("/spec/metrics", json!({"jmxExporter": {"port": 80}})),
            "spec.metrics.jmxExporter.port: 80 must be between 1024 and 65535",
        ),
        (
            "jmx exporter on a listener port",
            set("/spec/metrics", json!({"jmxExporter": {"port": 9092}})),
            "spec.metrics.jmxExporter.port: 9092 is already the port of listener plain",
        ),
        (
            "jmx exporter on the replication port",
            set("/spec/metrics", json!({"jmxExporter": {"port": 9091}})),
            "spec.metrics.jmxExporter.port: 9091 is the operator's own controller or replication listener port",
        ),
        (
            "jmx exporter blank image",
            set("/spec/metrics", json!({"jmxExporter": {"image": "a b"}})),
            "spec.metrics.jmxExporter.image: must be a container image reference without spaces",
        ),
        ("long cluster name", set("/metadata/name", json!("e".repeat(48))), "metadata.name: must be a DNS label"),
        ("bad cluster name", set("/metadata/name", json!("Events")), "metadata.name: must be a DNS label"),
    ]
}

#[test]
fn the_base_spec_is_valid() {
    let errors = errors_of(|_| {}, &observed());
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn every_invalid_spec_is_rejected_with_its_path_and_message() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, edit, expected) in cases {
        let errors = errors_of(edit, &observed());
        if !errors.iter().any(|e| e.starts_with(expected)) {
            failures.push(format!("{name}: expected an error starting with {expected:?}, got {errors:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_node_id_start_cannot_move_once_observed() {
    let observed = Observed { cluster_id: CLUSTER_ID.to_owned(), node_id_starts: [("brokers".to_owned(), 100)].into_iter().collect() };
    let errors = errors_of(|v| v["spec"]["nodePools"][1]["nodeIdStart"] = json!(200), &observed);
    assert_eq!(errors, vec!["spec.nodePools[1].nodeIdStart: cannot change from 100 to 200: the pool's nodes already exist with their ids"]);
}

#[test]
fn a_bad_cluster_id_is_rejected() {
    let observed = Observed { cluster_id: "nope".to_owned(), ..Observed::default() };
    let errors = errors_of(|_| {}, &observed);
    assert_eq!(errors, vec!["status.clusterId: must be a 22-character base64url Kafka cluster id"]);
}

#[test]
fn all_errors_are_reported_at_once() {
    let errors = errors_of(
        |v| {
            v["spec"]["config"] = json!({"listeners": "x", "node.id": 1});
            v["spec"]["nodePools"][1]["replicas"] = json!(0);
        },
        &observed(),
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn warnings_for_unsafe_but_legal_settings() {
    let warnings_of = |edit: Edit| {
        let mut value = base();
        edit(&mut value);
        let cluster: KafkaCluster = serde_json::from_value(value).expect("valid shape");
        model::validate(&cluster, &observed()).expect("legal").warnings.into_iter().map(|w| w.to_string()).collect::<Vec<_>>()
    };
    let has = |warnings: &[String], prefix: &str| warnings.iter().any(|w| w.starts_with(prefix));
    assert!(warnings_of(Box::new(|_| {})).is_empty());
    let w = warnings_of(config("default.replication.factor", json!(2)));
    assert!(has(&w, "spec.config.default.replication.factor: replication factor 2 is below 3"), "{w:?}");
    let w = warnings_of(config("min.insync.replicas", json!(3)));
    assert!(has(&w, "spec.config.min.insync.replicas: min in-sync replicas 3 is not below the replication factor 3"), "{w:?}");
    let w = warnings_of(set("/spec/nodePools/0/replicas", json!(2)));
    assert!(has(&w, "spec.nodePools: 2 controllers tolerate no controller failure"), "{w:?}");
    let w = warnings_of(set("/spec/nodePools/0/replicas", json!(4)));
    assert!(has(&w, "spec.nodePools: 4 controllers tolerate no more failures than 3"), "{w:?}");
    let w = warnings_of(Box::new(|v: &mut Value| {
        v["spec"]["nodePools"] =
            json!([{"name": "solo", "roles": ["controller", "broker"], "replicas": 1, "storage": {"type": "ephemeral"}}]);
    }));
    assert!(has(&w, "spec.nodePools[0].storage: the only broker is on ephemeral storage"), "{w:?}");
    assert!(has(&w, "spec.nodePools[0].storage: the only controller is on ephemeral storage"), "{w:?}");
}

#[test]
fn the_jmx_exporter_takes_its_defaults_and_can_be_switched_off() {
    let exporter_of = |metrics: Value| {
        let mut value = base();
        value["spec"]["metrics"] = metrics;
        let cluster: KafkaCluster = serde_json::from_value(value).expect("valid shape");
        model::validate(&cluster, &observed()).expect("legal").model.jmx_exporter
    };
    let table = [
        (json!({}), None),
        (json!({"jmxExporter": {}}), Some((9404, "ghcr.io/gregor-dev/gregor-metrics-agent:1.0.1"))),
        (json!({"jmxExporter": {"enabled": true, "port": 9500}}), Some((9500, "ghcr.io/gregor-dev/gregor-metrics-agent:1.0.1"))),
        (json!({"jmxExporter": {"image": "registry.local/agent:7"}}), Some((9404, "registry.local/agent:7"))),
        (json!({"jmxExporter": {"enabled": false, "port": 80}}), None),
    ];
    for (metrics, expected) in table {
        let got = exporter_of(metrics.clone());
        assert_eq!(got.as_ref().map(|e| (e.port, e.image.as_str())), expected, "{metrics}");
    }
}
