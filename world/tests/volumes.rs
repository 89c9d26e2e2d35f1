//! Real-size volumes: a claim's volume is a filesystem of the claim's size (statvfs), keeps its
//! files across a pod's re-creation, grows for real when the claim asks for more, and is
//! unmounted by the world's teardown.
use gregor_world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (total, available) bytes of the filesystem holding `path`, by statvfs(3).
fn statvfs(path: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: statvfs(3) fills the zeroed struct; the path outlives the call.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0, "statvfs {}", path.display());
    (s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize)
}

fn mounted_under(root: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| Path::new(p).starts_with(root)).count()
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

#[tokio::test]
async fn claim_volume_has_its_size_keeps_files_and_grows_on_resize() {
    if !gregor_world::tools::world_suite_runs("gregor-world::volumes::claim_volume_has_its_size_keeps_files_and_grows_on_resize") {
        return;
    }
    let _ = tracing_subscriber::fmt().with_env_filter("info,kube=warn").with_test_writer().try_init();
    let world = World::start().await.expect("world starts");
    let client = world.client();
    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "v", "namespace": "default"},
        "spec": {
            "serviceName": "v", "replicas": 1, "selector": {"matchLabels": {"app": "v"}},
            "template": {"metadata": {"labels": {"app": "v"}}, "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}]
        }
    }))
    .expect("sts");
    Api::<StatefulSet>::namespaced(client.clone(), "default").create(&PostParams::default(), &sts).await.expect("create sts");
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default");
    let pvs = Api::<PersistentVolume>::all(client.clone());
    let volume = eventually("v-0 Running on a bound claim", Duration::from_secs(60), || async {
        let pod = pods.get_opt("v-0").await.ok().flatten().filter(running)?;
        let pvc = pvcs.get_opt("data-v-0").await.ok().flatten()?;
        let _ = pod;
        pvc.spec.and_then(|s| s.volume_name)
    })
    .await;
    let dir = PathBuf::from(pvs.get(&volume).await.expect("pv").spec.and_then(|s| s.host_path).expect("hostPath").path);
    assert!(dir.starts_with(world.dir()), "{} is under the world dir", dir.display());

    let (total, free) = statvfs(&dir);
    assert_eq!(total, 64 << 20, "the volume is a filesystem of the claim's 64Mi");
    assert_eq!(free, total, "a new volume is empty");
    // Real bytes: 40 MiB written leaves less than 24 MiB, and a 30 MiB more does not fit.
    std::fs::write(dir.join("fill"), vec![7u8; 40 << 20]).expect("40 MiB fit");
    assert!(statvfs(&dir).1 <= 24 << 20, "usage shows: {:?}", statvfs(&dir));
    assert!(std::fs::write(dir.join("more"), vec![7u8; 30 << 20]).is_err(), "a full volume refuses writes");
    let _ = std::fs::remove_file(dir.join("more"));

    // A re-created pod finds its files.
    let old_uid = pods.get("v-0").await.expect("v-0").metadata.uid;
    pods.delete("v-0", &DeleteParams::default()).await.expect("delete v-0");
    eventually("v-0 re-created and Running", Duration::from_secs(60), || async {
        pods.get_opt("v-0").await.ok().flatten().filter(|p| running(p) && p.metadata.uid != old_uid)
    })
    .await;
    assert_eq!(std::fs::metadata(dir.join("fill")).expect("fill survives").len(), 40 << 20);

    // Resize: the claim asks for 128Mi; the filesystem grows before the capacity says so.
    let grow = serde_json::json!({"spec": {"resources": {"requests": {"storage": "128Mi"}}}});
    pvcs.patch("data-v-0", &PatchParams::default(), &Patch::Merge(&grow)).await.expect("grow the claim");
    eventually("the claim's capacity 128Mi", Duration::from_secs(60), || async {
        let pvc = pvcs.get("data-v-0").await.ok()?;
        let cap = pvc.status?.capacity?.get("storage")?.0.clone();
        (cap == "128Mi").then_some(())
    })
    .await;
    let (total, free) = statvfs(&dir);
    assert_eq!(total, 128 << 20, "the filesystem grew to 128Mi");
    assert!(free >= 80 << 20, "the growth is usable: {free} bytes free");
    assert_eq!(std::fs::metadata(dir.join("fill")).expect("fill survives growth").len(), 40 << 20);

    let root = world.dir().to_owned();
    assert!(mounted_under(&root) >= 1);
    world.shutdown();
    assert_eq!(mounted_under(&root), 0, "teardown unmounts every volume");
}
