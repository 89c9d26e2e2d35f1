//! Server-side apply of rendered objects (field manager `gregor`), skipping objects that are
//! already as we last applied them, and clean-up of orphans: objects with our labels and owner
//! that the current render no longer produces.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef as StoreRef, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::{debug, info};

use super::context::Context;
use super::error::{ControllerError, Result};
use crate::render::ObjectRef;

/// The field manager of every write Gregor makes.
pub const FIELD_MANAGER: &str = "gregor";

/// What we applied to one object and the version marker the API server gave back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedMark {
    pub hash: String,
    pub marker: String,
}

/// A marker that changes whenever anybody changes the object's desired state: its generation
/// where it has one, else its resourceVersion.
fn version_marker(meta: &ObjectMeta) -> String {
    match (meta.generation, meta.resource_version.as_deref()) {
        (Some(g), _) => format!("g{g}"),
        (None, Some(rv)) => format!("r{rv}"),
        (None, None) => String::new(),
    }
}

fn content_hash(value: &serde_json::Value) -> String {
    let bytes = value.to_string();
    Sha256::digest(bytes.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn key(kind: &str, meta: &ObjectMeta) -> String {
    format!("{kind}/{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default())
}

/// Applies one typed object unless the cache shows it unchanged since our last apply.
/// Returns whether a write was sent.
pub async fn apply_typed<K>(ctx: &Context, store: &Store<K>, kind: &str, value: &serde_json::Value, meta: &ObjectMeta) -> Result<bool>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
{
    let name = meta.name.as_deref().ok_or(ControllerError::MissingField { kind: "rendered object", field: "name" })?;
    let ns = meta.namespace.as_deref().ok_or(ControllerError::MissingField { kind: "rendered object", field: "namespace" })?;
    let hash = content_hash(value);
    let object_key = key(kind, meta);
    let cached_marker = store.get(&StoreRef::new(name).within(ns)).map(|o| version_marker(o.meta()));
    let last = ctx.applied.lock().ok().and_then(|m| m.get(&object_key).cloned());
    if let (Some(last), Some(marker)) = (&last, &cached_marker)
        && last.hash == hash
        && &last.marker == marker
    {
        debug!(object = %object_key, "unchanged, not applied");
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let applied = api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(value)).await?;
    ctx.metrics.count_write();
    let mark = AppliedMark { hash, marker: version_marker(applied.meta()) };
    if last.as_ref() != Some(&mark) {
        info!(object = %object_key, "applied");
    }
    if let Ok(mut m) = ctx.applied.lock() {
        m.insert(object_key, mark);
    }
    Ok(true)
}

macro_rules! apply_child {
    ($($kind:ident($ty:ty) => $field:ident,)*) => {
        /// Applies one rendered object. Returns whether a write was sent.
        pub async fn apply(ctx: &Context, object: ObjectRef<'_>) -> Result<bool> {
            let value = object.to_json()?;
            let meta = object.metadata();
            match object {
                $(ObjectRef::$kind(_) => apply_typed(ctx, &ctx.stores.$field, object.kind(), &value, meta).await,)*
            }
        }

        /// Deletes the objects of `ns` owned by `owner_uid` that `rendered` does not name, kind by
        /// kind (StatefulSets first). PVCs and Secrets are never touched here.
        pub async fn delete_orphans<'a>(ctx: &Context, ns: &str, owner_uid: &str, rendered: impl Iterator<Item = ObjectRef<'a>>) -> Result<()> {
            let rendered: Vec<ObjectRef<'a>> = rendered.collect();
            $(
                let keep: Vec<&str> = rendered.iter().filter(|o| matches!(o, ObjectRef::$kind(_))).map(|o| o.name()).collect();
                for name in orphans(&ctx.stores.$field, ns, owner_uid, &keep) {
                    delete_orphan::<$ty>(ctx, ns, &name).await?;
                }
            )*
            Ok(())
        }
    };
}
crate::with_child_kinds!(apply_child);

/// Whether `meta` is owned (controller reference) by the object with `owner_uid`.
pub fn owned_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|r| r.uid == owner_uid && r.controller == Some(true))
}

/// Names of cached objects in `ns` owned by `owner_uid` that are not in `keep`.
pub fn orphans<K>(store: &Store<K>, ns: &str, owner_uid: &str, keep: &[&str]) -> Vec<String>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let mut names: Vec<String> = store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns) && owned_by(o.meta(), owner_uid))
        .filter_map(|o| o.meta().name.clone())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

/// Deletes one orphan.
pub async fn delete_orphan<K>(ctx: &Context, ns: &str, name: &str) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    info!(kind = %K::kind(&()), namespace = ns, name, "deleting orphan");
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    ctx.metrics.count_write();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    fn cm(ns: &str, name: &str, owner: Option<&str>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        api_version: format!("{}/{}", crate::api::common::GROUP, crate::api::common::VERSION),
                        kind: "KafkaCluster".into(),
                        name: "c".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn orphans_are_owned_unrendered_objects_of_the_namespace() {
        let mut writer: Writer<ConfigMap> = Writer::default();
        for o in [
            cm("ns", "c-a-config", Some("u1")),
            cm("ns", "c-old-config", Some("u1")),
            cm("ns", "user-config", None),
            cm("ns", "other-cluster-config", Some("u2")),
            cm("other", "c-old-config", Some("u1")),
        ] {
            writer.apply_watcher_event(&Event::Apply(o));
        }
        let store = writer.as_reader();
        assert_eq!(orphans(&store, "ns", "u1", &["c-a-config"]), vec!["c-old-config".to_string()]);
    }

    #[test]
    fn markers_prefer_generation() {
        let mut meta = ObjectMeta { resource_version: Some("7".into()), ..ObjectMeta::default() };
        assert_eq!(version_marker(&meta), "r7");
        meta.generation = Some(3);
        assert_eq!(version_marker(&meta), "g3");
    }
}
