//! Property test: random valid specs validate and render without panicking, deterministically, with
//! unique object names and consistent node ids.
use std::collections::BTreeSet;

use gregor::{
    api::KafkaCluster,
    model::{self, Observed},
    render,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn pool_strategy() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!(["controller"])), Just(json!(["broker"])), Just(json!(["controller", "broker"]))],
        1..=7i32,
        prop_oneof![
            (1..500u32).prop_map(|g| json!({"type": "persistentClaim", "size": format!("{g}Gi")})),
            (1..500u32).prop_map(|g| json!({"type": "persistentClaim", "size": format!("{g}Gi"), "class": "fast", "deleteClaim": true})),
            Just(json!({"type": "ephemeral"})),
            (1..50u32).prop_map(|g| json!({"type": "ephemeral", "size": format!("{g}Gi")})),
        ],
        proptest::option::of(prop_oneof![Just("256Mi"), Just("1Gi"), Just("3G")]),
        proptest::option::of(30..600i64),
    )
        .prop_map(|(roles, replicas, storage, heap, grace)| {
            let mut pool = json!({"roles": roles, "replicas": replicas, "storage": storage});
            if let Some(heap) = heap {
                pool["jvmOptions"] = json!({"heap": heap, "extraOptions": ["-XX:+ExitOnOutOfMemoryError"]});
            }
            if let Some(grace) = grace {
                pool["template"] = json!({"terminationGracePeriodSeconds": grace, "podAnnotations": {"a": "b"}});
            }
            pool
        })
}

fn listener_strategy() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::btree_set(1024..20000i32, 0..4).prop_flat_map(|ports| {
        let ports: Vec<i32> = ports.into_iter().filter(|p| *p != 9090 && *p != 9091).collect();
        let n = ports.len();
        proptest::collection::vec(any::<bool>(), n).prop_map(move |scram| {
            ports
                .iter()
                .zip(scram)
                .enumerate()
                .map(|(i, (port, scram))| {
                    let mut l = json!({"name": format!("l{i}"), "port": port, "type": "internal"});
                    if scram {
                        l["authentication"] = json!({"type": "scram-sha-512"});
                    }
                    l
                })
                .collect()
        })
    })
}

prop_compose! {
    fn cluster_strategy()(
        name in "[a-z][a-z0-9]{0,12}",
        namespace in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
        version in prop_oneof![Just("4.3.1"), Just("4.4.0")],
        mut pools in proptest::collection::vec(pool_strategy(), 1..5),
        listeners in listener_strategy(),
        authorization in any::<bool>(),
        rack in proptest::option::of(prop_oneof![Just("topology.kubernetes.io/zone"), Just("topology.kubernetes.io/region")]),
        rf_choice in 0..4i32,
        max_unavailable in proptest::option::of(0..3i32),
    ) -> Value {
        // Make sure there is at least one controller and one broker.
        pools[0]["roles"] = json!(["controller"]);
        if pools.len() == 1 {
            pools[0]["roles"] = json!(["controller", "broker"]);
        } else {
            let last = pools.len() - 1;
            pools[last]["roles"] = json!(["broker"]);
        }
        for (i, pool) in pools.iter_mut().enumerate() {
            pool["name"] = json!(format!("pool{i}"));
        }
        let brokers: i64 = pools
            .iter()
            .filter(|p| p["roles"].as_array().is_some_and(|r| r.contains(&json!("broker"))))
            .map(|p| p["replicas"].as_i64().unwrap_or(1))
            .sum();
        let mut spec = json!({"version": version, "nodePools": pools, "listeners": listeners});
        if rf_choice > 0 {
            let rf = i64::from(rf_choice).min(brokers);
            spec["config"] = json!({"default.replication.factor": rf, "log.retention.ms": 1000});
        }
        if authorization {
            spec["authorization"] = json!({"type": "simple", "superUsers": ["admin"]});
        }
        if let Some(rack) = rack {
            spec["rack"] = json!({"topologyKey": rack});
        }
        if let Some(max_unavailable) = max_unavailable {
            spec["podDisruptionBudget"] = json!({"maxUnavailable": max_unavailable});
        }
        json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": {"name": name, "namespace": namespace, "uid": "00000000-0000-4000-8000-000000000002"},
            "spec": spec,
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_specs_render_deterministically(value in cluster_strategy()) {
        let cluster: KafkaCluster = serde_json::from_value(value).expect("generated spec deserializes");
        let observed = Observed { cluster_id: model::placeholder_cluster_id(&cluster), ..Observed::default() };
        let validated = model::validate(&cluster, &observed);
        prop_assert!(validated.is_ok(), "generated spec rejected: {:?}", validated.err());
        let validated = validated.expect("checked");

        let first = render::render(&validated.model).expect("renders");
        let second = render::render(&model::validate(&cluster, &observed).expect("valid").model).expect("renders");
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(render::to_multi_doc_yaml(&first).expect("yaml"), render::to_multi_doc_yaml(&second).expect("yaml"));

        let mut seen = BTreeSet::new();
        for object in first.iter() {
            prop_assert!(seen.insert((object.kind(), object.name().to_owned())), "duplicate {} {}", object.kind(), object.name());
            let meta = object.metadata();
            prop_assert_eq!(meta.namespace.as_deref(), cluster.metadata.namespace.as_deref());
            prop_assert!(meta.owner_references.as_ref().is_some_and(|o| o.len() == 1));
            let labels = meta.labels.clone().unwrap_or_default();
            prop_assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("gregor"));
            prop_assert_eq!(labels.get("kafka.gregor.dev/cluster"), cluster.metadata.name.as_ref());
        }

        // Node ids are unique across pools and each StatefulSet's ordinals start at its pool's first id.
        let mut node_ids = BTreeSet::new();
        for (pool, objects) in validated.model.pools.iter().zip(&first.pools) {
            for id in pool.node_ids() {
                prop_assert!(node_ids.insert(id), "node id {} used twice", id);
            }
            let spec = objects.stateful_set.spec.as_ref().expect("spec");
            prop_assert_eq!(spec.ordinals.as_ref().and_then(|o| o.start), Some(pool.node_id_start));
            prop_assert_eq!(spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()), Some("OnDelete"));
            let properties = &objects.config_map.data.as_ref().expect("data")["server.properties"];
            let expected_isr = format!("min.insync.replicas={}", validated.model.replication.min_insync_replicas);
            prop_assert!(properties.contains(&expected_isr), "server.properties lacks {}", expected_isr);
        }
        let voters = validated.model.controller_quorum_voters();
        prop_assert_eq!(voters.split(',').count() as i32, validated.model.controller_count());
    }
}
