"""campaign-exporter: marketing-campaign sends as Prometheus metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("campaign-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
