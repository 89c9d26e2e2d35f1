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
//! no restart. Only defaults the operator set itself are deleted: it records them in
//! `status.dynamicDefaults`, so a default an admin set by hand (`kafka-configs --entity-default`)
//! stays. A read-only key removed from the spec is not detected: like any static value, it
//! leaves with the next restart of each node (a manual roll forces one).
//!
//! DescribeConfigs answers `null` for a sensitive value (a PASSWORD key, or any key Kafka cannot
//! type, such as a plugin's), so it cannot be compared. The status keeps a fingerprint of each
//! value the nodes are known to run (`status.configFingerprints`, a salted SHA-256, never the
//! value); a sensitive value whose fingerprint differs is applied (set, or a restart when
//! read-only) rather than taken as current.
//!
//! A value Kafka refuses (a per-resource IncrementalAlterConfigs error) is retried key by key, so
//! the other keys still apply; the refused keys and Kafka's errors go to the status
//! (Ready=False, `ConfigRejected`) and a Warning Event, and the nodes stay stale so the value is
//! tried again until the spec changes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::observe::annotation;
use crate::api::KafkaCluster;
use crate::api::cluster::KafkaClusterStatus;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::kafka_access::admin::Admin;
use crate::controller::reason::ClusterReason;
use crate::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource, ConfigSource, ResourceConfigs};
use crate::kafka::{self, ErrorCategory};
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

/// What the operator remembers (in the status) about the configuration it applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    /// Cluster-wide dynamic defaults the operator set itself (`status.dynamicDefaults`).
    pub dynamic_defaults: BTreeSet<String>,
    /// Fingerprints of the values the nodes are known to run (`status.configFingerprints`).
    pub fingerprints: BTreeMap<String, String>,
}

impl Tracked {
    pub fn from_status(status: Option<&KafkaClusterStatus>) -> Tracked {
        Tracked {
            dynamic_defaults: status.map(|s| s.dynamic_defaults.iter().cloned().collect()).unwrap_or_default(),
            fingerprints: status.map(|s| s.config_fingerprints.clone()).unwrap_or_default(),
        }
    }
}

/// A value's fingerprint: SHA-256 over the cluster id, the key and the value (128 bits, hex).
/// The status holds this, never the value. Pure.
pub fn fingerprint(cluster_id: &str, key: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [cluster_id, key, value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of every desired value. Pure.
pub fn fingerprints(cluster_id: &str, desired: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    desired.iter().map(|(k, v)| (k.clone(), fingerprint(cluster_id, k, v))).collect()
}

/// Compares the desired user configuration with what a broker reports. `wanted`: the desired
/// values' [`fingerprints`]; `tracked`: what the operator applied before. Pure.
pub fn plan(
    desired: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
    running: &ResourceConfigs,
    tracked: &Tracked,
) -> ConfigPlan {
    let mut dynamic = BTreeMap::new();
    let mut delete = BTreeSet::new();
    let mut restart = Vec::new();
    for (key, want) in desired {
        let current = |e: &crate::kafka::ops::configs::ConfigEntry| {
            if e.sensitive {
                // Kafka answers null: only the fingerprint of what was applied can tell.
                tracked.fingerprints.get(key).is_some_and(|fp| wanted.get(key) == Some(fp))
            } else {
                e.value.as_deref() == Some(want.as_str())
            }
        };
        match running.get(key) {
            None => restart.push(key.clone()),
            Some(e) if current(e) => {}
            Some(e) if e.read_only => restart.push(key.clone()),
            Some(_) => {
                dynamic.insert(key.clone(), want.clone());
            }
        }
    }
    // Cluster-wide dynamic defaults the spec no longer asks for, of those the operator set (an
    // admin's own defaults stay).
    for entry in running.entries.iter().flatten() {
        if entry.source == ConfigSource::DynamicDefaultBroker
            && !desired.contains_key(&entry.name)
            && tracked.dynamic_defaults.contains(&entry.name)
        {
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

/// A `spec.config` value Kafka refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub key: String,
    /// Kafka's error, as it answered.
    pub error: String,
}

/// The text naming every refused key and Kafka's error (condition message and Event note). Pure.
pub fn rejection_message(rejected: &[Rejection]) -> String {
    let each: Vec<String> = rejected.iter().map(|r| format!("{}: {}", r.key, r.error)).collect();
    format!("Kafka refused spec.config value(s), not applied (the other keys were): {}", each.join("; "))
}

/// What the dynamic-config step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigOutcome {
    /// Nodes that need a restart (restart reason ConfigChanged).
    pub restart: BTreeSet<NodeId>,
    /// Values Kafka refused.
    pub rejected: Vec<Rejection>,
    /// What the status records about applied configuration from now on.
    pub tracked: Tracked,
}

/// Whether a per-resource error is Kafka saying no to the values (rather than not answering).
fn refused(e: &kafka::Error) -> bool {
    e.kafka_code().is_some() && e.category() == ErrorCategory::Rejected
}

/// Sets and deletes `changes` on the cluster-wide default. Returns the changes applied and the
/// values refused; a failure that is not a refusal (Kafka not answering) is an error. When Kafka
/// refuses the batch (it validates a resource as a whole), each key is tried on its own.
async fn alter_cluster_default(
    admin: &dyn Admin,
    changes: Vec<(String, AlterOp)>,
) -> std::result::Result<(Vec<(String, AlterOp)>, Vec<Rejection>), kafka::Error> {
    let alter = |changes: Vec<(String, AlterOp)>| async move {
        let alteration = ConfigAlteration { resource: ConfigResource::cluster_broker_default(), changes };
        let outcomes = admin.incremental_alter_configs(&[alteration], false).await?;
        outcomes.into_iter().try_for_each(|o| o.result)
    };
    match alter(changes.clone()).await {
        Ok(()) => return Ok((changes, Vec::new())),
        Err(e) if refused(&e) && changes.len() > 1 => info!(error = %e, "Kafka refused the configuration change; trying each key"),
        Err(e) if refused(&e) => {
            let key = changes.into_iter().next().map(|(k, _)| k).unwrap_or_default();
            return Ok((Vec::new(), vec![Rejection { key, error: e.to_string() }]));
        }
        Err(e) => return Err(e),
    }
    let (mut applied, mut rejected) = (Vec::new(), Vec::new());
    for change in changes {
        match alter(vec![change.clone()]).await {
            Ok(()) => applied.push(change),
            Err(e) if refused(&e) => rejected.push(Rejection { key: change.0, error: e.to_string() }),
            Err(e) => return Err(e),
        }
    }
    Ok((applied, rejected))
}

/// Records what the operator just applied in the status at once, so that an operator restart
/// before the reconcile's own status write still knows which defaults are its own.
async fn persist_tracked(ctx: &Context, kc: &KafkaCluster, tracked: &Tracked) -> Result<()> {
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), kc.metadata.namespace.as_deref().unwrap_or("default"));
    let patch = serde_json::json!({"status": {
        "dynamicDefaults": tracked.dynamic_defaults,
        "configFingerprints": tracked.fingerprints,
    }});
    api.patch_status(kc.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.count_write();
    Ok(())
}

/// Asks Kafka about stale nodes, applies dynamic values, refreshes annotations, and returns the
/// nodes that need a restart, the values Kafka refused and what the status records. A broker
/// that does not answer DescribeConfigs stays stale for the next reconcile; an
/// IncrementalAlterConfigs that gets no answer is an error (the caller reports Kafka as
/// unavailable).
pub async fn reconcile(
    ctx: &Context,
    kc: &KafkaCluster,
    admin: &dyn Admin,
    model: &ClusterModel,
    objects: &ClusterObjects,
    pods: &BTreeMap<String, Pod>,
) -> Result<ConfigOutcome> {
    let mut tracked = Tracked::from_status(kc.status.as_ref());
    let wanted = fingerprints(&model.cluster_id, &model.config);
    let stale = stale_nodes(model, objects, pods);
    if stale.is_empty() {
        // Every node runs the desired configuration: these are the values it runs.
        tracked.fingerprints = wanted;
        return Ok(ConfigOutcome { tracked, ..ConfigOutcome::default() });
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
                    let broker_plan = plan(&model.config, &wanted, r, &tracked);
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
    let mut rejected = Vec::new();
    if !decision.set.is_empty() || !decision.delete.is_empty() {
        let changes = decision
            .set
            .iter()
            .map(|(k, v)| (k.clone(), AlterOp::Set(v.clone())))
            .chain(decision.delete.iter().map(|k| (k.clone(), AlterOp::Delete)))
            .collect();
        let (applied, refusals) = alter_cluster_default(admin, changes).await?;
        let before = tracked.clone();
        for (key, op) in &applied {
            match op {
                AlterOp::Delete => {
                    tracked.dynamic_defaults.remove(key);
                    tracked.fingerprints.remove(key);
                }
                _ => {
                    tracked.dynamic_defaults.insert(key.clone());
                    if let Some(fp) = wanted.get(key) {
                        tracked.fingerprints.insert(key.clone(), fp.clone());
                    }
                }
            }
        }
        if tracked != before {
            persist_tracked(ctx, kc, &tracked).await?;
        }
        if !applied.is_empty() {
            info!(changes = ?applied.iter().map(|(k, _)| k).collect::<Vec<_>>(), "applied dynamic configuration cluster-wide; no restart");
        }
        rejected = refusals;
    }
    if !rejected.is_empty() {
        // The nodes stay stale: the refused value is tried again, and reported, until the spec
        // changes.
        warn!(rejected = ?rejected, "Kafka refused dynamic configuration");
        report_rejection(ctx, kc, &rejected).await;
        return Ok(ConfigOutcome { restart: decision.restart, rejected, tracked });
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &model.namespace);
    for node in &decision.refresh {
        let patch = serde_json::json!({"metadata": {"annotations": {names::annotations::CONFIG_HASH: node.desired_hash}}});
        api.patch(&node.pod, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        ctx.metrics.count_write();
    }
    Ok(ConfigOutcome { restart: decision.restart, rejected, tracked })
}

/// A Warning Event naming the refused keys, when the Ready condition does not already say so.
async fn report_rejection(ctx: &Context, kc: &KafkaCluster, rejected: &[Rejection]) {
    let message = rejection_message(rejected);
    let said = kc
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == crate::controller::conditions::READY))
        .is_some_and(|c| c.reason == ClusterReason::ConfigRejected.as_str() && c.message == message);
    if !said {
        super::act::publish(ctx, kc, EventType::Warning, (ClusterReason::ConfigRejected, "Configure"), message, None).await;
    }
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

    /// `plan` with nothing tracked.
    fn plan0(desired: &BTreeMap<String, String>, running: &ResourceConfigs) -> ConfigPlan {
        plan(desired, &fingerprints("id", desired), running, &Tracked::default())
    }

    #[test]
    fn plans() {
        let r = running(&[("log.retention.ms", "100", false), ("num.io.threads", "8", true)]);
        assert_eq!(plan0(&desired(&[("log.retention.ms", "100")]), &r), ConfigPlan::Current);
        assert_eq!(
            plan0(&desired(&[("log.retention.ms", "200")]), &r),
            ConfigPlan::Dynamic { set: desired(&[("log.retention.ms", "200")]), delete: BTreeSet::new() }
        );
        assert_eq!(
            plan0(&desired(&[("log.retention.ms", "200"), ("num.io.threads", "4")]), &r),
            ConfigPlan::NeedsRestart(vec!["num.io.threads".into()])
        );
        assert_eq!(plan0(&desired(&[("my.plugin.key", "x")]), &r), ConfigPlan::NeedsRestart(vec!["my.plugin.key".into()]));
    }

    fn sensitive(key: &str, read_only: bool, source: ConfigSource) -> ResourceConfigs {
        ResourceConfigs {
            resource: ConfigResource::broker(100),
            entries: Ok(vec![ConfigEntry { name: key.into(), value: None, read_only, source, sensitive: true }]),
        }
    }

    /// (what, desired, running, tracked, expected plan)
    type Case<'a> = (&'a str, &'a BTreeMap<String, String>, ResourceConfigs, &'a Tracked, ConfigPlan);

    #[test]
    fn sensitive_values_are_compared_by_fingerprint() {
        let key = "delegation.token.secret.key";
        let one = desired(&[(key, "one")]);
        let two = desired(&[(key, "two")]);
        let applied_one = Tracked { fingerprints: fingerprints("id", &one), ..Tracked::default() };
        let cases: &[Case<'_>] = &[
            ("same fingerprint: current", &one, sensitive(key, true, ConfigSource::StaticBroker), &applied_one, ConfigPlan::Current),
            (
                "changed read-only: restart",
                &two,
                sensitive(key, true, ConfigSource::StaticBroker),
                &applied_one,
                ConfigPlan::NeedsRestart(vec![key.into()]),
            ),
            (
                "nothing tracked: applied, never assumed current",
                &one,
                sensitive(key, true, ConfigSource::StaticBroker),
                &Tracked::default(),
                ConfigPlan::NeedsRestart(vec![key.into()]),
            ),
        ];
        for (what, want, running, tracked, expected) in cases {
            assert_eq!(&plan(want, &fingerprints("id", want), running, tracked), expected, "{what}");
        }
        let dynamic_key = desired(&[("x.password", "two")]);
        let applied = Tracked { fingerprints: fingerprints("id", &desired(&[("x.password", "one")])), ..Tracked::default() };
        assert_eq!(
            plan(
                &dynamic_key,
                &fingerprints("id", &dynamic_key),
                &sensitive("x.password", false, ConfigSource::DynamicDefaultBroker),
                &applied
            ),
            ConfigPlan::Dynamic { set: dynamic_key.clone(), delete: BTreeSet::new() },
            "a changed dynamic sensitive value is set"
        );
    }

    #[test]
    fn fingerprints_hide_the_value_and_tell_values_apart() {
        let fp = fingerprint("cluster", "k", "secret-value");
        assert_eq!(fp.len(), 32);
        assert!(!fp.contains("secret"));
        assert_eq!(fp, fingerprint("cluster", "k", "secret-value"));
        assert_ne!(fp, fingerprint("cluster", "k", "secret-valuf"));
        assert_ne!(fp, fingerprint("other", "k", "secret-value"), "salted with the cluster id");
        assert_ne!(fingerprint("c", "ab", "c"), fingerprint("c", "a", "bc"), "key and value are delimited");
    }

    #[test]
    fn rejection_names_each_key_and_error() {
        let m = rejection_message(&[Rejection { key: "num.io.threads".into(), error: "should not be greater than double".into() }]);
        assert!(m.contains("num.io.threads: should not be greater than double"), "{m}");
    }

    #[test]
    fn removed_dynamic_defaults_are_deleted() {
        let r = running_from(&[
            ("log.retention.ms", "200", false, ConfigSource::DynamicDefaultBroker),
            ("num.io.threads", "4", true, ConfigSource::StaticBroker),
            ("broker.id", "100", true, ConfigSource::StaticBroker),
            ("log.segment.bytes", "1073741824", false, ConfigSource::Default),
        ]);
        let ours = Tracked { dynamic_defaults: keys(&["log.retention.ms"]), ..Tracked::default() };
        let none = BTreeMap::new();
        // Dropped from the spec: the operator's dynamic default goes; static values and defaults stay.
        assert_eq!(plan(&none, &none, &r, &ours), ConfigPlan::Dynamic { set: BTreeMap::new(), delete: keys(&["log.retention.ms"]) });
        // Still asked for: nothing to delete.
        assert_eq!(plan0(&desired(&[("log.retention.ms", "200")]), &r), ConfigPlan::Current);
        // A default the operator never set (an admin's) stays.
        assert_eq!(plan(&none, &none, &r, &Tracked::default()), ConfigPlan::Current);
        let theirs = Tracked { dynamic_defaults: keys(&["log.flush.ms"]), ..Tracked::default() };
        assert_eq!(plan(&none, &none, &r, &theirs), ConfigPlan::Current);
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
