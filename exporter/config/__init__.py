"""The config stage: the YAML file's format (``schema``, the field types and models every
source's schema builds on), its loading (``loader``: size and alias limits, ``${VAR}``,
cross-checks, each problem one ``key.path: problem`` line), credentials (``secrets``), the
small operator files they name (``localfile``) and what a source's TLS and proxy settings
come to (``egress``: the TLS context, the check's problems and warnings). It may import the
clock and nothing else of the exporter, but for one edge of the loader that its split
removes: each source kind's schema (``exporter.sources``)."""
