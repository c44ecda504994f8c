"""The vendors' own example bodies, verbatim (copied from the seed documents into
tests/fixtures/seeds/), through the parsers and renderers: the samples they must give,
written out. What a documented answer yields, whatever our simulator serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.books.ledger import Entry
from exporter.exposition.render import pre_render
from exporter.sources.experiture.metrics import render_families as render_experiture
from exporter.sources.experiture.model import parse_status, parse_summary
from exporter.sources.experiture.records import CampaignRecord
from exporter.sources.greenarrow.metrics import render_families as render_greenarrow
from exporter.sources.greenarrow.model import parse_page

from ...helpers import Samples

SEEDS = Path(__file__).parents[2] / "fixtures" / "seeds"
CID = "4130bada-9264-465f-bc0c-a26bebcfcc81"
SEEN = 1_800_000_000.0  # when the exporter read them


def seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


def exposition(families: Any) -> Samples:
    return Samples(b"".join(f.body for f in pre_render(families)).decode())


@pytest.fixture(scope="module")
def experiture() -> Samples:
    record = CampaignRecord(
        CID,
        status=parse_status(seed("experiture_status.json")),
        setup=parse_summary(seed("experiture_summary.json")),
    )
    entry = Entry(CID, record, SEEN, "completed", SEEN, SEEN)
    return exposition(render_experiture("prod", [entry], analytics=False))


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples.number(name, source="prod", campaign_id=CID, **labels)


def test_experiture_status_example(experiture: Samples) -> None:
    state = "experiture_campaign_execution_state"
    assert one(experiture, state, state="completed") == 1
    for other in ("not_scheduled", "scheduled", "pending_or_overdue", "running", "failed"):
        assert one(experiture, state, state=other) == 0
    counts = {
        "scheduled": 17491,
        "hydrated": 17491,
        "composed": 17485,
        "injected": 17485,
        "sent": 17480,
        "failed": 5,
    }
    for stage, count in counts.items():
        assert one(experiture, "experiture_campaign_pipeline_records", stage=stage) == count
    assert one(experiture, "experiture_campaign_failure_ratio") == pytest.approx(5 / 17491)
    started = "experiture_campaign_last_execution_started_timestamp_seconds"
    assert one(experiture, started) == 1777626005  # 2026-05-01T09:00:05.000Z
    completed = "experiture_campaign_last_execution_completed_timestamp_seconds"
    assert one(experiture, completed) == 1777628842  # 09:47:22
    sends = "experiture_campaign_scheduled_send_timestamp_seconds"
    assert one(experiture, sends) == 1777626000  # sendAt 09:00:00
    deadline = "experiture_campaign_send_deadline_timestamp_seconds"
    assert one(experiture, deadline) == 1777626000
    [(labels, _)] = experiture.values("experiture_campaign_schedule_info")
    assert (labels["mode"], labels["timezone"]) == ("at", "America/New_York")


def test_experiture_summary_example(experiture: Samples) -> None:
    [(info, _)] = experiture.values("experiture_campaign_info")
    assert info == {
        "source": "prod",
        "campaign_id": CID,
        "name": "Spring Re-engagement Direct Mail",
        "channel": "direct_mail",
        "campaign_type": "broadcast",
        "authoring_status": "published",  # /status says published, the summary draft
    }
    assert one(experiture, "experiture_campaign_configured") == 1
    assert one(experiture, "experiture_campaign_audience_reach_records") == 18432
    reach = "experiture_campaign_audience_reach_status"
    assert one(experiture, reach, status="ok") == 1
    for other in ("idle", "pending", "failed"):
        assert one(experiture, reach, status=other) == 0
    assert one(experiture, "experiture_campaign_audience_reach_stale") == 0
    preflight = "experiture_campaign_preflight_status"
    assert one(experiture, preflight, status="not_evaluated") == 1
    assert one(experiture, "experiture_campaign_template_status", status="published") == 1


def test_a_date_only_direct_mail_schedule_is_due_through_its_day() -> None:
    """The docs' direct-mail model: a batchDate and a timezone, no sendAt."""
    body = seed("experiture_status.json")
    body["data"]["schedule"] = {
        "scheduleId": "sch-1",
        "mode": "batch_on_date",
        "batchDate": "2026-05-01",
        "timezone": "America/New_York",
        "active": True,
    }
    body["data"]["execution"] = {"state": "pending_or_overdue", "lastExecution": None}
    record = CampaignRecord(CID, status=parse_status(body))
    entry = Entry(CID, record, SEEN, "pending_or_overdue", SEEN, SEEN)
    samples = exposition(render_experiture("prod", [entry], analytics=True))
    # 2026-05-01 is in EDT (UTC-4): the day runs 04:00Z to 04:00Z the next day
    assert one(samples, "experiture_campaign_scheduled_send_timestamp_seconds") == 1777608000
    assert one(samples, "experiture_campaign_send_deadline_timestamp_seconds") == 1777694400
    [(labels, _)] = samples.values("experiture_campaign_schedule_info")
    assert labels["mode"] == "batch_on_date"


def test_greenarrow_report_example() -> None:
    page = parse_page(seed("greenarrow_system_campaigns.json"), 100)
    assert page.num_pages is None and page.size == 2  # the example has no num_pages
    entries = [Entry(s.campaign_id, s, SEEN, s.state, SEEN, SEEN) for s in page.items]
    samples = exposition(render_greenarrow("ga", entries))
    assert set(samples.by_campaign("greenarrow_campaign_info")) == {"1", "2"}
    [(info, _)] = samples.values("greenarrow_campaign_info", campaign_id="1")
    assert info == {
        "source": "ga",
        "campaign_id": "1",
        "name": "Default Campaign",
        "organization_id": "1",
        "organization": "System Organization",
        "mailing_list_id": "1",
        "mailing_list": "Default Mailing List",
    }
    for cid in ("1", "2"):
        assert samples.number("greenarrow_campaign_state", campaign_id=cid, state="failed") == 1
        assert samples.number("greenarrow_campaign_state", campaign_id=cid, state="sending") == 0
        assert samples.number("greenarrow_campaign_recipients", campaign_id=cid) == 2
        assert samples.number("greenarrow_campaign_recipients_sent_total", campaign_id=cid) == 1
        assert samples.number("greenarrow_campaign_recipients_skipped_total", campaign_id=cid) == 1
        skips = "greenarrow_campaign_ssr_skips_total"
        assert samples.number(skips, campaign_id=cid, reason="ssr_request") == 1
        assert samples.number(skips, campaign_id=cid, reason="ssr_failure") == 0
        assert samples.number("greenarrow_campaign_messages_sent_total", campaign_id=cid) == 0
        first = "greenarrow_campaign_state_first_seen_timestamp_seconds"
        assert samples.number(first, campaign_id=cid) == SEEN
    assert not samples.values("greenarrow_campaign_paused"), "the example has no paused"
