//! TLS KafkaUsers over a mutual TLS listener, and ready `client.properties` (issue #13 items 5
//! and 6), judged by Kafka's console tools, openssl and keytool: a TLS user's `client.properties`
//! is used verbatim for produce and consume; a certificate from another CA is refused; the
//! user's ACLs deny another topic; a SCRAM user's `client.properties` works over SASL_SSL.

use std::time::Duration;

use crate::support::*;
use crate::tls::{consume, produce, produce_and_consume, refused_listing, secret_text, write};
use gregor::api::{KafkaTopic, KafkaUser};
use gregor_world::{KafkaTool, World};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;

const NS: &str = "e2e-tls-users";
const CLUSTER: &str = "mtls";
const MTLS_PORT: i32 = 9093;
const SCRAM_PORT: i32 = 9094;
const WAIT: Duration = Duration::from_secs(180);

fn broker_bootstrap(port: i32) -> String {
    format!("{CLUSTER}-brokers-100.{CLUSTER}-kafka-brokers.{NS}.svc:{port}")
}

fn openssl(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("openssl").args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

/// `openssl req` making a P-256 key (`-nodes`) for `subject`, with these further arguments.
fn openssl_p256_req(subject: &str, args: &[&str]) {
    let mut all = vec!["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject];
    all.extend_from_slice(args);
    openssl(&all);
}

fn user_with_acls(name: &str, auth: &str) -> serde_json::Value {
    json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaUser", "metadata": {"name": name, "namespace": NS},
    "spec": {"cluster": CLUSTER, "authentication": {"type": auth}, "authorization": {"type": "simple", "acls": [
        {"resource": {"type": "topic", "name": "allowed", "patternType": "literal"}, "operations": ["Read", "Write", "Describe"]},
        {"resource": {"type": "group", "name": "*", "patternType": "literal"}, "operations": ["Read", "Describe"]}
    ]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item5_tls_users_over_mutual_tls_and_item6_client_properties_used_verbatim() {
    let Some(_serial) =
        crate::support::world_test("e2e::tls_users::item5_tls_users_over_mutual_tls_and_item6_client_properties_used_verbatim").await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let client = world.client();
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let op = Operator::start_with_chart_rbac(&world, "tls-users", &["--resync-seconds", "10"]).await;
    // Mutual TLS on a listener without TLS is refused by the API server at apply (CEL), naming
    // the field; nothing is created.
    let mut bad = split_cluster(NS, "bad", "4.4.0", json!({}));
    bad["spec"]["listeners"] =
        json!([{"name": "plain", "port": 9092, "type": "internal", "tls": false, "authentication": {"type": "tls"}}]);
    let err = apply_json::<gregor::api::KafkaCluster>(&client, NS, bad).await.expect_err("refused at apply");
    let said = err.to_string();
    assert!(said.contains("spec.listeners[0].authentication") && said.contains("needs tls: true"), "{said}");
    println!("PASS tls authentication on a tls: false listener is refused at apply: {said}");

    let mut spec = split_cluster(NS, CLUSTER, "4.4.0", json!({}));
    spec["spec"]["nodePools"][0]["replicas"] = json!(1);
    spec["spec"]["nodePools"][1]["replicas"] = json!(1);
    spec["spec"]["authorization"] = json!({"type": "simple"});
    spec["spec"]["listeners"] = json!([
        {"name": "mtls", "port": MTLS_PORT, "type": "internal", "tls": true, "authentication": {"type": "tls"}},
        {"name": "scram", "port": SCRAM_PORT, "type": "internal", "tls": true, "authentication": {"type": "scram-sha-512"}}
    ]);
    apply_cluster(&client, NS, spec).await;
    wait_cluster_ready(&client, NS, CLUSTER, Duration::from_secs(420), &op).await;
    println!("PASS 1+1 cluster Ready with a mutual TLS listener ({MTLS_PORT}) and a SASL_SSL one ({SCRAM_PORT})");

    // The clients CA: its key operator-only and kept with the volumes, its certificate public.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let clients_key = secrets.get(&format!("{CLUSTER}-clients-ca")).await.expect("clients CA key Secret");
    let clients_public = secrets.get(&format!("{CLUSTER}-clients-ca-cert")).await.expect("clients CA public Secret");
    assert!(!clients_public.data.as_ref().expect("data").contains_key("ca.key"), "no key in the public Secret");
    let cluster_ca = secret_text(&secrets.get(&format!("{CLUSTER}-cluster-ca-cert")).await.expect("cluster CA"), "ca.crt");
    let clients_ca = secret_text(&clients_public, "ca.crt");
    assert_eq!(clients_ca, secret_text(&clients_key, "ca.crt"));
    assert_ne!(clients_ca, cluster_ca, "two CAs");
    for s in [&clients_key, &clients_public] {
        assert!(s.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty()), "{:?} outlives the cluster", s.metadata.name);
    }
    let cluster_props = secrets.get(&format!("{CLUSTER}-client-properties")).await.expect("the cluster's client properties");
    let keys: Vec<String> = cluster_props.data.as_ref().map(|d| d.keys().cloned().collect()).unwrap_or_default();
    assert_eq!(keys, ["mtls.client.properties", "scram.client.properties"]);
    println!(
        "PASS Secrets {CLUSTER}-clients-ca and {CLUSTER}-clients-ca-cert (no owner references); {CLUSTER}-client-properties has {keys:?}"
    );

    for name in ["allowed", "denied"] {
        let topic = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": name, "namespace": NS},
            "spec": {"cluster": CLUSTER, "partitions": 1}});
        apply_json::<KafkaTopic>(&client, NS, topic).await.expect("topic");
        wait_topic(&client, NS, name, true, None, WAIT, &op).await;
    }
    apply_json::<KafkaUser>(&client, NS, user_with_acls("alice", "tls")).await.expect("tls user");
    apply_json::<KafkaUser>(&client, NS, user_with_acls("bob", "scram-sha-512")).await.expect("scram user");
    let alice = wait_user(&client, NS, "alice", true, None, WAIT, &op).await;
    wait_user(&client, NS, "bob", true, None, WAIT, &op).await;
    assert_eq!(alice.status.as_ref().and_then(|s| s.secret.as_deref()), Some("alice"), "status.secret");

    // alice's Secret: the keys of a TLS user; openssl and keytool read what is in it.
    let dir = world.dir().join("tls-users-e2e");
    std::fs::create_dir_all(&dir).expect("dir");
    let s = secrets.get("alice").await.expect("alice's Secret");
    let mut keys: Vec<String> = s.data.as_ref().map(|d| d.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    assert_eq!(keys, ["ca.crt", "client.properties", "user.crt", "user.key", "user.p12", "user.password"]);
    assert_eq!(secret_text(&s, "ca.crt"), cluster_ca, "ca.crt is the cluster CA, to trust the brokers");
    assert!(secret_text(&s, "user.key").starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let clients_ca_file = write(&dir.join("clients-ca.crt"), &clients_ca);
    let user_crt = write(&dir.join("user.crt"), &secret_text(&s, "user.crt"));
    let verified = openssl(&["verify", "-CAfile", &clients_ca_file, &user_crt]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("OK"));
    let subject = String::from_utf8_lossy(&openssl(&["x509", "-noout", "-subject", "-in", &user_crt]).stdout).into_owned();
    assert!(subject.contains("CN = alice") || subject.contains("CN=alice"), "{subject}");
    let p12 = dir.join("user.p12");
    std::fs::write(&p12, &s.data.as_ref().and_then(|d| d.get("user.p12")).expect("user.p12").0).expect("write p12");
    let p12 = p12.to_string_lossy().into_owned();
    let password_file = write(&dir.join("user.password"), &secret_text(&s, "user.password"));
    openssl(&["pkcs12", "-in", &p12, "-passin", &format!("file:{password_file}"), "-noout"]);
    let keytool = std::process::Command::new("keytool")
        .args(["-list", "-storetype", "PKCS12", "-keystore", &p12, "-storepass:file", &password_file])
        .output()
        .expect("keytool");
    let listed = String::from_utf8_lossy(&keytool.stdout).into_owned();
    assert!(keytool.status.success() && listed.contains("PrivateKeyEntry"), "keytool reads user.p12:\n{listed}");
    println!(
        "PASS alice's Secret: {keys:?}; openssl verifies user.crt ({}) against the clients CA; openssl pkcs12 and keytool read user.p12 with user.password",
        subject.trim()
    );

    // alice's client.properties, verbatim, with Kafka's console producer and consumer over mTLS.
    // (--bootstrap-server names a broker pod: the test world resolves pod names, not Services.)
    let tool = KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    let alice_props = write(&dir.join("alice.client.properties"), &secret_text(&s, "client.properties"));
    produce_and_consume(&tool, &broker_bootstrap(MTLS_PORT), "allowed", &alice_props, &["one", "two", "three"]).await;
    println!("PASS alice's client.properties used verbatim: produced (acks=all, idempotent) and consumed 3 records over mutual TLS");

    // Her ACLs do not cover the topic "denied". (Kafka's VerifiableProducer prints each send's
    // outcome as JSON on stdout; the console producer's error log goes to a no-op logger here.
    // It sends with retries=0, so idempotence is turned off after her file's settings.)
    // Its file also overrides --bootstrap-server, so the broker pod's address follows.
    let verifiable = write(
        &dir.join("alice.verifiable.properties"),
        &format!("{}\nenable.idempotence=false\nbootstrap.servers={}\n", secret_text(&s, "client.properties"), broker_bootstrap(MTLS_PORT)),
    );
    let out = tool
        .run(
            "org.apache.kafka.tools.VerifiableProducer",
            &[
                "--bootstrap-server",
                &broker_bootstrap(MTLS_PORT),
                "--topic",
                "denied",
                "--max-messages",
                "1",
                "--command-config",
                &verifiable,
            ],
            None,
            Duration::from_secs(120),
        )
        .await
        .expect("verifiable producer");
    let said = format!("{}\n{}", out.stdout, out.stderr);
    assert!(said.contains("producer_send_error") && said.contains("TopicAuthorizationException"), "refused on denied:\n{said}");
    assert!(!said.contains("producer_send_success"), "nothing written to denied:\n{said}");
    println!(
        "PASS alice is refused on topic denied: {}",
        said.lines().find(|l| l.contains("producer_send_error")).unwrap_or_default().trim()
    );

    // A client certificate from another CA (made here with openssl), CN=alice too, is refused.
    let other_key = dir.join("other-ca.key").to_string_lossy().into_owned();
    let other_crt = dir.join("other-ca.crt").to_string_lossy().into_owned();
    let forged_key = dir.join("forged.key").to_string_lossy().into_owned();
    let forged_csr = dir.join("forged.csr").to_string_lossy().into_owned();
    let forged_crt = dir.join("forged.crt").to_string_lossy().into_owned();
    openssl_p256_req("/CN=another CA", &["-x509", "-days", "2", "-keyout", &other_key, "-out", &other_crt]);
    openssl_p256_req("/O=gregor/CN=alice", &["-new", "-keyout", &forged_key, "-out", &forged_csr]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &forged_csr,
        "-CA",
        &other_crt,
        "-CAkey",
        &other_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        &forged_crt,
    ]);
    let forged_pem = write(
        &dir.join("forged.pem"),
        &format!("{}{}", std::fs::read_to_string(&forged_key).expect("key"), std::fs::read_to_string(&forged_crt).expect("crt")),
    );
    let cluster_ca_file = write(&dir.join("cluster-ca.crt"), &cluster_ca);
    let forged_props = write(
        &dir.join("forged.properties"),
        &format!(
            "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={cluster_ca_file}\nssl.keystore.type=PEM\nssl.keystore.location={forged_pem}\ndefault.api.timeout.ms=30000\nrequest.timeout.ms=15000\n"
        ),
    );
    let said = refused_listing(&tool, &broker_bootstrap(MTLS_PORT), &forged_props).await;
    assert!(
        said.contains("SSL handshake failed")
            || said.contains("SslAuthenticationException")
            // TLS 1.3: the server's alert about the client certificate arrives after the client's handshake.
            || said.contains("Failed to process post-handshake messages"),
        "refused in the handshake:\n{said}"
    );
    println!("PASS a client certificate CN=alice from another CA is refused in the TLS handshake");

    // bob's client.properties, verbatim, over SASL_SSL.
    let bob = secrets.get("bob").await.expect("bob's Secret");
    let bob_text = secret_text(&bob, "client.properties");
    assert!(bob_text.contains("security.protocol=SASL_SSL") && bob_text.contains("sasl.mechanism=SCRAM-SHA-512"), "{bob_text}");
    let bob_props = write(&dir.join("bob.client.properties"), &bob_text);
    produce(&tool, &broker_bootstrap(SCRAM_PORT), "allowed", &bob_props, &["four", "five"]).await;
    consume(&tool, &broker_bootstrap(SCRAM_PORT), "allowed", &bob_props, &["one", "two", "three", "four", "five"]).await;
    println!("PASS bob's (SCRAM) client.properties used verbatim over SASL_SSL: 2 records produced, all 5 read back");
}
