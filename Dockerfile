# The Gregor operator image: one static (musl) binary on a distroless base, running as non-root.
#
# Build (on a machine with Docker or Podman; this repository's CI machine has neither):
#   docker build -t <registry>/gregor:0.1.0 .
#   docker push <registry>/gregor:0.1.0
#   helm install gregor charts/gregor -n gregor-system --create-namespace --set image.repository=<registry>/gregor
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/gregor:0.1.0 --push .

# Alpine's Rust targets musl natively, so the release binary is static.
FROM docker.io/library/rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The Kafka client crate, which the operator depends on.
COPY kafka ./kafka
# The workspace's other member (the test world) must be present for cargo to load the
# workspace; only the gregor binary is built.
COPY world ./world
RUN cargo build --release --locked --bin gregor \
 && strip target/release/gregor \
 && ./target/release/gregor version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/gregor /usr/local/bin/gregor
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gregor"]
CMD ["run"]
