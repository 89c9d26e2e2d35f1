#!/usr/bin/env bash
# `make playground` / `make playground-down`: Gregor on the local test world, with real brokers.
#
#   up:   (after `make world`) installs the CRDs and the Helm chart into the world, runs the
#         operator out of cluster with a token of the chart's ServiceAccount (so the chart's RBAC
#         is what it can do) and the arguments of the chart's Deployment, applies the playground's
#         cluster, topic and user (deploy/playground/), waits until they are Ready and prints how
#         to use kubectl and how to produce and consume.
#   down: stops the operator (then `make world-down` stops the world).
#
# The chart's Deployment is installed too, but the world runs only apache/kafka images for real:
# its two pods show Running and run nothing. The operator that does the work is the process
# started here, with the same ServiceAccount, arguments and leader-election Lease.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=versions.env
source hack/versions.env
cache=${GREGOR_CACHE:-$HOME/.cache/gregor}
world_dir=${WORLD_DIR:-$cache/worlds/make-world}
play=${PLAYGROUND_DIR:-$cache/playground}
ns=${PLAYGROUND_NAMESPACE:-kafka}
release_ns=gregor-system
metrics_port=${PLAYGROUND_METRICS_PORT:-18080}
kafka_version=4.4.0

log() { printf '[playground] %s\n' "$*" >&2; }

operator_running() {
  [[ -f $play/operator.pid ]] && kill -0 "$(cat "$play/operator.pid")" 2>/dev/null
}

down() {
  if operator_running; then
    local pid; pid=$(cat "$play/operator.pid")
    log "stopping the operator (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$play/operator.pid"
}

up() {
  local t0=$SECONDS
  local admin=$world_dir/kubeconfig
  [[ -f $admin ]] || { log "no world in $world_dir: run 'make playground' (it starts one)"; exit 1; }
  bash hack/build-tools.sh helm >/dev/null
  bash hack/build-tools.sh kubectl >/dev/null
  local helm=$cache/helm-$HELM_VERSION/helm kubectl=$cache/kubectl-$K8S_VERSION/kubectl
  log "building the operator"
  cargo build -q --bin gregor
  mkdir -p "$play/bin"
  ln -sf "$helm" "$play/bin/helm"
  ln -sf "$kubectl" "$play/bin/kubectl"
  export KUBECONFIG=$admin
  export HELM_CACHE_HOME=$play/helm/cache HELM_CONFIG_HOME=$play/helm/config HELM_DATA_HOME=$play/helm/data

  log "installing the CRDs and the chart (release gregor in $release_ns)"
  "$kubectl" apply --server-side -f crds/ >/dev/null
  "$helm" upgrade --install gregor charts/gregor --namespace "$release_ns" --create-namespace >/dev/null

  log "minting a token for ServiceAccount $release_ns/gregor"
  local token server
  token=$("$kubectl" -n "$release_ns" create token gregor --duration=24h)
  server=$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  local sa=$play/gregor-sa.kubeconfig
  rm -f "$sa"
  "$kubectl" --kubeconfig "$sa" config set-cluster world --server "$server" --certificate-authority "$world_dir/pki/ca.crt" --embed-certs >/dev/null
  "$kubectl" --kubeconfig "$sa" config set-credentials gregor --token "$token" >/dev/null
  "$kubectl" --kubeconfig "$sa" config set-context gregor --cluster world --user gregor --namespace "$release_ns" >/dev/null
  "$kubectl" --kubeconfig "$sa" config use-context gregor >/dev/null
  chmod 600 "$sa"

  # The chart's Deployment arguments, with the metrics server on loopback and human logs.
  local -a args=()
  while IFS= read -r a; do
    case $a in
      run|--log-json) ;;
      --metrics-addr=*) args+=("--metrics-addr=127.0.0.1:$metrics_port") ;;
      *) args+=("$a") ;;
    esac
  done < <("$kubectl" -n "$release_ns" get deploy gregor -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')

  down
  log "starting the operator: gregor run ${args[*]} (log: $play/operator.log)"
  KUBECONFIG=$sa RUST_LOG=${RUST_LOG:-info,kube=warn} NO_COLOR=1 \
    setsid "${CARGO_TARGET_DIR:-$repo/target}/debug/gregor" run "${args[@]}" --identity "playground-$(hostname)" \
      --kafka-hosts-file "$world_dir/hosts" --kafka-loopback-only \
      </dev/null >>"$play/operator.log" 2>&1 &
  echo $! > "$play/operator.pid"

  log "applying deploy/playground/ (cluster events, topic orders, user app) in namespace $ns"
  "$kubectl" create namespace "$ns" --dry-run=client -o yaml | "$kubectl" apply --server-side -f - >/dev/null
  # Right after the CRDs (and the chart's finalizer policy, which type-checks KafkaTopics and
  # KafkaUsers) are created, the API server may still answer 503 for a few seconds: retry.
  local tries=0 out
  until out=$("$kubectl" -n "$ns" apply --server-side -f deploy/playground/ 2>&1 >/dev/null); do
    tries=$((tries + 1))
    if [[ $tries -ge 30 || $out != *"can be a delay"* ]]; then
      echo "$out" >&2
      exit 1
    fi
    sleep 2
  done
  log "waiting for Ready (a 3-node cluster takes about a minute)"
  "$kubectl" -n "$ns" wait kafkacluster/events --for=condition=Ready --timeout=600s >/dev/null
  local cluster_ready=$((SECONDS - t0))
  "$kubectl" -n "$ns" wait kafkatopic/orders kafkauser/app --for=condition=Ready --timeout=300s >/dev/null
  operator_running || { log "the operator exited: see $play/operator.log"; exit 1; }

  # A client configuration for the user, and console tools with the world's host names.
  local jaas
  jaas=$("$kubectl" -n "$ns" get secret app -o jsonpath='{.data.sasl\.jaas\.config}' | base64 -d)
  printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=%s\n' "$jaas" > "$play/app.properties"
  chmod 600 "$play/app.properties"
  local ids bootstrap=""
  ids=$("$kubectl" -n "$ns" get kafkacluster events -o jsonpath='{.status.nodePools[0].nodeIds[*]}')
  for id in $ids; do bootstrap+="${bootstrap:+,}events-kafka-$id.events-kafka-brokers.$ns.svc:9094"; done
  for tool in producer consumer; do
    local class=org.apache.kafka.tools.ConsoleProducer
    [[ $tool == consumer ]] && class=org.apache.kafka.tools.consumer.ConsoleConsumer
    cat > "$play/bin/kafka-console-$tool" <<EOF
#!/usr/bin/env bash
# Kafka's console $tool from the cached $kafka_version jars, resolving the world's pod names.
exec java -Xmx256m -Djdk.net.hosts.file=$world_dir/hosts \\
  -Dlog4j2.configurationFile=$cache/kafka-$kafka_version/config/tools-log4j2.yaml \\
  -cp '$cache/kafka-$kafka_version/libs/*' $class "\$@"
EOF
    chmod +x "$play/bin/kafka-console-$tool"
  done
  echo "$bootstrap" > "$play/bootstrap"

  cat <<EOF

Gregor playground is up: cluster Ready in ${cluster_ready}s, topic and user Ready in $((SECONDS - t0))s.

  export KUBECONFIG=$admin PATH=$play/bin:\$PATH

  kubectl get gregor -n $ns                     # KafkaCluster, KafkaTopic, KafkaUser
  kubectl get pods,sts,pvc -n $ns
  kubectl describe kafkacluster events -n $ns
  kubectl get events -n $ns --sort-by=.lastTimestamp
  helm status gregor -n $release_ns             # the chart (its pods are placeholders, see README)
  curl -s localhost:$metrics_port/metrics       # the operator's metrics
  tail -f $play/operator.log                    # the operator's log

Produce and consume as KafkaUser "app" (SCRAM-SHA-512, password from Secret $ns/app):

  echo hello | kafka-console-producer --bootstrap-server $bootstrap --topic orders --command-config $play/app.properties
  kafka-console-consumer --bootstrap-server $bootstrap --topic orders --group app-demo --from-beginning --max-messages 1 --command-config $play/app.properties

Try: change a setting (kubectl -n $ns patch kafkacluster events --type merge -p '{"spec":{"config":{"log.retention.ms":3600000}}}'),
delete a pod and watch it come back, or pause it with the annotation kafka.gregor.dev/pause-reconciliation=true.

Stop everything: make playground-down
EOF
}

case "${1:-}" in
  up) mkdir -p "$play"; up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
