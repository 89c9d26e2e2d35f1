//! Pure: what `gregor monitoring` prints for Prometheus and Grafana (alert rules, dashboards)
//! from the metric names the operator exports. Nothing here does I/O.

pub mod broker_dashboard;
pub mod dashboards;
pub mod rules;
