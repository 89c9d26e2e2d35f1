{{/* The chart name. */}}
{{- define "gregor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "gregor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "gregor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gregor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels selecting the operator pods. */}}
{{- define "gregor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gregor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "gregor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gregor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The rules on Gregor's resources and the objects it owns. Namespaced: a ClusterRole when every
namespace is watched, a Role in the watched namespace otherwise. Kept in step with what
src/controller asks of the API server.
*/}}
{{- define "gregor.namespacedRules" -}}
# The custom resources: watched, finalizers (topics, users) written by merge patch, status patched.
- apiGroups: ["kafka.gregor.dev"]
  resources: ["kafkaclusters", "kafkatopics", "kafkausers", "kafkarebalances"]
  verbs: ["get", "list", "watch", "patch"]
# KafkaRebalances of a scale-up or scale-down (spec.rebalance.onScale) are made and replaced by the
# operator.
- apiGroups: ["kafka.gregor.dev"]
  resources: ["kafkarebalances"]
  verbs: ["create", "delete"]
- apiGroups: ["kafka.gregor.dev"]
  resources: ["kafkaclusters/status", "kafkatopics/status", "kafkausers/status", "kafkarebalances/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion need update on the owner's finalizers subresource
# where the OwnerReferencesPermissionEnforcement admission plugin is on (e.g. OpenShift).
- apiGroups: ["kafka.gregor.dev"]
  resources: ["kafkaclusters/finalizers", "kafkatopics/finalizers", "kafkausers/finalizers", "kafkarebalances/finalizers"]
  verbs: ["update"]
# Children of a KafkaCluster: server-side apply (create + patch), watched through reflectors,
# orphans deleted.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps", "services", "serviceaccounts", "secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Kafka pods: watched, annotated (dynamic config, roll bookkeeping) and deleted one at a time to roll.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "patch", "delete"]
# Retained volumes carry the cluster id: read on (re)creation of a cluster. Patched to grow
# them when a pool's storage size grows.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "patch"]
# Events about restarts, refusals and invalid specs.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
