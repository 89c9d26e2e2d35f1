#!/usr/bin/env bash
# `make image`: the operator's OCI image, built without a container daemon.
#
#   1. one static binary: glibc with crt-static (the musl target is not installable here; Debian's
#      libc6-dev ships libc.a), release profile;
#   2. a root file system of that binary, /etc/passwd and /etc/group naming the non-root user
#      65532, and a /tmp, packed as one reproducible layer (sorted, numeric root owner, fixed mtime);
#   3. go-containerregistry's crane (built by `make tools`) assembles the image against its own
#      throw-away registry on 127.0.0.1 (crane's mutate works on registry references), then writes
#      target/image/oci/ (an OCI image layout) and target/image/gregor.tar (`docker load` reads it).
#
# The Dockerfile builds the same image with Docker: same entrypoint, cmd, user and port
# (tests/image.rs compares the two).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${GREGOR_CACHE:-$HOME/.cache/gregor}
crane="$cache/crane-$CRANE_VERSION/crane"
[[ -x $crane ]] || bash "$here/build-tools.sh" crane
out="$root/target/image"
triple=x86_64-unknown-linux-gnu
log() { printf '[image] %s\n' "$*" >&2; }

version=$(cd "$root" && cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "gregor"))')
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
created=$(git -C "$root" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)

log "building the static gregor binary ($triple, crt-static, release)"
# RUSTFLAGS with --target reaches only the target's crates, not build scripts or proc macros.
(cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --locked --target "$triple" -p gregor --bin gregor)
bin="$root/target/$triple/release/gregor"
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
  echo "image: $bin is dynamically linked" >&2; exit 1
fi

rm -rf "$out"; mkdir -p "$out/rootfs/usr/local/bin" "$out/rootfs/etc" "$out/rootfs/tmp"
install -m 0755 "$bin" "$out/rootfs/usr/local/bin/gregor"
strip "$out/rootfs/usr/local/bin/gregor"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$out/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$out/rootfs/etc/group"
chmod 1777 "$out/rootfs/tmp"
tar -C "$out/rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf "$out/layer.tar" usr etc tmp

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$crane" registry serve --address "127.0.0.1:$port" > "$out/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ref="127.0.0.1:$port/gregor:$version"

log "assembling $ref with crane $CRANE_VERSION"
"$crane" append --insecure --oci-empty-base -f "$out/layer.tar" -t "$ref" > /dev/null
"$crane" mutate --insecure "$ref" -t "$ref" \
  --set-platform linux/amd64 \
  --entrypoint /usr/local/bin/gregor --cmd run \
  --user 65532:65532 --workdir / --exposed-ports 8080/tcp \
  -l org.opencontainers.image.title=gregor \
  -l "org.opencontainers.image.version=$version" \
  -l "org.opencontainers.image.revision=$revision" \
  -l "org.opencontainers.image.created=$created" \
  -l org.opencontainers.image.source=https://github.com/gregor-dev/gregor \
  -l org.opencontainers.image.licenses=Apache-2.0 > /dev/null
"$crane" pull --insecure --format oci "$ref" "$out/oci"
# The tarball names the image gregor:<version>, not the throw-away registry's address.
"$crane" mutate --insecure "$ref" -t "gregor:$version" -o "$out/gregor.tar" > /dev/null
"$crane" config --insecure "$ref" > "$out/config.json"
digest=$("$crane" digest --insecure "$ref")
printf '%s\n' "$digest" > "$out/digest"
rm -rf "$out/rootfs" "$out/layer.tar"
log "gregor:$version $digest -> target/image/oci, target/image/gregor.tar"
