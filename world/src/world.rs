//! A world: control plane + simulated nodes + node agent, owned by one `World` value.
use crate::agent::{self, Shared, SimNode};
use crate::controlplane;
use crate::error::{Result, WorldError};
use crate::pki;
use crate::tools::{self, Tools};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::{Api, ListParams, PostParams};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// How to build a world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// Number of simulated nodes (default 3).
    pub nodes: usize,
    /// Number of zones the nodes are spread over, round-robin (default 3: zone-a, zone-b, zone-c).
    pub zones: usize,
    /// Directory of the world; default a fresh one under `$GREGOR_WORLD_ROOT` (default `/tmp/gregor-worlds`).
    pub dir: Option<PathBuf>,
    /// Keep the directory after teardown (it is always kept when the world is dropped while
    /// panicking, or with `GREGOR_KEEP_WORLD=1`).
    pub keep_dir: bool,
    /// Images the node agent runs from OCI image layouts (reference -> layout directory), for
    /// example `gregor:0.1.0` -> `target/image/oci` from `make image`. Default: `GREGOR_WORLD_IMAGES`
    /// (`ref=dir,ref=dir`). Any other image but apache/kafka runs nothing (Running, Ready).
    pub images: std::collections::BTreeMap<String, PathBuf>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            nodes: 3,
            zones: 3,
            dir: None,
            keep_dir: std::env::var_os("GREGOR_KEEP_WORLD").is_some_and(|v| v != "0" && !v.is_empty()),
            images: crate::agent::images_from_env(),
        }
    }
}

/// A running world. Dropping it tears everything down: no process is left behind.
pub struct World {
    dir: PathBuf,
    keep_dir: bool,
    block: u8,
    api_ip: Ipv4Addr,
    kubeconfig: PathBuf,
    hosts_file: PathBuf,
    nodes: Vec<SimNode>,
    config: kube::Config,
    client: kube::Client,
    shared: Arc<Shared>,
    control_plane_pids: Vec<i32>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _lock: std::fs::File,
    started_in: Duration,
}

struct Started {
    control_plane_pids: Vec<i32>,
}

fn lock_block() -> Result<(u8, std::fs::File)> {
    let dir = std::env::temp_dir().join("gregor-world-locks");
    std::fs::create_dir_all(&dir).map_err(WorldError::io(&dir))?;
    let seed: [u8; 1] = crate::proc::random_bytes();
    for i in 0..241u16 {
        let block = (10 + (u16::from(seed[0]) + i) % 241) as u8;
        let path = dir.join(format!("127.{block}.lock"));
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(WorldError::io(&path))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            // Someone else's process may already listen there (a world whose lock file was removed).
            if std::net::TcpListener::bind((Ipv4Addr::new(127, block, 0, 1), controlplane::APISERVER_PORT)).is_ok() {
                return Ok((block, f));
            }
        }
    }
    Err(WorldError::NoFreeBlock)
}

impl World {
    /// Starts a fresh world with the default options (3 nodes over 3 zones, a temp dir).
    pub async fn start() -> Result<World> {
        World::start_with(WorldOptions::default()).await
    }

    /// Starts a world and returns once the API server is ready and every node is Ready.
    pub async fn start_with(opts: WorldOptions) -> Result<World> {
        let t0 = Instant::now();
        let tools = Tools::locate()?;
        let (block, lock) = lock_block()?;
        let api_ip = Ipv4Addr::new(127, block, 0, 1);
        let dir = match &opts.dir {
            Some(d) => d.clone(),
            None => {
                let root =
                    std::env::var_os("GREGOR_WORLD_ROOT").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("gregor-worlds"));
                remove_stale_worlds(&root);
                root.join(format!("w127.{block}-{}-{}", std::process::id(), crate::proc::random_hex(3)))
            }
        };
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(WorldError::io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(WorldError::io(&dir))?;
        let dir = dir.canonicalize().map_err(WorldError::io(&dir))?;
        let zones = opts.zones.max(1);
        let nodes: Vec<SimNode> = (0..opts.nodes.max(1))
            .map(|i| SimNode {
                name: format!("node-{i}"),
                zone: format!("zone-{}", (b'a' + (i % zones) as u8) as char),
                ip: Ipv4Addr::new(127, block, 0, 10 + i as u8),
            })
            .collect();
        let shared = Arc::new(Shared::new(&dir, block, opts.images.clone()).map_err(WorldError::io(&dir))?);
        let kubeconfig = dir.join("kubeconfig");
        let (ready_tx, ready_rx) = oneshot::channel::<Result<Started>>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let thread = {
            let (dir, kubeconfig, nodes, shared) = (dir.clone(), kubeconfig.clone(), nodes.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("gregor-world-127.{block}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready_tx.send(Err(WorldError::Other(format!("tokio runtime: {e}"))));
                            return;
                        }
                    };
                    rt.block_on(supervise(tools, dir, api_ip, kubeconfig, nodes, shared, ready_tx, stop_rx));
                })
                .map_err(|source| WorldError::Spawn { what: "world thread".into(), source })?
        };
        let started = match ready_rx.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(WorldError::SupervisorGone);
            }
        };
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
        let client = kube::Client::try_from(config.clone())?;
        let world = World {
            hosts_file: shared.hosts_file.clone(),
            dir,
            keep_dir: opts.keep_dir,
            block,
            api_ip,
            kubeconfig,
            nodes,
            config,
            client,
            shared,
            control_plane_pids: started.control_plane_pids,
            stop: stop_tx,
            thread: Some(thread),
            _lock: lock,
            started_in: t0.elapsed(),
        };
        tracing::info!(dir = %world.dir.display(), api = %world.api_url(), secs = world.started_in.as_secs_f64(), "world ready");
        Ok(world)
    }

    /// An admin client (system:masters). Created on the runtime that called `start`; use
    /// [`World::new_client`] from another tokio runtime.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A fresh admin client bound to the current tokio runtime.
    pub fn new_client(&self) -> Result<kube::Client> {
        Ok(kube::Client::try_from(self.config.clone())?)
    }

    /// The admin kubeconfig (token auth, user `world-admin` in group `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.B.0.1:6443`.
    pub fn api_url(&self) -> String {
        format!("https://{}:{}", self.api_ip, controlplane::APISERVER_PORT)
    }

    /// Writes a kubeconfig authenticating as ServiceAccount `namespace/service_account` with a
    /// token from the TokenRequest API (valid 24h), default namespace `namespace`.
    pub async fn mint_kubeconfig(&self, namespace: &str, service_account: &str) -> Result<PathBuf> {
        let api = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace);
        let req = TokenRequest {
            spec: Some(TokenRequestSpec { audiences: None, expiration_seconds: Some(86400), bound_object_ref: None }),
            ..Default::default()
        };
        let tr = api.create_token_request(service_account, &PostParams::default(), &req).await?;
        let token = tr.status.and_then(|s| s.token).unwrap_or_default();
        let path = self.dir.join("kubeconfigs").join(format!("{namespace}-{service_account}.yaml"));
        pki::write_kubeconfig(
            &path,
            &self.api_url(),
            &self.dir.join("pki").join("ca.crt"),
            &format!("system:serviceaccount:{namespace}:{service_account}"),
            &token,
            Some(namespace),
        )?;
        Ok(path)
    }

    /// hosts(5) file mapping pod DNS names (`<hostname>.<subdomain>.<ns>.svc.cluster.local`, and
    /// the shorter `.svc` / `.<ns>` forms) to pod addresses. Rewritten in place as pods come and
    /// go. Host-side JVMs use it with `-Djdk.net.hosts.file=<path>`.
    pub fn hosts_file(&self) -> &Path {
        &self.hosts_file
    }

    /// The cached `/opt/kafka` layout of a Kafka version (bin/, config/, libs/).
    pub fn kafka_home(&self, version: &str) -> Result<PathBuf> {
        tools::kafka_home(version)
    }

    /// The world's directory (logs/, pods/, pv/, pki/, kubeconfig, hosts).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// stdout+stderr of a container of a pod (all restarts and recreations, appended).
    pub fn pod_log_path(&self, namespace: &str, pod: &str, container: &str) -> PathBuf {
        self.dir.join("logs").join("pods").join(namespace).join(pod).join(format!("{container}.log"))
    }

    /// Log of a control-plane component: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
    pub fn component_log_path(&self, component: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{component}.log"))
    }

    /// The simulated nodes.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// The world's loopback block: every address of the world is 127.<block>.x.y.
    pub fn block(&self) -> u8 {
        self.block
    }

    /// How long `start` took until every node was Ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Host pids of the world's processes still alive (control plane and container sandboxes).
    pub fn pids(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self.control_plane_pids.iter().copied().filter(|p| crate::proc::alive(*p)).collect();
        p.extend(self.shared.live_pids());
        p
    }

    /// Stops the world now (also done by drop).
    pub fn shutdown(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Belt and braces: nothing may survive the world.
        self.shared.kill_all();
        for pid in &self.control_plane_pids {
            crate::proc::kill_group(*pid, libc::SIGKILL);
        }
        // Every volume the agent mounted goes (its files with it), kept dir or not.
        crate::agent::volume::release_all_under(&self.dir);
        if self.keep_dir || std::thread::panicking() {
            let _ = std::fs::write(self.dir.join("KEEP"), "kept for debugging\n");
            eprintln!("gregor world kept at {}", self.dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!(error = %e, "removing world dir");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.teardown();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn supervise(
    tools: Tools,
    dir: PathBuf,
    api_ip: Ipv4Addr,
    kubeconfig: PathBuf,
    nodes: Vec<SimNode>,
    shared: Arc<Shared>,
    ready: oneshot::Sender<Result<Started>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut cp: Option<controlplane::ControlPlane> = None;
    let result: Result<(kube::Client, tokio::task::JoinHandle<()>)> = async {
        let node_ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).collect();
        let pki = pki::generate(&dir.join("pki"), api_ip, &node_ips).await?;
        let url = format!("https://{api_ip}:{}", controlplane::APISERVER_PORT);
        pki::write_kubeconfig(&kubeconfig, &url, &pki.ca_crt, "world-admin", &pki.admin_token, None)?;
        let plane = cp.insert(controlplane::start(&tools, &dir, api_ip, &pki, &kubeconfig).await?);
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
        let client = kube::Client::try_from(config)?;
        controlplane::wait_ready(plane, &client, Duration::from_secs(120)).await?;
        let k8s_version = tools::k8s_version();
        agent::bootstrap(&client, &nodes, &k8s_version).await.map_err(|e| WorldError::Other(format!("node agent bootstrap: {e}")))?;
        let agent_task = tokio::spawn(agent::run(client.clone(), shared.clone(), nodes.clone(), k8s_version, stop.clone()));
        wait_nodes_ready(&client, nodes.len(), Duration::from_secs(60)).await?;
        Ok((client, agent_task))
    }
    .await;
    let agent_task = match result {
        Ok((_client, t)) => {
            let pids = cp.as_ref().map(|c| c.pids()).unwrap_or_default();
            // If the caller is gone, its stop sender is gone too and the wait below ends at once.
            let _ = ready.send(Ok(Started { control_plane_pids: pids }));
            Some(t)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            None
        }
    };
    if agent_task.is_some() {
        let _ = stop.wait_for(|s| *s).await;
    }
    if let Some(t) = agent_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    shared.kill_all();
    if let Some(mut plane) = cp {
        plane.kill().await;
    }
}

/// Removes world dirs (`w127.B-<pid>-<hex>`) whose owning process is gone (e.g. a test killed
/// by SIGKILL), unless they were kept on purpose (a panicking test keeps its dir: those have a
/// `KEEP` marker).
fn remove_stale_worlds(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("w127.").and_then(|r| r.split('-').nth(1)).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // A crashed world's volumes stay mounted until someone unmounts them.
            crate::agent::volume::release_all_under(&e.path());
            if !e.path().join("KEEP").exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

async fn wait_nodes_ready(client: &kube::Client, n: usize, timeout: Duration) -> Result<()> {
    let api = Api::<Node>::all(client.clone());
    let start = Instant::now();
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            let ready = list
                .items
                .iter()
                .filter(|node| {
                    node.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            if ready >= n {
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            return Err(WorldError::Timeout { what: format!("{n} Ready nodes"), secs: timeout.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
