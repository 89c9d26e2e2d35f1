//! The `storage.autoGrow` step of a reconcile: gathers each pool's inputs (the health task's
//! log-dir usage, the claims' capacity), lets [`autogrow::decide`] choose, checks a growth with a
//! server-side dry run of the claim patch (the API server refuses claims whose StorageClass does
//! not allow expansion), records Events, and returns the status entries. The growth itself goes
//! through the storage-growth path at the next reconcile, which asks the claims for
//! max(spec size, `status.storage[].autoGrownSize`).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use tracing::info;

use super::act::publish;
use super::autogrow::{self, Decision, Inputs};
use super::storage;
use crate::api::KafkaCluster;
use crate::api::cluster::PoolStorageStatus;
use crate::controller::context::Context;
use crate::model::{ClusterModel, StorageModel, quantity::parse_bytes};

/// Whether any pool of the model grows on its own (its reconciles then look at usage often).
pub fn any(model: &ClusterModel) -> bool {
    model.pools.iter().any(|p| matches!(p.storage, StorageModel::PersistentClaim { auto_grow: Some(_), .. }))
}

/// Capacity of a claim, in bytes.
fn capacity(pvc: &PersistentVolumeClaim) -> Option<u64> {
    pvc.status.as_ref()?.capacity.as_ref()?.get("storage").and_then(|q| parse_bytes(&q.0))
}

/// Whether the API server accepts the claims growing to `size` (a dry run). `Err(message)`: refused.
async fn growth_accepted(claims: &Api<PersistentVolumeClaim>, names: &[String], size: &str) -> Result<Result<(), String>, kube::Error> {
    let grow = serde_json::json!({"spec": {"resources": {"requests": {"storage": size}}}});
    for name in names {
        match claims.patch(name, &PatchParams::default().dry_run(), &Patch::Merge(&grow)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => return Ok(Err(format!("claim {name}: {}", e.message))),
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(()))
}

/// The status entries of every pool after this reconcile's autoGrow decisions. Entries of pools
/// without autoGrow are kept as they were (a growth is never forgotten: the claims keep it).
pub async fn reconcile(ctx: &Context, kc: &KafkaCluster, model: &ClusterModel) -> Result<Vec<PoolStorageStatus>, kube::Error> {
    let previous: &[PoolStorageStatus] = kc.status.as_ref().map(|s| s.storage.as_slice()).unwrap_or_default();
    let key = format!("{}/{}", model.namespace, model.name);
    let usage = ctx.health.log_dir_usage(&key, std::time::Instant::now());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let mut entries = Vec::new();
    for pool in &model.pools {
        let before = previous.iter().find(|e| e.name == pool.name);
        let StorageModel::PersistentClaim { size, auto_grow: Some(spec), .. } = &pool.storage else {
            entries.extend(before.cloned());
            continue;
        };
        let Some(requested) = parse_bytes(size) else { continue };
        let names = storage::pool_claim_names(ctx, model, pool);
        let mut capacities = Vec::with_capacity(names.len());
        for name in &names {
            capacities.push(claims.get_opt(name).await?.as_ref().and_then(capacity));
        }
        let nodes: Vec<i32> = pool.node_ids().collect();
        let mut inputs = Inputs {
            spec,
            nodes: &nodes,
            requested,
            capacities: &capacities,
            usage: usage.as_ref(),
            total_at_last_growth: before.and_then(|e| e.total_bytes_at_growth),
            expandable: None,
        };
        let mut decision = autogrow::decide(&inputs);
        if let Decision::Grow { to, .. } = decision
            && let Err(refused) = growth_accepted(&claims, &names, &autogrow::quantity(to)).await?
        {
            info!(pool = %pool.name, refused, "autoGrow: the API server refuses the claims' growth");
            inputs.expandable = Some(false);
            decision = autogrow::decide(&inputs);
        }
        let max_total = usage.as_ref().and_then(|u| nodes.iter().filter_map(|n| u.nodes.get(n).map(|(t, _)| *t)).max());
        let recorded = autogrow::record(&pool.name, before, &inputs, &decision, max_total);
        if let Some((reason, note)) = recorded.event {
            let type_ = if matches!(decision, Decision::Grow { .. }) { EventType::Normal } else { EventType::Warning };
            info!(pool = %pool.name, %note, "autoGrow");
            publish(ctx, kc, type_, (reason, "AutoGrow"), note, None).await;
        }
        entries.push(recorded.entry);
    }
    Ok(entries)
}
