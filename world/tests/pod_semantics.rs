//! Node agent pod semantics with apache/kafka-image pods running plain shell commands (no JVM):
//! init containers, env from the downward API / ConfigMaps, volume mounts, exec readiness
//! probes inside the pod's mount namespace, private /tmp, CrashLoopBackOff.
use gregor_world::World;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};

async fn wait_pod(pods: &Api<Pod>, name: &str, timeout: Duration, f: impl Fn(&Pod) -> bool) -> Pod {
    let start = Instant::now();
    loop {
        if let Ok(p) = pods.get(name).await
            && f(&p)
        {
            return p;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for pod {name}: {:?}", pods.get(name).await.ok().and_then(|p| p.status));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ready(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn init_env_volumes_exec_probe_and_crashloop() {
    if !gregor_world::tools::world_suite_runs("gregor-world::pod_semantics::init_env_volumes_exec_probe_and_crashloop") {
        return;
    }
    let world = World::start().await.expect("world");
    let client = world.client();
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "cfg"}, "data": {"greeting": "hello", "app.properties": "a=1\n"}}))
            .expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), "default").create(&PostParams::default(), &cm).await.expect("create cm");
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shell", "labels": {"role": "probe-test"}},
        "spec": {
            "hostname": "shell", "subdomain": "svc",
            "initContainers": [{
                "name": "init", "image": "docker.io/apache/kafka:4.4.0",
                "command": ["/bin/sh", "-c", "echo $(GREETING)-$POD_NAME > /work/init.txt; echo tmp > /tmp/mine"],
                "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}]
            }],
            "containers": [{
                "name": "main", "image": "apache/kafka:4.4.0",
                "command": ["/bin/sh", "-c", "cp /work/init.txt /work/seen.txt; hostname > /work/hostname.txt; cat /etc/app/app.properties > /work/props.txt; test ! -e /tmp/mine && touch /work/tmp-private; ls /opt/kafka/bin > /work/bin.txt; echo $POD_IP > /work/ip.txt; sleep 3; touch /work/ready; exec sleep 600"],
                "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", "test -f /work/ready"]}, "periodSeconds": 1},
                "volumeMounts": [{"name": "work", "mountPath": "/work"}, {"name": "cfg", "mountPath": "/etc/app", "readOnly": true}]
            }],
            "volumes": [{"name": "work", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}],
            "terminationGracePeriodSeconds": 5
        }
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create pod");
    // Not Ready before the probe's file exists, Ready after.
    let running =
        wait_pod(&pods, "shell", Duration::from_secs(30), |p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).await;
    let started = Instant::now();
    assert!(!ready(&running), "not Ready before the exec probe passes");
    let p = wait_pod(&pods, "shell", Duration::from_secs(30), ready).await;
    assert!(started.elapsed() >= Duration::from_millis(1500), "Ready only once the probe's file exists");
    let ip = p.status.and_then(|s| s.pod_ip).unwrap_or_default();
    let uid = p.metadata.uid.unwrap_or_default();
    let work = std::fs::read_dir(world.dir().join("pods").join("default"))
        .expect("pods dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!("shell-{}", &uid[..8])))
        .expect("pod dir")
        .path()
        .join("volumes")
        .join("work");
    let read = |f: &str| std::fs::read_to_string(work.join(f)).unwrap_or_default().trim().to_string();
    assert_eq!(read("seen.txt"), "hello-shell");
    assert_eq!(read("hostname.txt"), "shell");
    assert_eq!(read("props.txt"), "a=1");
    assert_eq!(read("ip.txt"), ip);
    assert!(work.join("tmp-private").exists(), "each container run has a private /tmp");
    assert!(read("bin.txt").contains("kafka-server-start.sh"));
    let hosts = std::fs::read_to_string(world.hosts_file()).expect("hosts");
    assert!(hosts.contains(&format!("{ip}\tshell.svc.default.svc.cluster.local")), "{hosts}");

    let crash: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "crash"},
        "spec": {"containers": [{"name": "c", "image": "apache/kafka:4.4.0", "command": ["/bin/sh", "-c", "echo boom; exit 3"]}]}
    }))
    .expect("crash pod");
    pods.create(&PostParams::default(), &crash).await.expect("create crash");
    let p = wait_pod(&pods, "crash", Duration::from_secs(30), |p| {
        p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first()).is_some_and(|c| {
            c.restart_count >= 2 && c.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some_and(|t| t.exit_code == 3)
        })
    })
    .await;
    let waiting =
        p.status.and_then(|s| s.container_statuses).and_then(|c| c.into_iter().next()).and_then(|c| c.state).and_then(|s| s.waiting);
    assert!(waiting.is_none() || waiting.and_then(|w| w.reason).as_deref() == Some("CrashLoopBackOff"));
    let log = std::fs::read_to_string(world.pod_log_path("default", "crash", "c")).expect("log");
    assert!(log.matches("boom").count() >= 2);
    // The same log through the API server, as `kubectl logs` reads it (API server -> the node
    // agent's kubelet API on the node's address, mutual TLS with the world CA).
    let via_api = pods.logs("crash", &kube::api::LogParams { container: Some("c".into()), ..Default::default() }).await.expect("pods/log");
    assert!(via_api.matches("boom").count() >= 2, "{via_api:?}");
    let last = pods.logs("crash", &kube::api::LogParams { tail_lines: Some(1), ..Default::default() }).await.expect("pods/log tail");
    assert_eq!(last, "boom\n");

    // Graceful deletion: `sleep` is PID 1 of its PID namespace, where SIGTERM with the default
    // disposition is ignored (as in a container), so deletion takes the full grace period.
    let t = Instant::now();
    pods.delete("shell", &Default::default()).await.expect("delete");
    let start = Instant::now();
    while pods.get_opt("shell").await.expect("get").is_some() {
        assert!(start.elapsed() < Duration::from_secs(20), "pod deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("pod with sleep as PID 1 (ignores SIGTERM) deleted after {:?} (grace 5s)", t.elapsed());
}
