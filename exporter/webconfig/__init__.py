"""``--web.config.file``: the exporter-toolkit web configuration (TLS, client certificates,
basic auth, response headers, a request rate limit).

The format is ``schema``; ``tls`` turns it into an SSLContext, ``access`` holds the rate
limit and basic auth, ``live`` applies it to the server.
"""

from .live import LoadedWebConfig, WebConfigFile, load_web_config
from .schema import WebConfig

__all__ = ["LoadedWebConfig", "WebConfig", "WebConfigFile", "load_web_config"]
