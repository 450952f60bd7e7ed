{{- define "common.name" -}}{{ .Chart.Name | lower }}{{- end -}}
