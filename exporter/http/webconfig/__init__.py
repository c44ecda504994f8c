"""``--web.config.file``: the exporter-toolkit web configuration (TLS, client certificates,
basic auth, response headers, a request rate limit), read again whenever it changes.

The format is ``schema``; ``tls`` turns it into an SSLContext, ``access`` holds the rate
limit and basic auth, ``live`` re-reads the file and applies it per connection and request.
"""

from .live import LoadedWebConfig, WebConfigFile, load_web_config
from .schema import WebConfig

__all__ = ["LoadedWebConfig", "WebConfig", "WebConfigFile", "load_web_config"]
