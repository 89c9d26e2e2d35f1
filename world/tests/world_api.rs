//! The world's library API against a real control plane: nodes, a pause StatefulSet with PVCs,
//! garbage collection, ServiceAccount kubeconfigs, and teardown leaving no process behind.
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::time::{Duration, Instant};

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pause_statefulset_pvcs_gc_and_teardown() {
    if !gregor_world::tools::world_suite_runs("gregor-world::world_api::pause_statefulset_pvcs_gc_and_teardown") {
        return;
    }
    let _ = tracing_subscriber::fmt().with_env_filter("info,kube=warn").with_test_writer().try_init();
    let world = World::start().await.expect("world starts");
    eprintln!("world started in {:?} at {}", world.started_in(), world.dir().display());
    let client = world.client();

    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.expect("nodes");
    assert!(nodes.items.len() >= 3);
    let zones: std::collections::BTreeSet<String> =
        nodes.items.iter().filter_map(|n| n.metadata.labels.as_ref()?.get("topology.kubernetes.io/zone").cloned()).collect();
    assert!(zones.len() >= 2, "zones: {zones:?}");

    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "serviceName": "p", "replicas": 3, "selector": {"matchLabels": {"app": "p"}},
            "template": {"metadata": {"labels": {"app": "p"}}, "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .expect("sts");
    let sts_api = Api::<StatefulSet>::namespaced(client.clone(), "default");
    sts_api.create(&PostParams::default(), &sts).await.expect("create sts");
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default");
    eventually("3 Running pods and 3 Bound PVCs", Duration::from_secs(60), || async {
        let running = pods
            .list(&ListParams::default().labels("app=p"))
            .await
            .map(|l| l.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count());
        let bound = pvcs
            .list(&ListParams::default())
            .await
            .map(|l| l.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")).count());
        matches!((running, bound), (Ok(3), Ok(3)))
    })
    .await;
    let p0 = pods.get("p-0").await.expect("p-0");
    let ip = p0.status.and_then(|s| s.pod_ip).unwrap_or_default();
    assert!(ip.starts_with("127."), "pod IP {ip}");
    let zone_label = p0.metadata.labels.unwrap_or_default().get("topology.kubernetes.io/zone").cloned();
    assert!(zone_label.is_some(), "PodTopologyLabels admission copies the node's zone onto the pod");

    sts_api.delete("p", &DeleteParams::foreground()).await.expect("delete sts");
    eventually("pods garbage-collected", Duration::from_secs(60), || async {
        pods.list(&ListParams::default().labels("app=p")).await.map(|l| l.items.is_empty()).unwrap_or(false)
    })
    .await;

    // A ServiceAccount kubeconfig is subject to RBAC.
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": "op", "namespace": "default"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(client.clone(), "default").create(&PostParams::default(), &sa).await.expect("create sa");
    let kc = world.mint_kubeconfig("default", "op").await.expect("mint");
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kc).expect("read kc"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    let sa_client = kube::Client::try_from(cfg).expect("client");
    let denied = Api::<Pod>::namespaced(sa_client.clone(), "default").list(&ListParams::default()).await;
    assert!(matches!(denied, Err(kube::Error::Api(ref e)) if e.code == 403), "unbound SA is forbidden: {denied:?}");
    let rb: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "op-view", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "default"}]
    }))
    .expect("rb");
    Api::<RoleBinding>::namespaced(client.clone(), "default").create(&PostParams::default(), &rb).await.expect("create rb");
    eventually("SA allowed after binding", Duration::from_secs(10), || async {
        Api::<Pod>::namespaced(sa_client.clone(), "default").list(&ListParams::default()).await.is_ok()
    })
    .await;
    let _ = Api::<ClusterRoleBinding>::all(client.clone());

    let pids = world.pids();
    assert!(!pids.is_empty());
    drop(world);
    std::thread::sleep(Duration::from_millis(500));
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "process {pid} survived the world");
    }
}

#[tokio::test]
async fn two_worlds_at_once() {
    if !gregor_world::tools::world_suite_runs("gregor-world::world_api::two_worlds_at_once") {
        return;
    }
    let (a, b) = tokio::join!(World::start(), World::start());
    let (a, b) = (a.expect("world a"), b.expect("world b"));
    assert_ne!(a.block(), b.block());
    for w in [&a, &b] {
        let nodes = Api::<Node>::all(w.client()).list(&ListParams::default()).await.expect("nodes");
        assert_eq!(nodes.items.len(), 3);
    }
}
