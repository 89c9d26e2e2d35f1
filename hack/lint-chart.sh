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
if "$helm" template x charts/gregor --set 'watchNamespaces={a,b}' >/dev/null 2>&1; then
  echo "values.schema.json accepted two watchNamespaces" >&2
  exit 1
fi
echo "chart lint ok"
