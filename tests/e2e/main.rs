//! The operator's end-to-end suites, one module per area, in one test binary (one link instead
//! of one per suite). Every test here starts a test world (a control plane, and most start real
//! Kafka JVMs): each takes `support::world_test` first, which skips the test with one printed
//! line when the world's tools are not built (`make tools`), fails it under `make test`
//! (`GREGOR_REQUIRE_WORLD=1`), and otherwise runs the world tests of this binary one at a time,
//! whatever `--test-threads` says. (`chart_rbac_everywhere` is the one test that needs no world:
//! it reads the suites' sources.)
//!
//! `cargo test --test e2e` runs them all; `cargo test --test e2e -- roll::` one area. The
//! benchmarks (`bench_operator`, `bench_scale`) are ignored tests: `make bench-operator` and
//! `make bench-topics` run them.

mod support;

mod api;
mod autogrow;
mod bench;
mod bench_health;
mod bench_operator;
mod bench_scale;
mod blocked;
mod chart_rbac_everywhere;
mod cluster;
mod credentials;
mod health;
mod in_cluster;
mod install;
mod jmx;
mod leader_fence;
mod monitoring;
mod rebalance;
mod refusals;
mod render_live;
mod roll;
mod roll_safety;
mod scale;
mod status_config;
mod tls;
mod tls_renewal;
mod tls_users;
mod topics;
mod upgrade;
mod users;
mod write_guard;
