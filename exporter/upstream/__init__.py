"""The upstream client: HTTP calls to a vendor's API with timeouts, retries and pacing
(``client``), what a failed call is and says (``failures``: the error, its reason, the
credential kept out of its text), bodies read within the size cap (``decoding``), the
redirect policy (``redirects``), how fast it may call (``pacing``), how its connections
leave (``egress``: TLS, proxies), the credentials it sends (``auth``) and the cleaning of
text it brings in (``untrusted``); its latency and pace series are telemetry's
(``telemetry.upstream``). It may import the clock, the config (its models, secrets, files
and TLS context), the books (reasons, the learned pace it keeps) and telemetry; never a
source, the exposition, the run or the HTTP side."""
