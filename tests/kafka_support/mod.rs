//! A 3-node KRaft cluster in the test world with extra listeners for the client tests:
//! PLAINTEXT :9092 (ANONYMOUS, super user), SASL_PLAINTEXT :9094 (SCRAM-SHA-512 and
//! OAUTHBEARER with Kafka's unsecured-JWT validator), SSL :9095 (mTLS, `CN=admin` super user),
//! StandardAuthorizer on. Built on the world's API; TLS material made with the openssl CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gregor::kafka::{ClientConfig, ResolverConfig, TlsConfig};
use gregor_world::World;
use gregor_world::fixtures::KraftCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, Patch, PatchParams};

pub const PLAIN: u16 = 9092;
pub const SASL: u16 = 9094;
pub const SSL: u16 = 9095;

pub struct TestCluster {
    pub kraft: KraftCluster,
    pub tls_dir: tempfile::TempDir,
    hosts: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// CA, a server certificate for `*.{svc}` and a client certificate `CN=admin`.
fn make_tls(dir: &Path, svc_domain: &str) {
    openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=gregor-test-ca"]);
    std::fs::write(dir.join("server.ext"), format!("subjectAltName=DNS:*.{svc_domain}\nextendedKeyUsage=serverAuth\n")).unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kafka"]);
    openssl(dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"]);
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=admin"]);
    openssl(dir, &["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2", "-extfile", "client.ext"]);
    // Kafka's PEM keystore: PKCS#8 key followed by the certificate.
    openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.pk8"]);
    let pem = std::fs::read_to_string(dir.join("server.pk8")).unwrap() + &std::fs::read_to_string(dir.join("server.crt")).unwrap();
    std::fs::write(dir.join("keystore.pem"), pem).unwrap();
}

pub async fn start(world: &World, ns: &str, name: &str, version: &str) -> TestCluster {
    let replicas = 3;
    let client = world.client();
    let pp = PatchParams::apply("gregor-kafka-tests").force();
    let ns_obj: Namespace = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone()).patch(ns, &pp, &Patch::Apply(&ns_obj)).await.unwrap();

    let domain = format!("{name}.{ns}.svc.cluster.local");
    let tls_dir = tempfile::tempdir().unwrap();
    make_tls(tls_dir.path(), &domain);
    let read = |f: &str| std::fs::read_to_string(tls_dir.path().join(f)).unwrap();
    let cluster_id = gregor_world::random_kafka_cluster_id();
    let voters: Vec<String> = (0..replicas).map(|i| format!("{i}@{name}-{i}.{domain}:9093")).collect();
    let props = format!(
        "process.roles=broker,controller\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL\n\
         controller.quorum.voters={}\n\
         log.dirs=/var/lib/kafka/data/logs\n\
         num.partitions=3\n\
         default.replication.factor=3\n\
         min.insync.replicas=2\n\
         offsets.topic.replication.factor=3\n\
         transaction.state.log.replication.factor=3\n\
         transaction.state.log.min.isr=2\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=false\n\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:ANONYMOUS;User:CN=admin;User:admin\n\
         sasl.enabled.mechanisms=SCRAM-SHA-512,OAUTHBEARER\n\
         listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
         listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";\n\
         listener.name.ssl.ssl.keystore.type=PEM\n\
         listener.name.ssl.ssl.keystore.location=/etc/kafka/config/keystore.pem\n\
         listener.name.ssl.ssl.truststore.type=PEM\n\
         listener.name.ssl.ssl.truststore.location=/etc/kafka/config/ca.crt\n\
         listener.name.ssl.ssl.client.auth=required\n",
        voters.join(",")
    );
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-config"), "namespace": ns},
        // TLS material rides in the ConfigMap: this world's agent failed to mount a Secret
        // volume (CreateContainerError ENOENT) when this was written. Test-only keys.
        "data": {"server.properties": props, "keystore.pem": read("keystore.pem"), "ca.crt": read("ca.crt")}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), ns).patch(&format!("{name}-config"), &pp, &Patch::Apply(&cm)).await.unwrap();
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": true, "selector": {"app": name},
                 "ports": [{"name": "kafka", "port": 9092}, {"name": "controller", "port": 9093},
                           {"name": "sasl", "port": 9094}, {"name": "ssl", "port": 9095}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns).patch(name, &pp, &Patch::Apply(&svc)).await.unwrap();

    let script = r#"set -e
ID=${HOSTNAME##*-}
FQDN=${HOSTNAME}.${SERVICE}.${POD_NAMESPACE}.svc.cluster.local
cp /etc/kafka/config/server.properties /etc/kafka/rendered/server.properties
cat >> /etc/kafka/rendered/server.properties <<PROPS
node.id=${ID}
listeners=PLAINTEXT://${POD_IP}:9092,CONTROLLER://${POD_IP}:9093,SASL_PLAINTEXT://${POD_IP}:9094,SSL://${POD_IP}:9095
advertised.listeners=PLAINTEXT://${FQDN}:9092,SASL_PLAINTEXT://${FQDN}:9094,SSL://${FQDN}:9095
PROPS
if [ ! -f /var/lib/kafka/data/logs/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "${CLUSTER_ID}" -c /etc/kafka/rendered/server.properties
fi
exec /opt/kafka/bin/kafka-server-start.sh /etc/kafka/rendered/server.properties
"#;
    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "serviceName": name, "replicas": replicas, "podManagementPolicy": "Parallel",
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
                            {"name": "KAFKA_HEAP_OPTS", "value": gregor_world::fixtures::BROKER_HEAP_OPTS},
                            {"name": "KAFKA_JVM_PERFORMANCE_OPTS", "value": gregor_world::fixtures::BROKER_JVM_OPTS}
                        ],
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
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap();
    Api::<StatefulSet>::namespaced(client.clone(), ns).patch(name, &pp, &Patch::Apply(&sts)).await.unwrap();

    let kraft = KraftCluster {
        namespace: ns.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        replicas,
        cluster_id,
        bootstrap: (0..replicas).map(|i| format!("{name}-{i}.{domain}:{PLAIN}")).collect(),
    };
    if let Err(e) = kraft.wait_ready(world, Duration::from_secs(240)).await {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), ns);
        for p in pods.list(&Default::default()).await.unwrap().items {
            let st = p.status.as_ref().map(|s| (s.phase.clone(), s.container_statuses.clone()));
            eprintln!("pod {:?}: {st:?}", p.metadata.name);
        }
        panic!("cluster not ready: {e}");
    }
    TestCluster { kraft, tls_dir, hosts: world.hosts_file().to_path_buf() }
}

impl TestCluster {
    pub fn bootstrap(&self, port: u16) -> Vec<String> {
        self.kraft.bootstrap.iter().map(|b| b.replace(&format!(":{PLAIN}"), &format!(":{port}"))).collect()
    }

    /// Client config on `port`, resolving through the world's hosts file, loopback only.
    pub fn config(&self, port: u16) -> ClientConfig {
        ClientConfig::new(self.bootstrap(port))
            .with_resolver(ResolverConfig { hosts_file: Some(self.hosts.clone()), loopback_only: true })
            .with_request_timeout(Duration::from_secs(20))
    }

    pub fn tls(&self) -> TlsConfig {
        let p = |f: &str| self.tls_dir.path().join(f);
        TlsConfig { ca_pem: p("ca.crt"), client_cert_pem: Some(p("client.crt")), client_key_pem: Some(p("client.key")), server_name_override: None }
    }
}

/// Kafka's unsecured JWT (alg none), accepted by the default OAUTHBEARER validator.
pub fn unsecured_jwt(sub: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!("{}.{}.", b64.encode(r#"{"alg":"none"}"#), b64.encode(format!(r#"{{"sub":"{sub}","iat":{now},"exp":{}}}"#, now + 3600)))
}

/// Poll `f` until it returns `Some`, or panic after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
