//! Installing Gregor the way users do, against the test world's real API server:
//! - the chart lints, and what it renders (and deploy/gregor.yaml) passes a server-side dry run;
//! - `helm install`, then the operator runs with exactly the chart's RBAC (a token of the chart's
//!   ServiceAccount and the chart's Deployment arguments) and the playground's cluster, topic and
//!   user reach Ready with real brokers; a KafkaUser produces and consumes over SCRAM;
//! - in `watchNamespaces` mode, clusters in other namespaces are ignored without errors, and the
//!   chart's finalizer policy adds the finalizer at creation in the watched namespace only;
//! - leader election: two operators, SIGKILL the leader, the other takes over within the lease,
//!   and only the leader ever writes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::chart_rbac::{apply_object, documents};
use crate::support::*;
use gregor::api::{KafkaCluster, KafkaTopic, KafkaUser};
use gregor_world::World;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::discovery::Discovery;

pub(crate) const RELEASE_NS: &str = "gregor-system";
pub(crate) const RELEASE: &str = "gregor";
/// The chart's ServiceAccount for release "gregor" (its full name).
const CHART_SA: &str = "gregor";

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary `hack/build-tools.sh helm` built, at the version pinned in versions.env.
fn helm_bin() -> PathBuf {
    let env = std::fs::read_to_string(repo().join("hack/versions.env")).expect("versions.env");
    let version =
        env.lines().find_map(|l| l.strip_prefix("HELM_VERSION=")).expect("HELM_VERSION in versions.env").trim_matches('"').to_owned();
    let cache = std::env::var_os("GREGOR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/gregor"));
    let helm = cache.join(format!("helm-{version}/helm"));
    assert!(helm.exists(), "{} missing: run `bash hack/build-tools.sh helm`", helm.display());
    helm
}

/// Runs helm; panics with its output on failure.
pub(crate) fn helm(args: &[&str], kubeconfig: Option<&Path>) -> String {
    let mut cmd = std::process::Command::new(helm_bin());
    cmd.args(args).current_dir(repo());
    // A private helm home, so tests never touch the user's repositories or cache.
    let home = std::env::temp_dir().join("gregor-e2e-helm");
    cmd.env("HELM_CACHE_HOME", home.join("cache")).env("HELM_CONFIG_HOME", home.join("config")).env("HELM_DATA_HOME", home.join("data"));
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn metric(port: u16, name: &str) -> Option<u64> {
    metrics(port).await?.get(name).copied()
}

/// The arguments of the chart's operator container, from a rendered chart: what the Deployment
/// would run, with the metrics server moved to a free loopback port.
fn chart_args(rendered: &str, metrics_port: u16) -> Vec<String> {
    let deploy = documents(rendered).into_iter().find(|d| d["kind"] == "Deployment").expect("a Deployment");
    let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].as_array().expect("args").clone();
    let args: Vec<String> = args.iter().map(|a| a.as_str().expect("string arg").to_owned()).collect();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    args[1..]
        .iter()
        .map(|a| if a.starts_with("--metrics-addr=") { format!("--metrics-addr=127.0.0.1:{metrics_port}") } else { a.clone() })
        .collect()
}

/// `helm install` of the chart into the world, with extra `--set` values; returns the render
/// of the same values.
pub(crate) fn helm_install(world: &World, release_ns: &str, sets: &[&str]) -> String {
    let mut args = vec!["install", RELEASE, "charts/gregor", "--namespace", release_ns, "--create-namespace"];
    for s in sets {
        args.extend(["--set", s]);
    }
    helm(&args, Some(world.kubeconfig_path()));
    let mut template = vec!["template", RELEASE, "charts/gregor", "--namespace", release_ns];
    for s in sets {
        template.extend(["--set", s]);
    }
    helm(&template, None)
}

pub(crate) fn read_yaml(path: &str, ns: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).expect("example file");
    let mut v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    v["metadata"]["namespace"] = ns.into();
    v
}

/// Lines of the operator's log that show a refusal by RBAC, or mention `word`.
fn log_lines(op: &Operator, word: &str) -> Vec<String> {
    let text = std::fs::read_to_string(&op.log).unwrap_or_default();
    text.lines().filter(|l| l.to_lowercase().contains("forbidden") || l.contains(word)).map(str::to_owned).collect()
}

/// `helm lint` passes (default values and watchNamespaces mode), and every object the chart
/// renders, in both modes, and every object of deploy/gregor.yaml, passes a server-side dry-run
/// apply against the world's API server (the CRDs installed from the chart's crds/).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_lints_and_renders_objects_the_api_server_accepts() {
    let Some(_serial) = crate::support::world_test("e2e::install::chart_lints_and_renders_objects_the_api_server_accepts").await else {
        return;
    };
    let lint = std::process::Command::new("bash").arg(repo().join("hack/lint-chart.sh")).output().expect("lint-chart.sh");
    assert!(
        lint.status.success(),
        "helm lint failed:\n{}\n{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let world = World::start().await.expect("world");
    let client = world.client();
    // The chart's CRDs (kept identical to crds/ by hack/check-generated.sh).
    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
    for entry in std::fs::read_dir(repo().join("charts/gregor/crds")).expect("chart crds") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("crd");
        for doc in documents(&text) {
            apply_object(&client, &discovery, &doc, false).await.expect("install CRD");
        }
    }
    install_crds(&client).await; // waits until Established
    for ns in [RELEASE_NS, "team-a"] {
        create_namespace(&client, ns).await;
    }
    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");

    let default = helm(&["template", RELEASE, "charts/gregor", "--namespace", RELEASE_NS], None);
    let namespaced = helm(&["template", RELEASE, "charts/gregor", "--namespace", RELEASE_NS, "--set", "watchNamespaces={team-a}"], None);
    let manifests = std::fs::read_to_string(repo().join("deploy/gregor.yaml")).expect("deploy/gregor.yaml");
    let mut checked = 0;
    for (what, yaml) in [("default values", &default), ("watchNamespaces", &namespaced), ("deploy/gregor.yaml", &manifests)] {
        let docs = documents(yaml);
        assert!(docs.iter().any(|d| d["kind"] == "Deployment"), "{what}: no Deployment");
        for doc in docs {
            if let Err(e) = apply_object(&client, &discovery, &doc, true).await {
                panic!("{what}: {} {} rejected by a server-side dry run: {e}", doc["kind"], doc["metadata"]["name"]);
            }
            checked += 1;
        }
    }
    // watchNamespaces mode binds a Role in the watched namespace, and no cluster-wide rules on
    // Gregor's resources.
    let docs = documents(&namespaced);
    assert!(docs.iter().any(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == "team-a"));
    assert!(!docs.iter().any(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == RELEASE));
    eprintln!("{checked} rendered objects passed a server-side dry run");
}

/// `helm install`, then the operator with exactly the chart's RBAC and arguments; the
/// playground's cluster, topic and user reach Ready with real brokers, and the user produces and
/// consumes over SCRAM with the password from its Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_then_operator_with_chart_rbac_reconciles_the_playground() {
    let Some(_serial) =
        crate::support::world_test("e2e::install::helm_install_then_operator_with_chart_rbac_reconciles_the_playground").await
    else {
        return;
    };
    const NS: &str = "kafka";
    let world = World::start().await.expect("world");
    let client = world.client();
    let rendered = helm_install(&world, RELEASE_NS, &[]);
    install_crds(&client).await; // helm installed them; this waits until Established
    create_namespace(&client, NS).await;
    let kubeconfig = world.mint_kubeconfig(RELEASE_NS, CHART_SA).await.expect("SA kubeconfig");
    let port = free_port();
    let mut args = chart_args(&rendered, port);
    args.push("--identity=e2e-install".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let op = Operator::start(&world, &kubeconfig, "chart-rbac", &args);

    let start = Instant::now();
    apply_cluster(&client, NS, read_yaml("deploy/playground/cluster.yaml", NS)).await;
    apply_json::<KafkaTopic>(&client, NS, read_yaml("deploy/playground/topic.yaml", NS)).await.expect("apply topic");
    apply_json::<KafkaUser>(&client, NS, read_yaml("deploy/playground/user.yaml", NS)).await.expect("apply user");
    let kc = wait_cluster_ready(&client, NS, "events", Duration::from_secs(300), &op).await;
    let cluster_ready = start.elapsed();
    wait_topic(&client, NS, "orders", true, None, Duration::from_secs(120), &op).await;
    wait_user(&client, NS, "app", true, None, Duration::from_secs(120), &op).await;
    eprintln!("cluster Ready after {cluster_ready:?}, topic and user Ready after {:?}", start.elapsed());
    assert_eq!(metric(port, "gregor_leader").await, Some(1), "the operator leads");
    assert!(metric(port, "gregor_writes_total").await.unwrap_or(0) > 0);

    // The user produces and consumes over its SCRAM listener, as the playground tells people to.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let secret = secrets.get("app").await.expect("the user's Secret");
    let jaas = secret
        .data
        .as_ref()
        .and_then(|d| d.get("sasl.jaas.config"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .expect("sasl.jaas.config");
    let props = world.dir().join("app-client.properties");
    std::fs::write(&props, format!("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={jaas}\n"))
        .expect("client properties");
    let pool = kc.status.as_ref().and_then(|s| s.node_pools.first()).expect("pool status");
    let bootstrap: Vec<String> = pool.node_ids.iter().map(|id| format!("events-kafka-{id}.events-kafka-brokers.{NS}.svc:9094")).collect();
    let bootstrap = bootstrap.join(",");
    let props = props.to_string_lossy().into_owned();
    let tool = gregor_world::KafkaTool::new(&world, "4.4.0").expect("kafka tool");
    use gregor_world::kafka::classes::{CONSOLE_CONSUMER, CONSOLE_PRODUCER};
    tool.run_ok(
        CONSOLE_PRODUCER,
        &["--bootstrap-server", &bootstrap, "--topic", "orders", "--command-config", &props],
        Some(b"one\ntwo\nthree\n"),
        Duration::from_secs(60),
    )
    .await
    .expect("produce as the KafkaUser");
    let out = tool
        .run_ok(
            CONSOLE_CONSUMER,
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                "orders",
                "--group",
                "app-e2e",
                "--from-beginning",
                "--max-messages",
                "3",
                "--command-config",
                &props,
            ],
            None,
            Duration::from_secs(90),
        )
        .await
        .expect("consume as the KafkaUser");
    let mut got: Vec<&str> = out.stdout.lines().collect();
    got.sort_unstable();
    assert_eq!(got, ["one", "three", "two"]);

    let refused = log_lines(&op, "is forbidden");
    assert!(refused.is_empty(), "RBAC refused something:\n{}", refused.join("\n"));
}

fn single_node(name: &str, ns: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kafka.gregor.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": "4.4.0",
            "nodePools": [{"name": "combined", "roles": ["controller", "broker"], "replicas": 1,
                           "storage": {"type": "persistentClaim", "size": "1Gi"}, "jvmOptions": {"heap": "256Mi"}}],
            "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
        }
    })
}

/// With `watchNamespaces: [team-a]` the chart grants a Role in team-a only and the Deployment
/// passes `--namespace team-a`: a cluster in team-a reaches Ready, one in team-b is never touched,
/// and the operator's log has no refusal by RBAC and no mention of team-b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_namespaces_mode_ignores_other_namespaces_without_errors() {
    let Some(_serial) = crate::support::world_test("e2e::install::watch_namespaces_mode_ignores_other_namespaces_without_errors").await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let client = world.client();
    for ns in ["team-a", "team-b"] {
        create_namespace(&client, ns).await;
    }
    let rendered = helm_install(&world, "gregor-team-a", &["watchNamespaces={team-a}"]);
    install_crds(&client).await;
    let kubeconfig = world.mint_kubeconfig("gregor-team-a", CHART_SA).await.expect("SA kubeconfig");
    let port = free_port();
    let mut args = chart_args(&rendered, port);
    assert!(args.contains(&"--namespace=team-a".to_owned()), "{args:?}");
    args.push("--identity=e2e-team-a".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let op = Operator::start(&world, &kubeconfig, "team-a", &args);

    apply_cluster(&client, "team-b", single_node("other", "team-b")).await;
    apply_cluster(&client, "team-a", single_node("mine", "team-a")).await;
    wait_cluster_ready(&client, "team-a", "mine", Duration::from_secs(240), &op).await;
    // The chart's finalizer policy is bound to team-a only: a KafkaTopic created there carries
    // Gregor's finalizer in the API server's answer to the create itself (so before the operator
    // could have added it); one created in team-b carries none, since nobody there would remove it.
    for (ns, cluster, expected) in [("team-a", "mine", true), ("team-b", "other", false)] {
        let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
        let topic: KafkaTopic = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic",
            "metadata": {"name": "policy-check", "namespace": ns},
            "spec": {"cluster": cluster, "partitions": 1}
        }))
        .expect("topic");
        let created = topics.create(&PostParams::default(), &topic).await.expect("create topic");
        let finalizers = created.metadata.finalizers.clone().unwrap_or_default();
        assert_eq!(finalizers.iter().any(|f| f == "kafka.gregor.dev/finalizer"), expected, "{ns}: finalizers at creation {finalizers:?}");
    }
    wait_topic(&client, "team-a", "policy-check", true, None, Duration::from_secs(60), &op).await;
    // A few more seconds for anything the operator might still do with team-b.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let other: Api<KafkaCluster> = Api::namespaced(client.clone(), "team-b");
    let other = other.get("other").await.expect("team-b cluster");
    assert!(other.status.is_none(), "team-b's cluster was touched: {:?}", other.status);
    assert!(cluster_pods(&client, "team-b", "other").await.is_empty());
    let problems = log_lines(&op, "team-b");
    assert!(problems.is_empty(), "refusals or team-b in the operator log:\n{}", problems.join("\n"));
}

/// Two operators with the chart's RBAC and leader election: one leads and writes, the other's
/// write counter stays 0. SIGKILL the leader: the other takes over within the lease duration
/// (15 s, plus its 2 s polling) and reconciles a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_fails_over_and_only_the_leader_writes() {
    let Some(_serial) = crate::support::world_test("e2e::install::leader_election_fails_over_and_only_the_leader_writes").await else {
        return;
    };
    const NS: &str = "e2e-leader";
    let world = World::start().await.expect("world");
    let client = world.client();
    let rendered = helm_install(&world, RELEASE_NS, &[]);
    install_crds(&client).await;
    create_namespace(&client, NS).await;
    let kubeconfig = world.mint_kubeconfig(RELEASE_NS, CHART_SA).await.expect("SA kubeconfig");
    let (port_a, port_b) = (free_port(), free_port());
    let start_op = |name: &str, port: u16| {
        let mut args = chart_args(&rendered, port);
        args.push(format!("--identity={name}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Operator::start(&world, &kubeconfig, name, &args)
    };
    let mut a = start_op("op-a", port_a);
    // b starts once a leads, so a is the first leader.
    wait_for("op-a leads", Duration::from_secs(30), || async { (metric(port_a, "gregor_leader").await == Some(1)).then_some(()) }).await;
    let b = start_op("op-b", port_b);
    wait_for("op-b serves metrics", Duration::from_secs(30), || async { metric(port_b, "gregor_leader").await }).await;

    apply_cluster(&client, NS, single_node("ha", NS)).await;
    wait_cluster_ready(&client, NS, "ha", Duration::from_secs(240), &a).await;
    assert!(metric(port_a, "gregor_writes_total").await.unwrap_or(0) > 0, "the leader wrote");
    assert_eq!(metric(port_b, "gregor_leader").await, Some(0), "op-b follows");
    assert_eq!(metric(port_b, "gregor_writes_total").await, Some(0), "the follower never writes");
    assert_eq!(metric(port_b, "gregor_reconciles_total").await, Some(0), "the follower never reconciles");

    a.kill().await;
    let killed = Instant::now();
    wait_for("op-b takes over", Duration::from_secs(30), || async { (metric(port_b, "gregor_leader").await == Some(1)).then_some(()) })
        .await;
    let takeover = killed.elapsed();
    eprintln!("op-b took over {takeover:?} after op-a was SIGKILLed");
    assert!(takeover <= Duration::from_secs(17), "takeover took {takeover:?}, lease is 15 s");

    // The new leader reconciles a change: a new config value reaches the cluster's status.
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), NS);
    let before = api.get("ha").await.expect("cluster").metadata.generation;
    let mut changed = single_node("ha", NS);
    changed["spec"]["config"] = serde_json::json!({"log.retention.ms": 3_600_000});
    apply_cluster(&client, NS, changed).await;
    let kc = wait_cluster_ready(&client, NS, "ha", Duration::from_secs(240), &b).await;
    assert_ne!(kc.metadata.generation, before);
    assert!(metric(port_b, "gregor_reconciles_total").await.unwrap_or(0) > 0, "op-b reconciles after the takeover");
    drop(b);
}

/// The README's shell blocks marked `readme-test=<stage>`, in order: (stage, script).
fn readme_blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match current.as_mut() {
            None => {
                if let Some(stage) = line.trim().strip_prefix("```sh readme-test=") {
                    current = Some((stage.trim().to_owned(), String::new()));
                }
            }
            Some(_) if line.trim() == "```" => blocks.push(current.take().expect("block")),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    blocks
}

/// Runs one README block with bash (`set -euo pipefail`) in the repository, with the pinned
/// kubectl and helm first on PATH, against the world's admin kubeconfig.
fn run_readme_block(world: &World, stage: &str, script: &str) {
    let cache = helm_bin().parent().and_then(Path::parent).expect("cache dir").to_path_buf();
    let k8s = std::fs::read_to_string(repo().join("hack/versions.env"))
        .expect("versions.env")
        .lines()
        .find_map(|l| l.strip_prefix("K8S_VERSION=").map(str::to_owned))
        .expect("K8S_VERSION");
    let kubectl_dir = cache.join(format!("kubectl-{k8s}"));
    assert!(kubectl_dir.join("kubectl").exists(), "kubectl missing: run `bash hack/build-tools.sh kubectl`");
    let path = format!(
        "{}:{}:{}",
        kubectl_dir.display(),
        helm_bin().parent().expect("helm dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = std::env::temp_dir().join("gregor-e2e-helm");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(repo())
        .env("PATH", path)
        .env("KUBECONFIG", world.kubeconfig_path())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "README block ({stage}) failed:\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's tested blocks run verbatim: each `install` block in a fresh world (they are
/// alternatives), then, in the world of the last one, the operator with the installed
/// ServiceAccount's token and the `use` blocks (a single-node cluster reaches Ready).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_commands_work_verbatim() {
    let Some(_serial) = crate::support::world_test("e2e::install::readme_commands_work_verbatim").await else { return };
    let blocks = readme_blocks();
    let installs: Vec<&(String, String)> = blocks.iter().filter(|(s, _)| s == "install").collect();
    let uses: Vec<&(String, String)> = blocks.iter().filter(|(s, _)| s == "use").collect();
    assert!(installs.len() >= 2 && !uses.is_empty(), "README lost its tested blocks: {blocks:?}");
    assert_eq!(installs.len() + uses.len(), blocks.len(), "unknown readme-test stage in {blocks:?}");
    let mut last = None;
    for (stage, script) in installs {
        let world = World::start().await.expect("world");
        run_readme_block(&world, stage, script);
        last = Some(world);
    }
    let world = last.expect("a world");
    let kubeconfig = world.mint_kubeconfig(RELEASE_NS, CHART_SA).await.expect("SA kubeconfig");
    let port = free_port();
    let manifests = std::fs::read_to_string(repo().join("deploy/gregor.yaml")).expect("deploy/gregor.yaml");
    let mut args = chart_args(&manifests, port);
    args.push("--identity=e2e-readme".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _op = Operator::start(&world, &kubeconfig, "readme", &args);
    for (stage, script) in uses {
        run_readme_block(&world, stage, script);
    }
}
