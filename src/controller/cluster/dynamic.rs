//! Dynamic configuration: when only dynamically updatable keys changed, apply them with
//! IncrementalAlterConfigs (cluster-wide broker default) and restart nothing. A pod's
//! `kafka.gregor.dev/config-hash` annotation says which user configuration it runs with; once the
//! new values are live it is brought up to date without a restart.
//!
//! Each stale broker is asked for its own running configuration (DescribeConfigs reports per key
//! whether it is read-only), so a broker that already restarted on the new ConfigMap never vouches
//! for one that did not. Controller-only nodes cannot be described through the brokers: they follow
//! the brokers' verdict, and restart when no stale broker is left to ask (the safe choice).
//! A key removed from the spec is found in the broker's answer when it was a cluster-wide dynamic
//! default: it is deleted there, and Kafka's default (or server.properties) applies again, with
//! no restart. A read-only key removed from the spec is not detected: like any static value, it
//! leaves with the next restart of each node (a manual roll forces one).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use tracing::info;

use super::observe::annotation;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource, ConfigSource, ResourceConfigs};
use crate::kafka::{self};
use crate::model::{ClusterModel, names};
use crate::render::ClusterObjects;
use crate::roll::NodeId;

/// What one broker's running configuration needs to match the desired one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigPlan {
    /// Already running with the desired values.
    Current,
    /// These keys differ and are all dynamically updatable: `set` to set on the cluster-wide
    /// default, `delete` (removed from the spec) to delete from it.
    Dynamic { set: BTreeMap<String, String>, delete: BTreeSet<String> },
    /// These keys differ and are read-only (or unknown to the broker): a restart is needed.
    NeedsRestart(Vec<String>),
}

/// Compares the desired user configuration with what a broker reports. Pure.
pub fn plan(desired: &BTreeMap<String, String>, running: &ResourceConfigs) -> ConfigPlan {
    let mut dynamic = BTreeMap::new();
    let mut delete = BTreeSet::new();
    let mut restart = Vec::new();
    for (key, want) in desired {
        match running.get(key) {
            None => restart.push(key.clone()),
            Some(e) if e.sensitive || e.value.as_deref() == Some(want.as_str()) => {}
            Some(e) if e.read_only => restart.push(key.clone()),
            Some(_) => {
                dynamic.insert(key.clone(), want.clone());
            }
        }
    }
    // Cluster-wide dynamic defaults the spec no longer asks for (only Gregor sets them).
    for entry in running.entries.iter().flatten() {
        if entry.source == ConfigSource::DynamicDefaultBroker && !desired.contains_key(&entry.name) {
            delete.insert(entry.name.clone());
        }
    }
    match (restart.is_empty(), dynamic.is_empty() && delete.is_empty()) {
        (false, _) => ConfigPlan::NeedsRestart(restart),
        (true, false) => ConfigPlan::Dynamic { set: dynamic, delete },
        (true, true) => ConfigPlan::Current,
    }
}

/// A node whose pod runs the current revision but an older user configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleNode {
    pub id: NodeId,
    pub pod: String,
    pub broker: bool,
    pub ready: bool,
    pub desired_hash: String,
}

/// Nodes whose config hash is stale while their revision is current. Pure.
pub fn stale_nodes(model: &ClusterModel, objects: &ClusterObjects, pods: &BTreeMap<String, Pod>) -> Vec<StaleNode> {
    let mut out = Vec::new();
    for (pool, rendered) in model.pools.iter().zip(&objects.pools) {
        for id in pool.node_ids() {
            let name = names::pod(&model.name, &pool.name, id);
            let Some(pod) = pods.get(&name).filter(|p| p.metadata.deletion_timestamp.is_none()) else {
                continue;
            };
            let revision_current = annotation(pod, names::annotations::REVISION) == Some(rendered.revision.as_str());
            let config_current = annotation(pod, names::annotations::CONFIG_HASH) == Some(rendered.config_hash.as_str());
            if revision_current && !config_current {
                out.push(StaleNode {
                    id,
                    pod: name,
                    broker: pool.role.is_broker(),
                    ready: crate::controller::pod_phase::pod_phase(Some(pod)) == crate::roll::PodPhase::Ready,
                    desired_hash: rendered.config_hash.clone(),
                });
            }
        }
    }
    out
}

/// What the reconcile does about stale configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDecision {
    /// Keys to set on the cluster-wide broker default.
    pub set: BTreeMap<String, String>,
    /// Keys to delete from the cluster-wide broker default.
    pub delete: BTreeSet<String>,
    /// Pods whose annotation can be brought up to date once `set` is applied.
    pub refresh: Vec<StaleNode>,
    /// Nodes that need a restart (restart reason ConfigChanged).
    pub restart: BTreeSet<NodeId>,
}

/// Decides from each stale broker's plan. Pure. `plans` holds one entry per stale broker that
/// answered; brokers that did not answer are left stale for the next reconcile.
pub fn decide(stale: &[StaleNode], plans: &BTreeMap<NodeId, ConfigPlan>) -> ConfigDecision {
    let mut d = ConfigDecision::default();
    let mut brokers_need_restart = false;
    let mut brokers_vouch = false;
    for node in stale.iter().filter(|n| n.broker) {
        match plans.get(&node.id) {
            Some(ConfigPlan::Current) => {
                brokers_vouch = true;
                d.refresh.push(node.clone());
            }
            Some(ConfigPlan::Dynamic { set, delete }) => {
                brokers_vouch = true;
                d.set.extend(set.clone());
                d.delete.extend(delete.iter().cloned());
                d.refresh.push(node.clone());
            }
            Some(ConfigPlan::NeedsRestart(_)) => {
                brokers_need_restart = true;
                d.restart.insert(node.id);
            }
            None => {}
        }
    }
    let stale_brokers = stale.iter().any(|n| n.broker);
    for node in stale.iter().filter(|n| !n.broker) {
        if brokers_need_restart || !stale_brokers {
            d.restart.insert(node.id);
        } else if brokers_vouch {
            d.refresh.push(node.clone());
        }
        // Otherwise stale brokers exist but none answered yet: decide next time.
    }
    d
}

/// Asks Kafka about stale nodes, applies dynamic values, refreshes annotations, and returns the
/// nodes that need a restart. Kafka errors leave everything as it is for the next reconcile.
pub async fn reconcile(
    ctx: &Context,
    admin: &kafka::Client,
    model: &ClusterModel,
    objects: &ClusterObjects,
    pods: &BTreeMap<String, Pod>,
) -> Result<BTreeSet<NodeId>> {
    let stale = stale_nodes(model, objects, pods);
    if stale.is_empty() {
        return Ok(BTreeSet::new());
    }
    // Each stale broker is asked on its own: one that does not answer (stopped, restarting) stays
    // stale for the next reconcile and holds up nobody else.
    let asks = stale.iter().filter(|n| n.broker && n.ready).map(|n| async move {
        let answer = admin.describe_configs(&[ConfigResource::broker(n.id)], None).await;
        (n, answer)
    });
    let mut plans = BTreeMap::new();
    for (node, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(results) => {
                if let Some(r) = results.iter().find(|r| r.entries.is_ok()) {
                    let broker_plan = plan(&model.config, r);
                    if let ConfigPlan::NeedsRestart(keys) = &broker_plan {
                        info!(broker = node.id, ?keys, "configuration keys that need a restart");
                    }
                    plans.insert(node.id, broker_plan);
                }
            }
            Err(e) => {
                info!(broker = node.id, error = %e, "could not describe the broker's config; asking again later")
            }
        }
    }
    let decision = decide(&stale, &plans);
    if !decision.set.is_empty() || !decision.delete.is_empty() {
        let changes = decision
            .set
            .iter()
            .map(|(k, v)| (k.clone(), AlterOp::Set(v.clone())))
            .chain(decision.delete.iter().map(|k| (k.clone(), AlterOp::Delete)))
            .collect();
        let alteration = ConfigAlteration { resource: ConfigResource::cluster_broker_default(), changes };
        let outcomes = admin.incremental_alter_configs(&[alteration], false).await?;
        for o in outcomes {
            o.result?;
        }
        info!(set = ?decision.set.keys().collect::<Vec<_>>(), deleted = ?decision.delete, "applied dynamic configuration cluster-wide; no restart");
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &model.namespace);
    for node in &decision.refresh {
        let patch = serde_json::json!({"metadata": {"annotations": {names::annotations::CONFIG_HASH: node.desired_hash}}});
        api.patch(&node.pod, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        ctx.metrics.count_write();
    }
    Ok(decision.restart)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::ops::configs::{ConfigEntry, ConfigSource};

    fn running(entries: &[(&str, &str, bool)]) -> ResourceConfigs {
        running_from(&entries.iter().map(|(k, v, ro)| (*k, *v, *ro, ConfigSource::StaticBroker)).collect::<Vec<_>>())
    }

    fn running_from(entries: &[(&str, &str, bool, ConfigSource)]) -> ResourceConfigs {
        ResourceConfigs {
            resource: ConfigResource::broker(100),
            entries: Ok(entries
                .iter()
                .map(|(k, v, ro, source)| ConfigEntry {
                    name: (*k).into(),
                    value: Some((*v).into()),
                    read_only: *ro,
                    source: *source,
                    sensitive: false,
                })
                .collect()),
        }
    }

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|k| (*k).to_owned()).collect()
    }

    fn desired(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn plans() {
        let r = running(&[("log.retention.ms", "100", false), ("num.io.threads", "8", true)]);
        assert_eq!(plan(&desired(&[("log.retention.ms", "100")]), &r), ConfigPlan::Current);
        assert_eq!(
            plan(&desired(&[("log.retention.ms", "200")]), &r),
            ConfigPlan::Dynamic { set: desired(&[("log.retention.ms", "200")]), delete: BTreeSet::new() }
        );
        assert_eq!(
            plan(&desired(&[("log.retention.ms", "200"), ("num.io.threads", "4")]), &r),
            ConfigPlan::NeedsRestart(vec!["num.io.threads".into()])
        );
        assert_eq!(plan(&desired(&[("my.plugin.key", "x")]), &r), ConfigPlan::NeedsRestart(vec!["my.plugin.key".into()]));
    }

    #[test]
    fn removed_dynamic_defaults_are_deleted() {
        let r = running_from(&[
            ("log.retention.ms", "200", false, ConfigSource::DynamicDefaultBroker),
            ("num.io.threads", "4", true, ConfigSource::StaticBroker),
            ("broker.id", "100", true, ConfigSource::StaticBroker),
            ("log.segment.bytes", "1073741824", false, ConfigSource::Default),
        ]);
        // Dropped from the spec: the dynamic default goes; static values and defaults stay.
        assert_eq!(plan(&BTreeMap::new(), &r), ConfigPlan::Dynamic { set: BTreeMap::new(), delete: keys(&["log.retention.ms"]) });
        // Still asked for: nothing to delete.
        assert_eq!(plan(&desired(&[("log.retention.ms", "200")]), &r), ConfigPlan::Current);
    }

    fn node(id: i32, broker: bool) -> StaleNode {
        StaleNode { id, pod: format!("p-{id}"), broker, ready: true, desired_hash: "h".into() }
    }

    #[test]
    fn decisions() {
        let stale = vec![node(0, false), node(100, true), node(101, true)];
        let dynamic = ConfigPlan::Dynamic { set: desired(&[("log.retention.ms", "200")]), delete: keys(&["log.flush.ms"]) };
        let all_dynamic = BTreeMap::from([(100, dynamic.clone()), (101, dynamic.clone())]);
        let d = decide(&stale, &all_dynamic);
        assert!(d.restart.is_empty());
        assert_eq!(d.refresh.len(), 3, "controllers follow the brokers' dynamic verdict");
        assert_eq!(d.set, desired(&[("log.retention.ms", "200")]));
        assert_eq!(d.delete, keys(&["log.flush.ms"]));

        let one_restart = BTreeMap::from([(100, dynamic), (101, ConfigPlan::NeedsRestart(vec!["num.io.threads".into()]))]);
        let d = decide(&stale, &one_restart);
        assert_eq!(d.restart, BTreeSet::from([0, 101]));

        // No stale broker to vouch: controllers restart.
        let d = decide(&[node(0, false)], &BTreeMap::new());
        assert_eq!(d.restart, BTreeSet::from([0]));

        // A stale broker that did not answer stays stale and vouches for nothing: wait.
        let d = decide(&[node(0, false), node(100, true)], &BTreeMap::new());
        assert!(d.restart.is_empty());
        assert!(d.refresh.is_empty());
    }
}
