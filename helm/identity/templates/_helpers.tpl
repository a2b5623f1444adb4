{{/* Names, labels and the checks every template shares. */}}

{{- define "identity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name; components append -identity-core / -scim-edge (so at most 47 chars here). */}}
{{- define "identity.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "identity.core.fullname" -}}
{{- printf "%s-identity-core" (include "identity.fullname" .) -}}
{{- end -}}

{{- define "identity.edge.fullname" -}}
{{- printf "%s-scim-edge" (include "identity.fullname" .) -}}
{{- end -}}

{{- define "identity.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "identity.labels" -}}
helm.sh/chart: {{ include "identity.chart" . }}
app.kubernetes.io/name: {{ include "identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: identity
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "identity-core"). */}}
{{- define "identity.selectorLabels" -}}
app.kubernetes.io/name: {{ include "identity.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "identity.componentLabels" -}}
{{ include "identity.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "identity.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "identity.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "identity.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "identity.sqliteClaimName" -}}
{{- default (printf "%s-data" (include "identity.core.fullname" .)) .Values.database.sqlite.persistence.existingClaim -}}
{{- end -}}

{{/* The core's edge-facing endpoint, through its Service. */}}
{{- define "identity.core.endpoint" -}}
{{- printf "http://%s:%d" (include "identity.core.fullname" .) (int .Values.identityCore.grpcPort) -}}
{{- end -}}

{{/*
Refuses combinations the processes cannot run with. Included by every template that depends on
them, so `helm template` and `helm install` stop before anything is applied.
*/}}
{{- define "identity.validate" -}}
{{- $db := .Values.database -}}
{{- if not (has $db.mode (list "sqlite" "postgres")) -}}
{{- fail (printf "database.mode must be sqlite or postgres, not %q" $db.mode) -}}
{{- end -}}
{{- if and (eq $db.mode "sqlite") (gt (int .Values.identityCore.replicaCount) 1) -}}
{{- fail "database.mode=sqlite supports identityCore.replicaCount=1 only (one writer on one volume); use database.mode=postgres to scale" -}}
{{- end -}}
{{- if and (eq $db.mode "postgres") (not $db.existingSecret.name) -}}
{{- fail "database.mode=postgres needs database.existingSecret.name: a Secret whose key (database.existingSecret.key) holds the postgres:// URL" -}}
{{- end -}}
{{- if and (eq $db.mode "postgres") (not $db.existingSecret.key) -}}
{{- fail "database.existingSecret.key must name the Secret key holding the URL" -}}
{{- end -}}
{{- if not .Values.edgeCredentialSecret.name -}}
{{- fail "edgeCredentialSecret.name is required: an existing Secret holding the SCIM edge's identity.v1 credential (at least 16 characters), mounted by both the core and the edge" -}}
{{- end -}}
{{- if not .Values.admin.bootstrapTokenSecret.name -}}
{{- fail "admin.bootstrapTokenSecret.name is required: an existing Secret holding the bootstrap admin credential (at least 16 characters)" -}}
{{- end -}}
{{- if and .Values.scimEdge.autoscaling.enabled (lt (int .Values.scimEdge.autoscaling.maxReplicas) (int .Values.scimEdge.autoscaling.minReplicas)) -}}
{{- fail "scimEdge.autoscaling.maxReplicas must be at least minReplicas" -}}
{{- end -}}
{{- if and .Values.scimEdge.ingress.enabled (not .Values.scimEdge.baseUrl) -}}
{{- fail "scimEdge.ingress.enabled needs scimEdge.baseUrl: the external https URL identity providers use (it appears in SCIM meta.location)" -}}
{{- end -}}
{{- end -}}

{{/* The pod spec parts both processes share. */}}
{{- define "identity.podCommon" -}}
serviceAccountName: {{ include "identity.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}
