"""The exposition: metric families and their text rendering, Prometheus 0.0.4 and OpenMetrics
(``render``), and the latest rendered families of every source kept as bytes for scrapes
(``store``). It imports nothing of the exporter: the store is handed whoever keeps the
exporter's own families (``OwnFamilies``: telemetry). Sources, telemetry, the HTTP side and
the run import it."""
