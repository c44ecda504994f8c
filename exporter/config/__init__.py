"""The config stage: the YAML file's format (``schema``, the field types and models every
source's schema builds on), its loading (``loader``: size and alias limits, ``${VAR}``,
cross-checks, each problem one ``key.path: problem`` line), credentials (``secrets``), the
small operator files they name (``localfile``) and the alerts' thresholds the status page
shares with prometheus/mixin.py (``thresholds``). It may import the clock and nothing else
of the exporter, but for two edges of the loader that its split removes: each source kind's
schema (``exporter.sources``) and the TLS and proxy checks (``exporter.upstream.egress``)."""
