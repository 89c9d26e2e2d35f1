#!/usr/bin/env bash
# `make playground` / `make playground-down`: Gregor on the local test world, with real brokers.
#
#   up:   (after `make image` and `make world`, which registers the image with the world)
#         installs the CRDs and the Helm chart into the world: the chart's Deployment runs the
#         operator's image in the world (two replicas, leader election, the chart's RBAC and
#         probes), as on a real cluster. It applies the playground's cluster, topic and user
#         (deploy/playground/), waits until they are Ready and prints how to use kubectl and how
#         to produce and consume.
#   down: nothing of its own to stop (the operator runs in the world); `make world-down` stops it.
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
kafka_version=4.4.0

log() { printf '[playground] %s\n' "$*" >&2; }

down() {
  # An operator process left by an older playground (it ran the operator out of cluster).
  if [[ -f $play/operator.pid ]]; then
    kill "$(cat "$play/operator.pid")" 2>/dev/null || true
    rm -f "$play/operator.pid"
  fi
}

up() {
  local t0=$SECONDS
  local admin=$world_dir/kubeconfig
  [[ -f $admin ]] || { log "no world in $world_dir: run 'make playground' (it starts one)"; exit 1; }
  bash hack/build-tools.sh helm >/dev/null
  bash hack/build-tools.sh kubectl >/dev/null
  local helm=$cache/helm-$HELM_VERSION/helm kubectl=$cache/kubectl-$K8S_VERSION/kubectl
  [[ -f target/image/oci/index.json ]] || { log "no operator image: run 'make playground' (it runs 'make image')"; exit 1; }
  mkdir -p "$play/bin"
  ln -sf "$helm" "$play/bin/helm"
  ln -sf "$kubectl" "$play/bin/kubectl"
  export KUBECONFIG=$admin
  export HELM_CACHE_HOME=$play/helm/cache HELM_CONFIG_HOME=$play/helm/config HELM_DATA_HOME=$play/helm/data

  log "installing the CRDs and the chart (release gregor in $release_ns)"
  "$kubectl" apply --server-side -f crds/ >/dev/null
  "$helm" upgrade --install gregor charts/gregor --namespace "$release_ns" --create-namespace >/dev/null

  down
  log "waiting for the operator's Deployment (2 replicas of the image, Ready through their probes)"
  "$kubectl" -n "$release_ns" rollout status deploy/gregor --timeout=300s >/dev/null

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
  local leader leader_ip
  leader=$("$kubectl" -n "$release_ns" get lease gregor-leader -o jsonpath='{.spec.holderIdentity}')
  leader_ip=$("$kubectl" -n "$release_ns" get pod "$leader" -o jsonpath='{.status.podIP}')

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
  helm status gregor -n $release_ns             # the chart; its Deployment runs the operator
  kubectl logs -n $release_ns deploy/gregor     # the operator's log (the leader is $leader)
  curl -s $leader_ip:8080/metrics            # the leader's metrics (pod addresses are loopback here)

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
