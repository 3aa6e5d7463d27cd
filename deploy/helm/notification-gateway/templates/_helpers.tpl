{{/* The release's name for every object: <release>-notification-gateway, unless the release is named after the chart. */}}
{{- define "gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gateway.labels" -}}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Whether the replicas share a Redis log. */}}
{{- define "gateway.redis" -}}
{{- if or .Values.backend.url .Values.backend.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Whether the chart's own Secret has anything to hold. */}}
{{- define "gateway.ownSecret" -}}
{{- if or .Values.backend.url .Values.jwt.secret .Values.jwt.publicKey .Values.publishTokens.tokens -}}true{{- end -}}
{{- end -}}

{{/* Render-time checks: a combination that cannot work stops the render, as the gateway's own settings check would stop its start. */}}
{{- define "gateway.checks" -}}
{{- $keys := 0 -}}
{{- if or .Values.jwt.secret .Values.jwt.existingSecret }}{{ $keys = add1 $keys }}{{ end -}}
{{- if .Values.jwt.publicKey }}{{ $keys = add1 $keys }}{{ end -}}
{{- if .Values.jwt.jwksUrl }}{{ $keys = add1 $keys }}{{ end -}}
{{- if gt $keys 1 -}}
{{- fail "jwt: set only one of secret (or existingSecret), publicKey, jwksUrl" -}}
{{- end -}}
{{- if and (eq $keys 0) (not .Values.insecure) -}}
{{- fail "jwt: set secret, existingSecret, publicKey or jwksUrl (or insecure: true): without a key anyone may connect as anyone" -}}
{{- end -}}
{{- if and .Values.jwt.secret (lt (len .Values.jwt.secret) 32) -}}
{{- fail "jwt.secret: an HS256 secret must be at least 32 bytes (RFC 7518 section 3.2)" -}}
{{- end -}}
{{- $replicas := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled -}}
{{- if and (gt (int $replicas) 1) (not (include "gateway.redis" .)) -}}
{{- fail "backend: several replicas need the Redis backend (backend.url or backend.existingSecret); with the in-memory log a publish reaches one replica's connections only" -}}
{{- end -}}
{{- end -}}
