"""The health check against the exporter in this process: plain HTTP, TLS, client
certificates required, and basic auth."""

from __future__ import annotations

from pathlib import Path

import anyio
import bcrypt
import pytest
import trustme
import yaml

from exporter.cli.healthcheck import probe
from exporter.http.webconfig import load_web_config

from ..helpers import config_of, experiture_source, running_exporter, running_simulator
from ..webconfig_files import web_config


async def probed(web: Path | None) -> str | None:
    """What the health check says of an exporter running with this web config."""
    async with running_simulator(experiture_campaigns=5) as (_sim, url):
        web_config = load_web_config(web) if web else None
        async with running_exporter(
            config_of(experiture_source(url)), web_config=web_config
        ) as exp:
            address = exp.url.removeprefix("http://")
            return await anyio.to_thread.run_sync(probe, address, web)


@pytest.mark.anyio
async def test_healthcheck_over_plain_http() -> None:
    assert await probed(None) is None


@pytest.mark.anyio
async def test_healthcheck_follows_tls(tmp_path: Path, ca: trustme.CA) -> None:
    assert await probed(web_config(tmp_path, ca)) is None


@pytest.mark.anyio
async def test_healthcheck_with_client_certificates_required(
    tmp_path: Path, ca: trustme.CA
) -> None:
    web = web_config(
        tmp_path, ca, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt"
    )
    assert await probed(web) is None


@pytest.mark.anyio
async def test_healthcheck_with_basic_auth(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    assert await probed(web) is None
