//! One pod's life on a simulated node: volumes, init containers, containers, probes, restarts,
//! status, graceful deletion.
use super::probe::{self, ProbeState};
use super::sandbox::{self, Mount, Sandbox};
use super::spec::{self, Facts};
use super::{AgentError, Shared};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP, Pod,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn now() -> Time {
    Time(Timestamp::now())
}

/// How a container's image is run.
#[derive(Clone)]
enum Runtime {
    /// Anything but the images below: Running and Ready, nothing runs.
    Fake,
    /// An image the cache provides: its command runs for real over the image's layout.
    Real(Image),
    /// A known image with a version the cache lacks.
    Missing { message: String },
    /// An image the world has as an OCI layout (e.g. the operator's, from `make image`): its own
    /// binaries, chrooted into a copy of its file system.
    Layout { layout: PathBuf },
}

/// An image the world provides from the cache.
#[derive(Clone)]
enum Image {
    /// apache/kafka:<version>: the cached /opt/kafka layout.
    Kafka { home: PathBuf },
    /// gregor-metrics-agent:<version>: the cached JMX exporter jar at the path the image holds it
    /// (the copy itself uses the host's `cp`).
    MetricsAgent { dir: PathBuf },
}

/// Where the metrics agent image holds its jar's directory (the operator's
/// `METRICS_AGENT_JAR_IN_IMAGE` is `<this>/jmx_prometheus_javaagent.jar`).
const METRICS_AGENT_DIR_IN_IMAGE: &str = "/opt/gregor-metrics-agent";

/// Parses `[registry/]apache/kafka:<version>[@digest]`.
pub(crate) fn kafka_version_of(image: &str) -> Option<String> {
    let (name, tag) = name_and_tag(image);
    (name == "apache/kafka" || name.ends_with("/apache/kafka")).then(|| tag.to_string())
}

/// An image reference's name and tag (`latest` when it has none), without a digest.
fn name_and_tag(image: &str) -> (&str, &str) {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    }
}

/// Parses `[registry/]gregor-metrics-agent:<version>[@digest]` (any registry path ending in
/// `gregor-metrics-agent`, e.g. ghcr.io/gregor-dev/gregor-metrics-agent).
pub(crate) fn metrics_agent_version_of(image: &str) -> Option<String> {
    let (name, tag) = name_and_tag(image);
    (name == "gregor-metrics-agent" || name.ends_with("/gregor-metrics-agent")).then(|| tag.to_string())
}

fn runtime_for(image: &str, images: &std::collections::BTreeMap<String, PathBuf>) -> Runtime {
    if let Some(layout) = super::image::layout_for(images, image) {
        return Runtime::Layout { layout: layout.clone() };
    }
    let found = if let Some(v) = kafka_version_of(image) {
        crate::tools::kafka_home(&v).map(|home| Image::Kafka { home })
    } else if let Some(v) = metrics_agent_version_of(image) {
        crate::tools::jmx_exporter_dir(&v).map(|dir| Image::MetricsAgent { dir })
    } else {
        return Runtime::Fake;
    };
    match found {
        Ok(image) => Runtime::Real(image),
        Err(e) => Runtime::Missing { message: e.to_string() },
    }
}

enum CState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Time },
    Terminated(ContainerStateTerminated),
}

struct Ctr {
    spec: Container,
    init: bool,
    runtime: Runtime,
    child: Option<tokio::process::Child>,
    pid: i32,
    env: Vec<(String, String)>,
    state: CState,
    last: Option<ContainerStateTerminated>,
    restart_count: i32,
    ready: bool,
    started: bool,
    started_instant: Option<Instant>,
    next_start: Instant,
    backoff: Duration,
    /// An init container that completed, or a container that will not run again.
    finished: bool,
    readiness: Option<ProbeState>,
    liveness: Option<ProbeState>,
    startup: Option<ProbeState>,
}

impl Ctr {
    fn new(spec: Container, init: bool, images: &std::collections::BTreeMap<String, PathBuf>) -> Ctr {
        let runtime = runtime_for(spec.image.as_deref().unwrap_or_default(), images);
        Ctr {
            spec,
            init,
            runtime,
            child: None,
            pid: 0,
            env: Vec::new(),
            state: CState::Waiting { reason: if init { "PodInitializing".into() } else { "ContainerCreating".into() }, message: None },
            last: None,
            restart_count: 0,
            ready: false,
            started: false,
            started_instant: None,
            next_start: Instant::now(),
            backoff: Duration::from_secs(1),
            finished: false,
            readiness: None,
            liveness: None,
            startup: None,
        }
    }

    fn status(&self) -> ContainerStatus {
        let state = match &self.state {
            CState::Waiting { reason, message } => ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
                ..Default::default()
            },
            CState::Running { started_at } => {
                ContainerState { running: Some(ContainerStateRunning { started_at: Some(started_at.clone()) }), ..Default::default() }
            }
            CState::Terminated(t) => ContainerState { terminated: Some(t.clone()), ..Default::default() },
        };
        let image = self.spec.image.clone().unwrap_or_default();
        ContainerStatus {
            name: self.spec.name.clone(),
            image: image.clone(),
            image_id: format!("gregor-world://{image}"),
            container_id: (self.pid > 0).then(|| format!("gregor-world://{}", self.pid)),
            ready: self.ready,
            started: Some(self.started),
            restart_count: self.restart_count,
            state: Some(state),
            last_state: self.last.clone().map(|t| ContainerState { terminated: Some(t), ..Default::default() }),
            ..Default::default()
        }
    }
}

/// How often a running pod's ConfigMap and Secret volumes are brought up to date (the kubelet
/// takes up to a minute plus its cache's TTL; tests should not wait that long).
const VOLUME_REFRESH: Duration = Duration::from_secs(5);

pub(crate) struct PodRun {
    pub shared: Arc<Shared>,
    pub client: kube::Client,
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
}

impl PodRun {
    fn key(pod: &Pod) -> (String, String) {
        (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
    }

    /// Drives the pod until it is deleted (or the agent stops).
    pub async fn run(self, mut rx: watch::Receiver<Option<Pod>>) {
        let Some(mut pod) = rx.borrow_and_update().clone() else {
            return;
        };
        let (ns, name) = Self::key(&pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let pod_dir = self.shared.world_dir.join("pods").join(&ns).join(format!("{name}-{}", &uid[..uid.len().min(8)]));
        let log_dir = self.shared.world_dir.join("logs").join("pods").join(&ns).join(&name);
        let mut inits: Vec<Ctr> =
            spec.init_containers.clone().unwrap_or_default().into_iter().map(|c| Ctr::new(c, true, &self.shared.images)).collect();
        let mut mains: Vec<Ctr> = spec.containers.clone().into_iter().map(|c| Ctr::new(c, false, &self.shared.images)).collect();
        let restart_policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let start_time = now();
        let mut volumes: Option<HashMap<String, PathBuf>> = None;
        let mut volume_error: Option<String> = None;
        let mut next_volume_try = Instant::now();
        let mut next_volume_refresh = Instant::now() + VOLUME_REFRESH;
        let mut last_posted = String::new();
        let mut transitions: HashMap<String, (String, Time)> = HashMap::new();
        let mut failed = false;
        let mut closed = false;
        tracing::info!(pod = %format!("{ns}/{name}"), node = %self.node_name, ip = %self.pod_ip, "pod assigned");

        loop {
            // 1. Follow the pod object.
            {
                let current = if closed { None } else { rx.borrow_and_update().clone() };
                match current {
                    Some(p) => pod = p,
                    None => {
                        // The object is gone (force-deleted): kill at once.
                        for c in inits.iter_mut().chain(mains.iter_mut()) {
                            kill_now(c).await;
                        }
                        return;
                    }
                }
            }
            if pod.metadata.deletion_timestamp.is_some() {
                let grace =
                    pod.metadata.deletion_grace_period_seconds.or(spec.termination_grace_period_seconds).unwrap_or(30).max(0) as u64;
                self.terminate(&mut inits, &mut mains, Duration::from_secs(grace)).await;
                let api = Api::<Pod>::namespaced(self.client.clone(), &ns);
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..Default::default()
                };
                if let Err(e) = api.delete(&name, &dp).await {
                    tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "final delete");
                }
                tracing::info!(pod = %format!("{ns}/{name}"), "pod terminated");
                return;
            }

            // 2. Volumes (retried until every ConfigMap, Secret and claim is there).
            if volumes.is_none() && Instant::now() >= next_volume_try {
                let facts = Facts { pod: &pod, pod_ip: self.pod_ip.clone(), host_ip: self.host_ip.clone() };
                match spec::prepare_volumes(&self.client, &facts, &pod_dir.join("volumes")).await {
                    Ok(v) => {
                        volumes = Some(v);
                        volume_error = None;
                    }
                    Err(e) => {
                        volume_error = Some(e.to_string());
                        next_volume_try = Instant::now() + Duration::from_secs(1);
                    }
                }
            }

            // 2b. Keep ConfigMap and Secret volumes in step with their objects, as the kubelet does.
            if volumes.is_some() && Instant::now() >= next_volume_refresh {
                next_volume_refresh = Instant::now() + VOLUME_REFRESH;
                if let Err(e) = spec::refresh_volumes(&self.client, &pod, &pod_dir.join("volumes")).await {
                    tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "volume refresh failed; retried");
                }
            }

            // 3. Containers.
            if let Some(vols) = &volumes
                && !failed
            {
                let ctx = Ctx { run: &self, pod: &pod, vols, pod_dir: &pod_dir, log_dir: &log_dir, hostname: &hostname };
                let init_done = inits.iter().all(|c| c.finished);
                if !init_done {
                    if let Some(c) = inits.iter_mut().find(|c| !c.finished)
                        && ctx.drive(c, &restart_policy).await
                    {
                        failed = true;
                    }
                } else {
                    for c in mains.iter_mut() {
                        ctx.drive(c, &restart_policy).await;
                    }
                }
            } else if let Some(msg) = &volume_error {
                for c in inits.iter_mut().chain(mains.iter_mut()).filter(|c| c.child.is_none() && !c.finished) {
                    c.state = CState::Waiting {
                        reason: if c.init { "PodInitializing".into() } else { "ContainerCreating".into() },
                        message: Some(msg.clone()),
                    };
                }
            }

            // 4. Status.
            let status = self.status(&pod, &inits, &mains, &start_time, &mut transitions, failed);
            if let Ok(text) = serde_json::to_string(&status)
                && text != last_posted
            {
                let api = Api::<Pod>::namespaced(self.client.clone(), &ns);
                let patch = serde_json::json!({ "status": status });
                match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                    Ok(_) => last_posted = text,
                    Err(e) => {
                        tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "status patch failed")
                    }
                }
            }

            tokio::select! {
                r = rx.changed() => closed = r.is_err(),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    fn status(
        &self,
        pod: &Pod,
        inits: &[Ctr],
        mains: &[Ctr],
        start: &Time,
        tr: &mut HashMap<String, (String, Time)>,
        failed: bool,
    ) -> PodStatus {
        let initialized = inits.iter().all(|c| c.finished);
        let all_ready = !mains.is_empty() && mains.iter().all(|c| c.ready);
        let gates_ok = pod.spec.as_ref().and_then(|s| s.readiness_gates.clone()).unwrap_or_default().iter().all(|g| {
            pod.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == g.condition_type && c.status == "True"))
        });
        let any_running = mains.iter().any(|c| matches!(c.state, CState::Running { .. }));
        let all_terminated = mains.iter().all(|c| c.finished);
        let phase = if failed {
            "Failed"
        } else if all_terminated && !mains.is_empty() {
            if mains.iter().all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0)) { "Succeeded" } else { "Failed" }
        } else if initialized && (any_running || mains.iter().any(|c| c.restart_count > 0)) {
            "Running"
        } else {
            "Pending"
        };
        let mut cond = |t: &str, ok: bool, reason: Option<&str>| -> PodCondition {
            let s = if ok { "True" } else { "False" }.to_string();
            let entry = tr.entry(t.to_string()).or_insert_with(|| (s.clone(), now()));
            if entry.0 != s {
                *entry = (s.clone(), now());
            }
            PodCondition {
                type_: t.to_string(),
                status: s,
                last_transition_time: Some(entry.1.clone()),
                reason: if ok { None } else { reason.map(str::to_string) },
                ..Default::default()
            }
        };
        let conditions = vec![
            cond("PodReadyToStartContainers", true, None),
            cond("Initialized", initialized, Some("ContainersNotInitialized")),
            cond("ContainersReady", all_ready, Some("ContainersNotReady")),
            cond("Ready", all_ready && gates_ok, Some(if all_ready { "ReadinessGatesNotReady" } else { "ContainersNotReady" })),
            cond("PodScheduled", true, None),
        ];
        PodStatus {
            phase: Some(phase.into()),
            conditions: Some(conditions),
            host_ip: Some(self.host_ip.clone()),
            host_ips: Some(vec![HostIP { ip: self.host_ip.clone() }]),
            pod_ip: Some(self.pod_ip.clone()),
            pod_ips: Some(vec![PodIP { ip: self.pod_ip.clone() }]),
            start_time: Some(start.clone()),
            qos_class: pod.status.as_ref().and_then(|s| s.qos_class.clone()),
            init_container_statuses: (!inits.is_empty()).then(|| inits.iter().map(Ctr::status).collect()),
            container_statuses: Some(mains.iter().map(Ctr::status).collect()),
            ..Default::default()
        }
    }

    async fn terminate(&self, inits: &mut [Ctr], mains: &mut [Ctr], grace: Duration) {
        let deadline = Instant::now() + grace;
        for c in inits.iter_mut().chain(mains.iter_mut()) {
            if c.child.is_some() {
                term(c);
            }
        }
        loop {
            let mut running = false;
            for c in inits.iter_mut().chain(mains.iter_mut()) {
                if let Some(ch) = c.child.as_mut() {
                    match ch.try_wait() {
                        Ok(Some(_)) => c.child = None,
                        _ => running = true,
                    }
                }
            }
            if !running || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for c in inits.iter_mut().chain(mains.iter_mut()) {
            kill_now(c).await;
        }
    }
}

/// SIGTERM to the container's PID 1.
fn term(c: &Ctr) {
    if c.pid > 0 {
        match sandbox::init_pid(c.pid) {
            Some(init) => crate::proc::kill_pid(init, libc::SIGTERM),
            None => crate::proc::kill_group(c.pid, libc::SIGTERM),
        }
    }
}

/// SIGKILL: the unshare process dies, and with it (--kill-child) the whole PID namespace.
async fn kill_now(c: &mut Ctr) {
    if let Some(mut ch) = c.child.take() {
        if c.pid > 0 {
            if let Some(init) = sandbox::init_pid(c.pid) {
                crate::proc::kill_pid(init, libc::SIGKILL);
            }
            crate::proc::kill_group(c.pid, libc::SIGKILL);
        }
        let _ = ch.kill().await;
    }
    c.ready = false;
}

struct Ctx<'a> {
    run: &'a PodRun,
    pod: &'a Pod,
    vols: &'a HashMap<String, PathBuf>,
    pod_dir: &'a PathBuf,
    log_dir: &'a PathBuf,
    hostname: &'a str,
}

impl Ctx<'_> {
    /// Advances one container. Returns true when the pod has failed for good (an init
    /// container failed under restartPolicy Never).
    async fn drive(&self, c: &mut Ctr, restart_policy: &str) -> bool {
        match c.runtime.clone() {
            Runtime::Fake => {
                if c.init {
                    c.finished = true;
                    c.state = CState::Terminated(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".into()),
                        started_at: Some(now()),
                        finished_at: Some(now()),
                        ..Default::default()
                    });
                } else if !matches!(c.state, CState::Running { .. }) {
                    c.state = CState::Running { started_at: now() };
                    c.ready = true;
                    c.started = true;
                }
                false
            }
            Runtime::Missing { message } => {
                c.state = CState::Waiting { reason: "ImagePullBackOff".into(), message: Some(message) };
                false
            }
            runtime @ (Runtime::Real(_) | Runtime::Layout { .. }) => self.drive_real(c, &runtime, restart_policy).await,
        }
    }

    async fn drive_real(&self, c: &mut Ctr, runtime: &Runtime, restart_policy: &str) -> bool {
        // Exited?
        if let Some(ch) = c.child.as_mut()
            && let Ok(Some(status)) = ch.try_wait()
        {
            use std::os::unix::process::ExitStatusExt;
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9));
            let started_at = match &c.state {
                CState::Running { started_at } => Some(started_at.clone()),
                _ => None,
            };
            let t = ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                started_at,
                finished_at: Some(now()),
                container_id: Some(format!("gregor-world://{}", c.pid)),
                ..Default::default()
            };
            tracing::info!(container = %c.spec.name, pod = ?self.pod.metadata.name, code, "container exited");
            c.child = None;
            c.ready = false;
            c.started = false;
            let restart = if c.init {
                code != 0 && restart_policy != "Never"
            } else {
                restart_policy == "Always" || (restart_policy == "OnFailure" && code != 0)
            };
            if c.init && code == 0 {
                c.finished = true;
                c.state = CState::Terminated(t);
                return false;
            }
            if !restart {
                c.finished = true;
                c.state = CState::Terminated(t);
                return c.init;
            }
            // A container that ran long enough resets its backoff, as the kubelet does.
            if c.started_instant.is_some_and(|s| s.elapsed() > Duration::from_secs(120)) {
                c.backoff = Duration::from_secs(1);
            }
            c.next_start = Instant::now() + c.backoff;
            c.state = CState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!("back-off {}s restarting failed container={}", c.backoff.as_secs(), c.spec.name)),
            };
            c.last = Some(t);
            c.backoff = (c.backoff * 2).min(Duration::from_secs(30));
            c.restart_count += 1;
            return false;
        }
        // Start?
        if c.child.is_none() && !c.finished && Instant::now() >= c.next_start {
            match self.start(c, runtime).await {
                Ok(()) => {}
                Err(AgentError::NotYet(msg)) => {
                    c.state = CState::Waiting { reason: "CreateContainerConfigError".into(), message: Some(msg) };
                    c.next_start = Instant::now() + Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(container = %c.spec.name, error = %e, "cannot start container");
                    c.state = CState::Waiting { reason: "CreateContainerError".into(), message: Some(e.to_string()) };
                    c.next_start = Instant::now() + Duration::from_secs(2);
                }
            }
            return false;
        }
        // Probes.
        if c.child.is_some() && !c.init {
            let ns_pid = sandbox::init_pid(c.pid).or(Some(c.pid));
            if !c.started {
                match c.startup.as_mut() {
                    None => c.started = true,
                    Some(p) if p.due() => {
                        let ok = probe::run(&p.probe, &c.spec, &self.run.pod_ip, ns_pid, &c.env).await;
                        match p.record(ok) {
                            Some(true) => c.started = true,
                            Some(false) => {
                                tracing::info!(container = %c.spec.name, "startup probe failed; restarting");
                                self.kill_for_restart(c).await;
                                return false;
                            }
                            None => {}
                        }
                    }
                    Some(_) => {}
                }
            }
            if c.started {
                match c.readiness.as_mut() {
                    None => c.ready = true,
                    Some(p) if p.due() => {
                        let ok = probe::run(&p.probe, &c.spec, &self.run.pod_ip, ns_pid, &c.env).await;
                        p.record(ok);
                        c.ready = p.verdict == Some(true);
                    }
                    Some(_) => {}
                }
                if let Some(p) = c.liveness.as_mut()
                    && p.due()
                {
                    let ok = probe::run(&p.probe, &c.spec, &self.run.pod_ip, ns_pid, &c.env).await;
                    if p.record(ok) == Some(false) {
                        tracing::info!(container = %c.spec.name, "liveness probe failed; restarting");
                        self.kill_for_restart(c).await;
                    }
                }
            }
        }
        false
    }

    async fn kill_for_restart(&self, c: &mut Ctr) {
        term(c);
        let grace = self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0) as u64;
        let deadline = Instant::now() + Duration::from_secs(grace);
        while let Some(ch) = c.child.as_mut() {
            if matches!(ch.try_wait(), Ok(Some(_))) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(ch) = c.child.as_mut()
            && !matches!(ch.try_wait(), Ok(Some(_)))
        {
            crate::proc::kill_group(c.pid, libc::SIGKILL);
        }
        // The exit is then seen by drive_real, which restarts with backoff.
    }

    async fn start(&self, c: &mut Ctr, runtime: &Runtime) -> Result<(), AgentError> {
        let pod = self.pod;
        let facts = Facts { pod, pod_ip: self.run.pod_ip.clone(), host_ip: self.run.host_ip.clone() };
        let mut env = spec::resolve_env(&self.run.client, &facts, &c.spec).await?;
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.insert(0, ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
        }
        if !env.iter().any(|(k, _)| k == "HOSTNAME") {
            env.insert(0, ("HOSTNAME".into(), self.hostname.to_string()));
        }
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.insert(0, ("HOME".into(), "/root".into()));
        }
        let vars: HashMap<String, String> = env.iter().cloned().collect();
        let (mounts, argv, root, user) = match runtime {
            Runtime::Layout { layout } => self.image_container(c, layout, &mut env, &vars).await?,
            Runtime::Real(image) => (self.cached_image_mounts(c, image)?, cached_image_argv(c, &vars)?, None, None),
            Runtime::Fake | Runtime::Missing { .. } => return Err(AgentError::Config("no runtime for this image".into())),
        };
        let log = self.log_dir.join(format!("{}.log", c.spec.name));
        let sb = Sandbox {
            mounts,
            hostname: self.hostname.to_string(),
            workdir: c.spec.working_dir.clone(),
            argv,
            env: env.clone(),
            log,
            root,
            user,
        };
        self.spawn_container(c, &sb, env)
    }

    /// An OCI-layout image's container: a fresh copy of the image's file system as its root, its
    /// entrypoint and cmd (under the pod's command and args), the user from the securityContext or
    /// the image, a ServiceAccount token from the TokenRequest API at the standard path, and the
    /// API server's address in KUBERNETES_SERVICE_HOST/PORT, so in-cluster configuration works.
    #[allow(clippy::type_complexity)]
    async fn image_container(
        &self,
        c: &Ctr,
        layout: &std::path::Path,
        env: &mut Vec<(String, String)>,
        vars: &HashMap<String, String>,
    ) -> Result<(Vec<Mount>, Vec<String>, Option<PathBuf>, Option<(u32, u32)>), AgentError> {
        let image = self.run.shared.unpacked_image(layout)?;
        let root = self.pod_dir.join("rootfs").join(&c.spec.name);
        let _ = std::fs::remove_dir_all(&root);
        copy_tree(&image.rootfs, &root)?;

        let pod_sc = self.pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
        let sc = c.spec.security_context.clone().unwrap_or_default();
        let uid = sc.run_as_user.or(pod_sc.run_as_user).map(|u| u as u32).or(image.config.user.map(|u| u.0));
        let gid = sc.run_as_group.or(pod_sc.run_as_group).map(|g| g as u32).or(image.config.user.map(|u| u.1)).or(uid);
        let user = uid.map(|u| (u, gid.unwrap_or(u)));
        if sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true) && user.is_none_or(|(u, _)| u == 0) {
            return Err(AgentError::Config("container has runAsNonRoot and image will run as root".into()));
        }
        if sc.privileged == Some(true) {
            return Err(AgentError::Config("the test world cannot run privileged containers".into()));
        }

        let (host, port) = self.run.shared.api_endpoint();
        for (k, v) in image.config.env.iter().rev() {
            if !env.iter().any(|(e, _)| e == k) {
                env.insert(0, (k.clone(), v.clone()));
            }
        }
        env.push(("KUBERNETES_SERVICE_HOST".into(), host));
        env.push(("KUBERNETES_SERVICE_PORT".into(), port.to_string()));

        let command: Vec<String> = c.spec.command.clone().unwrap_or_default().iter().map(|s| spec::expand(s, vars)).collect();
        let args: Vec<String> = c.spec.args.clone().unwrap_or_default().iter().map(|s| spec::expand(s, vars)).collect();
        let argv: Vec<String> =
            super::image::argv(&image.config, &command, &args).iter().map(|a| super::image::bind_to_pod_ip(a, &self.run.pod_ip)).collect();
        if argv.is_empty() {
            return Err(AgentError::Config("the image has no entrypoint and the container no command".into()));
        }

        let mut mounts = vec![
            Mount { source: self.run.shared.hosts_file.clone(), target: "/etc/hosts".into(), readonly: true },
            Mount { source: self.run.shared.resolv_conf.clone(), target: "/etc/resolv.conf".into(), readonly: true },
            Mount { source: self.fresh_tmp(c)?, target: "/tmp".into(), readonly: false },
            // What every container runtime gives a container: /proc and the basic devices (a
            // static binary's getrandom falls back to /dev/urandom). The host's /proc, read-only.
            Mount { source: "/proc".into(), target: "/proc".into(), readonly: true },
        ];
        for dev in RUNTIME_DEVICES {
            mounts.push(Mount { source: dev.into(), target: dev.into(), readonly: false });
        }
        if self.pod.spec.as_ref().and_then(|s| s.automount_service_account_token) != Some(false) {
            let dir = self.service_account_files(c).await?;
            mounts.push(Mount { source: dir, target: SERVICE_ACCOUNT_DIR.into(), readonly: true });
        }
        mounts.extend(self.volume_mounts(c)?);
        // Mount points exist before the root may turn read-only.
        for m in &mounts {
            let inside = root.join(m.target.strip_prefix("/").unwrap_or(&m.target));
            if m.source.exists() && !m.source.is_dir() {
                if let Some(parent) = inside.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| AgentError::Io(parent.to_path_buf(), e))?;
                }
                std::fs::OpenOptions::new().create(true).append(true).open(&inside).map_err(|e| AgentError::Io(inside.clone(), e))?;
            } else {
                std::fs::create_dir_all(&inside).map_err(|e| AgentError::Io(inside.clone(), e))?;
            }
        }
        if sc.read_only_root_filesystem == Some(true) {
            mounts.insert(0, Mount { source: root.clone(), target: "/".into(), readonly: true });
        }
        Ok((mounts, argv, Some(root), user))
    }

    /// The projected ServiceAccount volume a kubelet writes: a token bound to this pod from the
    /// TokenRequest API, the cluster's CA and the namespace (mode 0644, as a projected volume's default).
    async fn service_account_files(&self, c: &Ctr) -> Result<PathBuf, AgentError> {
        use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let sa = self.pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: None,
                expiration_seconds: Some(SERVICE_ACCOUNT_TOKEN_SECONDS),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: self.pod.metadata.name.clone(),
                    uid: self.pod.metadata.uid.clone(),
                }),
            }),
            ..Default::default()
        };
        let api = Api::<ServiceAccount>::namespaced(self.run.client.clone(), &ns);
        let tr = api
            .create_token_request(&sa, &kube::api::PostParams::default(), &req)
            .await
            .map_err(|e| AgentError::NotYet(format!("TokenRequest for {ns}/{sa}: {e}")))?;
        let token = tr
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AgentError::NotYet(format!("TokenRequest for {ns}/{sa}: no token")))?;
        let dir = self.pod_dir.join("serviceaccount").join(&c.spec.name);
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::Io(dir.clone(), e))?;
        let ca = std::fs::read(self.run.shared.ca_file()).map_err(|e| AgentError::Io(self.run.shared.ca_file(), e))?;
        for (name, bytes) in [("token", token.into_bytes()), ("ca.crt", ca), ("namespace", ns.into_bytes())] {
            write_0644(&dir.join(name), &bytes)?;
        }
        Ok(dir)
    }

    /// The volumes of `c` as mounts (a volumeMount's subPath made if missing).
    fn volume_mounts(&self, c: &Ctr) -> Result<Vec<Mount>, AgentError> {
        let mut mounts = Vec::new();
        for vm in c.spec.volume_mounts.clone().unwrap_or_default() {
            let base = self.vols.get(&vm.name).ok_or_else(|| AgentError::Config(format!("volumeMount {} names no volume", vm.name)))?;
            let mut source = base.clone();
            if let Some(sp) = vm.sub_path.as_ref().filter(|s| !s.is_empty()) {
                source = source.join(sp);
                if !source.exists() {
                    std::fs::create_dir_all(&source).map_err(|e| AgentError::Io(source.clone(), e))?;
                }
            }
            mounts.push(Mount { source, target: PathBuf::from(&vm.mount_path), readonly: vm.read_only.unwrap_or(false) });
        }
        Ok(mounts)
    }

    /// A fresh /tmp per container start, as a container's own filesystem would give.
    fn fresh_tmp(&self, c: &Ctr) -> Result<PathBuf, AgentError> {
        let tmp = self.pod_dir.join("tmp").join(&c.spec.name);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| AgentError::Io(tmp.clone(), e))?;
        Ok(tmp)
    }

    /// The image's own paths: for apache/kafka a private copy of /opt/kafka's bin/ and config/
    /// with the cached jars read-only; for the metrics agent its jar's directory, read-only.
    fn image_mounts(&self, image: &Image) -> Result<Vec<Mount>, AgentError> {
        match image {
            Image::Kafka { home } => {
                let opt = self.pod_dir.join("opt-kafka");
                for sub in ["bin", "config"] {
                    copy_dir(&home.join(sub), &opt.join(sub))?;
                }
                std::fs::create_dir_all(opt.join("libs")).map_err(|e| AgentError::Io(opt.join("libs"), e))?;
                Ok(vec![
                    Mount { source: opt.clone(), target: "/opt/kafka".into(), readonly: false },
                    Mount { source: home.join("libs"), target: "/opt/kafka/libs".into(), readonly: true },
                ])
            }
            Image::MetricsAgent { dir } => {
                Ok(vec![Mount { source: dir.clone(), target: METRICS_AGENT_DIR_IN_IMAGE.into(), readonly: true }])
            }
        }
    }

    /// A cached image's container: the image's paths, the world's hosts and resolv.conf, a fresh
    /// /tmp and the volumes.
    fn cached_image_mounts(&self, c: &Ctr, image: &Image) -> Result<Vec<Mount>, AgentError> {
        let mut mounts = self.image_mounts(image)?;
        mounts.extend([
            Mount { source: self.run.shared.hosts_file.clone(), target: "/etc/hosts".into(), readonly: true },
            Mount { source: self.run.shared.resolv_conf.clone(), target: "/etc/resolv.conf".into(), readonly: true },
            Mount { source: self.fresh_tmp(c)?, target: "/tmp".into(), readonly: false },
        ]);
        mounts.extend(self.volume_mounts(c)?);
        Ok(mounts)
    }

    fn spawn_container(&self, c: &mut Ctr, sb: &Sandbox, env: Vec<(String, String)>) -> Result<(), AgentError> {
        let pod = self.pod;
        let child = sandbox::spawn(sb)?;
        c.pid = child.id().map(|p| p as i32).unwrap_or(0);
        self.run.shared.track(c.pid);
        c.child = Some(child);
        c.env = env;
        let started = Instant::now();
        c.started_instant = Some(started);
        c.state = CState::Running { started_at: now() };
        c.readiness = c.spec.readiness_probe.clone().map(|p| ProbeState::new(p, started));
        c.liveness = c.spec.liveness_probe.clone().map(|p| ProbeState::new(p, started));
        c.startup = c.spec.startup_probe.clone().map(|p| ProbeState::new(p, started));
        c.started = c.startup.is_none();
        tracing::info!(container = %c.spec.name, pod = ?pod.metadata.name, pid = c.pid, "container started");
        Ok(())
    }
}

/// A cached image's argv: its command and args (the image's own entrypoint is not reproduced).
fn cached_image_argv(c: &Ctr, vars: &HashMap<String, String>) -> Result<Vec<String>, AgentError> {
    let mut argv: Vec<String> = c.spec.command.clone().unwrap_or_default().iter().map(|s| spec::expand(s, vars)).collect();
    let args: Vec<String> = c.spec.args.clone().unwrap_or_default().iter().map(|s| spec::expand(s, vars)).collect();
    if argv.is_empty() {
        if args.is_empty() {
            return Err(AgentError::Config(
                "the test world runs apache/kafka containers only with an explicit command (the image's default entrypoint is not reproduced)".into(),
            ));
        }
        argv = args;
    } else {
        argv.extend(args);
    }
    Ok(argv)
}

/// The device nodes a container runtime creates in every container.
const RUNTIME_DEVICES: [&str; 6] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// Where a kubelet mounts the ServiceAccount token, CA and namespace.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// A kubelet's default token lifetime. The world does not refresh tokens: a container started
/// more than this long ago holds an expired one (the test world's runs are far shorter).
const SERVICE_ACCOUNT_TOKEN_SECONDS: i64 = 3607;

fn write_0644(path: &std::path::Path, bytes: &[u8]) -> Result<(), AgentError> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| AgentError::Io(tmp.clone(), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).map_err(|e| AgentError::Io(tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::Io(path.to_path_buf(), e))
}

/// A copy of an unpacked image (owners, modes and links kept: `cp -a`).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<(), AgentError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| AgentError::Io(parent.to_path_buf(), e))?;
    }
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().map_err(|e| AgentError::Spawn("cp -a".into(), e))?;
    if status.success() { Ok(()) } else { Err(AgentError::Config(format!("cannot copy {} to {}", from.display(), to.display()))) }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(to).map_err(|e| AgentError::Io(to.to_path_buf(), e))?;
    let rd = std::fs::read_dir(from).map_err(|e| AgentError::Io(from.to_path_buf(), e))?;
    for entry in rd.flatten() {
        let p = entry.path();
        let dst = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &dst)?;
        } else if !dst.exists() {
            std::fs::copy(&p, &dst).map_err(|e| AgentError::Io(dst.clone(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_map_to_what_the_cache_provides() {
        let table = [
            ("apache/kafka:4.4.0", Some("4.4.0"), None),
            ("docker.io/apache/kafka:4.3.1@sha256:ab", Some("4.3.1"), None),
            ("ghcr.io/gregor-dev/gregor-metrics-agent:1.0.1", None, Some("1.0.1")),
            ("gregor-metrics-agent", None, Some("latest")),
            ("registry.local:5000/mirror/gregor-metrics-agent:2", None, Some("2")),
            ("busybox:1", None, None),
            ("ghcr.io/gregor-dev/gregor-metrics-agent-extra:1", None, None),
        ];
        for (image, kafka, agent) in table {
            assert_eq!(kafka_version_of(image).as_deref(), kafka, "{image}");
            assert_eq!(metrics_agent_version_of(image).as_deref(), agent, "{image}");
        }
    }
}
