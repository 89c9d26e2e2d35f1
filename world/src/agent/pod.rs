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
    /// Anything but apache/kafka: Running and Ready, nothing runs.
    Fake,
    /// apache/kafka:<version>: real processes over the cached /opt/kafka layout.
    Kafka { home: PathBuf },
    /// apache/kafka with a version the cache lacks.
    Missing { message: String },
}

/// Parses `[registry/]apache/kafka:<version>[@digest]`.
pub(crate) fn kafka_version_of(image: &str) -> Option<String> {
    let image = image.split('@').next().unwrap_or(image);
    let (name, tag) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    };
    (name == "apache/kafka" || name.ends_with("/apache/kafka")).then(|| tag.to_string())
}

fn runtime_for(image: &str) -> Runtime {
    match kafka_version_of(image) {
        None => Runtime::Fake,
        Some(v) => match crate::tools::kafka_home(&v) {
            Ok(home) => Runtime::Kafka { home },
            Err(e) => Runtime::Missing { message: e.to_string() },
        },
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
    fn new(spec: Container, init: bool) -> Ctr {
        let runtime = runtime_for(spec.image.as_deref().unwrap_or_default());
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
        let mut inits: Vec<Ctr> = spec.init_containers.clone().unwrap_or_default().into_iter().map(|c| Ctr::new(c, true)).collect();
        let mut mains: Vec<Ctr> = spec.containers.clone().into_iter().map(|c| Ctr::new(c, false)).collect();
        let restart_policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let start_time = now();
        let mut volumes: Option<HashMap<String, PathBuf>> = None;
        let mut volume_error: Option<String> = None;
        let mut next_volume_try = Instant::now();
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
            Runtime::Kafka { home } => self.drive_real(c, &home, restart_policy).await,
        }
    }

    async fn drive_real(&self, c: &mut Ctr, home: &std::path::Path, restart_policy: &str) -> bool {
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
            match self.start(c, home).await {
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

    async fn start(&self, c: &mut Ctr, home: &std::path::Path) -> Result<(), AgentError> {
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
        let mut argv: Vec<String> = c.spec.command.clone().unwrap_or_default().iter().map(|s| spec::expand(s, &vars)).collect();
        let args: Vec<String> = c.spec.args.clone().unwrap_or_default().iter().map(|s| spec::expand(s, &vars)).collect();
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

        // The image's /opt/kafka: a private copy of bin/ and config/, the cached jars read-only.
        let opt = self.pod_dir.join("opt-kafka");
        for sub in ["bin", "config"] {
            copy_dir(&home.join(sub), &opt.join(sub))?;
        }
        std::fs::create_dir_all(opt.join("libs")).map_err(|e| AgentError::Io(opt.join("libs"), e))?;
        // A fresh /tmp per container start, as a container's own filesystem would give.
        let tmp = self.pod_dir.join("tmp").join(&c.spec.name);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| AgentError::Io(tmp.clone(), e))?;
        let mut mounts = vec![
            Mount { source: opt.clone(), target: "/opt/kafka".into(), readonly: false },
            Mount { source: home.join("libs"), target: "/opt/kafka/libs".into(), readonly: true },
            Mount { source: self.run.shared.hosts_file.clone(), target: "/etc/hosts".into(), readonly: true },
            Mount { source: self.run.shared.resolv_conf.clone(), target: "/etc/resolv.conf".into(), readonly: true },
            Mount { source: tmp, target: "/tmp".into(), readonly: false },
        ];
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
        let log = self.log_dir.join(format!("{}.log", c.spec.name));
        let sb = Sandbox { mounts, hostname: self.hostname.to_string(), workdir: c.spec.working_dir.clone(), argv, env: env.clone(), log };
        let child = sandbox::spawn(&sb)?;
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
