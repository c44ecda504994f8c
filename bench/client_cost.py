"""CPU per upstream request of the exporter's client, side by side, at a paced 1,000/s.

    .venv/bin/python bench/client_cost.py

A small aiohttp server in a child process answers a /status-sized JSON body. This process
makes --requests requests with each client (16 in flight, paced to --rate per second) and
divides the CPU time it used (time.process_time) by the request count. Clients: the
exporter's UpstreamClient as it was on bare aiohttp (commit 4abac90, loaded from git),
today's UpstreamClient on httpx2 with httpx's own transport (httpcore) and over aiohttp's
connection pool (httpx-aiohttp, the default), and a bare aiohttp session as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import httpx2
from _common import free_port

from exporter.telemetry import Telemetry
from exporter.upstream.client import UpstreamClient

BEFORE = "4abac90"  # the last commit whose UpstreamClient ran on bare aiohttp
# where the modules BEFORE's upstream.py imports (relatively) live today
BEFORE_MODULES = {
    "schema": "config.schema",
    "telemetry": "telemetry",
    "untrusted": "upstream.untrusted",
}
BODY = json.dumps(
    {
        "success": True,
        "correlationId": "c" * 32,
        "data": {
            "campaignId": "4130bada-9264-465f-bc0c-a26bebcfcc81",
            "name": "Spring Re-engagement",
            "authoringStatus": "published",
            "schedule": {
                "scheduleId": "sch-1",
                "sendAt": "2026-05-01T09:00:00.000Z",
                "timezone": "America/New_York",
                "active": False,
            },
            "execution": {
                "state": "completed",
                "lastExecution": {
                    "executionId": "exec-1",
                    "startedAt": "2026-05-01T09:00:05.000Z",
                    "completedAt": "2026-05-01T09:47:22.000Z",
                    "status": "completed",
                    "counts": {
                        "scheduled": 17491,
                        "hydrated": 17491,
                        "composed": 17485,
                        "injected": 17485,
                        "sent": 17480,
                        "failed": 5,
                    },
                },
            },
        },
    }
).encode()

Fetch = Callable[[str], Awaitable[Any]]


def serve(port: int) -> None:
    from aiohttp import web

    async def status(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/status", status)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def client_before() -> ModuleType:
    """exporter/upstream.py as of BEFORE, as a module of today's package."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{BEFORE}:exporter/upstream.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for old, new in BEFORE_MODULES.items():  # its relative imports, in today's tree
        source = source.replace(f"from .{old} import", f"from exporter.{new} import")
    spec = importlib.util.spec_from_loader(f"exporter._upstream_{BEFORE}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "exporter"
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{BEFORE}:exporter/upstream.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


async def paced(fetch: Fetch, url: str, requests: int, rate: float) -> float:
    """CPU seconds per request for ``requests`` calls paced at ``rate`` per second."""
    queue: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)
    start_wall = time.monotonic()
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while not queue.empty():
            queue.get_nowait()
            due = start_wall + sent / rate
            sent += 1
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await fetch(url)

    for _ in range(50):  # warm the connection pool up before measuring
        await fetch(url)
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(16)))
    return (time.process_time() - cpu) / requests


async def ours(client: Any, url: str, requests: int, rate: float) -> float:
    async def fetch(u: str) -> Any:
        return (await client.request("GET", u, "status")).body

    try:
        return await paced(fetch, url, requests, rate)
    finally:
        await client.aclose()


async def measure(url: str, requests: int, rate: float) -> list[tuple[str, float]]:
    results = []
    before = client_before().UpstreamClient("bench", Telemetry(), timeout=10, concurrency=16)
    cost = await ours(before, url, requests, rate)
    results.append((f"UpstreamClient at {BEFORE}, bare aiohttp", cost))
    own = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=16))
    client = UpstreamClient("bench", Telemetry(), timeout=10, concurrency=16, transport=own)
    results.append(
        ("UpstreamClient, httpx2 own transport", await ours(client, url, requests, rate))
    )
    client = UpstreamClient("bench", Telemetry(), timeout=10, concurrency=16)
    cost = await ours(client, url, requests, rate)
    results.append(("UpstreamClient, httpx2 over aiohttp (default)", cost))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def bare(u: str) -> Any:
            async with session.get(u) as resp:
                return json.loads(await resp.read())

        results.append(
            ("bare aiohttp ClientSession (floor)", await paced(bare, url, requests, rate))
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        results = asyncio.run(measure(f"http://127.0.0.1:{port}/status", args.requests, args.rate))
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.requests} requests per client at {args.rate:g}/s, 16 in flight:")
    for name, cpu in results:
        print(f"  {name:48s} {cpu * 1e3:.3f} ms CPU per request")


if __name__ == "__main__":
    main()
