"""Reaching an upstream behind a private CA that asks for a client certificate, directly
and through a real CONNECT proxy process, with Prometheus' http_client_config keys; and
each way it can fail: one clear line, a down source with reason ``tls``, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trustme
import yaml

from exporter.config.schema import TlsConfig
from exporter.simulator import Simulator, SimulatorSettings, SimulatorThread
from exporter.upstream.egress import Egress, EgressTransport

from ..helpers import (
    ExporterProcess,
    config_of,
    experiture_source,
    ga_source,
    run_cli,
    running_exporter,
    wait_for_sync,
)

HERE = Path(__file__).resolve().parents[1]
UP = "campaign_exporter_source_up"
ERRORS = "campaign_exporter_upstream_errors_total"
NAME = "sim.test"  # resolvable only by the proxy (its --map)
PROXY_USER, PROXY_PASSWORD = "egress", "proxy-pass-7f3a"
TENANT = "tenant-value-91c2"  # a proxy_connect_header value: a secret too


@dataclass
class Pki:
    """A private CA, the simulator's certificate from it, and client certificates: one it
    signed, one from another CA, one expired; as PEM files in ``directory``."""

    ca: trustme.CA
    directory: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", NAME).configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED  # a client certificate or no handshake
        return ctx

    def path(self, name: str) -> str:
        return str(self.directory / name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    now = datetime.datetime.now(datetime.UTC)
    clients = {
        "client": ca.issue_cert("exporter"),
        "stranger": trustme.CA().issue_cert("exporter"),
        "expired": ca.issue_cert(
            "exporter",
            not_before=now - datetime.timedelta(days=2),
            not_after=now - datetime.timedelta(days=1),
        ),
    }
    for name, cert in clients.items():
        cert.cert_chain_pems[0].write_to_path(str(directory / f"{name}.pem"))
        cert.private_key_pem.write_to_path(str(directory / f"{name}.key"))
    return Pki(ca, directory)


def tls(pki: Pki, client: str | None = "client", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"ca_file": pki.path("ca.pem"), **extra}
    if client is not None:
        found.update(cert_file=pki.path(f"{client}.pem"), key_file=pki.path(f"{client}.key"))
    return found


@contextlib.contextmanager
def https_simulator(pki: Pki) -> Iterator[SimulatorThread]:
    settings = SimulatorSettings(experiture_campaigns=20, greenarrow_campaigns=30, speed=0)
    with SimulatorThread(settings, ssl_context=pki.server_context()) as sim:
        yield sim


class Proxy:
    """tests/connect_proxy.py as a process; ``tunnels`` are the lines it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "connect_proxy.py"), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def tunnels(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (target, json.loads(headers))
            for line in list(self.lines)
            if line.startswith("tunnel ")
            for target, headers in [line.removeprefix("tunnel ").split(" ", 1)]
        ]

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def exporter(tmp_path: Path, sources: list[dict[str, Any]], **env: str) -> ExporterProcess:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": sources}))
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return ExporterProcess(
        f"--config.file={config}", "--log.level=debug", env={**environment, **env}
    )


def oauth_source(url: str, **extra: Any) -> dict[str, Any]:
    source = experiture_source(
        url,
        oauth2={
            "token_url": f"{url}/oauth/token",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
        },
        **extra,
    )
    del source["authorization"]
    return source


def campaigns_read(exp: ExporterProcess) -> dict[str, int]:
    names = ["experiture_campaign_info", "greenarrow_campaign_info", UP]
    samples = exp.scrape(names)
    assert samples.value(UP, source="ga") == 1, "".join(exp.lines)[-3000:]
    return {
        "experiture": len(samples.by_campaign("experiture_campaign_info")),
        "greenarrow": len(samples.by_campaign("greenarrow_campaign_info")),
    }


def expected(sim: SimulatorThread) -> dict[str, int]:
    now = sim.sim.clock.now()
    exp = [
        c
        for c in sim.sim.experiture.truth(now)
        if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
    ]
    return {"experiture": len(exp), "greenarrow": len(sim.sim.greenarrow.truth(now))}


def test_a_private_ca_and_a_client_certificate_reach_the_upstream_directly(
    tmp_path: Path, pki: Pki
) -> None:
    with https_simulator(pki) as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        sources = [
            ga_source(sim.url, tls_config=tls(pki)),
            oauth_source(sim.url, tls_config=tls(pki)),
        ]
        with exporter(tmp_path, sources) as exp:
            exp.wait_ready()
            assert campaigns_read(exp) == expected(sim)
            assert sim.sim.stats[("experiture", "token", 200)] >= 1


def test_through_a_connect_proxy_with_credentials_and_connect_headers(
    tmp_path: Path, pki: Pki
) -> None:
    """The simulator is reachable only through the proxy (``sim.test`` resolves nowhere
    else), so every request, the OAuth2 token's too, went through a tunnel."""
    with https_simulator(pki) as sim:
        port = sim.url.rsplit(":", 1)[1]
        url = f"https://{NAME}:{port}"
        with Proxy(
            "--auth", f"{PROXY_USER}:{PROXY_PASSWORD}", "--map", f"{NAME}:{port}=127.0.0.1:{port}"
        ) as proxy:
            egress = {
                "tls_config": tls(pki),
                "proxy_url": f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}",
                "proxy_connect_header": {"X-Tenant": [TENANT]},
            }
            sources = [ga_source(url, **egress), oauth_source(url, **egress)]
            with exporter(tmp_path, sources) as exp:
                exp.wait_ready()
                assert campaigns_read(exp) == expected(sim)
                printed = run_cli(f"--config.file={tmp_path / 'config.yml'}", "--config.print")
        tunnels = proxy.tunnels()
    assert tunnels and {target for target, _ in tunnels} == {f"{NAME}:{port}"}
    assert all(headers.get("x-tenant") == TENANT for _, headers in tunnels)
    assert sim.sim.stats[("experiture", "token", 200)] >= 1
    assert not [line for line in proxy.lines if line.startswith("refused")]
    assert printed.returncode == 0, printed.stderr
    for secret in (PROXY_PASSWORD, TENANT):
        assert secret not in printed.stdout
        assert secret not in "".join(exp.lines), "a proxy secret in the log (debug level)"
    assert f"http://{PROXY_USER}:<secret>@127.0.0.1:{proxy.port}" in printed.stdout


def test_the_proxy_from_the_environment_and_no_proxy(tmp_path: Path, pki: Pki) -> None:
    with https_simulator(pki) as sim:
        port = sim.url.rsplit(":", 1)[1]
        with Proxy("--map", f"{NAME}:{port}=127.0.0.1:{port}") as proxy:
            sources = [
                ga_source(
                    f"https://{NAME}:{port}", tls_config=tls(pki), proxy_from_environment=True
                ),
                oauth_source(sim.url, tls_config=tls(pki), proxy_from_environment=True),
            ]
            env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "127.0.0.1"}
            with exporter(tmp_path, sources, **env) as exp:
                exp.wait_ready()
                assert campaigns_read(exp) == expected(sim)
        tunnels = proxy.tunnels()
    # GreenArrow's name went through the proxy; Experiture's 127.0.0.1 is in NO_PROXY
    assert {target for target, _ in tunnels} == {f"{NAME}:{port}"}


REFUSED = "the server closed the connection after the handshake: it does not accept the client"
FAILURES = {
    # the client certificate is fine, but the server's CA is not trusted
    "no-ca": ({"client": "client", "ca": False}, "self-signed certificate in certificate chain"),
    # refused by the server after the handshake (TLS 1.3): found by a probe of it
    "stranger-certificate": ({"client": "stranger", "ca": True}, REFUSED),
    "expired-certificate": ({"client": "expired", "ca": True}, REFUSED),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_tls_failure_is_one_line_and_a_down_source_with_reason_tls(
    tmp_path: Path, pki: Pki, case: str
) -> None:
    (setting, words) = FAILURES[case]
    config = tls(pki, str(setting["client"]))
    if not setting["ca"]:
        del config["ca_file"]
    with https_simulator(pki) as sim:
        sources = [ga_source(sim.url, tls_config=config)]
        with exporter(tmp_path, sources) as exp:
            exp.wait_ready()

            def down() -> bool:
                samples = exp.scrape([UP, ERRORS])
                return samples.value(UP, source="ga") == 0 and (
                    samples.number(ERRORS, source="ga", reason="tls") >= 1
                )

            wait_for_sync(down, f"ga down with reason tls ({case})")
            _, page = exp.get("/")
            assert exp.proc.poll() is None, "never a crash"
    failed = [line for line in exp.lines if "source down" in line]
    assert len(failed) == 1, failed
    port = sim.url.rsplit(":", 1)[1]
    assert f"TLS with 127.0.0.1:{port} failed" in failed[0] and "reason=tls" in failed[0]
    assert words in failed[0]
    assert "Traceback" not in "".join(exp.lines)
    assert f"TLS with 127.0.0.1:{port} failed" in page


def test_insecure_skip_verify_warns_at_start_and_on_the_status_page(
    tmp_path: Path, pki: Pki
) -> None:
    with https_simulator(pki) as sim:
        config = tls(pki, insecure_skip_verify=True)
        del config["ca_file"]
        with exporter(tmp_path, [ga_source(sim.url, tls_config=config)]) as exp:
            exp.wait_ready()
            assert exp.scrape([UP]).value(UP, source="ga") == 1
            _, page = exp.get("/")
    warned = [line for line in exp.lines if "insecure_skip_verify" in line]
    assert len(warned) == 1 and "level=warn" in warned[0]
    assert "TLS certificates not verified" in page


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"proxy_url": "socks5://127.0.0.1:1080"},
            'proxy_url: proxy scheme "socks5" is not supported',
        ),
        (
            {"tls_config": {"ca_file": "/nonexistent/ca.pem"}},
            "tls_config.ca_file: file not found: /nonexistent/ca.pem",
        ),
        ({"tls_config": {"cert_file": "c.pem"}}, "cert_file and key_file go together"),
        ({"no_proxy": "internal.example"}, "no_proxy needs proxy_url"),
        (
            {"proxy_from_environment": True, "proxy_url": "http://127.0.0.1:3128"},
            "proxy_from_environment takes the proxy and no_proxy from the environment",
        ),
    ],
    ids=["socks", "missing-ca", "cert-without-key", "no-proxy-alone", "both-proxies"],
)
def test_a_bad_egress_setting_is_one_line_naming_the_key(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": [ga_source("https://ga.example", **change)]}))
    result = run_cli(f"--config.file={config}", "--config.check")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"campaign-exporter: {config}: sources[0]"), line
    assert problem in line, line
    assert "Traceback" not in result.stderr


def test_a_pem_file_that_is_no_certificate_is_named_by_the_check(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    config = tmp_path / "config.yml"
    source = ga_source("https://ga.example", tls_config={"ca_file": str(bogus)})
    config.write_text(yaml.safe_dump({"sources": [source]}))
    result = run_cli(f"--config.file={config}", "--config.check")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "sources[0].tls_config.ca_file: no PEM certificate in it" in line, line


def test_a_mistyped_connect_header_is_named_and_not_quoted(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    source = ga_source(
        "https://ga.example",
        proxy_url="http://127.0.0.1:3128",
        proxy_connect_header={"X-Tenant": TENANT},  # a string, not a list of them
    )
    config.write_text(yaml.safe_dump({"sources": [source]}))
    result = run_cli(f"--config.file={config}", "--config.check")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "sources[0].proxy_connect_header.X-Tenant: expected a list" in line, line
    assert TENANT not in result.stderr


@pytest.mark.anyio
async def test_a_renewed_client_certificate_applies_without_a_restart(
    tmp_path: Path, pki: Pki
) -> None:
    """The files are read again when they change: refused with a stranger's certificate,
    the source is up at the next poll once the files hold one the server's CA signed."""
    cert, key = tmp_path / "mine.pem", tmp_path / "mine.key"
    cert.write_bytes(Path(pki.path("stranger.pem")).read_bytes())
    key.write_bytes(Path(pki.path("stranger.key")).read_bytes())
    sim = Simulator(SimulatorSettings(greenarrow_campaigns=30, speed=0))
    runner, url = await sim.start(ssl_context=pki.server_context())
    config = {"ca_file": pki.path("ca.pem"), "cert_file": str(cert), "key_file": str(key)}
    try:
        async with running_exporter(config_of(ga_source(url, tls_config=config))) as exp:
            refused = await exp.wait_refreshes("ga", 1, names=[UP, ERRORS])
            for name, path in (("client.pem", cert), ("client.key", key)):
                renewed = path.with_suffix(".new")
                renewed.write_bytes(Path(pki.path(name)).read_bytes())
                renewed.replace(path)  # as a Secret's symlink swap: a new file
            renewed_up = await exp.poll("ga", names=[UP, "greenarrow_campaign_info"])
    finally:
        await runner.cleanup()
    assert refused.value(UP, source="ga") == 0
    assert refused.number(ERRORS, source="ga", reason="tls") >= 1
    assert renewed_up.value(UP, source="ga") == 1
    campaigns = renewed_up.by_campaign("greenarrow_campaign_info")
    assert len(campaigns) == len(sim.greenarrow.truth(sim.clock.now()))


@pytest.mark.anyio
@pytest.mark.parametrize(("client", "refused"), [("client", False), ("stranger", True)])
async def test_the_handshake_probe_tells_a_refused_certificate_from_a_dropped_connection(
    pki: Pki, client: str, refused: bool
) -> None:
    """The probe behind the TLS 1.3 case: a server that answers its request holds the
    certificate good (a dropped pooled connection was something else, and is retried)."""
    sim = Simulator(SimulatorSettings(greenarrow_campaigns=3, speed=0))
    runner, url = await sim.start(ssl_context=pki.server_context())
    config = TlsConfig.model_validate(tls(pki, client))
    transport = EgressTransport(2, Egress(config))
    try:
        target = httpx2.URL(f"{url}/ga/api/v2/system_campaigns")
        request = httpx2.Request("GET", target)
        with contextlib.suppress(httpx2.HTTPError):
            (await transport.handle_async_request(request))  # opens the pool
        problem = await transport.handshake_problem(target)
    finally:
        await transport.aclose()
        await runner.cleanup()
    assert (problem is not None and REFUSED in problem) if refused else problem is None


@pytest.mark.anyio
async def test_a_refusal_sent_as_a_reset_after_the_handshake_is_a_tls_failure(
    pki: Pki,
) -> None:
    """A server that finishes the handshake, reads the request and resets the connection
    (as TLS 1.3 refusing a client certificate does, when the request reached it before its
    refusal left): a TLS failure with the refusal's words, not "connection reset"."""
    served = 0

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        served += 1
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # an RST, not a FIN

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.ca.issue_cert("127.0.0.1").configure_cert(ctx)
    server = await asyncio.start_server(reset, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    source = ga_source(f"https://127.0.0.1:{port}", tls_config=tls(pki, "stranger"))
    try:
        async with running_exporter(config_of(source)) as exp:
            samples = await exp.wait_refreshes("ga", 1, names=[UP, ERRORS])
            _, page = await exp.get("/")
    finally:
        server.close()
        await server.wait_closed()
    assert served >= 2, "the read and its probe"
    assert samples.value(UP, source="ga") == 0
    assert samples.number(ERRORS, source="ga", reason="tls") >= 1
    assert samples.value(ERRORS, source="ga", reason="connect") in (None, 0)
    assert f"TLS with 127.0.0.1:{port} failed: {REFUSED}" in page
