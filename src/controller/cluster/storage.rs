//! Growing a pool's volumes. A StatefulSet's `volumeClaimTemplates` cannot change, so when the
//! spec asks for more storage the operator:
//! 1. asks each existing claim of the pool for the new size (its StorageClass must allow
//!    expansion; the volume driver then grows it while the pod runs);
//! 2. deletes the StatefulSet with orphan propagation: its pods keep running, its claims stay;
//! 3. creates it again, with the new template, at the next apply; it adopts the running pods,
//!    and since their template did not change, nobody restarts.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use tracing::info;

use super::scale::Refusal;
use crate::controller::context::Context;
use crate::controller::reason::ClusterReason;
use crate::model::quantity::parse_bytes;
use crate::render::ClusterObjects;

/// A claim's requested storage, e.g. "10Gi".
fn claim_size(claim: &PersistentVolumeClaim) -> Option<&str> {
    let requests = claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    requests.get("storage").map(|q| q.0.as_str())
}

/// The claim templates of a StatefulSet.
fn templates(sts: &StatefulSet) -> &[PersistentVolumeClaim] {
    sts.spec.as_ref().and_then(|s| s.volume_claim_templates.as_deref()).unwrap_or_default()
}

/// The first claim template's requested storage.
fn template_size(sts: &StatefulSet) -> Option<&str> {
    templates(sts).first().and_then(claim_size)
}

/// What the claims of a live StatefulSet need for the desired one. Pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimChange {
    /// The templates agree: nothing to do.
    None,
    /// The requested size grew to this quantity: grow the claims, then re-create the StatefulSet.
    Grow(String),
    /// The templates differ otherwise (labels, class): re-create the StatefulSet so new claims
    /// follow the spec; existing claims keep what they have.
    Recreate,
}

/// What the operator sets in one claim template: name, labels, class, size.
type TemplateKey<'a> = (Option<&'a str>, Option<&'a BTreeMap<String, String>>, Option<&'a str>, Option<&'a str>);

fn comparable(sts: &StatefulSet) -> Vec<TemplateKey<'_>> {
    templates(sts)
        .iter()
        .map(|c| {
            let class = c.spec.as_ref().and_then(|s| s.storage_class_name.as_deref());
            (c.metadata.name.as_deref(), c.metadata.labels.as_ref(), class, claim_size(c))
        })
        .collect()
}

pub fn claim_change(live: &StatefulSet, desired: &StatefulSet) -> ClaimChange {
    // The API server fills in defaults (volumeMode, status): compare what the operator sets.
    if comparable(live) == comparable(desired) {
        return ClaimChange::None;
    }
    match (template_size(live).and_then(parse_bytes), template_size(desired)) {
        (Some(old), Some(new)) if parse_bytes(new).is_some_and(|n| n > old) => ClaimChange::Grow(new.to_owned()),
        _ => ClaimChange::Recreate,
    }
}

/// Names of the claims of a StatefulSet's pods: `<template>-<statefulset>-<ordinal>`.
fn claim_names(sts: &StatefulSet) -> Vec<String> {
    let spec = sts.spec.as_ref();
    let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let template = spec.and_then(|s| s.volume_claim_templates.as_ref()).and_then(|t| t.first()).and_then(|t| t.metadata.name.clone());
    let Some(template) = template else { return Vec::new() };
    (start..start + replicas).map(|i| format!("{template}-{}-{i}", sts.name_any())).collect()
}

/// Names of the claims of a pool's live StatefulSet (from the cache); none before it exists.
pub fn pool_claim_names(ctx: &Context, model: &crate::model::ClusterModel, pool: &crate::model::PoolModel) -> Vec<String> {
    super::scale::cached_stateful_set(ctx, model, &pool.name).map(|sts| claim_names(&sts)).unwrap_or_default()
}

/// Grows claims and re-creates StatefulSets whose claim templates changed. Returns the
/// StatefulSets being re-created (not applied in this reconcile), or the refusal of a claim
/// that cannot grow (then the cluster is left as it is).
pub async fn reconcile(ctx: &Context, namespace: &str, objects: &ClusterObjects) -> Result<Result<BTreeSet<String>, Refusal>, kube::Error> {
    let mut recreating = BTreeSet::new();
    let stateful_sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    for pool in &objects.pools {
        let name = pool.stateful_set.name_any();
        let store_ref = kube::runtime::reflector::ObjectRef::new(&name).within(namespace);
        let Some(live) = ctx.stores.stateful_sets.get(&store_ref) else { continue };
        if live.metadata.deletion_timestamp.is_some() {
            // Still going away (orphaning its pods): create it again once it is gone.
            recreating.insert(name);
            continue;
        }
        let change = claim_change(&live, &pool.stateful_set);
        if let ClaimChange::Grow(size) = &change {
            for claim in claim_names(&live) {
                let Some(pvc) = claims.get_opt(&claim).await? else { continue };
                let current = claim_size(&pvc).and_then(parse_bytes);
                if current.is_some_and(|c| parse_bytes(size).is_some_and(|n| n <= c)) {
                    continue;
                }
                let grow = serde_json::json!({"spec": {"resources": {"requests": {"storage": size}}}});
                match claims.patch(&claim, &PatchParams::default(), &Patch::Merge(&grow)).await {
                    Ok(_) => info!(claim, size, "asked the claim to grow"),
                    Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => {
                        return Ok(Err(Refusal {
                            reason: ClusterReason::StorageResizeRefused,
                            message: format!(
                                "claim {claim} cannot grow to {size}: {}; check that its StorageClass allows volume expansion",
                                e.message
                            ),
                        }));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if change != ClaimChange::None {
            let orphan = DeleteParams { propagation_policy: Some(kube::api::PropagationPolicy::Orphan), ..DeleteParams::default() };
            stateful_sets.delete(&name, &orphan).await?;
            ctx.metrics.count_write();
            info!(statefulset = %name, ?change, "claim templates changed: re-creating the StatefulSet, pods and claims kept");
            recreating.insert(name);
        }
    }
    Ok(Ok(recreating))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn sts(size: &str, class: Option<&str>) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta { name: Some("c-brokers".into()), ..ObjectMeta::default() },
            spec: Some(StatefulSetSpec {
                replicas: Some(3),
                ordinals: Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(100) }),
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta { name: Some("data".into()), ..ObjectMeta::default() },
                    spec: Some(PersistentVolumeClaimSpec {
                        storage_class_name: class.map(str::to_owned),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some([("storage".to_owned(), Quantity(size.into()))].into()),
                            limits: None,
                        }),
                        ..PersistentVolumeClaimSpec::default()
                    }),
                    status: None,
                }]),
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn claim_changes() {
        let cases = [
            (sts("1Gi", None), sts("1Gi", None), ClaimChange::None),
            (sts("1Gi", None), sts("2Gi", None), ClaimChange::Grow("2Gi".into())),
            (sts("1Gi", None), sts("1024Mi", None), ClaimChange::Recreate),
            (sts("1Gi", None), sts("1Gi", Some("fast")), ClaimChange::Recreate),
            (sts("2Gi", None), sts("1Gi", None), ClaimChange::Recreate),
        ];
        for (live, desired, expected) in cases {
            assert_eq!(claim_change(&live, &desired), expected, "{:?} -> {:?}", template_size(&live), template_size(&desired));
        }
    }

    #[test]
    fn claims_follow_ordinals() {
        assert_eq!(claim_names(&sts("1Gi", None)), ["data-c-brokers-100", "data-c-brokers-101", "data-c-brokers-102"]);
    }
}
