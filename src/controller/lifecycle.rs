//! The life cycle shared by KafkaTopic and KafkaUser: our finalizer, the `managed=false`
//! annotation, and which watch events deserve a reconcile.
//!
//! Only a deletionTimestamp with our finalizer present leads to deletion in Kafka. A resource
//! that vanishes from a watch (a CRD version change, a lost cache) never does.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;

use crate::model::names::annotations::PAUSE_RECONCILIATION;

/// Our finalizer on KafkaTopics and KafkaUsers.
pub const FINALIZER: &str = concat!(crate::api_group!(), "/finalizer");
/// `kafka.gregor.dev/managed=false` detaches a resource from Kafka: nothing is changed or deleted.
pub const MANAGED_ANNOTATION: &str = concat!(crate::api_group!(), "/managed");

/// Whether the resource is managed (not detached by `kafka.gregor.dev/managed=false`).
pub fn is_managed(meta: &ObjectMeta) -> bool {
    meta.annotations.as_ref().and_then(|a| a.get(MANAGED_ANNOTATION)).is_none_or(|v| v != "false")
}

/// Whether `kafka.gregor.dev/pause-reconciliation=true` holds the resource still: nothing is
/// changed in Kafka, and deleting the resource leaves Kafka as it is.
pub fn is_paused(meta: &ObjectMeta) -> bool {
    annotation_true(meta, PAUSE_RECONCILIATION)
}

/// Whether annotation `key` is set to exactly `true`.
pub fn annotation_true(meta: &ObjectMeta, key: &str) -> bool {
    meta.annotations.as_ref().and_then(|a| a.get(key)).is_some_and(|v| v == "true")
}

/// What the finalizer bookkeeping asks for before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being deleted with our finalizer: clean up in Kafka, then remove the finalizer.
    CleanUp,
    /// Being deleted without our finalizer: nothing to do.
    Gone,
    /// Live; add our finalizer first.
    AddFinalizer,
    /// Live but it needs no finalizer (detached, retained): remove ours.
    RemoveFinalizer,
    /// Live, finalizer as it should be.
    Live,
}

pub fn has_finalizer(meta: &ObjectMeta) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == FINALIZER)
}

/// Decides the finalizer step. `wants_finalizer`: whether deleting the resource must do
/// something in Kafka.
pub fn lifecycle(meta: &ObjectMeta, wants_finalizer: bool) -> Lifecycle {
    match (meta.deletion_timestamp.is_some(), has_finalizer(meta), wants_finalizer) {
        (true, true, _) => Lifecycle::CleanUp,
        (true, false, _) => Lifecycle::Gone,
        (false, false, true) => Lifecycle::AddFinalizer,
        (false, true, false) => Lifecycle::RemoveFinalizer,
        (false, _, _) => Lifecycle::Live,
    }
}

/// Writes the finalizer list with the object's resourceVersion, so a concurrent change of the
/// list fails (409) instead of being lost.
async fn write_finalizers<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let meta = obj.meta();
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}
    });
    let name = meta.name.as_deref().unwrap_or_default();
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

pub async fn add_finalizer<K>(api: &Api<K>, obj: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut list: Vec<String> = obj.meta().finalizers.clone().unwrap_or_default();
    list.push(FINALIZER.to_owned());
    write_finalizers(api, obj, list).await
}

pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let list: Vec<String> = obj.meta().finalizers.iter().flatten().filter(|f| *f != FINALIZER).cloned().collect();
    match write_finalizers(api, obj, list).await {
        // Already gone.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

/// The watch-event filter of KafkaTopics and KafkaUsers: a reconcile for a spec change, a
/// deletion, or a change of the `managed` or `pause-reconciliation` annotations, but not for our own status and finalizer
/// writes. Resyncs come from the requeue.
pub fn trigger_hash<K: Resource>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut h = DefaultHasher::new();
    // The uid too: a resource deleted and created again under its name starts at generation 1 again.
    meta.uid.hash(&mut h);
    meta.generation.hash(&mut h);
    meta.deletion_timestamp.is_some().hash(&mut h);
    meta.annotations.as_ref().and_then(|a| a.get(MANAGED_ANNOTATION)).hash(&mut h);
    is_paused(meta).hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(deleting: bool, finalizer: bool) -> ObjectMeta {
        ObjectMeta {
            deletion_timestamp: deleting.then(|| Time("2026-01-01T00:00:00Z".parse().expect("time"))),
            finalizers: finalizer.then(|| vec!["other".to_owned(), FINALIZER.to_owned()]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn lifecycle_table() {
        let cases = [
            (true, true, true, Lifecycle::CleanUp),
            (true, true, false, Lifecycle::CleanUp),
            (true, false, true, Lifecycle::Gone),
            (false, false, true, Lifecycle::AddFinalizer),
            (false, true, false, Lifecycle::RemoveFinalizer),
            (false, true, true, Lifecycle::Live),
            (false, false, false, Lifecycle::Live),
        ];
        for (deleting, finalizer, wants, expected) in cases {
            assert_eq!(lifecycle(&meta(deleting, finalizer), wants), expected, "{deleting} {finalizer} {wants}");
        }
    }

    #[test]
    fn managed_unless_annotated_false() {
        let mut m = ObjectMeta::default();
        assert!(is_managed(&m));
        m.annotations = Some([(MANAGED_ANNOTATION.to_owned(), "false".to_owned())].into());
        assert!(!is_managed(&m));
        m.annotations = Some([(MANAGED_ANNOTATION.to_owned(), "true".to_owned())].into());
        assert!(is_managed(&m));
    }

    #[test]
    fn paused_only_when_true_and_pausing_triggers_a_reconcile() {
        let mut m = ObjectMeta::default();
        assert!(!is_paused(&m));
        let running = trigger_hash(&k8s_openapi::api::core::v1::ConfigMap { metadata: m.clone(), ..Default::default() });
        m.annotations = Some([(PAUSE_RECONCILIATION.to_owned(), "yes".to_owned())].into());
        assert!(!is_paused(&m), "only the value true pauses");
        m.annotations = Some([(PAUSE_RECONCILIATION.to_owned(), "true".to_owned())].into());
        assert!(is_paused(&m));
        let paused = trigger_hash(&k8s_openapi::api::core::v1::ConfigMap { metadata: m, ..Default::default() });
        assert_ne!(running, paused, "pausing and resuming reach the reconciler");
    }
}
