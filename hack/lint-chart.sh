#!/usr/bin/env bash
# helm lint --strict of charts/gregor with its default values and in watchNamespaces mode, and
# a check that values.schema.json rejects what the operator cannot do (two watched namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source hack/versions.env
helm=${HELM:-${GREGOR_CACHE:-$HOME/.cache/gregor}/helm-$HELM_VERSION/helm}
"$helm" lint --strict charts/gregor
"$helm" lint --strict charts/gregor --set 'watchNamespaces={team-a}'
# The ServiceMonitor and PodMonitor, with the Prometheus Operator's API present: lint, and check both render.
monitors=(--set metrics.serviceMonitor.enabled=true --set metrics.podMonitor.enabled=true --set 'metrics.serviceMonitor.labels.release=prom')
"$helm" lint --strict charts/gregor "${monitors[@]}"
rendered=$("$helm" template x charts/gregor "${monitors[@]}" --api-versions monitoring.coreos.com/v1)
for kind in ServiceMonitor PodMonitor; do
  grep -q "^kind: $kind\$" <<<"$rendered" || { echo "the chart did not render a $kind" >&2; exit 1; }
done
if "$helm" template x charts/gregor "${monitors[@]}" | grep -qE '^kind: (ServiceMonitor|PodMonitor)$'; then
  echo "the chart rendered a ServiceMonitor or PodMonitor without the monitoring.coreos.com/v1 API" >&2
  exit 1
fi
if "$helm" template x charts/gregor --set 'watchNamespaces={a,b}' >/dev/null 2>&1; then
  echo "values.schema.json accepted two watchNamespaces" >&2
  exit 1
fi
echo "chart lint ok"
