//! Reusable fixtures: a hand-written KRaft StatefulSet (no operator), used by the smoke test
//! and by the Kafka client's integration tests.
use crate::error::{Result, WorldError};
use crate::world::World;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MANAGER: &str = "gregor-world-fixture";

/// A running KRaft cluster made by [`kraft_statefulset`].
#[derive(Debug, Clone)]
pub struct KraftCluster {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub replicas: i32,
    pub cluster_id: String,
    /// `name-i.name.ns.svc.cluster.local:9092`, one per broker (resolvable via the world's hosts file).
    pub bootstrap: Vec<String>,
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The JVM flags the fixture gives brokers: small heap, quick start.
pub const BROKER_HEAP_OPTS: &str = "-Xmx256m -Xms256m";
pub const BROKER_JVM_OPTS: &str =
    "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xss512k -XX:MaxMetaspaceSize=128m -Djava.awt.headless=true";

/// A listener that [`KraftExtras`] adds to the fixture's PLAINTEXT :9092 and CONTROLLER :9093.
#[derive(Debug, Clone)]
pub struct ExtraListener {
    /// Listener name, also its security protocol: `SASL_PLAINTEXT`, `SSL`, ...
    pub name: String,
    /// Name of its port in the Service and the container.
    pub port_name: String,
    pub port: u16,
}

/// What a test adds to the fixture's cluster (see [`kraft_statefulset_with`]).
#[derive(Debug, Clone, Default)]
pub struct KraftExtras {
    /// Listeners on every node, advertised under the node's FQDN.
    pub listeners: Vec<ExtraListener>,
    /// Lines appended to server.properties (each ending with a newline).
    pub properties: String,
    /// More files in the `<name>-config` ConfigMap, which the pods see in /etc/kafka/config.
    pub config_files: BTreeMap<String, String>,
}

/// Applies a headless Service, a ConfigMap with server.properties and a StatefulSet of
/// `replicas` combined (broker+controller) KRaft nodes running image `apache/kafka:<version>`
/// with a PVC template; waits for `replicas` Ready pods.
pub async fn kraft_statefulset(world: &World, namespace: &str, name: &str, version: &str, replicas: i32) -> Result<KraftCluster> {
    let extras = KraftExtras::default();
    kraft_statefulset_with(world, namespace, name, version, replicas, &extras).await
}

/// [`kraft_statefulset`] with more listeners, server.properties lines and config files.
pub async fn kraft_statefulset_with(
    world: &World,
    namespace: &str,
    name: &str,
    version: &str,
    replicas: i32,
    extras: &KraftExtras,
) -> Result<KraftCluster> {
    world.kafka_home(version)?;
    let client = world.client();
    let pp = PatchParams::apply(MANAGER).force();
    let ns_obj: Namespace =
        serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone()).patch(namespace, &pp, &Patch::Apply(&ns_obj)).await?;

    let cluster_id = crate::proc::random_kafka_cluster_id();
    let fqdn = |i: i32| format!("{name}-{i}.{name}.{namespace}.svc.cluster.local");
    let voters: Vec<String> = (0..replicas).map(|i| format!("{i}@{}:9093", fqdn(i))).collect();
    let rf = replicas.clamp(1, 3);
    let min_isr = (rf - 1).max(1);
    let protocols: String = extras.listeners.iter().map(|l| format!(",{0}:{0}", l.name)).collect();
    let mut props = format!(
        "process.roles=broker,controller\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{protocols}\n\
         controller.quorum.voters={}\n\
         log.dirs=/var/lib/kafka/data/logs\n\
         num.partitions=3\n\
         default.replication.factor={rf}\n\
         offsets.topic.replication.factor={rf}\n\
         transaction.state.log.replication.factor={rf}\n\
         transaction.state.log.min.isr={min_isr}\n\
         share.coordinator.state.topic.replication.factor={rf}\n\
         share.coordinator.state.topic.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=false\n",
        voters.join(",")
    );
    props.push_str(&extras.properties);
    let mut data = serde_json::json!({"server.properties": props});
    for (file, content) in &extras.config_files {
        data[file] = content.as_str().into();
    }
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-config"), "namespace": namespace},
        "data": data
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), namespace).patch(&format!("{name}-config"), &pp, &Patch::Apply(&cm)).await?;

    let mut ports = vec![("kafka", 9092), ("controller", 9093)];
    ports.extend(extras.listeners.iter().map(|l| (l.port_name.as_str(), l.port)));
    let svc_ports: Vec<_> = ports.iter().map(|(n, p)| serde_json::json!({"name": n, "port": p})).collect();
    let container_ports: Vec<_> = ports.iter().map(|(n, p)| serde_json::json!({"name": n, "containerPort": p})).collect();
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": {"app": name},
            "ports": svc_ports
        }
    }))?;
    Api::<Service>::namespaced(client.clone(), namespace).patch(name, &pp, &Patch::Apply(&svc)).await?;

    let (mut listen, mut advertise) = (String::new(), String::new());
    for l in &extras.listeners {
        listen += &format!(",{}://${{POD_IP}}:{}", l.name, l.port);
        advertise += &format!(",{}://${{FQDN}}:{}", l.name, l.port);
    }
    let script = r#"set -e
ID=${HOSTNAME##*-}
FQDN=${HOSTNAME}.${SERVICE}.${POD_NAMESPACE}.svc.cluster.local
cp /etc/kafka/config/server.properties /etc/kafka/rendered/server.properties
cat >> /etc/kafka/rendered/server.properties <<PROPS
node.id=${ID}
listeners=PLAINTEXT://${POD_IP}:9092,CONTROLLER://${POD_IP}:9093@LISTEN@
advertised.listeners=PLAINTEXT://${FQDN}:9092@ADVERTISE@
PROPS
if [ ! -f /var/lib/kafka/data/logs/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "${CLUSTER_ID}" -c /etc/kafka/rendered/server.properties
fi
exec /opt/kafka/bin/kafka-server-start.sh /etc/kafka/rendered/server.properties
"#
    .replace("@LISTEN@", &listen)
    .replace("@ADVERTISE@", &advertise);
    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 60,
                    "containers": [{
                        "name": "kafka",
                        "image": format!("apache/kafka:{version}"),
                        "command": ["/bin/bash", "-c", script],
                        "env": [
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            {"name": "SERVICE", "value": name},
                            {"name": "CLUSTER_ID", "value": cluster_id},
                            {"name": "KAFKA_HEAP_OPTS", "value": BROKER_HEAP_OPTS},
                            {"name": "KAFKA_JVM_PERFORMANCE_OPTS", "value": BROKER_JVM_OPTS}
                        ],
                        "ports": container_ports,
                        "readinessProbe": {"tcpSocket": {"port": 9092}, "periodSeconds": 2, "failureThreshold": 3},
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/var/lib/kafka/data"},
                            {"name": "config", "mountPath": "/etc/kafka/config"},
                            {"name": "rendered", "mountPath": "/etc/kafka/rendered"}
                        ]
                    }],
                    "volumes": [
                        {"name": "config", "configMap": {"name": format!("{name}-config")}},
                        {"name": "rendered", "emptyDir": {}}
                    ]
                }
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))?;
    Api::<StatefulSet>::namespaced(client.clone(), namespace).patch(name, &pp, &Patch::Apply(&sts)).await?;

    let cluster = KraftCluster {
        namespace: namespace.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        replicas,
        cluster_id,
        bootstrap: (0..replicas).map(|i| format!("{}:9092", fqdn(i))).collect(),
    };
    cluster.wait_ready(world, Duration::from_secs(240)).await?;
    Ok(cluster)
}

impl KraftCluster {
    /// Comma-separated bootstrap servers.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.join(",")
    }

    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name)
    }

    /// Waits until all `replicas` pods are Ready.
    pub async fn wait_ready(&self, world: &World, timeout: Duration) -> Result<()> {
        let pods = Api::<Pod>::namespaced(world.client(), &self.namespace);
        let lp = ListParams::default().labels(&format!("app={}", self.name));
        let start = Instant::now();
        loop {
            let ready = pods.list(&lp).await?.items.iter().filter(|p| pod_ready(p)).count();
            if ready as i32 >= self.replicas {
                return Ok(());
            }
            if start.elapsed() > timeout {
                let logs: String = (0..self.replicas).map(|i| self.log_tail(world, i, 15)).collect();
                return Err(WorldError::Timeout {
                    what: format!("{} Ready pods of {}/{}; last log lines:\n{logs}", self.replicas, self.namespace, self.name),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last `lines` lines of pod `ordinal`'s kafka container log, headed by the pod name.
    fn log_tail(&self, world: &World, ordinal: i32, lines: usize) -> String {
        let pod = self.pod_name(ordinal);
        let text = std::fs::read_to_string(world.pod_log_path(&self.namespace, &pod, "kafka")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!("--- {pod}\n{tail}\n")
    }

    /// Number of Bound PVCs of the cluster.
    pub async fn bound_pvcs(&self, world: &World) -> Result<usize> {
        let pvcs = Api::<PersistentVolumeClaim>::namespaced(world.client(), &self.namespace).list(&ListParams::default()).await?;
        Ok(pvcs
            .items
            .iter()
            .filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with(&format!("data-{}-", self.name))))
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
            .count())
    }

    /// Deletes a pod (graceful: SIGTERM, controlled shutdown). Returns the deleted pod's uid.
    pub async fn delete_pod(&self, world: &World, ordinal: i32) -> Result<String> {
        let pods = Api::<Pod>::namespaced(world.client(), &self.namespace);
        let name = self.pod_name(ordinal);
        let uid = pods.get(&name).await?.metadata.uid.unwrap_or_default();
        pods.delete(&name, &DeleteParams::default()).await?;
        Ok(uid)
    }

    /// Waits for the pod to be back (a new uid, not `old_uid`) and Ready.
    pub async fn wait_pod_back(&self, world: &World, ordinal: i32, old_uid: &str, timeout: Duration) -> Result<()> {
        let pods = Api::<Pod>::namespaced(world.client(), &self.namespace);
        let name = self.pod_name(ordinal);
        let start = Instant::now();
        loop {
            if let Some(p) = pods.get_opt(&name).await?
                && p.metadata.uid.as_deref() != Some(old_uid)
                && pod_ready(&p)
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(WorldError::Timeout { what: format!("pod {}/{name} back and Ready", self.namespace), secs: timeout.as_secs() });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A host-side Kafka tool runner for this cluster's version.
    pub fn tool(&self, world: &World) -> Result<crate::kafka::KafkaTool> {
        crate::kafka::KafkaTool::new(world, &self.version)
    }
}
