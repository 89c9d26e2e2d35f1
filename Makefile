# Gregor — every entry point a developer or CI needs.
SHELL := /bin/bash
CARGO ?= cargo
GREGOR_CACHE ?= $(HOME)/.cache/gregor
WORLD_DIR ?= $(GREGOR_CACHE)/worlds/make-world
export GREGOR_CACHE
# The operator's version (Cargo.toml's package version): the tag of the image `make image` builds.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

.PHONY: all bench bench-balance bench-health bench-operator tools system-packages image deny build test test-unit crds generate lint-chart check-crds world world-down bench-world playground playground-down fmt clippy

all: build

## tools: build/fetch etcd, Kubernetes and Kafka once, cached in $(GREGOR_CACHE) keyed by version
tools:
	bash hack/build-tools.sh all

build:
	$(CARGO) build --workspace --all-targets

## image: the operator's OCI image without a container daemon (static binary, user 65532, crane): target/image/{oci,gregor.tar}
image: tools
	bash hack/build-image.sh

## crds: regenerate crds/*.yaml from the Rust types (and every other generated file: see generate)
crds: generate

## generate: crds/, charts/gregor/crds/, docs/api.md, the alert rules (deploy/monitoring/, the chart's PrometheusRule) and deploy/gregor.yaml (the last needs helm: make tools)
generate:
	bash hack/check-generated.sh --write

## lint-chart: helm lint of the chart, default and watchNamespaces values
lint-chart: tools
	bash hack/lint-chart.sh

## check-crds: fail when a generated file (crds/, chart CRDs, docs/api.md, deploy/gregor.yaml) is stale
check-crds:
	bash hack/check-generated.sh

## test: every test — unit, golden, property, and the e2e suites against a real control plane and real brokers
## system-packages: Debian's prometheus (promtool checks the alert rules; the monitoring e2e runs prometheus) and openssl (the TLS e2e checks handshakes), installed once
system-packages:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y prometheus openssl; }

## deny: cargo deny on licences, bans and sources (deny.toml); advisories need GitHub, unreachable here
deny: tools
	$(GREGOR_CACHE)/cargo-deny-$$(. hack/versions.env && echo $$CARGO_DENY_VERSION)/bin/cargo-deny check licenses bans sources

test: export GREGOR_REQUIRE_WORLD := 1
test: tools system-packages image
	$(CARGO) fmt --all -- --check
	bash hack/check-generated.sh
	$(MAKE) --no-print-directory deny
	$(CARGO) test --workspace --all-targets --no-fail-fast

test-unit:
	$(CARGO) test --workspace --lib

## world: start a test world in the background and print its KUBECONFIG
world: tools
	$(CARGO) build -q -p gregor-world --bins
	GREGOR_WORLD_IMAGES=$$([ -f target/image/oci/index.json ] && echo "gregor:$(VERSION)=$(CURDIR)/target/image/oci") \
	  target/debug/gregor-world up --dir $(WORLD_DIR)

## world-down: stop the world started by `make world`
world-down:
	@if [ -x target/debug/gregor-world ]; then target/debug/gregor-world down --dir $(WORLD_DIR); fi

## bench: the scale benchmark (issue 19): 10,000 topics, 2,000 users, 10 clusters, the API server's own limit in the same run, steady state, footprint, restart and deletion; prints a table and writes target/bench/bench-<time>.json (hack/bench-compare A.json B.json). Knobs: BENCH_TOPICS, BENCH_PARTITIONS, BENCH_USERS, BENCH_CLUSTERS, BENCH_RESYNC_SECONDS, BENCH_RESYNCS, BENCH_CONCURRENCY, BENCH_JSON
bench: tools
	$(CARGO) test --release -p gregor --test e2e -- --ignored --nocapture --exact bench::full_counts

## bench-operator: the operator's figures (apply latency, roll overhead, API requests, RSS)
bench-operator: tools
	$(CARGO) test --release -p gregor --test e2e -- --ignored --nocapture bench_operator::

## bench-balance: the balance planner on 12 and 50 brokers x 100,000 partitions: plan time, peak heap, moves vs the lower bound (no world)
bench-balance:
	$(CARGO) test --release -p gregor --test bench_balance -- --ignored --nocapture --test-threads=1

## bench-health: Admin requests per minute, operator CPU and RSS for the health metrics (6 nodes, 10,000 partitions, 200 consumer groups)
bench-health: tools
	$(CARGO) test --release -p gregor --test e2e -- --ignored --nocapture bench_health::

## bench-world: measure cached world start, broker start-to-Ready and idle memory with 3 brokers
bench-world: tools
	$(CARGO) run -q -p gregor-world --release --bin world-bench

## playground: the local world, the operator and an example cluster
playground: image world
	WORLD_DIR=$(WORLD_DIR) bash hack/playground.sh up

playground-down:
	-WORLD_DIR=$(WORLD_DIR) bash hack/playground.sh down
	$(MAKE) world-down

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench-topics: 1,000 KafkaTopics and 500 KafkaUsers applied at once against a real cluster; prints topics/s, users/s and operator RSS
bench-topics: tools
	$(CARGO) test -p gregor --release --test e2e -- --ignored --nocapture bench_scale::
