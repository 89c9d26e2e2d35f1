#!/usr/bin/env bash
# Fails when a generated file in the repo differs from what the binary generates now.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo run -q --bin gregor -- crd --out-dir "$tmp/crds"
if ! diff -ru crds "$tmp/crds"; then
  echo "crds/ is stale: run 'make crds' and commit the result" >&2
  exit 1
fi
echo "generated files are up to date"
