//! The API server's own limit in this run: N trivial objects of the bench's own CRD created, then
//! each status-patched once, by a plain client with the bench's concurrency. Every KafkaTopic
//! costs at least that: the user's apply and one status write.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;

const GROUP: &str = "bench.gregor.dev";
const PLURAL: &str = "benchprobes";

/// The figures of one limit measurement.
pub struct Limit {
    pub create: Duration,
    pub status_patch: Duration,
    /// Requests the API server refused (a sound run has none).
    pub errors: usize,
}

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{PLURAL}.{GROUP}")},
        "spec": {"group": GROUP, "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "benchprobe", "kind": "BenchProbe", "listKind": "BenchProbeList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"n": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}
    }))
    .expect("the bench's CRD")
}

/// Installs the CRD, then creates `n` objects in `ns` and status-patches each once.
pub async fn measure(client: &kube::Client, ns: &str, n: usize, concurrency: usize) -> Limit {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.patch(&name, &PatchParams::apply("gregor-bench").force(), &Patch::Apply(&crd)).await.expect("install the bench's CRD");
    crate::support::wait_for("the bench's CRD established", Duration::from_secs(30), || {
        let crds = crds.clone();
        let name = name.clone();
        async move {
            let live = crds.get(&name).await.ok()?;
            live.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
        }
    })
    .await;
    let resource = ApiResource::from_gvk_with_plural(&kube::api::GroupVersionKind::gvk(GROUP, "v1", "BenchProbe"), PLURAL);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    // The first requests after a CRD is established may still see 404/503 while it is loaded: wait for a list.
    crate::support::wait_for("the bench's CRD served", Duration::from_secs(30), || {
        let api = api.clone();
        async move { api.list(&Default::default()).await.ok().map(drop) }
    })
    .await;
    let names: Vec<String> = (0..n).map(|i| format!("probe-{i:05}")).collect();
    let mut errors = 0;
    let started = Instant::now();
    let created: Vec<bool> = futures::stream::iter(names.iter().map(|name| {
        let api = api.clone();
        let mut obj = DynamicObject::new(name, &resource).within(ns);
        obj.data = serde_json::json!({"spec": {"n": 1}});
        async move { api.create(&PostParams::default(), &obj).await.is_ok() }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let create = started.elapsed();
    errors += created.iter().filter(|ok| !**ok).count();
    let started = Instant::now();
    let patched: Vec<bool> = futures::stream::iter(names.iter().map(|name| {
        let api = api.clone();
        async move {
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"status": {"ready": true}}))).await.is_ok()
        }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let status_patch = started.elapsed();
    errors += patched.iter().filter(|ok| !**ok).count();
    Limit { create, status_patch, errors }
}
