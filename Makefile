# Gregor — every entry point a developer or CI needs.
SHELL := /bin/bash
CARGO ?= cargo
GREGOR_CACHE ?= $(HOME)/.cache/gregor
WORLD_DIR ?= $(GREGOR_CACHE)/worlds/make-world
export GREGOR_CACHE

.PHONY: all bench-operator tools build test test-unit crds generate lint-chart check-crds world world-down bench-world playground playground-down fmt clippy

all: build

## tools: build/fetch etcd, Kubernetes and Kafka once, cached in $(GREGOR_CACHE) keyed by version
tools:
	bash hack/build-tools.sh all

build:
	$(CARGO) build --workspace --all-targets

## crds: regenerate crds/*.yaml from the Rust types (and every other generated file: see generate)
crds: generate

## generate: crds/, charts/gregor/crds/, docs/api.md and deploy/gregor.yaml (the last needs helm: make tools)
generate:
	bash hack/check-generated.sh --write

## lint-chart: helm lint of the chart, default and watchNamespaces values
lint-chart: tools
	bash hack/lint-chart.sh

## check-crds: fail when a generated file (crds/, chart CRDs, docs/api.md, deploy/gregor.yaml) is stale
check-crds:
	bash hack/check-generated.sh

## test: every test — unit, golden, property, and the e2e suites against a real control plane and real brokers
test: export GREGOR_REQUIRE_WORLD := 1
test: tools
	$(CARGO) fmt --all -- --check
	bash hack/check-generated.sh
	$(CARGO) test --workspace --all-targets --no-fail-fast

test-unit:
	$(CARGO) test --workspace --lib

## world: start a test world in the background and print its KUBECONFIG
world: tools
	$(CARGO) build -q -p gregor-world --bins
	target/debug/gregor-world up --dir $(WORLD_DIR)

## world-down: stop the world started by `make world`
world-down:
	@if [ -x target/debug/gregor-world ]; then target/debug/gregor-world down --dir $(WORLD_DIR); fi

## bench-operator: the operator's figures (apply latency, roll overhead, API requests, RSS)
bench-operator: tools
	$(CARGO) test --release -p gregor --test e2e -- --ignored --nocapture bench_operator::

## bench-world: measure cached world start, broker start-to-Ready and idle memory with 3 brokers
bench-world: tools
	$(CARGO) run -q -p gregor-world --release --bin world-bench

## playground: the local world, the operator and an example cluster
playground: world
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
