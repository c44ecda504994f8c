"""The fault matrix: every fault the simulator injects, against every endpoint.

The exporter stays up, /metrics answers 200 on every scrape and keeps every campaign,
the right counter moves, and once the fault clears the values equal the truth again.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.simulator import Simulator
from exporter.simulator.faults import Fault

from ..expected import GREENARROW_STATS
from ..helpers import RunningExporter, Samples, config_of, running_exporter, running_simulator

pytestmark = pytest.mark.anyio

# kind -> the error reason it must be counted under (None: absorbed, nothing counted)
KINDS: dict[str, str | None] = {
    "latency": None,
    "http_5xx": "http_5xx",
    "rate_limit": "rate_limited",
    "malformed": "malformed",
    "envelope_error": "malformed",
    "nulls": None,
    "unknown_values": None,
    "hang": "timeout",
    "outage": "connect",
}
ENDPOINTS = [("experiture", e) for e in ("list", "status", "metrics", "summary", "token")]
ENDPOINTS.append(("greenarrow", "system_campaigns"))
CASES = [(api, endpoint, kind) for api, endpoint in ENDPOINTS for kind in KINDS]


def sources(url: str) -> list[dict[str, Any]]:
    # a timeout no longer than the poll interval (the config refuses more)
    common = {"poll_interval": "200ms", "timeout": "200ms", "concurrency": 8}
    return [
        {
            "name": "exp",
            "type": "experiture",
            "base_url": f"{url}/public/v1",
            "oauth2": {
                "token_url": f"{url}/oauth/token",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            },
            "summary_interval": "100ms",
            "polling": {"adaptive": False},  # every endpoint, every refresh
            **common,
        },
        {
            "name": "ga",
            "type": "greenarrow",
            "base_url": url,
            "lookback": "90d",
            "retention": "365d",
            "per_page": 10,
            "basic_auth": {"username": "1", "password": "demo-ga-key"},
            **common,
        },
    ]


def matches_truth(samples: Samples, sim: Simulator) -> bool:
    now = sim.clock.now()
    exp = [
        c
        for c in sim.experiture.truth(now)
        if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
    ]
    sent = samples.by_campaign("experiture_campaign_pipeline_records", stage="sent")
    if sent != {c["campaign_id"]: c["counts"]["sent"] for c in exp if c["counts"]}:
        return False
    for state in ("running", "completed"):
        got = samples.by_campaign("experiture_campaign_execution_state", state=state)
        if got != {c["campaign_id"]: float(c["state"] == state) for c in exp}:
            return False
    ga = sim.greenarrow.truth(now)
    for (group, field), (name, _kind, extra) in GREENARROW_STATS.items():
        labels = {extra[0]: extra[1]} if extra else {}
        if samples.by_campaign(name, **labels) != {
            c["campaign_id"]: c["stats"][group][field] for c in ga
        }:
            return False
    return all(samples.value("campaign_exporter_source_up", source=s) == 1 for s in ("exp", "ga"))


def source_of(api: str) -> str:
    return "exp" if api == "experiture" else "ga"


async def refreshes_done(exp: RunningExporter, source: str, more: int) -> Samples:
    return await exp.poll(source, more)


@pytest.mark.parametrize(
    ("api", "endpoint", "kind"), CASES, ids=[f"{a}-{e}-{k}" for a, e, k in CASES]
)
async def test_fault(api: str, endpoint: str, kind: str) -> None:
    async with running_simulator(experiture_campaigns=16, greenarrow_campaigns=30) as (
        sim,
        url,
    ):
        async with running_exporter(config_of(*sources(url))) as exp:
            good = await exp.wait_until(
                lambda s: matches_truth(s, sim), "a first good scrape", names=None
            )
            counts = {
                src: len(good.by_campaign(f"{fam}_campaign_info"))
                for src, fam in (("exp", "experiture"), ("ga", "greenarrow"))
            }
            source = source_of(api)
            reason = KINDS[kind]
            if api == "greenarrow" and kind == "envelope_error":
                reason = "http_5xx"  # success: false, internal_error
            if endpoint == "token" and reason is not None:
                reason = "auth" if kind in ("malformed", "envelope_error") else reason
            before = (
                good.value("campaign_exporter_upstream_errors_total", source=source, reason=reason)
                if reason
                else 0
            )

            sim.faults.add(
                Fault.from_json(
                    {
                        "kind": kind,
                        "api": api,
                        "endpoint": endpoint,
                        "retry_after": 0.1,
                        "delay": 0.1 if kind == "latency" else 30,
                    }
                )
            )
            if endpoint == "token":
                sim.experiture.expire_tokens()
            if reason is None:
                during = await refreshes_done(exp, source, 2)
            else:
                # served and counted: an expired token's 401 counts as auth too, before
                # the token endpoint (and its fault) is asked again
                during = await exp.wait_until(
                    lambda s: (
                        (
                            s.value(
                                "campaign_exporter_upstream_errors_total",
                                source=source,
                                reason=reason,
                            )
                            or 0
                        )
                        > (before or 0)
                        and sim.faults.injected.get(kind, 0) >= 1
                    ),
                    f"the fault served and errors_total{{reason={reason}}} to move",
                    names=[
                        "campaign_exporter_upstream_errors_total",
                        "experiture_campaign_info",
                        "greenarrow_campaign_info",
                    ],
                )
            # never blanked: every campaign is still on /metrics
            assert len(during.by_campaign("experiture_campaign_info")) == counts["exp"]
            assert len(during.by_campaign("greenarrow_campaign_info")) == counts["ga"]

            sim.faults.clear()
            await exp.wait_until(
                lambda s: matches_truth(s, sim), "recovery after the fault", names=None
            )
        assert sim.faults.injected.get(kind, 0) >= 1
