//! The chart's RBAC and admission policies in a world, as `deploy/gregor.yaml` renders them with
//! default values, so the operator runs with exactly what the chart grants (not as an admin).

use std::path::{Path, PathBuf};

use gregor_world::World;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};

/// The chart's release namespace in `deploy/gregor.yaml`.
pub const RELEASE_NS: &str = "gregor-system";
/// The chart's ServiceAccount there.
pub const CHART_SA: &str = "gregor";

/// Every document of a multi-document YAML file.
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde_json::Value::deserialize(d).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Server-side apply of one object, as `kubectl apply --server-side [--dry-run=server]` does.
pub async fn apply_object(client: &Client, discovery: &Discovery, obj: &serde_json::Value, dry_run: bool) -> Result<(), kube::Error> {
    let api_version = obj["apiVersion"].as_str().expect("apiVersion");
    let kind = obj["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("unknown kind {api_version} {kind}"));
    let name = obj["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), obj["metadata"]["namespace"].as_str().unwrap_or("default"), &ar),
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    let mut params = PatchParams::apply("gregor-e2e-install").force();
    if dry_run {
        params = params.dry_run();
    }
    api.patch(name, &params, &Patch::Apply(obj)).await.map(|_| ())
}

/// Installs what `deploy/gregor.yaml` holds except the Deployment (the world runs no operator
/// image; the tests run the binary) and the finalizer policy (suites that want it install it with
/// `install_finalizer_policy`, so the operator's own finalizer path stays covered), and returns a
/// kubeconfig with a token of the chart's ServiceAccount.
pub async fn install(world: &World) -> PathBuf {
    let client = world.client();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gregor.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let discovery = Discovery::new(client.clone()).run().await.expect("API discovery");
    for obj in documents(&text)
        .iter()
        .filter(|d| !matches!(d["kind"].as_str(), Some("Deployment" | "MutatingAdmissionPolicy" | "MutatingAdmissionPolicyBinding")))
    {
        apply_object(&client, &discovery, obj, false)
            .await
            .unwrap_or_else(|e| panic!("install {} {}: {e}", obj["kind"], obj["metadata"]["name"]));
    }
    world.mint_kubeconfig(RELEASE_NS, CHART_SA).await.expect("a kubeconfig of the chart's ServiceAccount")
}

/// A client that authenticates as the chart's ServiceAccount (installing the chart's RBAC first).
pub async fn operator_client(world: &World) -> Client {
    let kubeconfig = install(world).await;
    let config = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default()).await.expect("kubeconfig");
    Client::try_from(config).expect("client")
}
