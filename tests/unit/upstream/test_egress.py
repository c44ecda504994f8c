"""Egress settings on their own: a proxy URL's password never prints, and no_proxy matches
hosts, domains, IP addresses and networks."""

from __future__ import annotations

import httpx2
import pytest

from exporter.config.types import ProxyUrl, parse_proxy_url
from exporter.upstream.egress import _bypassed

PROXY_USER, PROXY_PASSWORD = "egress", "proxy-pass-7f3a"


def test_a_proxy_password_never_prints() -> None:
    proxy = parse_proxy_url(f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.example:3128")
    assert isinstance(proxy, ProxyUrl)
    assert proxy.address == "http://proxy.example:3128"
    assert proxy.password is not None and proxy.password.reveal() == PROXY_PASSWORD
    for shown in (str(proxy), repr(proxy), f"{proxy!r}"):
        assert PROXY_PASSWORD not in shown
    assert str(proxy) == f"http://{PROXY_USER}:<secret>@proxy.example:3128"
    with pytest.raises(ValueError, match="not supported") as err:
        parse_proxy_url(f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@proxy.example:1080")
    assert PROXY_PASSWORD not in str(err.value)


@pytest.mark.parametrize(
    ("host", "bypassed"),
    [
        ("internal.example", True),
        ("api.internal.example", True),
        ("notinternal.example", False),
        ("10.1.2.3", True),
        ("10.9.0.1", False),
        ("192.168.0.7", True),
        ("public.example", False),
    ],
)
def test_no_proxy_matches_hosts_domains_ips_and_networks(host: str, bypassed: bool) -> None:
    entries = ("internal.example", "10.1.0.0/16", "192.168.0.7")
    assert _bypassed(httpx2.URL(f"https://{host}/").host, entries) is bypassed
    assert _bypassed(host, ("*",))
