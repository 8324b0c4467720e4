{{- define "ringside.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ringside.labels" -}}
app.kubernetes.io/name: ringside
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway") */}}
{{- define "ringside.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ringside.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" .Release.Name) }}
{{- end -}}

{{- define "ringside.databaseSecretName" -}}
{{ .Values.postgresql.existingSecret | default (printf "%s-database" .Release.Name) }}
{{- end -}}

{{/* Environment every service gets: the ConfigMap, plus the NATS creds. */}}
{{- define "ringside.envFrom" -}}
- configMapRef:
    name: {{ .Release.Name }}-env
{{- end -}}

{{- define "ringside.databaseEnv" -}}
- name: RINGSIDE__PROVISIONING__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ringside.databaseSecretName" . }}
      key: database-url
- name: RINGSIDE__PROVISIONING__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "ringside.secretName" . }}
      key: secret-key
{{- end -}}

{{/* Pod-level settings shared by every Deployment. */}}
{{- define "ringside.podSpec" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Health probes on a named port: liveness /healthz, readiness /readyz. */}}
{{- define "ringside.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ . }}}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: {{ . }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: {{ . }}}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* NATS credentials (callers check nats.credentialsSecret). */}}
{{- define "ringside.natsCredsEnv" -}}
- name: RINGSIDE__BUS__NATS__CREDENTIALS_FILE
  value: /etc/ringside/nats/nats.creds
{{- end -}}

{{- define "ringside.natsCredsMount" -}}
- name: nats-creds
  mountPath: /etc/ringside/nats
  readOnly: true
{{- end -}}

{{- define "ringside.natsCredsVolume" -}}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credentialsSecret }}
{{- end -}}
