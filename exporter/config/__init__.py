"""The config stage: the YAML file's format (``types``, the field types every model builds
on, and ``schema``, the models every source's schema builds on), its reading (``yamlfile``:
size, depth and alias limits) and loading (``loader``: ``${VAR}`` by ``env``, each source's
schema, cross-checks, the render-back), each problem one ``key.path: problem`` line
(``errors``, whose wording the web config shares), credentials (``secrets``) and the small
operator files they name (``localfile``), the alerts' thresholds the status page shares
with prometheus/mixin.py (``thresholds``). What a source's TLS and proxy settings
come to is ``egress`` (the TLS context, the check's problems and warnings). It may import
the clock and nothing else of the exporter, but for the loader's one back edge (the layout
test lists it): each source kind's schema (``exporter.sources``)."""
