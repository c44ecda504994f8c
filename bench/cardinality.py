"""Series per campaign for each setting of a source's `metrics:` block, on the demo's fleet.

    .venv/bin/python bench/cardinality.py [--campaigns 300]

The simulator serves the fleet `--demo` starts with (its seed and campaign count, clock
frozen); one exporter process polls it with a pair of sources (Experiture, GreenArrow)
per setting: the default (the baseline), sparse state sets, a typical exclude list, and
both. After every source's first refresh, one scrape is counted: for each source, the
series that carry a campaign_id divided by the campaigns it exports, and every series it
has (the per-source families, such as campaigns by state, included).
"""

from __future__ import annotations

import argparse
import time
import urllib.request
from collections import Counter
from typing import Any

from _common import experiture_source, exporter, greenarrow_source
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import SimulatorSettings, SimulatorThread

# Families no shipped alert or dashboard reads, that a fleet watched only for delivery
# and failures can do without: Experiture's readiness and schedule detail...
EXPERITURE_EXCLUDE = [
    "experiture_campaign_schedule_info",
    "experiture_campaign_audience_reach_records",
    "experiture_campaign_audience_reach_status",
    "experiture_campaign_audience_reach_stale",
    "experiture_campaign_preflight_status",
    "experiture_campaign_template_status",
]
# ... and GreenArrow's subscriber updates, the counts kept as both totals and uniques,
# and the Special Sending Rules skips.
GREENARROW_EXCLUDE = [
    "greenarrow_campaign_bounce_subscribers_updated_total",
    "greenarrow_campaign_complaint_subscribers_updated_total",
    "greenarrow_campaign_unsubscribe_subscribers_updated_total",
    "greenarrow_campaign_unique_bounces_total",
    "greenarrow_campaign_unique_complaints_total",
    "greenarrow_campaign_unique_unsubscribes_total",
    "greenarrow_campaign_opens_total",
    "greenarrow_campaign_clicks_total",
    "greenarrow_campaign_ssr_skips_total",
]
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": ({}, {}),
    "state_sets: sparse": ({"state_sets": "sparse"}, {"state_sets": "sparse"}),
    "exclude (typical)": ({"exclude": EXPERITURE_EXCLUDE}, {"exclude": GREENARROW_EXCLUDE}),
    "sparse + exclude": (
        {"state_sets": "sparse", "exclude": EXPERITURE_EXCLUDE},
        {"state_sets": "sparse", "exclude": GREENARROW_EXCLUDE},
    ),
}


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


def sources(sim_url: str) -> list[dict[str, Any]]:
    """Each setting's pair, as --demo configures them (GreenArrow: default lookback and
    retention)."""
    out = []
    for i, (exp_metrics, ga_metrics) in enumerate(SETTINGS.values()):
        out.append(experiture_source(sim_url, name=f"exp-{i}", metrics=exp_metrics))
        ga = greenarrow_source(sim_url, name=f"ga-{i}", metrics=ga_metrics)
        del ga["lookback"], ga["retention"]
        out.append(ga)
    return out


def count(text: str) -> tuple[Counter[str], Counter[str], dict[str, float]]:
    """Per source: series with a campaign_id, every series, campaigns exported."""
    per_campaign: Counter[str] = Counter()
    every: Counter[str] = Counter()
    campaigns: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            source = sample.labels.get("source")
            if sample.name == "campaign_exporter_source_campaigns" and source:
                campaigns[source] = sample.value
            if source is None or family.name.startswith("campaign_exporter_"):
                continue
            every[source] += 1
            if "campaign_id" in sample.labels:
                per_campaign[source] += 1
    return per_campaign, every, campaigns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=300, help="per API (--demo: 300)")
    args = parser.parse_args()
    settings = SimulatorSettings(
        experiture_campaigns=args.campaigns, greenarrow_campaigns=args.campaigns, speed=0
    )
    with SimulatorThread(settings) as sim, exporter(sources(sim.url)) as (_proc, port):
        end = time.monotonic() + 300
        while get(port, "/-/ready")[0] != 200:
            if time.monotonic() > end:
                raise SystemExit("exporter never ready")
            time.sleep(0.5)
        text = get(port, "/metrics")[1]
    per_campaign, every, campaigns = count(text)
    print(f"demo fleet: {args.campaigns} campaigns per API, clock frozen")
    print(
        f"{'setting':<22} {'experiture':>22} {'greenarrow':>22}\n"
        f"{'':<22} {'series/campaign (all)':>22} {'series/campaign (all)':>22}"
    )
    base: list[float] = []
    for i, name in enumerate(SETTINGS):
        cells = []
        for j, source in enumerate((f"exp-{i}", f"ga-{i}")):
            ratio = per_campaign[source] / campaigns[source]
            if i == 0:
                base.append(ratio)
            change = "" if i == 0 else f" {ratio / base[j] - 1:+.0%}"
            cells.append(f"{ratio:.2f}{change} ({every[source]})")
        print(f"{name:<22} {cells[0]:>22} {cells[1]:>22}")
    print(
        "campaigns exported: "
        f"experiture {campaigns['exp-0']:.0f}, greenarrow {campaigns['ga-0']:.0f}; "
        "(all): every series of the source, per-source families included"
    )


if __name__ == "__main__":
    main()
