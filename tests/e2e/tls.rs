//! TLS client listeners end to end (issue #13, first slice): the operator makes the cluster CA
//! and a certificate per node; openssl verifies each broker's handshake against the public
//! `<cluster>-cluster-ca-cert` only and reads the SANs; Kafka's console tools produce and consume
//! over SSL and over SASL_SSL with a SCRAM KafkaUser; a client trusting another CA is refused;
//! then a forced renewal goes live with no restart (`tls_renewal`).

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic, KafkaUser};
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;

const NS: &str = "e2e-tls";
const CLUSTER: &str = "sec";
const TLS_PORT: i32 = 9093;
const SCRAM_PORT: i32 = 9094;
const BROKERS: [i32; 3] = [100, 101, 102];
const WAIT: Duration = Duration::from_secs(120);

pub(crate) fn secret_text(secret: &Secret, key: &str) -> String {
    String::from_utf8_lossy(&secret.data.as_ref().and_then(|d| d.get(key)).unwrap_or_else(|| panic!("key {key}")).0).into_owned()
}

fn broker_host(id: i32) -> String {
    format!("{CLUSTER}-brokers-{id}.{CLUSTER}-kafka-brokers.{NS}.svc")
}

fn bootstrap(port: i32) -> String {
    BROKERS.iter().map(|id| format!("{}:{port}", broker_host(*id))).collect::<Vec<_>>().join(",")
}

/// The address the world's hosts file gives a name (openssl does not read that file).
fn resolve(world: &World, host: &str) -> String {
    let hosts = std::fs::read_to_string(world.hosts_file()).expect("hosts file");
    hosts
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut fields = l.split_whitespace();
            let ip = fields.next()?;
            fields.any(|n| n == host).then(|| ip.to_owned())
        })
        .unwrap_or_else(|| panic!("{host} is not in the world's hosts file:\n{hosts}"))
}

pub(crate) fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).expect("write");
    path.to_string_lossy().into_owned()
}

/// `openssl s_client` against `host:port` (dialled at its world address), trusting only `ca_file`
/// and checking the host name. Returns (exit status, stdout, stderr).
pub(crate) fn s_client(world: &World, host: &str, port: i32, ca_file: &str) -> (i32, String, String) {
    let ip = resolve(world, host);
    assert!(ip.starts_with("127."), "only loopback is dialled: {ip}");
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("{ip}:{port}"), "-servername", host, "-verify_hostname", host])
        .args(["-verify_return_error", "-CAfile", ca_file, "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client (apt-get install openssl)");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The subjectAltName extension of the first certificate in `pem_text`, as openssl prints it.
fn san_of(dir: &Path, pem_text: &str) -> String {
    let start = pem_text.find("-----BEGIN CERTIFICATE-----").expect("a certificate in the output");
    let end = pem_text[start..].find("-----END CERTIFICATE-----").expect("its end") + start + "-----END CERTIFICATE-----".len();
    let file = write(&dir.join("served.crt"), &format!("{}\n", &pem_text[start..end]));
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", &file])
        .output()
        .expect("openssl x509");
    assert!(out.status.success(), "openssl x509: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the operator has judged the applied generation, and fails at once if it refused
/// it as invalid (what Gregor before TLS support answered to `tls: true`).
async fn wait_accepted(client: &kube::Client, ns: &str, cluster: &str, applied: &KafkaCluster) {
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    wait_for("the cluster accepted or refused", Duration::from_secs(120), || async {
        let kc = clusters.get(cluster).await.ok()?;
        let status = kc.status.as_ref()?;
        (status.observed_generation >= applied.metadata.generation).then_some(())?;
        let (ready, reason, message) = ready_of(&status.conditions)?;
        assert_ne!(reason, "InvalidSpec", "tls: true must be accepted, not refused: {message}");
        Some(ready)
    })
    .await;
}

/// Produces `records` (acks=all) with Kafka's console producer, with the client properties in `config`.
pub(crate) async fn produce(tool: &KafkaTool, bootstrap: &str, topic: &str, config: &str, records: &[&str]) {
    let input = records.iter().map(|r| format!("{r}\n")).collect::<String>();
    tool.run_ok(
        "org.apache.kafka.tools.ConsoleProducer",
        &["--bootstrap-server", bootstrap, "--topic", topic, "--command-config", config, "--producer-property", "acks=all"],
        Some(input.as_bytes()),
        Duration::from_secs(120),
    )
    .await
    .unwrap_or_else(|e| panic!("console producer on {bootstrap}: {e}"));
}

/// Reads `records.len()` records from the beginning with Kafka's console consumer and checks
/// they are `records`, in order.
pub(crate) async fn consume(tool: &KafkaTool, bootstrap: &str, topic: &str, config: &str, records: &[&str]) {
    let out = tool
        .run_ok(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--from-beginning",
                "--max-messages",
                &records.len().to_string(),
                "--timeout-ms",
                "60000",
                "--command-config",
                config,
            ],
            None,
            Duration::from_secs(120),
        )
        .await
        .unwrap_or_else(|e| panic!("console consumer on {bootstrap}: {e}"));
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(got, records, "records read back on {bootstrap}; stderr:\n{}", out.stderr);
}

/// `kafka-topics --list` with the client properties in `config`, expected to fail; returns what it said.
pub(crate) async fn refused_listing(tool: &KafkaTool, bootstrap: &str, config: &str) -> String {
    let out = tool
        .run(
            "org.apache.kafka.tools.TopicCommand",
            &["--bootstrap-server", bootstrap, "--list", "--command-config", config],
            None,
            Duration::from_secs(120),
        )
        .await
        .expect("kafka-topics");
    let said = format!("{}\n{}", out.stdout, out.stderr);
    assert_ne!(out.status, 0, "kafka-topics with {config} must be refused:\n{said}");
    said
}

pub(crate) async fn produce_and_consume(tool: &KafkaTool, bootstrap: &str, topic: &str, config: &str, records: &[&str]) {
    produce(tool, bootstrap, topic, config, records).await;
    consume(tool, bootstrap, topic, config, records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item4_tls_listeners_serve_certificates_of_the_cluster_ca_and_item7_forced_renewal_restarts_no_pod() {
    let Some(_serial) = crate::support::world_test(
        "e2e::tls::item4_tls_listeners_serve_certificates_of_the_cluster_ca_and_item7_forced_renewal_restarts_no_pod",
    )
    .await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "tls", &["--resync-seconds", "10"]).await;
    let mut spec = split_cluster(NS, CLUSTER, "4.4.0", json!({}));
    spec["spec"]["listeners"] = json!([
        {"name": "tls", "port": TLS_PORT, "type": "internal", "tls": true},
        {"name": "scram", "port": SCRAM_PORT, "type": "internal", "tls": true, "authentication": {"type": "scram-sha-512"}}
    ]);
    let applied = apply_cluster(&client, NS, spec).await;
    wait_accepted(&client, NS, CLUSTER, &applied).await;
    let kc = wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(420), &op).await;
    let listeners: Vec<(String, String)> =
        kc.status.as_ref().map(|s| s.listeners.iter().map(|l| (l.name.clone(), l.bootstrap_servers.clone())).collect()).unwrap_or_default();
    println!("PASS 3+3 cluster with two TLS listeners Ready: {listeners:?}");

    // The CA: its key only in the operator's Secret, its certificate public. Both are kept with
    // the volumes (persistent claims, deleteClaim false): no owner reference.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let ca_key = secrets.get(&format!("{CLUSTER}-cluster-ca")).await.expect("CA key Secret");
    assert!(secret_text(&ca_key, "ca.key").contains("BEGIN PRIVATE KEY"), "a PKCS#8 CA key");
    let public = secrets.get(&format!("{CLUSTER}-cluster-ca-cert")).await.expect("public CA Secret");
    assert!(!public.data.as_ref().expect("data").contains_key("ca.key"), "no key in the public Secret");
    let ca_pem = secret_text(&public, "ca.crt");
    assert_eq!(ca_pem, secret_text(&ca_key, "ca.crt"));
    for s in [&ca_key, &public] {
        assert!(
            s.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty()),
            "{:?} outlives the cluster with its volumes",
            s.metadata.name
        );
    }
    let dir = world.dir().join("tls-e2e");
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = write(&dir.join("cluster-ca.crt"), &ca_pem);
    println!("PASS Secrets {CLUSTER}-cluster-ca (ca.key, ca.crt) and {CLUSTER}-cluster-ca-cert (ca.crt only), no owner references");

    // openssl, trusting only the cluster CA, verifies every broker's handshake and host name on
    // both TLS listeners, and sees the expected SANs.
    for id in BROKERS {
        let host = broker_host(id);
        for port in [TLS_PORT, SCRAM_PORT] {
            let (status, stdout, stderr) = s_client(&world, &host, port, &ca_file);
            assert_eq!(status, 0, "openssl s_client {host}:{port} failed:\n{stdout}\n{stderr}");
            assert!(stdout.contains("Verify return code: 0 (ok)"), "{host}:{port} verified:\n{stdout}");
            let san = san_of(&dir, &stdout);
            for want in [
                format!("DNS:{host}"),
                format!("DNS:{host}.cluster.local"),
                format!("DNS:{CLUSTER}-kafka-bootstrap.{NS}.svc"),
                format!("DNS:{CLUSTER}-kafka-bootstrap"),
            ] {
                assert!(san.contains(&want), "{host}:{port} SANs lack {want}: {san}");
            }
            if port == TLS_PORT {
                println!("PASS openssl verified {host}:{port} against {CLUSTER}-cluster-ca-cert; {}", san.trim().replace('\n', " "));
            }
        }
    }
    println!("PASS openssl -verify_return_error succeeded on all {} broker TLS listeners", BROKERS.len() * 2);

    // A client trusting another CA is refused, by openssl and by Kafka's own client.
    let other = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=another CA", "-days", "2"])
        .args(["-keyout", &dir.join("other.key").to_string_lossy(), "-out", &dir.join("other.crt").to_string_lossy()])
        .output()
        .expect("openssl req");
    assert!(other.status.success(), "another CA: {}", String::from_utf8_lossy(&other.stderr));
    let other_ca = dir.join("other.crt").to_string_lossy().into_owned();
    let (status, stdout, _) = s_client(&world, &broker_host(100), TLS_PORT, &other_ca);
    assert_ne!(status, 0, "openssl trusting another CA must fail:\n{stdout}");
    println!("PASS openssl trusting another CA is refused (exit {status})");

    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let ssl = |trust: &str| format!("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={trust}\n");
    let wrong =
        write(&dir.join("wrong-ca.properties"), &format!("{}request.timeout.ms=15000\ndefault.api.timeout.ms=30000\n", ssl(&other_ca)));
    let said = refused_listing(&tool, &bootstrap(TLS_PORT), &wrong).await;
    assert!(
        said.contains("SSL handshake failed") || said.contains("SslAuthenticationException") || said.contains("PKIX"),
        "refused for the certificate:\n{said}"
    );
    println!("PASS Kafka's client trusting another CA is refused: {}", said.lines().find(|l| l.contains("SSL")).unwrap_or_default().trim());

    // Kafka's console producer and consumer over the SSL listener.
    // One partition per topic, one topic per listener: the records come back in order.
    for name in ["over-ssl", "over-sasl-ssl"] {
        let topic = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": name, "namespace": NS},
            "spec": {"cluster": CLUSTER, "partitions": 1}});
        apply_json::<KafkaTopic>(&client, NS, topic).await.expect("topic");
        wait_topic(&client, NS, name, true, None, WAIT, &op).await;
    }
    let tls_config = write(&dir.join("tls.properties"), &ssl(&ca_file));
    produce_and_consume(&tool, &bootstrap(TLS_PORT), "over-ssl", &tls_config, &["one", "two", "three"]).await;
    println!("PASS console producer and consumer over SSL on port {TLS_PORT}: 3 records produced (acks=all) and read back");

    // SASL_SSL with a SCRAM KafkaUser; a wrong password is refused.
    let user = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": "alice", "namespace": NS},
        "spec": {"cluster": CLUSTER, "authentication": {"type": "scram-sha-512"}}});
    apply_json::<KafkaUser>(&client, NS, user).await.expect("user");
    wait_user(&client, NS, "alice", true, None, WAIT, &op).await;
    let jaas = secret_text(&secrets.get("alice").await.expect("alice's Secret"), "sasl.jaas.config");
    let sasl_ssl = |jaas: &str| {
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={jaas}\nssl.truststore.type=PEM\nssl.truststore.location={ca_file}\n"
        )
    };
    let scram_config = write(&dir.join("scram.properties"), &sasl_ssl(&jaas));
    produce_and_consume(&tool, &bootstrap(SCRAM_PORT), "over-sasl-ssl", &scram_config, &["one", "two", "three", "four", "five"]).await;
    println!("PASS console producer and consumer over SASL_SSL (SCRAM user alice) on port {SCRAM_PORT}");
    let bad_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"wrong\";";
    let bad = write(&dir.join("bad-scram.properties"), &format!("{}default.api.timeout.ms=30000\n", sasl_ssl(bad_jaas)));
    let said = refused_listing(&tool, &bootstrap(SCRAM_PORT), &bad).await;
    assert!(said.contains("Authentication failed"), "refused for the password:\n{said}");
    println!("PASS a wrong SCRAM password over SASL_SSL is refused");

    // The rendered configs: TLS listeners are SSL / SASL_SSL with PEM stores from the node certificates Secret.
    let node_certs = secrets.get(&format!("{CLUSTER}-kafka-node-certs")).await.expect("node certificates Secret");
    let keys: Vec<String> = node_certs.data.as_ref().map(|d| d.keys().cloned().collect()).unwrap_or_default();
    for pod in split_pod_names(CLUSTER) {
        assert!(keys.contains(&format!("{pod}.pem")), "{pod}.pem in {keys:?}");
    }
    println!("PASS {CLUSTER}-kafka-node-certs holds one PEM per node: {keys:?}");

    // Item 7: a forced renewal of every node certificate goes live under traffic, with no restart.
    let listeners: Vec<crate::tls_renewal::Listener> = BROKERS
        .iter()
        .flat_map(|id| {
            [TLS_PORT, SCRAM_PORT].map(|port| crate::tls_renewal::Listener {
                pod: format!("{CLUSTER}-brokers-{id}"),
                host: broker_host(*id),
                port,
            })
        })
        .collect();
    let ssl_properties = ssl(&ca_file);
    crate::tls_renewal::item7_forced_leaf_renewal_restarts_no_pod(
        &world,
        &client,
        (NS, CLUSTER),
        &listeners,
        (&bootstrap(TLS_PORT), &ssl_properties),
        &ca_file,
        &op,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item4_a_tls_listener_is_added_to_a_running_cluster_by_a_safe_roll() {
    let Some(_serial) = crate::support::world_test("e2e::tls::item4_a_tls_listener_is_added_to_a_running_cluster_by_a_safe_roll").await
    else {
        return;
    };
    const NS: &str = "e2e-tls-add";
    const CLUSTER: &str = "grow";
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "tls-add", &["--resync-seconds", "10"]).await;
    let mut spec = split_cluster(NS, CLUSTER, "4.4.0", json!({}));
    spec["spec"]["nodePools"][0]["replicas"] = json!(1);
    spec["spec"]["nodePools"][1]["replicas"] = json!(2);
    apply_cluster(&client, NS, spec.clone()).await;
    wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(300), &op).await;
    let host = |id: i32| format!("{CLUSTER}-brokers-{id}.{CLUSTER}-kafka-brokers.{NS}.svc");
    let servers = |port: i32| [100, 101].iter().map(|id| format!("{}:{port}", host(*id))).collect::<Vec<_>>().join(",");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    assert!(secrets.get_opt(&format!("{CLUSTER}-cluster-ca")).await.expect("get").is_none(), "no CA while no listener has TLS");

    let topic = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": "kept", "namespace": NS},
        "spec": {"cluster": CLUSTER, "partitions": 1}});
    apply_json::<KafkaTopic>(&client, NS, topic).await.expect("topic");
    wait_topic(&client, NS, "kept", true, None, WAIT, &op).await;
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let dir = world.dir().join("tls-add-e2e");
    std::fs::create_dir_all(&dir).expect("dir");
    let plain = write(&dir.join("plain.properties"), "security.protocol=PLAINTEXT\n");
    produce(&tool, &servers(9092), "kept", &plain, &["before", "the", "roll"]).await;
    let pods_before: Vec<String> = cluster_pods(&client, NS, CLUSTER).await.into_iter().filter_map(|p| p.metadata.uid).collect();
    println!("PASS plain 1+2 cluster Ready, no CA Secret; 3 records produced on the plain listener");

    // Add a TLS listener: the certificates come first, then the pods roll one at a time.
    spec["spec"]["listeners"] = json!([
        {"name": "plain", "port": 9092, "type": "internal", "tls": false},
        {"name": "tls", "port": TLS_PORT, "type": "internal", "tls": true}
    ]);
    let applied = apply_cluster(&client, NS, spec).await;
    wait_accepted(&client, NS, CLUSTER, &applied).await;
    wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(600), &op).await;
    let pods_after: Vec<String> = cluster_pods(&client, NS, CLUSTER).await.into_iter().filter_map(|p| p.metadata.uid).collect();
    assert!(pods_after.iter().all(|uid| !pods_before.contains(uid)), "every pod was rolled onto the new listeners");
    let ca_pem = secret_text(&secrets.get(&format!("{CLUSTER}-cluster-ca-cert")).await.expect("public CA Secret"), "ca.crt");
    let ca_file = write(&dir.join("ca.crt"), &ca_pem);
    for id in [100, 101] {
        let (status, stdout, stderr) = s_client(&world, &host(id), TLS_PORT, &ca_file);
        assert_eq!(status, 0, "openssl s_client {}:{TLS_PORT}:\n{stdout}\n{stderr}", host(id));
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    }
    println!("PASS the TLS listener was added by a roll of all {} pods; openssl verifies both brokers", pods_after.len());
    let tls =
        write(&dir.join("tls.properties"), &format!("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={ca_file}\n"));
    consume(&tool, &servers(TLS_PORT), "kept", &tls, &["before", "the", "roll"]).await;
    consume(&tool, &servers(9092), "kept", &plain, &["before", "the", "roll"]).await;
    println!("PASS the records produced before the roll are read over SSL and still over the plain listener");
}
