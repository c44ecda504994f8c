"""The upstream client on virtual time: retries, backoff, Retry-After, pacing per endpoint
class, the configured bucket, and OAuth2 through authlib.

These run the real client against ``httpx2.MockTransport`` and a fake clock, so each
asserts exact timings without waiting for them; the simulator tests cover the same client
against a real server. Transport failures are real ones on loopback (a closed port, a
server that hangs up) and a name under ``.invalid``, which never resolves.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import httpx2
import pytest
from anyio.abc import SocketAttribute, SocketStream
from prometheus_client.parser import text_string_to_metric_families

from exporter.config.schema import OAuth2, RateLimit
from exporter.config.types import parse_proxy_url
from exporter.exposition.render import pre_render, render_header
from exporter.telemetry import Telemetry
from exporter.upstream.auth import OAuth2Provider
from exporter.upstream.client import UpstreamClient
from exporter.upstream.egress import Egress, ProxyRoute
from exporter.upstream.failures import UpstreamError
from exporter.upstream.pacing import Pace, TokenBucket

from ...helpers import free_port

pytestmark = pytest.mark.anyio

URL = "https://api.example/v1/things"
Handler = Callable[[httpx2.Request], httpx2.Response]


class FakeClock:
    """Virtual time: ``sleep`` moves it on at once and notes how long it was."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await anyio.sleep(0)


class Top(random.Random):
    """Jitter that always draws the top of its range."""

    def uniform(self, a: float, b: float) -> float:
        return b


def answers(*statuses: int, retry_after: str | None = None) -> tuple[Handler, list[float]]:
    """A handler answering ``statuses`` in turn (then 200), and the times it was called."""
    queue = list(statuses)
    seen: list[float] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(0.0)
        status = queue.pop(0) if queue else 200
        headers = {"Retry-After": retry_after} if status == 429 and retry_after else {}
        return httpx2.Response(status, headers=headers, json={"success": status == 200})

    return handle, seen


def client_for(
    handler: Handler, clock: FakeClock, *, rng: random.Random | None = None, **kwargs: object
) -> UpstreamClient:
    return UpstreamClient(
        "src",
        Telemetry(),
        timeout=5,
        concurrency=4,
        transport=httpx2.MockTransport(handler),
        clock=clock,
        rng=rng,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_5xx_is_tried_three_times_then_fails() -> None:
    handler, seen = answers(503, 503, 503)
    client = client_for(handler, FakeClock())
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "things")
    assert err.value.reason == "http_5xx"
    assert len(seen) == 3
    assert client.gave_up == 1


async def test_without_retries_one_attempt_is_all() -> None:
    handler, seen = answers(503, 429)
    client = client_for(handler, FakeClock(), retries=False)
    with pytest.raises(UpstreamError):
        await client.request("GET", URL, "things")
    with pytest.raises(UpstreamError):
        await client.request("GET", URL, "things")
    assert len(seen) == 2


async def test_a_429_has_its_own_allowance_of_six() -> None:
    handler, seen = answers(*[429] * 10, retry_after="0")
    client = client_for(handler, FakeClock())
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "things")
    assert err.value.reason == "rate_limited"
    assert len(seen) == 6


async def test_backoff_ceiling_doubles_and_jitter_stays_under_it() -> None:
    clock = FakeClock()
    handler, _ = answers(503, 503)
    await client_for(handler, clock, rng=Top()).request("GET", URL, "things")
    assert clock.sleeps == [0.25, 0.5]  # the top of each full-jitter range
    for seed in range(50):
        clock = FakeClock()
        handler, _ = answers(503, 503)
        rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        await client_for(handler, clock, rng=rng).request("GET", URL, "t")
        first, second = clock.sleeps
        assert 0 <= first <= 0.25
        assert 0 <= second <= 0.5


async def test_retry_after_is_waited_for_before_the_retry() -> None:
    clock = FakeClock()
    handler, seen = answers(429, retry_after="3")
    client = client_for(handler, clock)
    resp = await client.request("GET", URL, "things")
    assert resp.status == 200
    assert len(seen) == 2
    assert clock.sleeps == [3.0]
    assert client.telemetry.rate_limited.get(("src",)) == 1


async def test_a_429_pauses_only_its_own_class() -> None:
    clock = FakeClock()
    handler, seen = answers(429, retry_after="5")
    client = client_for(handler, clock, retries=False)
    with pytest.raises(UpstreamError):
        await client.request("GET", URL, "metrics", endpoint_class="analytics")
    await client.request("GET", URL, "status", endpoint_class="campaigns")
    assert clock.sleeps == []  # campaigns went at once
    await client.request("GET", URL, "metrics", endpoint_class="analytics")
    assert clock.sleeps == [5.0]
    assert len(seen) == 3


async def test_a_class_with_a_full_queue_turns_first_attempts_away() -> None:
    clock = FakeClock()
    handler, seen = answers()
    client = client_for(handler, clock)
    pace = client.pace("analytics")
    pace.rate, pace.ceiling = 1.0, 2.0  # a slow class past its doubling
    pace.waiting = 6  # six calls already queued: 6 s at 1/s
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "metrics", endpoint_class="analytics")
    assert err.value.reason == "rate_limited"
    assert seen == []
    assert client.telemetry.upstream.throttled == {("src", "analytics"): 1}
    pace.waiting = 5
    await client.request("GET", URL, "metrics", endpoint_class="analytics")
    assert len(seen) == 1


def feed(pace: Pace, start: float, end: float, per_second: float) -> None:
    """Answers other than 429 at an even ``per_second`` from ``start`` until ``end``."""
    steps = round((end - start) * per_second)
    for i in range(1, steps + 1):
        pace.answered(start + i / per_second)


def test_the_learned_pace_rises_while_used_and_falls_at_each_429() -> None:
    pace = Pace()
    pace.start(0.0)
    feed(pace, 0.0, 0.1, 50)  # a burst of 5 accepted...
    pace.limited(0.1, pace.epoch, 1.0)  # ...then a 429
    assert pace.rate == 4.5  # 0.9 of what was accepted in the last second
    assert pace.paused_until == 1.1
    feed(pace, 1.1, 2.1, 100)  # used to the full: doubles each half second
    assert pace.rate == 18.0
    epoch = pace.epoch
    pace.limited(2.2, epoch, 1.0)  # the 429 that ends the doubling halves it
    assert (pace.rate, pace.ceiling, pace.measured) == (9.0, 18.0, False)
    pace.limited(2.25, epoch, 1.0)  # a 429 to a call sent before that: no second drop
    assert pace.rate == 9.0
    assert pace.paused_until == 3.25
    feed(pace, 3.25, 5.25, 10)  # 10 answers a second for 2 s, the pace probing up
    assert pace.rate > 9.0
    pace.limited(5.25, pace.epoch, 1.0)  # measured: 10/s accepted
    assert (pace.ceiling, pace.measured) == (10.0, True)
    assert pace.rate == 9.0


def test_an_unused_pace_does_not_rise() -> None:
    pace = Pace()
    pace.start(0.0)
    feed(pace, 0.0, 0.1, 50)
    pace.limited(0.1, pace.epoch, 1.0)
    feed(pace, 1.1, 5.1, 1)  # one answer a second: under half the 4.5/s pace
    assert pace.rate == 4.5


async def test_the_bucket_allows_its_burst_at_once_then_one_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock)
    for _ in range(5):
        await bucket.take()
    assert clock.sleeps == []
    await bucket.take()
    assert clock.sleeps == [0.1]
    await bucket.take()
    assert clock.sleeps == [0.1, 0.1]


async def test_a_configured_rate_limit_paces_calls_of_every_class() -> None:
    clock = FakeClock()
    handler, seen = answers()
    limit = RateLimit(requests_per_second=2, burst=2)
    client = client_for(handler, clock, rate_limit=limit)
    for cls in ("campaigns", "analytics", "campaigns"):
        await client.request("GET", URL, "x", endpoint_class=cls)
    assert clock.sleeps == [0.5]
    assert len(seen) == 3


async def test_latency_and_pace_are_exported_as_valid_families() -> None:
    clock = FakeClock()
    handler, _ = answers(429, retry_after="1")
    client = client_for(handler, clock)
    await client.request("GET", URL, "things", endpoint_class="campaigns")
    fams = client.telemetry.upstream.families()
    text = "".join(
        render_header(f.name, f.kind, f.help, False) + f.body.decode() for f in pre_render(fams)
    )
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    hist = parsed["campaign_exporter_upstream_request_duration_seconds"]
    assert hist.type == "histogram"
    counts = [s for s in hist.samples if s.name.endswith("_count")]
    assert [(s.labels, s.value) for s in counts] == [({"source": "src", "endpoint": "things"}, 2)]
    pace = parsed["campaign_exporter_upstream_pace_requests_per_second"]
    assert [(s.labels, s.value) for s in pace.samples] == [
        ({"source": "src", "class": "campaigns"}, 0.9)  # 0.9 of the 1/s floor: none accepted
    ]


def token_server(seen: list[httpx2.Request], expires_in: object = 3600) -> Handler:
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = {
            "access_token": f"tok-{len(seen)}",
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
        # json.dumps writes NaN as the bare token NaN, as a careless server would
        return httpx2.Response(200, content=json.dumps(body).encode())

    return handle


def oauth(**extra: object) -> OAuth2:
    return OAuth2.model_validate(
        {
            "token_url": "https://id.example/token",
            "client_id": "exporter",
            "scopes": ["campaigns:read", "analytics:read"],
            "endpoint_params": {"audience": "experiture"},
            **extra,
        }
    )


def form(request: httpx2.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


async def test_oauth2_client_secret_basic_sends_the_pair_in_the_header() -> None:
    seen: list[httpx2.Request] = []
    client = client_for(token_server(seen), FakeClock())
    provider = OAuth2Provider(oauth(client_secret="s3cret-value"))
    assert await provider.header(client) == "Bearer tok-1"
    (request,) = seen
    pair = base64.b64encode(b"exporter:s3cret-value").decode()
    assert request.headers["Authorization"] == f"Basic {pair}"
    assert form(request) == {
        "grant_type": ["client_credentials"],
        "scope": ["campaigns:read analytics:read"],
        "audience": ["experiture"],
    }


async def test_oauth2_client_secret_post_sends_the_pair_as_form_fields() -> None:
    seen: list[httpx2.Request] = []
    client = client_for(token_server(seen), FakeClock())
    config = oauth(client_secret="s3cret-value", client_auth_method="client_secret_post")
    assert await OAuth2Provider(config).header(client) == "Bearer tok-1"
    (request,) = seen
    assert "Authorization" not in request.headers
    assert form(request)["client_id"] == ["exporter"]
    assert form(request)["client_secret"] == ["s3cret-value"]


async def test_oauth2_token_is_kept_until_a_401_then_fetched_with_the_current_secret(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("first-secret\n")
    seen: list[httpx2.Request] = []
    client = client_for(token_server(seen), FakeClock())
    provider = OAuth2Provider(
        oauth(client_secret_file=secret, client_auth_method="client_secret_post")
    )
    header = await provider.header(client)
    assert await provider.header(client) == header  # cached
    secret.write_text("rotated-secret-longer\n")
    assert provider.invalidate(header)
    assert await provider.header(client) == "Bearer tok-2"
    assert [form(r)["client_secret"] for r in seen] == [["first-secret"], ["rotated-secret-longer"]]


@pytest.mark.parametrize("expires_in", [float("nan"), 10**400, "soon", -5, True])
async def test_an_unusable_expires_in_still_gives_a_token(expires_in: object) -> None:
    seen: list[httpx2.Request] = []
    client = client_for(token_server(seen, expires_in), FakeClock())
    provider = OAuth2Provider(oauth(client_secret="s3cret-value"))
    assert await provider.header(client) == "Bearer tok-1"
    assert await provider.header(client) == "Bearer tok-1"  # a default lifetime, not 0
    assert len(seen) == 1


async def test_a_request_writes_no_log_line_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """httpx2 would log every request at info: an exporter's log is not an access log."""
    caplog.set_level("INFO")
    handler, _ = answers()
    await client_for(handler, FakeClock()).request("GET", URL, "things")
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_a_4xx_is_asked_once(status: int) -> None:
    """A refusal is an answer, not a transient failure: it is never retried."""
    handler, seen = answers(status)
    client = client_for(handler, FakeClock())
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "things")
    assert err.value.status == status
    assert len(seen) == 1
    assert client.gave_up == 0


def redirecting(location: str) -> tuple[Handler, list[str]]:
    """A handler answering 302 to ``location`` at ``URL``, 200 anywhere else; the URLs
    asked for."""
    seen: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        if str(request.url) == URL:
            return httpx2.Response(302, headers={"Location": location})
        return httpx2.Response(200, json={"success": True})

    return handle, seen


@pytest.mark.parametrize(
    "location",
    ["https://api.example:8443/v1/things", "http://api.example/v1/things"],
    ids=["another-port", "https-to-http"],
)
async def test_a_redirect_to_another_origin_on_the_same_host_is_not_followed(
    location: str,
) -> None:
    handler, seen = redirecting(location)
    client = client_for(handler, FakeClock())
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "things")
    assert err.value.reason == "redirect"
    assert seen == [URL]


@pytest.mark.parametrize(
    "location", ["/v1/moved", "https://api.example:443/v1/moved"], ids=["path", "default-port"]
)
async def test_a_redirect_within_the_origin_is_followed(location: str) -> None:
    handler, seen = redirecting(location)
    resp = await client_for(handler, FakeClock()).request("GET", URL, "things")
    assert resp.status == 200
    assert seen == [URL, "https://api.example/v1/moved"]


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
async def test_a_bare_token_echoed_in_an_error_is_scrubbed(scheme: str) -> None:
    """The vendor quotes the token without its scheme: it is scrubbed all the same."""
    token = "dG9rLXNlY3JldC12YWx1ZQ=="  # base64 of a user:password pair for Basic

    def echo(request: httpx2.Request) -> httpx2.Response:
        bare = request.headers["Authorization"].partition(" ")[2]
        return httpx2.Response(400, json={"message": f"key {bare} is not valid here"})

    client = client_for(echo, FakeClock(), error_fields=lambda body: (None, body["message"], None))
    with pytest.raises(UpstreamError) as err:
        await client.request("GET", URL, "things", headers={"Authorization": f"{scheme} {token}"})
    assert token not in str(err.value)
    assert "key <secret> is not valid" in err.value.detail


async def failure_of(url: str, egress: Egress | None = None, timeout: float = 10) -> UpstreamError:
    """What one real call to ``url`` fails with (no retries, no mock transport)."""
    client = UpstreamClient(
        "src", Telemetry(), timeout=timeout, concurrency=1, retries=False, egress=egress
    )
    try:
        with pytest.raises(UpstreamError) as err:
            await client.request("GET", url, "things")
    finally:
        await client.aclose()
    return err.value


async def test_a_name_that_does_not_resolve_is_named_with_its_port() -> None:
    err = await failure_of("https://campaigns.nowhere.invalid:8443/v1/things")
    assert err.reason == "connect"
    # the resolver's own words follow: "Name or service not known" where a DNS server
    # answers, "Temporary failure in name resolution" where none does
    prefix = "things: cannot connect to campaigns.nowhere.invalid:8443: host name not resolved ("
    assert str(err).startswith(prefix) and str(err).endswith(")"), str(err)


async def test_a_refused_connection_names_host_and_port() -> None:
    port = free_port()  # bound and closed again: nothing listens there
    err = await failure_of(f"http://127.0.0.1:{port}/v1/things")
    assert err.reason == "connect"
    assert str(err) == f"things: cannot connect to 127.0.0.1:{port}: connection refused"


async def test_a_default_port_is_named_too() -> None:
    err = await failure_of("http://nowhere.invalid/v1/things")
    assert str(err).startswith("things: cannot connect to nowhere.invalid:80: host name not ")


async def test_a_refused_proxy_is_named_as_the_proxy() -> None:
    port = free_port()
    proxy = parse_proxy_url(f"http://127.0.0.1:{port}")
    err = await failure_of(URL, Egress(route=ProxyRoute({"https": proxy})))
    assert str(err) == f"things: cannot connect to proxy 127.0.0.1:{port}: connection refused"


async def test_a_server_that_hangs_up_is_named() -> None:
    async def hang_up(stream: SocketStream) -> None:
        await stream.receive()
        await stream.aclose()

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        port = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
        tg.start_soon(listener.serve, hang_up)
        err = await failure_of(f"http://127.0.0.1:{port}/v1/things")
        tg.cancel_scope.cancel()
    assert err.reason == "connect"
    assert str(err) == (
        f"things: connection to 127.0.0.1:{port} failed: Server disconnected "
        "(ServerDisconnectedError)"
    )


async def test_a_server_that_never_answers_is_named() -> None:
    async def say_nothing(stream: SocketStream) -> None:
        await anyio.sleep_forever()

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        port = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
        tg.start_soon(listener.serve, say_nothing)
        err = await failure_of(f"http://127.0.0.1:{port}/v1/things", timeout=0.5)
        tg.cancel_scope.cancel()
    assert err.reason == "timeout"
    assert str(err) == f"things: no answer from 127.0.0.1:{port} within 0.5s"
