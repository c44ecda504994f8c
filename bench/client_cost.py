"""CPU per upstream request of HTTP clients, at a paced 1,000 requests per second.

    .venv/bin/pip install -e '.[bench]'      # httpx and httpx-aiohttp, for comparison
    .venv/bin/python bench/client_cost.py

A small aiohttp server in a child process answers a /status-sized JSON body. This process
makes --requests requests with each client (16 in flight, paced to --rate per second) and
divides the CPU time it used (time.process_time) by the request count. Clients: the
exporter's UpstreamClient (aiohttp, with its bookkeeping), a bare aiohttp session, and,
when installed, httpx with its default transport and with the httpx-aiohttp transport.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import free_port

from exporter.telemetry import Telemetry
from exporter.upstream import UpstreamClient

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


async def measure(url: str, requests: int, rate: float) -> list[tuple[str, float]]:
    results = []
    client = UpstreamClient("bench", Telemetry(), timeout=10, concurrency=16)

    async def ours(u: str) -> Any:
        return (await client.request("GET", u, "status")).body

    results.append(("exporter UpstreamClient (aiohttp)", await paced(ours, url, requests, rate)))
    await client.aclose()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def bare(u: str) -> Any:
            async with session.get(u) as resp:
                return json.loads(await resp.read())

        results.append(("bare aiohttp ClientSession", await paced(bare, url, requests, rate)))
    try:
        import httpx
    except ImportError:
        return results
    async with httpx.AsyncClient() as hx:

        async def default(u: str) -> Any:
            return (await hx.get(u)).json()

        results.append(("httpx, default transport", await paced(default, url, requests, rate)))
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return results
    async with httpx.AsyncClient(transport=AiohttpTransport()) as hx2:

        async def via_aiohttp(u: str) -> Any:
            return (await hx2.get(u)).json()

        results.append(
            ("httpx, httpx-aiohttp transport", await paced(via_aiohttp, url, requests, rate))
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
        print(f"  {name:36s} {cpu * 1e3:.3f} ms CPU per request")


if __name__ == "__main__":
    main()
