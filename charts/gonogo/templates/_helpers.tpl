{{/* Names. A release named like the chart (`gonogo`) gives objects plain `gonogo-*` names. */}}
{{- define "gonogo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gonogo.fullname" -}}
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

{{- define "gonogo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gonogo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gonogo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gonogo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gonogo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gonogo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: gonogo
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gonogo.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Leader election: on whenever more than one replica runs. */}}
{{- define "gonogo.leaderElection" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/*
How new pod templates are held (`holdRollouts`, `holdRolloutsWith`): "policy" (the
MutatingAdmissionPolicy, GA as admissionregistration.k8s.io/v1 from Kubernetes 1.36), "webhook"
(gonogo's mutating admission webhook), or "" (not held at admission). `auto` picks the policy where
it exists and the webhook below 1.36; `policy` on an older cluster holds nothing (NOTES says so).
*/}}
{{- define "gonogo.holdRolloutsPath" -}}
{{- $map := semverCompare ">=1.36.0-0" .Capabilities.KubeVersion.Version }}
{{- $with := .Values.holdRolloutsWith | default "auto" }}
{{- if not (has $with (list "auto" "policy" "webhook")) }}
{{- fail (printf "holdRolloutsWith is %q; it must be auto, policy or webhook" $with) }}
{{- end }}
{{- if .Values.holdRollouts }}
{{- if or (eq $with "webhook") (and (eq $with "auto") (not $map)) }}webhook
{{- else if $map }}policy
{{- end }}
{{- end }}
{{- end }}

{{- define "gonogo.holdRollouts" -}}
{{- if eq (include "gonogo.holdRolloutsPath" .) "policy" }}true{{ end }}
{{- end }}

{{- define "gonogo.holdRolloutsWebhook" -}}
{{- if eq (include "gonogo.holdRolloutsPath" .) "webhook" }}true{{ end }}
{{- end }}

{{/*
The rollout-hold policies' one match condition, for one DeploymentReadiness (`params`) and the
workload written (`.kind`): the readiness object targets it by kind and name (false for all
others, so tested first), the write brings a new pod template (`.newTemplate`), and the readiness
object is in this namespace (a targetRef naming another namespace is refused and acts on
nothing, as in the controller), in Block mode, and not being deleted.
*/}}
{{- define "gonogo.heldCondition" -}}
params.spec.targetRef.name == object.metadata.name &&
params.spec.targetRef.?kind.orValue('Deployment') == '{{ .kind }}' &&
({{ .newTemplate }}) &&
params.spec.targetRef.?namespace.orValue(request.namespace) == request.namespace &&
params.spec.?enforcement.orValue('Block') == 'Block' &&
!has(params.metadata.deletionTimestamp)
{{- end }}

{{/* The webhook's names: its Service, certificate Secret and MutatingWebhookConfiguration. */}}
{{- define "gonogo.webhookService" -}}
{{- printf "%s-webhook" (include "gonogo.fullname" .) }}
{{- end }}
{{- define "gonogo.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "gonogo.fullname" .) }}
{{- end }}
{{- define "gonogo.webhookConfiguration" -}}
{{- printf "%s-hold-rollouts" (include "gonogo.fullname" .) }}
{{- end }}

{{/*
The watched namespaces (`watchNamespaces`, plus `watchNamespace` when set), as a JSON list; empty
for every namespace. Read with `include "gonogo.watchedNamespaces" . | fromJsonArray`.
*/}}
{{- define "gonogo.watchedNamespaces" -}}
{{- $list := .Values.watchNamespaces | default list }}
{{- if kindIs "string" $list }}
{{- $list = splitList "," $list }}
{{- end }}
{{- $all := concat $list (compact (list .Values.watchNamespace)) | uniq }}
{{- range $all }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" .) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name" .) }}
{{- end }}
{{- end }}
{{- toJson $all }}
{{- end }}

{{/* Admission policy bindings only match the watched namespaces when there are some. */}}
{{- define "gonogo.matchWatchedNamespace" -}}
{{- $watched := include "gonogo.watchedNamespaces" . | fromJsonArray }}
{{- if $watched }}
matchResources:
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: In
        values: [{{ join ", " $watched }}]
{{- end }}
{{- end }}

{{/*
RBAC rules for the namespaced objects gonogo reads and writes. A ClusterRole when every
namespace is watched, a Role in each watched namespace otherwise.
*/}}
{{- define "gonogo.namespacedRules" -}}
# Its own API: read everything, write DeploymentReadiness status and finalizers. Only the verbs
# the code calls: every kind is read by list and watch (no `get`).
- apiGroups: [gonogo.dev]
  resources: [deploymentreadinesses]
  verbs: [list, watch, patch]
- apiGroups: [gonogo.dev]
  resources: [deploymentreadinesses/status]
  verbs: [patch]
- apiGroups: [gonogo.dev]
  resources: [readinesschecklists, readinessapprovals]
  verbs: [list, watch]
# Targets: read, and server-side apply of spec.paused and gonogo.dev/* annotations.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, patch]
# StatefulSets and DaemonSets are held like Deployments (their partition, their update
# strategy's type), by server-side apply.
- apiGroups: [apps]
  resources: [statefulsets, daemonsets]
  verbs: [list, watch, patch]
# Related objects, read only. Secret values are stripped before they are stored, but list and
# watch return them: readSecrets / readConfigMaps false drop the rule and the reading.
- apiGroups: [""]
  resources: [services, persistentvolumeclaims, serviceaccounts]
  verbs: [list, watch]
{{- if .Values.readSecrets }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
{{- end }}
{{- if .Values.readConfigMaps }}
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, watch]
{{- end }}
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
# Pods, read only: an http gate's endpoint is probed only at a Pod IP of a Pod its Service
# selects (only name, labels, hostNetwork, phase and IPs are kept).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies, ingresses]
  verbs: [list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [list, watch]
{{- range .Values.readKinds }}
# `resource` gates: {{ .apiGroup | default "core" }} {{ join ", " .resources }} (value readKinds), read only.
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ join ", " .resources }}]
  verbs: [list, watch]
{{- end }}
# Events on transitions.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* Cluster-scoped objects: needed whatever the watched namespace. */}}
{{- define "gonogo.clusterRules" -}}
- apiGroups: [gonogo.dev]
  resources: [clusterreadinesschecklists]
  verbs: [list, watch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [list, watch]
{{- range .Values.readClusterKinds }}
# `resource` gates from ClusterReadinessChecklists: {{ .apiGroup | default "core" }} {{ join ", " .resources }} (value readClusterKinds), read only.
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ join ", " .resources }}]
  verbs: [list, watch]
{{- end }}
{{- end }}
