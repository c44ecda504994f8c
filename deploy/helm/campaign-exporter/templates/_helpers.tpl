{{/* The app's name: the chart's, unless nameOverride. */}}
{{- define "campaign-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects' name: the release's, followed by the app's unless it holds it already. */}}
{{- define "campaign-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "campaign-exporter.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "campaign-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "campaign-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "campaign-exporter.labels" -}}
{{ include "campaign-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: campaign-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* A StatefulSet when sharded or persistent (the pod index is the shard; a claim per
pod, one pod on it at a time, rolled one pod at a time), else a Deployment. */}}
{{- define "campaign-exporter.stateful" -}}
{{- if or (gt (int .Values.shards) 1) .Values.persistence.enabled -}}true{{- end -}}
{{- end -}}

{{- define "campaign-exporter.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "campaign-exporter.fullname" .)) -}}
{{- end -}}

{{- define "campaign-exporter.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-credentials" (include "campaign-exporter.fullname" .)) -}}
{{- end -}}

{{- define "campaign-exporter.hasCredentials" -}}
{{- if or .Values.existingSecret .Values.credentials -}}true{{- end -}}
{{- end -}}

{{/* The anti-affinity of an HA pair: replicas of one shard (by pod index, when sharded)
on different nodes. */}}
{{- define "campaign-exporter.affinity" -}}
{{- if .Values.affinity -}}
{{ toYaml .Values.affinity }}
{{- else if and (gt (int .Values.replicas) 1) .Values.antiAffinity -}}
{{- $term := dict "topologyKey" .Values.antiAffinityTopologyKey "labelSelector" (dict "matchLabels" (include "campaign-exporter.selectorLabels" . | fromYaml)) -}}
{{- if gt (int .Values.shards) 1 -}}
{{- $_ := set $term "matchLabelKeys" (list "apps.kubernetes.io/pod-index") -}}
{{- end -}}
podAntiAffinity:
{{- if eq .Values.antiAffinity "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    {{- toYaml (list $term) | nindent 4 }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    {{- toYaml (list (dict "weight" 100 "podAffinityTerm" $term)) | nindent 4 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The pod, shared by the Deployment and the StatefulSets. */}}
{{- define "campaign-exporter.pod" -}}
metadata:
  labels:
    {{- include "campaign-exporter.selectorLabels" . | nindent 4 }}
    {{- with .copy }}
    campaign-exporter/copy: {{ . | quote }}
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with (include "campaign-exporter.affinity" .) }}
  affinity:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: campaign-exporter
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file=/etc/campaign-exporter/config/config.yml
        - --web.listen-address=:10123
        - --log.format=json
        - --storage.path=/var/lib/campaign-exporter
        {{- if gt (int .Values.shards) 1 }}
        - --shard=$(SHARD)
        - --total-shards={{ .Values.shards }}
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or (gt (int .Values.shards) 1) .Values.extraEnv }}
      env:
        {{- if gt (int .Values.shards) 1 }}
        - name: SHARD
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: 10123
          protocol: TCP
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        # the directory, not a subPath: Kubernetes updates it when the ConfigMap changes
        - name: config
          mountPath: /etc/campaign-exporter/config
          readOnly: true
        {{- if include "campaign-exporter.hasCredentials" . }}
        - name: credentials
          mountPath: /etc/campaign-exporter/secrets
          readOnly: true
        {{- end }}
        # the books: the pod's claim, or without persistence an emptyDir
        - name: data
          mountPath: /var/lib/campaign-exporter
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "campaign-exporter.configMapName" . }}
    {{- if include "campaign-exporter.hasCredentials" . }}
    - name: credentials
      secret:
        secretName: {{ include "campaign-exporter.secretName" . }}
        defaultMode: 0440
    {{- end }}
    {{- if not .Values.persistence.enabled }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
