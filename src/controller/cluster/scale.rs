//! Changes the operator refuses to apply, because they would lose data or break the cluster:
//! removing brokers that still host replicas, shrinking or growing the static controller quorum, and
//! downgrades below the active metadata.version. Pure, apart from reading the caches.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef as StoreRef;

use super::kafka_facts;
use super::observe::KafkaFacts;
use crate::api::cluster::KafkaClusterStatus;
use crate::controller::apply::owned_by;
use crate::controller::context::Context;
use crate::controller::kafka_access::admin::Admin;
use crate::controller::reason::ClusterReason;
use crate::model::version::{metadata_version_level, metadata_version_rank};
use crate::model::{ClusterModel, Role, names};

/// Something that stops the reconcile from applying a change, with its reason. Produced here
/// (scale-downs, downgrades) and by the storage step (claims that cannot grow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: ClusterReason,
    pub message: String,
}

/// Nodes a change would remove from one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrink {
    pub pool: String,
    pub removed: Vec<i32>,
    pub controller: bool,
}

/// Pools whose StatefulSet runs more nodes than the spec now asks for, or that the spec dropped.
/// A pool the status recorded but whose StatefulSet is not in the cache counts too, from the
/// status's node ids: a missing input must never let a scale-down through.
pub fn shrinking_pools(ctx: &Context, model: &ClusterModel, previous: Option<&KafkaClusterStatus>) -> Vec<Shrink> {
    let mut out = cached_shrinks(ctx, model);
    for shrink in recorded_shrinks(model, previous) {
        if !out.iter().any(|s| s.pool == shrink.pool) {
            out.push(shrink);
        }
    }
    out.sort_by(|a, b| a.pool.cmp(&b.pool));
    out
}

/// Shrinks seen from the status alone: pools whose recorded node ids outnumber what the spec now
/// asks for. A dropped pool's role is unknown here, so it counts as a controller pool (refused).
pub fn recorded_shrinks(model: &ClusterModel, previous: Option<&KafkaClusterStatus>) -> Vec<Shrink> {
    let Some(status) = previous else {
        return Vec::new();
    };
    status
        .node_pools
        .iter()
        .filter_map(|recorded| {
            let pool = model.pools.iter().find(|p| p.name == recorded.name);
            let wanted = pool.map_or(0, |p| usize::try_from(p.replicas).unwrap_or(0));
            let mut ids = recorded.node_ids.clone();
            ids.sort_unstable();
            (ids.len() > wanted).then(|| Shrink {
                pool: recorded.name.clone(),
                removed: ids.split_off(wanted),
                controller: pool.is_none_or(|p| p.role.is_controller()),
            })
        })
        .collect()
}

fn cached_shrinks(ctx: &Context, model: &ClusterModel) -> Vec<Shrink> {
    let Some(uid) = model.uid.as_deref() else {
        return Vec::new();
    };
    let desired: BTreeMap<String, i32> = model.pools.iter().map(|p| (names::statefulset(&model.name, &p.name), p.replicas)).collect();
    let mut out = Vec::new();
    for sts in ctx.stores.stateful_sets.state() {
        if sts.metadata.namespace.as_deref() != Some(model.namespace.as_str()) || !owned_by(&sts.metadata, uid) {
            continue;
        }
        let spec = sts.spec.as_ref();
        let current = spec.and_then(|s| s.replicas).unwrap_or(1);
        let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0);
        let wanted = desired.get(&sts.name_any()).copied().unwrap_or(0);
        if wanted >= current {
            continue;
        }
        let role = sts.labels().get(names::labels::COMPONENT).and_then(|l| Role::from_label(l));
        out.push(Shrink {
            pool: sts.labels().get(names::labels::POOL).cloned().unwrap_or_else(|| sts.name_any()),
            removed: (start + wanted..start + current).collect(),
            controller: role.is_some_and(Role::is_controller),
        });
    }
    out.sort_by(|a, b| a.pool.cmp(&b.pool));
    out
}

/// A controller (or combined) pool the spec grows, or adds, on a running cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerGrowth {
    pub pool: String,
    pub running: i32,
    pub wanted: i32,
}

/// Controller pools asking for more nodes than their StatefulSet runs, once the cluster runs
/// (any of its StatefulSets is cached). A pool without a StatefulSet then runs 0 nodes.
pub fn growing_controller_pools(ctx: &Context, model: &ClusterModel) -> Vec<ControllerGrowth> {
    let Some(uid) = model.uid.as_deref() else {
        return Vec::new();
    };
    let running: BTreeMap<String, i32> = ctx
        .stores
        .stateful_sets
        .state()
        .iter()
        .filter(|sts| sts.metadata.namespace.as_deref() == Some(model.namespace.as_str()) && owned_by(&sts.metadata, uid))
        .map(|sts| (sts.name_any(), sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)))
        .collect();
    if running.is_empty() {
        return Vec::new();
    }
    model
        .controller_pools()
        .map(|p| ControllerGrowth {
            pool: p.name.clone(),
            running: running.get(&names::statefulset(&model.name, &p.name)).copied().unwrap_or(0),
            wanted: p.replicas,
        })
        .filter(|g| g.wanted > g.running)
        .collect()
}

/// Refuses growing the static controller quorum (`controller.quorum.voters`): new voters would
/// never join it, and every running node would need a restart with the new voter list.
pub fn controller_growth_refusal(growth: &[ControllerGrowth]) -> Option<Refusal> {
    let g = growth.first()?;
    Some(Refusal {
        reason: ClusterReason::ControllerScaleRefused,
        message: format!(
            "pool {} runs KRaft controllers and the controller quorum is static: it cannot grow from {} to {} nodes; set spec.nodePools[{}].replicas back to {} (add broker-only pools to scale out). Nothing was changed",
            g.pool, g.running, g.wanted, g.pool, g.running
        ),
    })
}

/// Whether a scale-down may proceed.
pub fn scale_down_refusal(shrinks: &[Shrink], facts: Option<&KafkaFacts>) -> Option<Refusal> {
    if let Some(s) = shrinks.iter().find(|s| s.controller) {
        return Some(Refusal {
            reason: ClusterReason::ScaleDownRefused,
            message: format!(
                "pool {} runs KRaft controllers; the controller quorum is static and cannot shrink (nodes {:?} would be removed)",
                s.pool, s.removed
            ),
        });
    }
    let Some(facts) = facts else {
        return Some(Refusal {
            reason: ClusterReason::ScaleDownRefused,
            message: "cannot check that the brokers to remove host no partition: Kafka did not answer".into(),
        });
    };
    let busy: Vec<String> = busy_brokers(shrinks, facts).iter().map(|(id, n)| format!("{id} ({n} replicas)")).collect();
    (!busy.is_empty()).then(|| Refusal {
        reason: ClusterReason::ScaleDownBlocked,
        message: format!(
            "brokers still host partition replicas: {}; reassign them to the remaining brokers before scaling down",
            busy.join(", ")
        ),
    })
}

/// The brokers to remove that still host replicas, with how many.
pub fn busy_brokers(shrinks: &[Shrink], facts: &KafkaFacts) -> Vec<(i32, usize)> {
    shrinks
        .iter()
        .filter(|s| !s.controller)
        .flat_map(|s| s.removed.iter())
        .filter_map(|id| facts.hosted_partitions.get(id).filter(|n| **n > 0).map(|n| (*id, *n)))
        .collect()
}

/// When pools shrink, asks Kafka whether the nodes to remove are free, and refuses the change
/// otherwise. Returns the facts it gathered (if it asked), with the refusal too.
pub async fn check_scale_down(
    ctx: &Context,
    admin: &dyn Admin,
    model: &ClusterModel,
    previous: Option<&KafkaClusterStatus>,
) -> Result<Option<KafkaFacts>, (Refusal, Option<KafkaFacts>)> {
    let shrinking = shrinking_pools(ctx, model, previous);
    if shrinking.is_empty() {
        return Ok(None);
    }
    let facts = kafka_facts::gather(admin, model).await.ok();
    match scale_down_refusal(&shrinking, facts.as_ref()) {
        Some(refusal) => Err((refusal, facts)),
        None => Ok(facts),
    }
}

/// Whether a running StatefulSet's pods are secured (SASL inside the cluster): its Kafka container
/// carries the operator credential. `None` when that cannot be told (no pod template or container).
pub fn stateful_set_secured(sts: &k8s_openapi::api::apps::v1::StatefulSet) -> Option<bool> {
    let spec = sts.spec.as_ref()?.template.spec.as_ref()?;
    let container = spec.containers.iter().find(|c| c.name == crate::model::names::KAFKA_CONTAINER)?;
    Some(container.env.iter().flatten().any(|e| e.name == crate::render::config::OPERATOR_PASSWORD_ENV))
}

/// The cluster's running StatefulSets (from the cache) and whether each is secured.
pub fn running_security(ctx: &Context, model: &ClusterModel) -> Vec<(String, Option<bool>)> {
    let Some(uid) = model.uid.as_deref() else {
        return Vec::new();
    };
    ctx.stores
        .stateful_sets
        .state()
        .iter()
        .filter(|sts| sts.metadata.namespace.as_deref() == Some(model.namespace.as_str()) && owned_by(&sts.metadata, uid))
        .map(|sts| (sts.name_any(), stateful_set_secured(sts)))
        .collect()
}

/// Turning internal authentication on or off on a running cluster: the brokers serve one protocol
/// and the operator credential exists only from the format step on, so the change would wedge the
/// cluster. Refused until a multi-step roll exists; a pool whose security cannot be read counts as
/// a change (fail closed).
pub fn security_change_refusal(running: &[(String, Option<bool>)], model: &ClusterModel) -> Option<Refusal> {
    let wanted = model.security == crate::model::InternalSecurity::Secured;
    let changed: Vec<&str> = running.iter().filter(|(_, secured)| *secured != Some(wanted)).map(|(n, _)| n.as_str()).collect();
    if changed.is_empty() {
        return None;
    }
    let (from, to) = if wanted { ("off", "on") } else { ("on", "off") };
    Some(Refusal {
        reason: ClusterReason::SecurityChangeRefused,
        message: format!(
            "turning authentication {to} on a running cluster is not supported (running: {from}, StatefulSets {}); nothing was applied. Revert the listeners' authentication/authorization, or recreate the cluster",
            changed.join(", ")
        ),
    })
}

/// A version change Kafka cannot take: the active metadata.version is newer than the requested
/// release supports, or the requested metadata.version is lower than the active one.
pub fn downgrade_refusal(status: Option<&KafkaClusterStatus>, model: &ClusterModel) -> Option<Refusal> {
    let active = status.and_then(|s| s.metadata_version.as_deref())?;
    let active_rank = metadata_version_rank(active)?;
    let supported = metadata_version_rank(model.version.default_metadata_version)?;
    if active_rank > supported {
        return Some(Refusal {
            reason: ClusterReason::UnsafeDowngrade,
            message: format!(
                "metadata.version {active} is active and Kafka {} supports at most {}; a downgrade must lower metadata.version first, which Kafka does not allow here",
                model.version.version, model.version.default_metadata_version
            ),
        });
    }
    let wanted = metadata_version_rank(&model.metadata_version)?;
    (wanted < active_rank).then(|| Refusal {
        reason: ClusterReason::UnsafeDowngrade,
        message: format!(
            "spec.metadataVersion {} is lower than the active {active}; Kafka cannot lower metadata.version safely",
            model.metadata_version
        ),
    })
}

/// Whether the active metadata.version is below the one asked for (or not known yet).
pub fn metadata_upgrade_pending(status: Option<&KafkaClusterStatus>, model: &ClusterModel) -> bool {
    let active = status.and_then(|s| s.metadata_version.as_deref()).and_then(metadata_version_level);
    match (active, metadata_version_level(&model.metadata_version)) {
        (Some(a), Some(w)) => a < w,
        _ => true,
    }
}

/// Brokers Kafka still has registered that the spec no longer names. A scale-down leaves them
/// behind: KRaft keeps a broker registered until it is unregistered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemovedBrokers {
    /// Fenced (the process stopped) and without a pod: safe to unregister now.
    pub unregister: Vec<i32>,
    /// Still running, or their pod is still terminating: look again soon.
    pub waiting: Vec<i32>,
}

/// Sorts the registered brokers outside the spec. `registered`: (broker id, fenced).
pub fn removed_brokers(registered: &[(i32, bool)], model: &ClusterModel, pod_names: &[&str]) -> RemovedBrokers {
    let in_spec: std::collections::BTreeSet<i32> = model.pools.iter().flat_map(|p| p.node_ids()).collect();
    let mut out = RemovedBrokers::default();
    for (id, fenced) in registered.iter().filter(|(id, _)| !in_spec.contains(id)) {
        let suffix = format!("-{id}");
        let has_pod = pod_names.iter().any(|n| n.ends_with(&suffix));
        if *fenced && !has_pod {
            out.unregister.push(*id);
        } else {
            out.waiting.push(*id);
        }
    }
    out
}

/// The StatefulSet of a pool, from the cache.
pub fn cached_stateful_set(
    ctx: &Context,
    model: &ClusterModel,
    pool: &str,
) -> Option<std::sync::Arc<k8s_openapi::api::apps::v1::StatefulSet>> {
    ctx.stores.stateful_sets.get(&StoreRef::new(&names::statefulset(&model.name, pool)).within(&model.namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The validated model of a KafkaCluster given as JSON.
    fn model_of(kc: serde_json::Value) -> ClusterModel {
        let kc: crate::api::KafkaCluster = serde_json::from_value(kc).expect("cluster");
        let observed = crate::model::Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), node_id_starts: Default::default() };
        crate::model::validate(&kc, &observed).expect("valid").model
    }

    fn shrink(pool: &str, removed: Vec<i32>, controller: bool) -> Shrink {
        Shrink { pool: pool.into(), removed, controller }
    }

    #[test]
    fn removed_brokers_are_fenced_out_of_spec_and_podless() {
        let model = model_of(serde_json::json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"version": "4.4.0",
                "nodePools": [
                    {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                    {"name": "brokers", "roles": ["broker"], "replicas": 3, "nodeIdStart": 100, "storage": {"type": "ephemeral"}}],
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}
        }));
        let registered = [(100, true), (101, false), (103, true), (104, false), (105, true)];
        // 100: in the spec (restarting); 104: still running; 105: its pod still terminates.
        let removed = removed_brokers(&registered, &model, &["c-brokers-100", "c-brokers-105"]);
        assert_eq!(removed, RemovedBrokers { unregister: vec![103], waiting: vec![104, 105] });
        assert_eq!(removed_brokers(&[(101, true)], &model, &[]), RemovedBrokers::default());
    }

    #[test]
    fn recorded_node_ids_count_as_shrinks_when_the_cache_has_no_statefulset() {
        use crate::api::cluster::{KafkaClusterStatus, NodePoolStatus};
        let model = model_of(serde_json::json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"version": "4.4.0",
                "nodePools": [
                    {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                    {"name": "brokers", "roles": ["broker"], "replicas": 2, "nodeIdStart": 100, "storage": {"type": "ephemeral"}}],
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}
        }));
        let pool = |name: &str, node_ids: Vec<i32>| NodePoolStatus { name: name.into(), node_ids };
        let cases = [
            ("no status", None, vec![]),
            ("same size", Some(vec![pool("controllers", vec![0]), pool("brokers", vec![100, 101])]), vec![]),
            (
                "brokers 3 -> 2",
                Some(vec![pool("controllers", vec![0]), pool("brokers", vec![102, 100, 101])]),
                vec![shrink("brokers", vec![102], false)],
            ),
            (
                "dropped pool: role unknown, refused as a controller pool",
                Some(vec![pool("old", vec![200, 201])]),
                vec![shrink("old", vec![200, 201], true)],
            ),
        ];
        for (name, pools, want) in cases {
            let status = pools.map(|node_pools| KafkaClusterStatus { node_pools, ..KafkaClusterStatus::default() });
            assert_eq!(recorded_shrinks(&model, status.as_ref()), want, "case {name}");
        }
    }

    #[test]
    fn growing_the_controller_quorum_is_refused() {
        assert_eq!(controller_growth_refusal(&[]), None);
        let r = controller_growth_refusal(&[ControllerGrowth { pool: "ctl".into(), running: 1, wanted: 3 }]).expect("refused");
        assert_eq!(r.reason, ClusterReason::ControllerScaleRefused);
        assert!(r.message.contains("from 1 to 3") && r.message.contains("back to 1"), "{}", r.message);
    }

    #[test]
    fn security_changes_are_refused_and_unknown_fails_closed() {
        let model_with = |listener: serde_json::Value| {
            model_of(serde_json::json!({
                "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
                "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
                "spec": {"version": "4.4.0",
                    "nodePools": [{"name": "nodes", "roles": ["controller", "broker"], "replicas": 1, "storage": {"type": "ephemeral"}}],
                    "listeners": [listener]}
            }))
        };
        let open = model_with(serde_json::json!({"name": "plain", "port": 9092, "type": "internal", "tls": false}));
        let secured = model_with(
            serde_json::json!({"name": "scram", "port": 9094, "type": "internal", "tls": false, "authentication": {"type": "scram-sha-512"}}),
        );
        assert_eq!(secured.security, crate::model::InternalSecurity::Secured);
        let sts = |s: Option<bool>| vec![("c-nodes".to_owned(), s)];
        // Nothing runs yet, or it runs as asked: no refusal.
        assert_eq!(security_change_refusal(&[], &secured), None);
        assert_eq!(security_change_refusal(&sts(Some(false)), &open), None);
        assert_eq!(security_change_refusal(&sts(Some(true)), &secured), None);
        // On or off on a running cluster, or unknown: refused.
        for (running, model) in [(Some(false), &secured), (Some(true), &open), (None, &open), (None, &secured)] {
            let r = security_change_refusal(&sts(running), model).expect("refused");
            assert_eq!(r.reason, ClusterReason::SecurityChangeRefused);
            assert!(r.message.contains("c-nodes") && r.message.contains("nothing was applied"), "{}", r.message);
        }
        // The rendered StatefulSets tell their security.
        for model in [&open, &secured] {
            let pool = &model.pools[0];
            let rendered = crate::render::statefulset::stateful_set(model, pool, BTreeMap::new());
            assert_eq!(stateful_set_secured(&rendered), Some(model.security == crate::model::InternalSecurity::Secured));
        }
        assert_eq!(stateful_set_secured(&k8s_openapi::api::apps::v1::StatefulSet::default()), None);
    }

    #[test]
    fn scale_down_rules() {
        let facts = KafkaFacts { hosted_partitions: BTreeMap::from([(102, 0), (103, 7)]), ..KafkaFacts::default() };
        assert_eq!(scale_down_refusal(&[shrink("b", vec![102], false)], Some(&facts)), None);
        let blocked = scale_down_refusal(&[shrink("b", vec![102, 103], false)], Some(&facts)).expect("blocked");
        assert_eq!(blocked.reason.as_str(), "ScaleDownBlocked");
        assert!(blocked.message.contains("103 (7 replicas)"), "{}", blocked.message);
        assert_eq!(scale_down_refusal(&[shrink("c", vec![2], true)], Some(&facts)).map(|r| r.reason.as_str()), Some("ScaleDownRefused"));
        assert_eq!(scale_down_refusal(&[shrink("b", vec![102], false)], None).map(|r| r.reason.as_str()), Some("ScaleDownRefused"));
    }
}
