"""System tests on real processes: the campaign-exporter command, promtool, Prometheus,
Alertmanager, Chromium, Helm and the image's build."""
