"""A CONNECT proxy as a real process, for the egress tests: it tunnels to the host asked
for (or to where ``--map`` sends a name no resolver knows, so that only a request through
the proxy can reach it), asks for Basic credentials when given ``--auth``, and prints one
line per tunnel with the CONNECT request's headers (names in lower case).

    python tests/connect_proxy.py [--auth user:password] [--map name=127.0.0.1:port ...]

Its first line is ``listening <port>``; then ``tunnel <host:port> <json headers>`` or
``refused <reason>`` per request.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    names = dict(item.split("=", 1) for item in args.map)
    wanted = "Basic " + base64.b64encode(args.auth.encode()).decode() if args.auth else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        pairs = (line.split(": ", 1) for line in head[1:] if ": " in line)
        headers = {name.lower(): value for name, value in pairs}  # names are case-blind
        if method != "CONNECT":
            say(f"refused {method} (only CONNECT)")
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if wanted is not None and headers.get("proxy-authorization") != wanted:
            say("refused credentials")
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        host, port = names.get(target, target).rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError as exc:
            say(f"refused {target}: {exc}")
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        shown = {k: v for k, v in headers.items() if k != "proxy-authorization"}
        say(f"tunnel {target} {json.dumps(shown, sort_keys=True)}")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    say(f"listening {server.sockets[0].getsockname()[1]}")
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth")
    parser.add_argument("--map", action="append", default=[])
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
