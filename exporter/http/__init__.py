"""The HTTP side: the server and its handlers (``server``: /metrics from the stored bytes,
health, readiness, reload), the connections it accepts (``connections``, ``activation`` for
systemd's sockets), the status page and its triage, and ``--web.config.file``
(``webconfig``). It reads the exposition store, telemetry and each source kind's
``Display``; it imports the config's types, never the run or the upstream client."""
