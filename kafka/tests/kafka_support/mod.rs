//! A 3-node KRaft cluster in the test world with extra listeners for the client tests:
//! PLAINTEXT :9092 (ANONYMOUS, super user), SASL_PLAINTEXT :9094 (SCRAM-SHA-512 and
//! OAUTHBEARER with Kafka's unsecured-JWT validator), SSL :9095 (mTLS, `CN=admin` super user),
//! StandardAuthorizer on. Built with the world's KRaft fixture; TLS material made with the openssl CLI.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gregor_kafka::{ClientConfig, ResolverConfig, TlsConfig};
use gregor_world::World;
use gregor_world::fixtures::{ExtraListener, KraftCluster, KraftExtras, kraft_statefulset_with};
use kube::api::Api;

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
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=gregor-test-ca",
        ],
    );
    std::fs::write(dir.join("server.ext"), format!("subjectAltName=DNS:*.{svc_domain}\nextendedKeyUsage=serverAuth\n")).unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kafka"]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=admin"]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.crt",
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
    // Kafka's PEM keystore: PKCS#8 key followed by the certificate.
    openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.pk8"]);
    let pem = std::fs::read_to_string(dir.join("server.pk8")).unwrap() + &std::fs::read_to_string(dir.join("server.crt")).unwrap();
    std::fs::write(dir.join("keystore.pem"), pem).unwrap();
}

pub async fn start(world: &World, ns: &str, name: &str, version: &str) -> TestCluster {
    let domain = format!("{name}.{ns}.svc.cluster.local");
    let tls_dir = tempfile::tempdir().unwrap();
    make_tls(tls_dir.path(), &domain);
    let read = |f: &str| std::fs::read_to_string(tls_dir.path().join(f)).unwrap();
    let listener = |name: &str, port_name: &str, port| ExtraListener { name: name.into(), port_name: port_name.into(), port };
    let extras = KraftExtras {
        listeners: vec![listener("SASL_PLAINTEXT", "sasl", SASL), listener("SSL", "ssl", SSL)],
        properties: "min.insync.replicas=2\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:ANONYMOUS;User:CN=admin;User:admin\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512,OAUTHBEARER\n\
             listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";\n\
             listener.name.ssl.ssl.keystore.type=PEM\n\
             listener.name.ssl.ssl.keystore.location=/etc/kafka/config/keystore.pem\n\
             listener.name.ssl.ssl.truststore.type=PEM\n\
             listener.name.ssl.ssl.truststore.location=/etc/kafka/config/ca.crt\n\
             listener.name.ssl.ssl.client.auth=required\n"
            .into(),
        // TLS material rides in the ConfigMap: this world's agent failed to mount a Secret
        // volume (CreateContainerError ENOENT) when this was written. Test-only keys.
        config_files: BTreeMap::from([("keystore.pem".into(), read("keystore.pem")), ("ca.crt".into(), read("ca.crt"))]),
    };
    let kraft = match kraft_statefulset_with(world, ns, name, version, 3, &extras).await {
        Ok(kraft) => kraft,
        Err(e) => {
            let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(world.client(), ns);
            for p in pods.list(&Default::default()).await.unwrap().items {
                let st = p.status.as_ref().map(|s| (s.phase.clone(), s.container_statuses.clone()));
                eprintln!("pod {:?}: {st:?}", p.metadata.name);
            }
            panic!("cluster not ready: {e}");
        }
    };
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
        TlsConfig {
            ca_pem: p("ca.crt"),
            client_cert_pem: Some(p("client.crt")),
            client_key_pem: Some(p("client.key")),
            server_name_override: None,
        }
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
