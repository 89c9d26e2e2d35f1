#!/usr/bin/env bash
# Builds (once) the real parts of the test world and caches them outside the repo, keyed by version:
#   $GREGOR_CACHE/k8s-<v>/{kube-apiserver,kube-controller-manager,kube-scheduler}
#   $GREGOR_CACHE/etcd-<v>/etcd
#   $GREGOR_CACHE/kafka-<v>/libs/*.jar  (kafka_2.13 and its runtime deps, plus a log4j2 backend)
#   $GREGOR_CACHE/jmx-exporter-<v>/jmx_prometheus_javaagent.jar (what the gregor-metrics-agent image holds)
#   $GREGOR_CACHE/helm-<v>/helm           (helm.sh/helm/v3, for the chart tests and the playground)
#   $GREGOR_CACHE/kubectl-<v>/kubectl     (k8s.io/kubectl at the Kubernetes version, for the playground and README)
#   $GREGOR_CACHE/crane-<v>/crane         (go-containerregistry's crane, which assembles `make image` without a daemon)
#   $GREGOR_CACHE/cargo-deny-<v>/bin/cargo-deny (licences, bans and sources of the dependency graph, in make test)
#   $GREGOR_CACHE/health-<hash>/gregor-health (hack/health: kstatus and an Argo CD Lua VM, for the GitOps health tests)
# A second run finds every stamp file and rebuilds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${GREGOR_CACHE:-$HOME/.cache/gregor}
mkdir -p "$cache"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[build-tools] %s\n' "$*" >&2; }

build_k8s() {
  local v=$K8S_VERSION out="$cache/k8s-$K8S_VERSION"
  [[ -f $out/.done ]] && { log "kubernetes $v cached"; return; }
  log "building kubernetes $v (kube-apiserver, kube-controller-manager, kube-scheduler)"
  local work="$cache/src/k8s-$v"; rm -rf "$work"; mkdir -p "$work" "$out"
  local minor="v0.${v#1.}"
  curl -fsSL "https://proxy.golang.org/k8s.io/kubernetes/@v/v$v.mod" -o "$work/upstream.mod"
  {
    echo "module gregor.dev/k8s-tools"
    echo "go 1.26.0"
    echo "require k8s.io/kubernetes v$v"
    echo "replace ("
    # Every staging module the upstream go.mod points at ./staging is taken at its release tag.
    grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$work/upstream.mod" | awk -v m="$minor" '{print "\t" $1 " => " $1 " " m}'
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  local minorNum=${v#1.}; minorNum=${minorNum%%.*}
  ld="-s -w -X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minorNum -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$work" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go get k8s.io/kubernetes@v$v >&2)
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out/$c" "k8s.io/kubernetes/cmd/$c")
  done
  "$out/kube-apiserver" --version >&2
  touch "$out/.done"
}

build_etcd() {
  local v=$ETCD_VERSION out="$cache/etcd-$ETCD_VERSION"
  [[ -f $out/.done ]] && { log "etcd $v cached"; return; }
  log "building etcd $v"
  local work="$cache/src/etcd-$v"; rm -rf "$work"; mkdir -p "$work" "$out"
  printf 'module gregor.dev/etcd-tools\ngo 1.26.0\n' > "$work/go.mod"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@v$v" >&2 \
     && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
  "$out/etcd" --version >&2
  touch "$out/.done"
}

build_helm() {
  local v=$HELM_VERSION out="$cache/helm-$HELM_VERSION"
  [[ -f $out/.done ]] && { log "helm $v cached"; return; }
  log "building helm $v"
  local work="$cache/src/helm-$v"; rm -rf "$work"; mkdir -p "$work" "$out"
  printf 'module gregor.dev/helm-tools\ngo 1.26.0\n' > "$work/go.mod"
  (cd "$work" && go get "helm.sh/helm/v3@v$v" >&2 \
     && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
          -o "$out/helm" helm.sh/helm/v3/cmd/helm)
  "$out/helm" version --short >&2
  touch "$out/.done"
}

build_crane() {
  local v=$CRANE_VERSION out="$cache/crane-$CRANE_VERSION"
  [[ -f $out/.done ]] && { log "crane $v cached"; return; }
  log "building crane $v"
  local work="$cache/src/crane-$v"; rm -rf "$work"; mkdir -p "$work" "$out"
  printf 'module gregor.dev/crane-tools\ngo 1.26.0\n' > "$work/go.mod"
  (cd "$work" && go get "github.com/google/go-containerregistry@v$v" >&2 \
     && go build -trimpath -ldflags "-s -w" -o "$out/crane" github.com/google/go-containerregistry/cmd/crane)
  "$out/crane" version >&2
  touch "$out/.done"
}

build_cargo_deny() {
  local v=$CARGO_DENY_VERSION out="$cache/cargo-deny-$CARGO_DENY_VERSION"
  [[ -f $out/.done ]] && { log "cargo-deny $v cached"; return; }
  log "building cargo-deny $v"
  cargo install -q --locked --root "$out" --version "$v" cargo-deny >&2
  "$out/bin/cargo-deny" --version >&2
  touch "$out/.done"
}

build_kubectl() {
  local v=$K8S_VERSION out="$cache/kubectl-$K8S_VERSION"
  [[ -f $out/.done ]] && { log "kubectl $v cached"; return; }
  log "building kubectl $v"
  local work="$cache/src/kubectl-$v"; rm -rf "$work"; mkdir -p "$work" "$out"
  local minor="v0.${v#1.}" minorNum=${v#1.}; minorNum=${minorNum%%.*}
  printf 'module gregor.dev/kubectl-tools\ngo 1.26.0\n' > "$work/go.mod"
  # The body of k8s.io/kubernetes/cmd/kubectl/kubectl.go.
  cat > "$work/main.go" <<'GO'
package main

import (
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
  local ld="-s -w"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld="$ld -X $p.gitVersion=v$v -X $p.gitMajor=1 -X $p.gitMinor=$minorNum -X $p.gitTreeState=clean"
  done
  (cd "$work" && go get "k8s.io/kubectl@$minor" "k8s.io/component-base@$minor" "k8s.io/client-go@$minor" >&2 \
     && go mod tidy >&2 && go build -trimpath -ldflags "$ld" -o "$out/kubectl" .)
  "$out/kubectl" version --client >&2
  touch "$out/.done"
}

fetch_kafka() {
  local v=$1 out="$cache/kafka-$1"
  [[ -f $out/.done ]] && { log "kafka $v cached"; return; }
  log "fetching kafka $v jars from Maven Central"
  local work="$cache/src/kafka-$v"; rm -rf "$work"; mkdir -p "$work" "$out/libs"
  cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.gregor</groupId><artifactId>kafka-dist</artifactId><version>$v</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/libs" >&2)
  touch "$out/.done"
}

# The Prometheus JMX exporter javaagent from Maven Central: the jar the gregor-metrics-agent:<v> image
# holds at /opt/gregor-metrics-agent/, which the node agent mounts there for the init container's copy.
fetch_jmx_exporter() {
  local v=$JMX_EXPORTER_VERSION out="$cache/jmx-exporter-$JMX_EXPORTER_VERSION"
  [[ -f $out/.done ]] && { log "jmx exporter $v cached"; return; }
  log "fetching io.prometheus.jmx:jmx_prometheus_javaagent:$v from Maven Central"
  mkdir -p "$out"
  mvn -q -B dependency:copy -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$v" -DoutputDirectory="$out" -Dmdep.stripVersion=true >&2
  [[ -f $out/jmx_prometheus_javaagent.jar ]] || { log "jmx_prometheus_javaagent.jar missing in $out"; exit 1; }
  touch "$out/.done"
}

# The apache/kafka image layout (/opt/kafka/{bin,config,libs}) around the fetched jars: the scripts
# are our own minimal stand-ins (hack/kafka-image/), refreshed whenever their content changes.
install_kafka_image() {
  local v=$1 out="$cache/kafka-$1"
  local stamp; stamp=$(cd "$here/kafka-image" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
  [[ -f $out/.image-$stamp ]] && return
  log "installing image layout (bin/, config/) into kafka-$v"
  rm -f "$out"/.image-*
  mkdir -p "$out/bin" "$out/config"
  cp "$here"/kafka-image/bin/*.sh "$out/bin/"
  chmod 0755 "$out"/bin/*.sh
  cp "$here"/kafka-image/config/* "$out/config/"
  touch "$out/.image-$stamp"
}

# Keyed by the hash of its source, go.mod and go.sum (which pin cli-utils and gopher-lua).
health_dir() { printf '%s/health-%s' "$cache" "$(cd "$here/health" && cat main.go go.mod go.sum | sha256sum | cut -c1-16)"; }
build_health() {
  local out; out=$(health_dir)
  [[ -f $out/.done ]] && { log "gregor-health ${out##*/} cached"; return; }
  log "building gregor-health ${out##*/} (kstatus, gopher-lua)"
  mkdir -p "$out"
  (cd "$here/health" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$out/gregor-health" .)
  touch "$out/.done"
}

case "${1:-all}" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  kafka) for v in $KAFKA_VERSIONS; do fetch_kafka "$v"; install_kafka_image "$v"; done ;;
  jmx-exporter) fetch_jmx_exporter ;;
  helm) build_helm ;;
  kubectl) build_kubectl ;;
  health) build_health ;;
  # Builds gregor-health if needed and prints its path (the tests call this).
  health-path) build_health; printf '%s/gregor-health\n' "$(health_dir)" ;;
  crane) build_crane ;;
  cargo-deny) build_cargo_deny ;;
  all) build_etcd; for v in $KAFKA_VERSIONS; do fetch_kafka "$v"; install_kafka_image "$v"; done; fetch_jmx_exporter; build_k8s; build_helm; build_kubectl; build_health; build_crane; build_cargo_deny ;;
  *) echo "usage: $0 [all|k8s|etcd|kafka|jmx-exporter|helm|kubectl|health|crane|cargo-deny]" >&2; exit 2 ;;
esac
