//! The node agent: what a kubelet (plus a hostPath provisioner) does, where the tests need it.
mod image;
mod kubelet_api;
pub(crate) mod pod;
pub use image::images_from_env;
mod probe;
mod resize;
mod sandbox;
mod spec;
pub mod volume;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, ObjectReference, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeSpec, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub(crate) const PROVISIONER: &str = "gregor.dev/world-hostpath";
pub(crate) const STORAGE_CLASS: &str = "standard";

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Something the pod needs is not there yet (ConfigMap, Secret, bound claim); retried.
    #[error("{0}")]
    NotYet(String),
    #[error("{0}")]
    Config(String),
    #[error("i/o error on {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("failed to spawn {0}: {1}")]
    Spawn(String, #[source] std::io::Error),
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

/// One simulated node.
#[derive(Debug, Clone)]
pub struct SimNode {
    pub name: String,
    pub zone: String,
    pub ip: Ipv4Addr,
}

/// namespace/name -> address, and the next free index.
type IpTable = (HashMap<(String, String), Ipv4Addr>, u32);

/// State shared by the agent's tasks and the world.
pub(crate) struct Shared {
    pub world_dir: PathBuf,
    pub hosts_file: PathBuf,
    pub resolv_conf: PathBuf,
    block: u8,
    ips: Mutex<IpTable>,
    hosts: Mutex<BTreeMap<String, String>>,
    /// Host pids of the `unshare` process of every container ever started (for teardown).
    pids: Mutex<HashSet<i32>>,
    /// Images the world runs from OCI layouts: reference -> layout directory.
    pub images: BTreeMap<String, PathBuf>,
    /// Layout directory -> its file system, unpacked once per world.
    unpacked: Mutex<HashMap<PathBuf, image::UnpackedImage>>,
}

impl Shared {
    pub fn new(world_dir: &Path, block: u8, images: BTreeMap<String, PathBuf>) -> std::io::Result<Shared> {
        let hosts_file = world_dir.join("hosts");
        let resolv_conf = world_dir.join("resolv.conf");
        // Name lookups that miss the hosts file go to a DNS server on the world's own loopback
        // address, where nothing listens: they fail fast and never leave 127.0.0.0/8.
        std::fs::write(&resolv_conf, format!("nameserver 127.{block}.0.1\noptions timeout:1 attempts:1\n"))?;
        let s = Shared {
            world_dir: world_dir.to_path_buf(),
            hosts_file,
            resolv_conf,
            block,
            ips: Mutex::new((HashMap::new(), 0)),
            hosts: Mutex::new(BTreeMap::new()),
            pids: Mutex::new(HashSet::new()),
            images,
            unpacked: Mutex::new(HashMap::new()),
        };
        s.write_hosts()?;
        Ok(s)
    }

    /// A stable address per namespace/name: a recreated pod gets its old address back.
    pub fn ip_for(&self, ns: &str, name: &str) -> Ipv4Addr {
        let Ok(mut g) = self.ips.lock() else {
            return Ipv4Addr::new(127, self.block, 1, 1);
        };
        if let Some(ip) = g.0.get(&(ns.to_string(), name.to_string())) {
            return *ip;
        }
        let n = g.1;
        g.1 += 1;
        // 127.B.1.1 .. 127.B.255.254, skipping .0 and .255.
        let host = n % 254 + 1;
        let net = (n / 254) % 255 + 1;
        let ip = Ipv4Addr::new(127, self.block, net as u8, host as u8);
        g.0.insert((ns.to_string(), name.to_string()), ip);
        ip
    }

    pub fn set_host(&self, uid: &str, line: Option<String>) {
        if let Ok(mut h) = self.hosts.lock() {
            let changed = match line {
                Some(l) => h.insert(uid.to_string(), l.clone()).as_ref() != Some(&l),
                None => h.remove(uid).is_some(),
            };
            drop(h);
            if changed && let Err(e) = self.write_hosts() {
                tracing::warn!(error = %e, "cannot write hosts file");
            }
        }
    }

    /// Rewrites the hosts file in place (same inode), so bind mounts of it see every update.
    fn write_hosts(&self) -> std::io::Result<()> {
        let mut text = String::from(
            "# gregor test world: pod DNS names -> pod addresses (kept current by the node agent)\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        );
        if let Ok(h) = self.hosts.lock() {
            for l in h.values() {
                text.push_str(l);
                text.push('\n');
            }
        }
        let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&self.hosts_file)?;
        f.write_all(text.as_bytes())?;
        f.flush()
    }

    /// The image of `layout`, unpacked under the world directory on first use.
    pub(crate) fn unpacked_image(&self, layout: &Path) -> Result<image::UnpackedImage, AgentError> {
        let mut g = self.unpacked.lock().map_err(|_| AgentError::Config("image cache poisoned".into()))?;
        if let Some(i) = g.get(layout) {
            return Ok(i.clone());
        }
        let into = self.world_dir.join("images").join(g.len().to_string());
        let unpacked = image::unpack(layout, &into)?;
        g.insert(layout.to_path_buf(), unpacked.clone());
        Ok(unpacked)
    }

    /// The API server as pods reach it (its serving certificate covers this address).
    pub fn api_endpoint(&self) -> (String, u16) {
        (format!("127.{}.0.1", self.block), crate::controlplane::APISERVER_PORT)
    }

    /// The cluster CA a pod's ServiceAccount volume carries.
    pub fn ca_file(&self) -> PathBuf {
        self.world_dir.join("pki").join("ca.crt")
    }

    pub fn track(&self, pid: i32) {
        if let Ok(mut p) = self.pids.lock() {
            p.insert(pid);
        }
    }

    /// SIGKILL every container process ever started (teardown).
    pub fn kill_all(&self) {
        if let Ok(p) = self.pids.lock() {
            for pid in p.iter() {
                if let Some(init) = sandbox::init_pid(*pid) {
                    crate::proc::kill_pid(init, libc::SIGKILL);
                }
                crate::proc::kill_group(*pid, libc::SIGKILL);
            }
        }
    }

    pub fn live_pids(&self) -> Vec<i32> {
        self.pids.lock().map(|p| p.iter().copied().filter(|p| crate::proc::alive(*p)).collect()).unwrap_or_default()
    }
}

fn ts() -> Time {
    Time(Timestamp::now())
}

/// Registers the nodes and the default StorageClass.
pub(crate) async fn bootstrap(client: &kube::Client, nodes: &[SimNode], k8s_version: &str) -> Result<(), AgentError> {
    let sc_api = Api::<StorageClass>::all(client.clone());
    let sc = StorageClass {
        metadata: ObjectMeta {
            name: Some(STORAGE_CLASS.into()),
            annotations: Some(BTreeMap::from([("storageclass.kubernetes.io/is-default-class".to_string(), "true".to_string())])),
            ..Default::default()
        },
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        allow_volume_expansion: Some(true),
        ..Default::default()
    };
    match sc_api.create(&PostParams::default(), &sc).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let api = Api::<Node>::all(client.clone());
    for n in nodes {
        let node = Node {
            metadata: ObjectMeta {
                name: Some(n.name.clone()),
                labels: Some(BTreeMap::from([
                    ("kubernetes.io/hostname".to_string(), n.name.clone()),
                    ("kubernetes.io/os".to_string(), "linux".to_string()),
                    ("kubernetes.io/arch".to_string(), "amd64".to_string()),
                    ("topology.kubernetes.io/zone".to_string(), n.zone.clone()),
                    ("topology.kubernetes.io/region".to_string(), "world".to_string()),
                    ("node.kubernetes.io/instance-type".to_string(), "gregor-world".to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: None,
        };
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        heartbeat(client, n, k8s_version).await?;
    }
    Ok(())
}

async fn heartbeat(client: &kube::Client, n: &SimNode, k8s_version: &str) -> Result<(), AgentError> {
    let api = Api::<Node>::all(client.clone());
    let q = |s: &str| Quantity(s.to_string());
    let res = BTreeMap::from([
        ("cpu".to_string(), q("8")),
        ("memory".to_string(), q("16Gi")),
        ("pods".to_string(), q("110")),
        ("ephemeral-storage".to_string(), q("100Gi")),
    ]);
    let cond = |t: &str, s: &str, reason: &str| NodeCondition {
        type_: t.into(),
        status: s.into(),
        reason: Some(reason.into()),
        message: Some(format!("gregor world agent: {reason}")),
        last_heartbeat_time: Some(ts()),
        last_transition_time: None,
    };
    let status = NodeStatus {
        capacity: Some(res.clone()),
        allocatable: Some(res),
        conditions: Some(vec![
            cond("Ready", "True", "KubeletReady"),
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID"),
        ]),
        daemon_endpoints: Some(k8s_openapi::api::core::v1::NodeDaemonEndpoints {
            kubelet_endpoint: Some(k8s_openapi::api::core::v1::DaemonEndpoint { port: i32::from(kubelet_api::KUBELET_PORT) }),
        }),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: n.ip.to_string() },
            NodeAddress { type_: "Hostname".into(), address: n.name.clone() },
        ]),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".into(),
            boot_id: "gregor-world".into(),
            container_runtime_version: "gregor-world://1".into(),
            kernel_version: "gregor-world".into(),
            kube_proxy_version: String::new(),
            kubelet_version: format!("v{k8s_version}"),
            machine_id: n.name.clone(),
            operating_system: "linux".into(),
            os_image: "gregor world (simulated node)".into(),
            system_uuid: n.name.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Set lastTransitionTime only when missing, so it reflects the first Ready.
    let mut value = serde_json::json!({ "status": status });
    if let Some(conds) = value.pointer_mut("/status/conditions").and_then(|c| c.as_array_mut()) {
        let existing = api.get_opt(&n.name).await?;
        let prev: HashMap<String, Option<Time>> = existing
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.type_, c.last_transition_time))
            .collect();
        for c in conds.iter_mut() {
            let t = c.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
            let ltt = prev.get(&t).cloned().flatten().unwrap_or_else(ts);
            c["lastTransitionTime"] = serde_json::to_value(ltt).unwrap_or_default();
        }
        // Remove any not-ready/unreachable taint someone else put on (the agent owns node health).
        if let Some(node) = existing
            && let Some(taints) = node.spec.and_then(|s| s.taints)
            && taints
                .iter()
                .any(|t| t.key.starts_with("node.kubernetes.io/not-ready") || t.key.starts_with("node.kubernetes.io/unreachable"))
        {
            let keep: Vec<_> = taints
                .into_iter()
                .filter(|t| !t.key.starts_with("node.kubernetes.io/not-ready") && !t.key.starts_with("node.kubernetes.io/unreachable"))
                .collect();
            api.patch(&n.name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"taints": keep}}))).await?;
        }
    }
    api.patch_status(&n.name, &PatchParams::default(), &Patch::Merge(&value)).await?;

    let leases = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
    let lease = Lease {
        metadata: ObjectMeta { name: Some(n.name.clone()), ..Default::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some(n.name.clone()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }),
    };
    match leases.get_opt(&n.name).await {
        Ok(Some(_)) => {
            let patch = serde_json::json!({"spec": {"renewTime": MicroTime(Timestamp::now())}});
            leases.patch(&n.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Ok(None) => {
            if let Err(e) = leases.create(&PostParams::default(), &lease).await {
                tracing::debug!(error = %e, "lease create");
            }
        }
        Err(e) => tracing::debug!(error = %e, "lease get"),
    }
    Ok(())
}

/// Runs the agent until `stop` flips to true.
pub(crate) async fn run(
    client: kube::Client,
    shared: Arc<Shared>,
    nodes: Vec<SimNode>,
    k8s_version: String,
    mut stop: watch::Receiver<bool>,
) {
    let hb = {
        let (client, nodes, v) = (client.clone(), nodes.clone(), k8s_version.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                for n in &nodes {
                    if let Err(e) = heartbeat(&client, n, &v).await {
                        tracing::warn!(node = %n.name, error = %e, "node heartbeat failed");
                    }
                }
            }
        })
    };
    let prov = {
        let (client, shared) = (client.clone(), shared.clone());
        tokio::spawn(async move {
            loop {
                if let Err(e) = provision_once(&client, &shared).await {
                    tracing::debug!(error = %e, "provisioner pass failed");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let pods = tokio::spawn(watch_pods(client.clone(), shared.clone(), nodes.clone()));
    let kubelet_apis: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (ip, dir, name) = (n.ip, shared.world_dir.clone(), n.name.clone());
            tokio::spawn(async move {
                if let Err(e) = kubelet_api::serve(ip, dir).await {
                    tracing::warn!(node = %name, error = %e, "kubelet API (container logs) not served");
                }
            })
        })
        .collect();
    let _ = stop.wait_for(|s| *s).await;
    for k in &kubelet_apis {
        k.abort();
    }
    hb.abort();
    prov.abort();
    pods.abort();
    let _ = pods.await;
    shared.kill_all();
}

struct PodSlot {
    tx: watch::Sender<Option<Pod>>,
    #[allow(dead_code)]
    task: tokio::task::JoinHandle<()>,
}

async fn watch_pods(client: kube::Client, shared: Arc<Shared>, nodes: Vec<SimNode>) {
    let node_ips: HashMap<String, Ipv4Addr> = nodes.iter().map(|n| (n.name.clone(), n.ip)).collect();
    let api = Api::<Pod>::all(client.clone());
    let mut slots: HashMap<String, PodSlot> = HashMap::new();
    let mut relist: Option<HashSet<String>> = None;
    let mut stream = watcher(api, watcher::Config::default().any_semantic()).boxed();
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!(error = %e, "pod watch error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        match ev {
            watcher::Event::Init => relist = Some(HashSet::new()),
            watcher::Event::InitDone => {
                if let Some(seen) = relist.take() {
                    let gone: Vec<String> = slots.keys().filter(|u| !seen.contains(*u)).cloned().collect();
                    for uid in gone {
                        if let Some(slot) = slots.remove(&uid) {
                            // The task sees `None`, kills its processes and ends.
                            slot.tx.send_replace(None);
                        }
                        shared.set_host(&uid, None);
                    }
                }
            }
            watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(seen) = relist.as_mut() {
                    seen.insert(uid.clone());
                }
                let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                    continue;
                };
                let Some(host_ip) = node_ips.get(&node) else {
                    continue;
                };
                if let Some(slot) = slots.get(&uid) {
                    slot.tx.send_replace(Some(pod));
                    continue;
                }
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let ip = shared.ip_for(&ns, &name);
                if let Some(spec) = pod.spec.as_ref()
                    && let (Some(h), Some(sub)) = (spec.hostname.as_ref(), spec.subdomain.as_ref())
                {
                    shared.set_host(&uid, Some(format!("{ip}\t{h}.{sub}.{ns}.svc.cluster.local {h}.{sub}.{ns}.svc {h}.{sub}.{ns}")));
                }
                let (tx, rx) = watch::channel(Some(pod));
                let run = pod::PodRun {
                    shared: shared.clone(),
                    client: client.clone(),
                    node_name: node,
                    host_ip: host_ip.to_string(),
                    pod_ip: ip.to_string(),
                };
                let task = tokio::spawn(run.run(rx));
                slots.insert(uid, PodSlot { tx, task });
            }
            watcher::Event::Delete(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(slot) = slots.remove(&uid) {
                    slot.tx.send_replace(None);
                }
                shared.set_host(&uid, None);
            }
        }
    }
}

async fn provision_once(client: &kube::Client, shared: &Shared) -> Result<(), AgentError> {
    let classes = Api::<StorageClass>::all(client.clone()).list(&ListParams::default()).await?;
    let ours: HashMap<String, StorageClass> = classes
        .items
        .into_iter()
        .filter(|c| c.provisioner == PROVISIONER)
        .filter_map(|c| c.metadata.name.clone().map(|n| (n, c)))
        .collect();
    let pv_api = Api::<PersistentVolume>::all(client.clone());
    let pvcs = Api::<PersistentVolumeClaim>::all(client.clone()).list(&ListParams::default()).await?;
    resize::resize_once(client, &pvcs.items, &ours).await?;
    for pvc in pvcs.items {
        let spec = pvc.spec.clone().unwrap_or_default();
        let phase = pvc.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        if phase != "Pending" || spec.volume_name.as_ref().is_some_and(|v| !v.is_empty()) || pvc.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(class) = spec.storage_class_name.as_ref().and_then(|n| ours.get(n)) else {
            continue;
        };
        let wffc = class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer");
        let selected = pvc.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("volume.kubernetes.io/selected-node"));
        if wffc && !selected {
            continue;
        }
        let uid = pvc.metadata.uid.clone().unwrap_or_default();
        let ns = pvc.metadata.namespace.clone().unwrap_or_default();
        let name = pvc.metadata.name.clone().unwrap_or_default();
        let pv_name = format!("pvc-{uid}");
        let dir = shared.world_dir.join("pv").join(&pv_name);
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage").cloned())
            .unwrap_or(Quantity("1Gi".into()));
        let Some(bytes) = resize::bytes(&size) else {
            tracing::warn!(pvc = %format!("{ns}/{name}"), size = %size.0, "claim size is not a quantity the provisioner reads; not provisioned");
            continue;
        };
        // A filesystem of the claim's size (see `volume`), before the PV exists.
        volume::provision(&dir, bytes)?;
        let pv = PersistentVolume {
            metadata: ObjectMeta {
                name: Some(pv_name.clone()),
                annotations: Some(BTreeMap::from([("pv.kubernetes.io/provisioned-by".to_string(), PROVISIONER.to_string())])),
                labels: Some(BTreeMap::from([("gregor.dev/world-claim".to_string(), format!("{ns}.{name}"))])),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                capacity: Some(BTreeMap::from([("storage".to_string(), size)])),
                access_modes: spec.access_modes.clone(),
                host_path: Some(HostPathVolumeSource { path: dir.display().to_string(), type_: Some("DirectoryOrCreate".into()) }),
                claim_ref: Some(ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("PersistentVolumeClaim".into()),
                    namespace: Some(ns.clone()),
                    name: Some(name.clone()),
                    uid: Some(uid.clone()),
                    ..Default::default()
                }),
                persistent_volume_reclaim_policy: class.reclaim_policy.clone().or(Some("Delete".into())),
                storage_class_name: Some(class.metadata.name.clone().unwrap_or_default()),
                volume_mode: spec.volume_mode.clone(),
                ..Default::default()
            }),
            status: None,
        };
        match pv_api.create(&PostParams::default(), &pv).await {
            Ok(_) => tracing::info!(pvc = %format!("{ns}/{name}"), pv = %pv_name, "provisioned"),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Reclaim: released volumes of ours with policy Delete go away with their data.
    for pv in pv_api.list(&ListParams::default()).await?.items {
        let ours =
            pv.metadata.annotations.as_ref().and_then(|a| a.get("pv.kubernetes.io/provisioned-by")).is_some_and(|p| p == PROVISIONER);
        let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
        let spec = pv.spec.clone().unwrap_or_default();
        if ours && released && spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete") {
            if let Some(h) = spec.host_path
                && h.path.starts_with(&shared.world_dir.display().to_string())
            {
                volume::release(Path::new(&h.path));
                let _ = std::fs::remove_dir_all(&h.path);
            }
            let name = pv.metadata.name.clone().unwrap_or_default();
            if let Err(e) = pv_api.delete(&name, &DeleteParams::default()).await {
                tracing::debug!(pv = %name, error = %e, "reclaim delete");
            }
        }
    }
    Ok(())
}
