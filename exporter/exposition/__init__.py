"""The exposition: metric families and their text rendering, Prometheus 0.0.4 and OpenMetrics
(``render``), and the latest rendered families of every source kept as bytes for scrapes
(``store``). ``render`` imports nothing of the exporter; ``store`` imports telemetry for the
exporter's own families, until it is handed them instead. Sources, telemetry, the upstream
client's series, the HTTP side and the run import it."""
