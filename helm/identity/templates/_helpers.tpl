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

{{/* The Secret holding the bootstrap admin credential: the one named, else the chart's own (templates/secrets.yaml). */}}
{{- define "identity.adminSecretName" -}}
{{- default (printf "%s-admin-bootstrap" (include "identity.fullname" .)) .Values.admin.bootstrapTokenSecret.name -}}
{{- end -}}

{{/* The Secret holding the SCIM edge's identity.v1 credential: the one named, else the chart's own. */}}
{{- define "identity.edgeSecretName" -}}
{{- default (printf "%s-edge-credential" (include "identity.fullname" .)) .Values.edgeCredentialSecret.name -}}
{{- end -}}

{{/*
The data of a generated Secret: call with (dict "existing" <the live Secret from lookup, or an
empty dict> "key" <the key holding the credential>). Every key of the live Secret is kept (a
previous edge credential added while rotating, for one); the credential key gets a random value
only when the live Secret lacks it: on the first install, and under `helm template` or a client
dry run, where lookup finds nothing.
*/}}
{{- define "identity.generatedSecretData" -}}
{{- $data := dict -}}
{{- $live := get (.existing | default dict) "data" -}}
{{- if kindIs "map" $live -}}
{{- $data = deepCopy $live -}}
{{- end -}}
{{- if not (get $data .key) -}}
{{- $_ := set $data .key (randAlphaNum 48 | b64enc) -}}
{{- end -}}
{{- range $key := keys $data | sortAlpha }}
{{ $key | quote }}: {{ get $data $key | quote }}
{{- end -}}
{{- end -}}

{{/* A test image, repository:tag or repository:tag@digest: call with one of .Values.tests.images. */}}
{{- define "identity.testImage" -}}
{{- if .digest -}}
{{- printf "%s:%s@%s" .repository .tag .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* The SCIM routes' path on the edge: the path of scimEdge.baseUrl, or /scim/v2 without one (as the edge derives it). */}}
{{- define "identity.scimBasePath" -}}
{{- if .Values.scimEdge.baseUrl -}}
{{- (urlParse .Values.scimEdge.baseUrl).path | trimSuffix "/" -}}
{{- else -}}
/scim/v2
{{- end -}}
{{- end -}}

{{/* The core's edge-facing endpoint, through its Service. */}}
{{- define "identity.core.endpoint" -}}
{{- printf "%s://%s:%d" (ternary "https" "http" .Values.tls.enabled) (include "identity.core.fullname" .) (int .Values.identityCore.grpcPort) -}}
{{- end -}}

{{/*
The TLS Secrets (kubernetes.io/tls: tls.crt, tls.key, ca.crt): the ones cert-manager fills for
the chart's Certificates, or the ones given.
*/}}
{{- define "identity.tls.coreSecret" -}}
{{- if .Values.tls.certManager.enabled -}}{{ include "identity.core.fullname" . }}-tls{{- else -}}{{ .Values.tls.coreSecret }}{{- end -}}
{{- end -}}
{{- define "identity.tls.edgeSecret" -}}
{{- if .Values.tls.certManager.enabled -}}{{ include "identity.edge.fullname" . }}-tls{{- else -}}{{ .Values.tls.edgeSecret }}{{- end -}}
{{- end -}}
{{- define "identity.tls.edgeClientSecret" -}}
{{- if .Values.tls.certManager.enabled -}}{{ include "identity.edge.fullname" . }}-client-tls{{- else -}}{{ .Values.tls.edgeClientSecret }}{{- end -}}
{{- end -}}

{{/* The DNS names a Service answers to inside the cluster. */}}
{{- define "identity.serviceDnsNames" -}}
{{- $name := .name -}}
{{- $ns := .ctx.Release.Namespace -}}
- {{ $name }}
- {{ $name }}.{{ $ns }}
- {{ $name }}.{{ $ns }}.svc
- {{ $name }}.{{ $ns }}.svc.cluster.local
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
{{- $edgeSecret := .Values.edgeCredentialSecret -}}
{{- $adminSecret := .Values.admin.bootstrapTokenSecret -}}
{{- if and $edgeSecret.previousKey (eq $edgeSecret.previousKey $edgeSecret.key) -}}
{{- fail (printf "edgeCredentialSecret.previousKey %q is edgeCredentialSecret.key: while rotating, the previous credential lives under a second key of the same Secret (docs/operations.md)" $edgeSecret.previousKey) -}}
{{- end -}}
{{- if and (eq (include "identity.adminSecretName" .) (include "identity.edgeSecretName" .)) (or (eq $adminSecret.key $edgeSecret.key) (eq $adminSecret.key $edgeSecret.previousKey)) -}}
{{- fail (printf "admin.bootstrapTokenSecret and edgeCredentialSecret name the same key %q of Secret %q: the bootstrap admin credential and the SCIM edge's credential must be different secrets" $adminSecret.key (include "identity.adminSecretName" .)) -}}
{{- end -}}
{{- if and (eq $db.mode "sqlite") .Values.identityCore.autoscaling.enabled -}}
{{- fail "identityCore.autoscaling.enabled needs database.mode=postgres: database.mode=sqlite runs exactly one identity-core replica (one writer on one volume)" -}}
{{- end -}}
{{- if and .Values.identityCore.autoscaling.enabled (lt (int .Values.identityCore.autoscaling.maxReplicas) (int .Values.identityCore.autoscaling.minReplicas)) -}}
{{- fail "identityCore.autoscaling.maxReplicas must be at least minReplicas" -}}
{{- end -}}
{{- if and .Values.scimEdge.autoscaling.enabled (lt (int .Values.scimEdge.autoscaling.maxReplicas) (int .Values.scimEdge.autoscaling.minReplicas)) -}}
{{- fail "scimEdge.autoscaling.maxReplicas must be at least minReplicas" -}}
{{- end -}}
{{- if and .Values.scimEdge.ingress.enabled (not .Values.scimEdge.baseUrl) -}}
{{- fail "scimEdge.ingress.enabled needs scimEdge.baseUrl: the external https URL identity providers use (it appears in SCIM meta.location)" -}}
{{- end -}}
{{- $tls := .Values.tls -}}
{{- if and $tls.enabled $tls.certManager.enabled (not $tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name: the cert-manager Issuer or ClusterIssuer that signs the chart's certificates" -}}
{{- end -}}
{{- if and $tls.enabled (not $tls.certManager.enabled) (not (and $tls.coreSecret $tls.edgeSecret $tls.edgeClientSecret)) -}}
{{- fail "tls.enabled needs certificates: tls.certManager.enabled=true, or all of tls.coreSecret, tls.edgeSecret and tls.edgeClientSecret (kubernetes.io/tls Secrets with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and (not $tls.enabled) (or $tls.certManager.enabled $tls.clientCertificateRequired) -}}
{{- fail "tls.certManager.enabled and tls.clientCertificateRequired need tls.enabled=true" -}}
{{- end -}}
{{- $np := .Values.networkPolicy -}}
{{- if and $np.enabled $np.adminClientPodLabels -}}
{{- $edgeIsAdmin := true -}}
{{- range $key, $value := $np.adminClientPodLabels -}}
{{- if or (not (hasKey $.Values.scimEdge.podLabels $key)) (ne (toString (get $.Values.scimEdge.podLabels $key)) (toString $value)) -}}
{{- $edgeIsAdmin = false -}}
{{- end -}}
{{- end -}}
{{- if $edgeIsAdmin -}}
{{- fail "scimEdge.podLabels carries every label of networkPolicy.adminClientPodLabels: the SCIM edge must never reach the admin port" -}}
{{- end -}}
{{- end -}}
{{- if $np.enabled -}}
{{- $otlp := int (include "identity.otlpPort" .) -}}
{{- if or (lt $otlp 1) (gt $otlp 65535) -}}
{{- fail (printf "otel.endpoint %q names port %d: a port must be 1-65535" .Values.otel.endpoint $otlp) -}}
{{- end -}}
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


{{/* How many identity-core replicas run at least: the HPA's floor when it scales them. */}}
{{- define "identity.core.minReplicas" -}}
{{- if .Values.identityCore.autoscaling.enabled -}}
{{- int .Values.identityCore.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.identityCore.replicaCount -}}
{{- end -}}
{{- end -}}

{{/*
The OTLP collector's port: the one otel.endpoint names (http://collector:4317, collector:4317,
http://[fd00::1]:4317/), else networkPolicy.otlpPort.
*/}}
{{- define "identity.otlpPort" -}}
{{- $pattern := `^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[^/:@\[\]]+):([0-9]{1,5})(?:/.*)?$` -}}
{{- if regexMatch $pattern .Values.otel.endpoint -}}
{{- regexReplaceAll $pattern .Values.otel.endpoint "${1}" -}}
{{- else -}}
{{- int .Values.networkPolicy.otlpPort -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rule: DNS (UDP and TCP 53) to networkPolicy.dnsPeers, or anywhere. */}}
{{- define "identity.networkPolicy.dnsEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.dnsPeers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* NetworkPolicy egress rule: the PostgreSQL server (networkPolicy.database, or anywhere) on networkPolicy.databasePort. */}}
{{- define "identity.networkPolicy.databaseEgress" -}}
- ports:
    - port: {{ .Values.networkPolicy.databasePort }}
      protocol: TCP
  {{- with .Values.networkPolicy.database }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* NetworkPolicy egress rule: the OTLP collector (networkPolicy.otlpPeers, or anywhere); nothing when otel.endpoint is empty. */}}
{{- define "identity.networkPolicy.otlpEgress" -}}
{{- if .Values.otel.endpoint -}}
- ports:
    - port: {{ include "identity.otlpPort" . }}
      protocol: TCP
  {{- with .Values.networkPolicy.otlpPeers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
