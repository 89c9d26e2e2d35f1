//! etcd, kube-apiserver, kube-controller-manager and kube-scheduler of one world.
use crate::error::{Result, WorldError};
use crate::pki::Pki;
use crate::proc::spawn_daemon;
use crate::tools::Tools;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Child;

pub(crate) const APISERVER_PORT: u16 = 6443;

/// One running component.
pub(crate) struct Component {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Component {
    fn check_alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(WorldError::EarlyExit { what: self.name.to_string(), status: status.to_string(), log: self.log.clone() });
        }
        Ok(())
    }
}

pub(crate) struct ControlPlane {
    pub components: Vec<Component>,
}

impl ControlPlane {
    pub fn pids(&self) -> Vec<i32> {
        self.components.iter().filter_map(|c| c.child.id()).map(|p| p as i32).collect()
    }

    /// Kills every component (SIGKILL to each process group) and reaps it.
    pub async fn kill(&mut self) {
        for c in self.components.iter_mut().rev() {
            if let Some(pid) = c.child.id() {
                crate::proc::kill_group(pid as i32, libc::SIGKILL);
            }
            let _ = c.child.kill().await;
        }
    }
}

async fn wait_tcp(addr: (Ipv4Addr, u16), comp: &mut Component, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        comp.check_alive()?;
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(WorldError::Timeout { what: format!("{} to listen on {}:{}", comp.name, addr.0, addr.1), secs: timeout.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the control plane and returns when the API server answers /readyz.
pub(crate) async fn start(tools: &Tools, dir: &Path, ip: Ipv4Addr, pki: &Pki, admin_kubeconfig: &Path) -> Result<ControlPlane> {
    let logs = dir.join("logs");
    let mut cp = ControlPlane { components: Vec::new() };

    // etcd
    let etcd_log = logs.join("etcd.log");
    let etcd_args: Vec<String> = vec![
        "--name=world".into(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls=http://{ip}:2379"),
        format!("--advertise-client-urls=http://{ip}:2379"),
        format!("--listen-peer-urls=http://{ip}:2380"),
        format!("--initial-advertise-peer-urls=http://{ip}:2380"),
        format!("--initial-cluster=world=http://{ip}:2380"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
        "--quota-backend-bytes=4294967296".into(),
    ];
    let child = spawn_daemon("etcd", &tools.etcd, &etcd_args, &etcd_log)?;
    cp.components.push(Component { name: "etcd", child, log: etcd_log });
    if let Some(c) = cp.components.last_mut() {
        wait_tcp((ip, 2379), c, Duration::from_secs(30)).await?;
    }

    // kube-apiserver
    let api_log = logs.join("kube-apiserver.log");
    let api_args: Vec<String> = vec![
        format!("--etcd-servers=http://{ip}:2379"),
        format!("--bind-address={ip}"),
        format!("--advertise-address={ip}"),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--cert-dir={}", dir.join("pki").display()),
        format!("--tls-cert-file={}", pki.apiserver_crt.display()),
        format!("--tls-private-key-file={}", pki.apiserver_key.display()),
        format!("--client-ca-file={}", pki.ca_crt.display()),
        format!("--token-auth-file={}", pki.token_file.display()),
        "--authorization-mode=RBAC".into(),
        // `kubectl logs`: the node agent serves container logs on each node's 10250.
        format!("--kubelet-client-certificate={}", pki.kubelet_client_crt.display()),
        format!("--kubelet-client-key={}", pki.kubelet_client_key.display()),
        format!("--kubelet-certificate-authority={}", pki.ca_crt.display()),
        "--kubelet-preferred-address-types=InternalIP".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", pki.sa_pub.display()),
        format!("--service-account-signing-key-file={}", pki.sa_key.display()),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        // The node agent owns node health: nodes are registered Ready and untainted.
        "--disable-admission-plugins=TaintNodesByCondition".into(),
        // ServiceAccount and PodTopologyLabels are on by default in 1.36; named for clarity.
        "--enable-admission-plugins=ServiceAccount,PodTopologyLabels,DefaultStorageClass".into(),
        "--feature-gates=PodTopologyLabelsAdmission=true".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ];
    let child = spawn_daemon("kube-apiserver", &tools.kube_apiserver, &api_args, &api_log)?;
    cp.components.push(Component { name: "kube-apiserver", child, log: api_log });
    if let Some(c) = cp.components.last_mut() {
        wait_tcp((ip, APISERVER_PORT), c, Duration::from_secs(60)).await?;
    }

    let kubeconfig = admin_kubeconfig.display().to_string();
    // kube-controller-manager: everything except the node lifecycle (the agent owns node health),
    // the cloud/IPAM controllers that have nothing to do here, and the Endpoints/EndpointSlice
    // controllers: the API server refuses the world's 127.x pod IPs in Endpoints, so they would
    // only emit FailedToUpdateEndpoint(Slices) Warning Events for every Service. Nothing in the
    // world reads Endpoints (clients reach pods by name through the hosts file).
    let kcm_log = logs.join("kube-controller-manager.log");
    let kcm_args: Vec<String> = vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        format!("--bind-address={ip}"),
        "--secure-port=10257".into(),
        "--leader-elect=false".into(),
        "--controllers=*,-node-lifecycle-controller,-node-ipam-controller,-node-route-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-persistentvolume-attach-detach-controller,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller".into(),
        format!("--service-account-private-key-file={}", pki.sa_key.display()),
        format!("--root-ca-file={}", pki.ca_crt.display()),
        format!("--cluster-signing-cert-file={}", pki.ca_crt.display()),
        format!("--cluster-signing-key-file={}", pki.ca_key.display()),
        "--use-service-account-credentials=false".into(),
        "--concurrent-statefulset-syncs=5".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ];
    let child = spawn_daemon("kube-controller-manager", &tools.kube_controller_manager, &kcm_args, &kcm_log)?;
    cp.components.push(Component { name: "kube-controller-manager", child, log: kcm_log });

    let sched_log = logs.join("kube-scheduler.log");
    let sched_args: Vec<String> = vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        format!("--bind-address={ip}"),
        "--secure-port=10259".into(),
        "--leader-elect=false".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ];
    let child = spawn_daemon("kube-scheduler", &tools.kube_scheduler, &sched_args, &sched_log)?;
    cp.components.push(Component { name: "kube-scheduler", child, log: sched_log });
    Ok(cp)
}

/// Waits until the API server reports ready, checking the components stay alive meanwhile.
pub(crate) async fn wait_ready(cp: &mut ControlPlane, client: &kube::Client, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        for c in cp.components.iter_mut() {
            c.check_alive()?;
        }
        let req = http::Request::get("/readyz").body(Vec::new());
        if let Ok(req) = req
            && let Ok(text) = client.request_text(req).await
            && text.trim() == "ok"
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(WorldError::Timeout { what: "kube-apiserver /readyz".into(), secs: timeout.as_secs() });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
