{{/*
Naming, labels, images, env and the pod settings every Haven workload shares.
Helpers that need more than the root context take a dict: "ctx" (the root), "name" (the
kebab-case service name, e.g. "mis-import", or "gateway") and "component"
(api | worker | migrate | gateway).
*/}}

{{/* Prefix of every resource name: the release name (or fullnameOverride), short enough
that "<prefix>-notifications-worker" stays a valid 63-character name. */}}
{{- define "haven.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "haven.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Python package of a service: "mis-import" -> "mis_import". */}}
{{- define "haven.pkg" -}}
{{- . | replace "-" "_" -}}
{{- end -}}

{{/* Env-var prefix of a service: "mis-import" -> "MIS_IMPORT". */}}
{{- define "haven.envPrefix" -}}
{{- . | replace "-" "_" | upper -}}
{{- end -}}

{{/* Name of a component's workload: <prefix>-<name>-<component> (the gateway: <prefix>-gateway). */}}
{{- define "haven.componentName" -}}
{{- if eq .name .component -}}
{{- printf "%s-%s" (include "haven.fullname" .ctx) .name -}}
{{- else -}}
{{- printf "%s-%s-%s" (include "haven.fullname" .ctx) .name .component -}}
{{- end -}}
{{- end -}}

{{/* Selector labels (immutable once deployed: keep them few). */}}
{{- define "haven.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "haven.labels" -}}
{{ include "haven.selectorLabels" . }}
app.kubernetes.io/part-of: haven
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ include "haven.chart" .ctx }}
{{- end -}}

{{/* Labels carried by every pod of this release (the NetworkPolicies' "release pods"). */}}
{{- define "haven.releasePodSelector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: haven
{{- end -}}

{{/* Labels of release-wide objects (ServiceAccount, Secret, NetworkPolicies). */}}
{{- define "haven.platformLabels" -}}
{{ include "haven.labels" (dict "ctx" . "name" "haven" "component" "platform") }}
{{- end -}}

{{/* Image reference. (dict "ctx" $ "name" "records" "image" $svc.image)
repository defaults to <global.image.registry>/haven-<name>; tag to global.image.tag, then
the chart's appVersion; a digest, when given, pins the image. */}}
{{- define "haven.image" -}}
{{- $global := .ctx.Values.global.image -}}
{{- $image := .image | default dict -}}
{{- $repository := $image.repository -}}
{{- if not $repository -}}
{{- $registry := $global.registry | default "" | trimSuffix "/" -}}
{{- $repository = ternary (printf "%s/haven-%s" $registry .name) (printf "haven-%s" .name) (ne $registry "") -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- $tag := $image.tag | default $global.tag | default .ctx.Chart.AppVersion | toString -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "haven.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "haven.fullname" .)) -}}
{{- end -}}

{{- define "haven.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "haven.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The migration Jobs run before the release's own objects exist, so they get a
ServiceAccount created as a hook too (or the configured existing one). */}}
{{- define "haven.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "haven.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* One env var from the release Secret. (dict "ctx" $ "env" "X" "key" "y") */}}
{{- define "haven.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "haven.secretName" .ctx }}
      key: {{ .key }}
{{- end -}}

{{/* Env shared by every process: where each service listens, log level, tracing. */}}
{{- define "haven.commonEnv" -}}
{{- $root := . -}}
{{- range $name, $_ := .Values.services }}
- name: HAVEN_{{ include "haven.envPrefix" $name }}_ADDR
  value: {{ printf "%s-%s:%d" (include "haven.fullname" $root) $name (int $root.Values.ports.grpc) | quote }}
{{- end }}
- name: HAVEN_LOG_LEVEL
  value: {{ .Values.global.logLevel | quote }}
- name: HAVEN_RPC_TIMEOUT
  value: {{ .Values.global.rpcTimeout | quote }}
- name: HAVEN_VAR_DIR
  value: /tmp/haven
{{- with .Values.global.otelExporterOtlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Public URL of the web UI (links in emails): notifications.publicUrl, else the first
ingress host, else the in-cluster gateway Service. */}}
{{- define "haven.publicUrl" -}}
{{- $ingress := .Values.gateway.ingress -}}
{{- if .Values.services.notifications.publicUrl -}}
{{- .Values.services.notifications.publicUrl -}}
{{- else if and $ingress.enabled $ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len $ingress.tls) 0)) (first $ingress.hosts).host -}}
{{- else -}}
{{- printf "http://%s-gateway:%d" (include "haven.fullname" .) (int .Values.ports.http) -}}
{{- end -}}
{{- end -}}

{{/* Env of a service process (api, worker and migrate alike). (dict "ctx" $ "name" "records" "component" "api") */}}
{{- define "haven.serviceEnv" -}}
{{- $root := .ctx -}}
{{- $prefix := include "haven.envPrefix" .name -}}
{{- $svc := index $root.Values.services .name -}}
{{ include "haven.secretEnv" (dict "ctx" $root "env" (printf "%s_DATABASE_URL" $prefix) "key" (printf "%s-database-url" .name)) }}
- name: {{ $prefix }}_GRPC_PORT
  value: {{ $root.Values.ports.grpc | quote }}
- name: {{ $prefix }}_METRICS_PORT
  value: {{ $root.Values.ports.metrics | quote }}
{{ include "haven.secretEnv" (dict "ctx" $root "env" "HAVEN_EVENTS_URL" "key" "events-url") }}
{{- if eq .name "identity" }}
{{ include "haven.secretEnv" (dict "ctx" $root "env" "IDENTITY_KEY_SECRET" "key" "identity-key-secret") }}
- name: IDENTITY_HTTP_PORT
  value: {{ $root.Values.ports.oidc | quote }}
- name: IDENTITY_ISSUER_URL
  value: {{ include "haven.publicUrl" $root | quote }}
- name: IDENTITY_GATEWAY_REDIRECT_URIS
  value: {{ printf "%s/auth/callback" (include "haven.publicUrl" $root) | quote }}
{{- end }}
{{- if eq .name "notifications" }}
{{ include "haven.secretEnv" (dict "ctx" $root "env" "NOTIFICATIONS_MAIL_URL" "key" "mail-url") }}
- name: NOTIFICATIONS_MAIL_FROM
  value: {{ $svc.mailFrom | quote }}
- name: NOTIFICATIONS_PUBLIC_URL
  value: {{ include "haven.publicUrl" $root | quote }}
{{- end }}
{{- include "haven.commonEnv" $root }}
{{- with $root.Values.global.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with $svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every workload. (dict "ctx" $ "serviceAccountName" "...") */}}
{{- define "haven.podSpec" -}}
{{- $root := .ctx -}}
serviceAccountName: {{ .serviceAccountName }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.global.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.global.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.global.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.global.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Spread a Deployment's pods over nodes when it can. (dict "ctx" $ "name" ... "component" ...) */}}
{{- define "haven.topologySpread" -}}
{{- $spread := .ctx.Values.topologySpread -}}
{{- if $spread.enabled -}}
topologySpreadConstraints:
  - maxSkew: {{ $spread.maxSkew }}
    topologyKey: {{ $spread.topologyKey }}
    whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "haven.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: Prometheus scraping, a checksum that rolls pods when chart-managed
secrets change, and any global extras. (dict "ctx" $ "port" 9100) */}}
{{- define "haven.podAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- if not .ctx.Values.secrets.existingSecret }}
checksum/secrets: {{ toJson .ctx.Values.secrets | sha256sum }}
{{- end }}
{{- with .ctx.Values.global.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Container security context, resources and the writable /tmp every container needs. */}}
{{- define "haven.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{- define "haven.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{/* HorizontalPodAutoscaler for a Deployment. (dict "ctx" $ "name" ... "component" ... "autoscaling" {...}) */}}
{{- define "haven.hpa" -}}
{{- $hpa := .autoscaling -}}
{{- if gt (int $hpa.minReplicas) (int $hpa.maxReplicas) -}}
{{- fail (printf "%s %s autoscaling: minReplicas (%v) is above maxReplicas (%v)" .name .component $hpa.minReplicas $hpa.maxReplicas) -}}
{{- end -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "haven.componentName" . }}
  labels:
    {{- include "haven.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "haven.componentName" . }}
  minReplicas: {{ $hpa.minReplicas }}
  maxReplicas: {{ $hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $hpa.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $hpa.scaleDownStabilizationSeconds | default 300 }}
{{- end -}}

{{/* PodDisruptionBudget for a Deployment. (dict "ctx" $ "name" ... "component" ...) */}}
{{- define "haven.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "haven.componentName" . }}
  labels:
    {{- include "haven.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .ctx.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "haven.selectorLabels" . | nindent 6 }}
{{- end -}}
