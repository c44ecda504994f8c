"""The status page as an operator reads it: trouble first and never cut off, counts by
state, the exporter's health in the header and title, filters and pages by URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from exporter.books.reads import RefreshReport, SourceError
from exporter.books.reasons import ErrorReason
from exporter.clock import ManualClock
from exporter.config.loader import parse_config
from exporter.http.statuspage import render_status_page
from exporter.http.statuspage.attention import NOTHING
from exporter.http.triage import Query
from exporter.sources import CampaignRow
from exporter.telemetry import Telemetry

from ...helpers import experiture_source, mixin_generator

NOW = 1_800_000_000.0
MIN = 60.0


def row(cid: str, state: str, **fields: Any) -> CampaignRow:
    base: dict[str, Any] = {
        "name": f"Campaign {cid}",
        "done": None,
        "total": None,
        "failure_ratio": None,
        "updated_at": NOW - 5,
    }
    base.update(fields)
    return CampaignRow(campaign_id=cid, state=state, **base)


def telemetry_with(
    *sources: tuple[str, str, list[CampaignRow]], error: str | None = None
) -> Telemetry:
    clock = ManualClock(wall=NOW - 10 * MIN)
    telemetry = Telemetry(clock=clock)
    telemetry.record_reload(True, clock.time())
    clock.advance(10 * MIN)
    for name, kind, rows in sources:
        telemetry.register(name, kind, 30.0)
        failed = error is not None and name == "backup"
        telemetry.record_walk(name, SourceError(error or "") if failed else None, NOW - 1)
        telemetry.record_refresh(
            name,
            RefreshReport(campaigns=len(rows)),
            started=NOW - 2,
            duration=1.0,
            error=error if name == "backup" else None,
            rows=rows,
        )
    return telemetry


def section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


def ids_in(html: str) -> list[str]:
    return re.findall(r"<tr><td><code>([^<]+)</code>", html)


def problem_of(html: str, cid: str) -> str:
    tr = html[html.index(f"<code>{cid}</code>") :]
    tr = tr[: tr.index("</tr>")]
    return " | ".join(re.findall(r'<span class="warn">([^<]+)</span>', tr))


def exporter_items(html: str) -> list[str]:
    """The exporter's own troubles under "Needs attention", as text."""
    items = re.findall(r'<li class="warn">(.*?)</li>', html)
    return [re.sub(r"<[^>]+>", "", item) for item in items]


def test_trouble_comes_first_and_is_never_cut_off() -> None:
    """250 failed campaigns behind 300 running ones: every failed one is listed, above
    the campaign tables, newest failure first."""
    running = [row(f"r{i:03d}", "running", progress_at=NOW - MIN) for i in range(300)]
    failed = [row(f"f{i:03d}", "failed", finished_at=NOW - (i + 1) * MIN) for i in range(250)]
    page = render_status_page(telemetry_with(("prod", "experiture", running + failed)))
    attention = section(page, "attention")
    assert page.index('<section id="attention">') < page.index('<section id="campaigns">')
    assert ids_in(attention) == [f"f{i:03d}" for i in range(250)]
    assert "Needs attention (250)" in attention
    assert problem_of(attention, "f000") == "failed 1m ago"
    assert problem_of(attention, "f249") == "failed 4h 10m ago"


def test_each_kind_of_trouble_is_named_with_how_long() -> None:
    rows = [
        row("late", "pending_or_overdue", send_at=NOW - 47 * MIN),
        row("just-late", "pending_or_overdue", send_at=NOW - 14 * MIN),
        row("stuck", "running", progress_at=NOW - 20 * MIN),
        row("moving", "running", progress_at=NOW - 2 * MIN),
        row("lossy", "running", failure_ratio=0.0731, ratio_base=1000, progress_at=NOW),
        row("tiny-lossy", "running", failure_ratio=0.5, ratio_base=10, progress_at=NOW),
        row("unread", "scheduled", error="status: HTTP 503"),
        row("dead", "failed", finished_at=NOW - 3 * 3600 - 5 * MIN),
        row("fine", "completed", finished_at=NOW - 3600),
    ]
    page = render_status_page(telemetry_with(("prod", "experiture", rows)))
    attention = section(page, "attention")
    assert ids_in(attention) == ["dead", "late", "stuck", "lossy", "unread"]
    assert problem_of(attention, "dead") == "failed 3h 5m ago"
    assert problem_of(attention, "late") == "overdue by 47m"
    assert problem_of(attention, "stuck") == "no progress for 20m"
    assert problem_of(attention, "lossy") == "failed / scheduled 7.31% (over 5%)"
    assert problem_of(attention, "unread") == "last read failed: status: HTTP 503"


def test_a_batch_day_is_overdue_from_its_end_not_its_start() -> None:
    rows = [
        row("batch", "pending_or_overdue", send_at=NOW - 25 * 3600, send_deadline=NOW - 47 * MIN),
        row("today", "pending_or_overdue", send_at=NOW - 3600, send_deadline=NOW + 23 * 3600),
    ]
    attention = section(
        render_status_page(telemetry_with(("prod", "experiture", rows))), "attention"
    )
    assert ids_in(attention) == ["batch"]
    assert problem_of(attention, "batch") == "overdue by 47m"


def test_a_second_kind_uses_its_own_thresholds() -> None:
    rows = [
        row("b1", "sending", failure_ratio=0.08, ratio_base=5000),
        row("b2", "sending", failure_ratio=0.08, ratio_base=500),
        row("b3", "failed", finished_at=NOW - 90),
        row("b4", "cancelled", finished_at=NOW - 90),
    ]
    page = render_status_page(telemetry_with(("ga", "greenarrow", rows)))
    attention = section(page, "attention")
    assert ids_in(attention) == ["b3", "b1"]
    assert problem_of(attention, "b1") == "bounced / sent 8.00% (over 5%)"


def test_a_failure_time_the_exporter_learned_says_it_was_seen() -> None:
    """GreenArrow gives no times: a failure is shown as seen since the exporter saw it,
    one already failed when first seen as failed before that, and sorted after those
    whose time is known."""
    learned = {"times_learned": True}
    rows = [
        row("old", "failed", finished_at=NOW - 2 * 3600, first_seen=NOW - 2 * 3600, **learned),
        row("watched", "failed", finished_at=NOW - 5 * MIN, first_seen=NOW - 3600, **learned),
    ]
    exp = [row("exp", "failed", finished_at=NOW - 30 * MIN)]
    page = render_status_page(
        telemetry_with(("ga", "greenarrow", rows), ("prod", "experiture", exp))
    )
    attention = section(page, "attention")
    assert ids_in(attention) == ["watched", "exp", "old"]
    assert problem_of(attention, "watched") == "seen failed since 5m ago"
    assert problem_of(attention, "old") == "failed before the exporter saw it (first seen 2h ago)"
    assert problem_of(attention, "exp") == "failed 30m ago"
    campaigns = section(page, "campaigns")
    tr = campaigns[campaigns.index("<code>watched</code>") :]
    cells = re.findall(r"<td>(.*?)</td>", tr[: tr.index("</tr>")])
    assert re.sub(r"<[^>]+>", "", cells[5]) == "seen 5m ago"  # Ended (after the id cell)


def test_header_counts_states_and_title_carries_health() -> None:
    rows = [row("a", "running"), row("b", "running"), row("c", "failed", finished_at=NOW)]
    telemetry = telemetry_with(
        ("prod", "experiture", rows), ("backup", "experiture", []), error="auth: HTTP 401"
    )
    page = render_status_page(telemetry)
    assert (
        "<title>1/2 sources up (backup down), 2 need attention - campaign-exporter</title>" in page
    )
    assert '<span class="down">1 of 2 sources up</span>' in page
    assert (
        '<a href="?source=prod&amp;state=running#campaigns">running</a>&nbsp;2 &middot; '
        '<a href="?source=prod&amp;state=failed#campaigns">failed</a>&nbsp;1'
    ) in page
    attention = section(page, "attention")
    assert "<h2>Needs attention (2)</h2>" in attention
    assert "source <b>backup</b> is down" in attention and "auth: HTTP 401" in attention
    assert "shard 0 of 1" in page


def test_sources_down_from_the_start_need_attention_in_title_and_heading() -> None:
    """No campaign to flag, but no source has ever answered: not "nothing needs attention",
    and no "since its last success -"."""
    clock = ManualClock(wall=NOW - 10 * MIN)
    telemetry = Telemetry(clock=clock)
    telemetry.record_reload(True, clock.time())
    for name in ("prod", "backup"):
        telemetry.register(name, "experiture", 30.0)
    clock.advance(10 * MIN)
    for name in ("prod", "backup"):
        error = f"connection refused by {name}.example:443"
        telemetry.record_walk(name, SourceError(error), NOW - 1)
        telemetry.record_refresh(
            name, RefreshReport(), started=NOW - 2, duration=1.0, error=error, rows=[]
        )
    page = render_status_page(telemetry)
    title = "0/2 sources up (backup, prod down), 2 need attention - campaign-exporter"
    assert f"<title>{title}</title>" in page
    attention = section(page, "attention")
    assert "<h2>Needs attention (2)</h2>" in attention
    assert NOTHING not in attention
    assert "since its last success" not in attention
    assert exporter_items(attention) == [
        "source backup is down and has not succeeded since it started 10m ago: "
        "connection refused by backup.example:443",
        "source prod is down and has not succeeded since it started 10m ago: "
        "connection refused by prod.example:443",
    ]


def test_a_source_down_after_working_says_since_when() -> None:
    telemetry = telemetry_with(("backup", "experiture", []))
    telemetry.record_walk("backup", SourceError("auth: HTTP 401"), NOW)
    attention = section(render_status_page(telemetry, now=NOW + 5 * MIN), "attention")
    assert exporter_items(attention) == [
        "source backup is down since its last success 5m ago: auth: HTTP 401"
    ]


def test_title_when_all_is_well() -> None:
    page = render_status_page(telemetry_with(("prod", "experiture", [row("a", "running")])))
    title = "1/1 sources up, nothing needs attention - campaign-exporter"
    assert f"<title>{title}</title>" in page


def test_a_failed_reload_is_in_the_header_and_needs_attention() -> None:
    telemetry = telemetry_with(("prod", "experiture", []))
    telemetry.record_reload(False, NOW - 3 * MIN, "sources[0].timeout: invalid duration")
    page = render_status_page(telemetry)
    assert "last config reload failed</span> <time" in page
    assert "the last config reload failed: sources[0].timeout: invalid duration" in page
    title = "1/1 sources up, 1 need attention - campaign-exporter"
    assert f"<title>{title}</title>" in page
    attention = section(page, "attention")
    assert "<h2>Needs attention (1)</h2>" in attention and NOTHING not in attention


def test_header_counts_429s_and_errors_of_the_last_hour() -> None:
    clock = ManualClock(wall=NOW)
    telemetry = Telemetry(clock=clock)
    telemetry.register("prod", "experiture", 30.0)
    for minute in range(1, 91):
        clock.advance(MIN)
        if minute == 10:  # more than an hour before the end: out of the window
            telemetry.record_error("prod", ErrorReason.TIMEOUT, 5)
        if minute == 40:
            telemetry.record_error("prod", ErrorReason.HTTP_5XX, 2)
            telemetry.record_rate_limited("prod")
        telemetry.recent()
    recent = telemetry.recent()
    assert (recent.seconds, recent.since_start) == (3600.0, False)
    assert (recent.total.errors, recent.total.rate_limited) == (2, 1)
    page = render_status_page(telemetry, recent=recent)
    assert 'in the last 60m: <b class="warn">1</b> answers of 429, <b class="warn">2</b> ' in page


def test_a_young_process_counts_since_start() -> None:
    clock = ManualClock(wall=NOW)
    telemetry = Telemetry(clock=clock)
    telemetry.register("prod", "experiture", 30.0)
    telemetry.record_error("prod", ErrorReason.TIMEOUT, 3)
    telemetry.record_error("prod", ErrorReason.UNSUPPORTED, 7)  # a 409: the API's "not this"
    clock.advance(12 * MIN)
    recent = telemetry.recent()
    assert (recent.seconds, recent.since_start, recent.total.errors) == (720.0, True, 3)
    assert "since start 12m ago: 0 answers of 429" in render_status_page(telemetry, recent=recent)


def test_campaigns_filter_by_state_channel_and_text() -> None:
    rows = [
        row("e1", "running", name="Spring sale", channel="email"),
        row("s1", "running", name="Spring sale SMS", channel="sms"),
        row("e2", "scheduled", name="Autumn", channel="email"),
    ]
    telemetry = telemetry_with(("prod", "experiture", rows))

    def shown(**params: str) -> list[str]:
        return ids_in(
            section(render_status_page(telemetry, Query.from_params(params)), "campaigns")
        )

    assert shown() == ["e1", "s1", "e2"]
    assert shown(state="running") == ["e1", "s1"]
    assert shown(channel="email") == ["e1", "e2"]
    assert shown(q="SPRING", channel="sms") == ["s1"]
    assert shown(q="e2") == ["e2"]
    assert shown(source="other") == []
    page = render_status_page(telemetry, Query.from_params({"q": '"><script>x'}))
    assert "<script>x" not in page and 'value="&quot;&gt;&lt;script&gt;x"' in page


def test_campaigns_are_paged_with_links_that_keep_the_filter() -> None:
    rows = [row(f"c{i:03d}", "running", channel="email") for i in range(250)]
    telemetry = telemetry_with(("prod", "experiture", rows))
    query = Query.from_params({"channel": "email", "page": "2"})
    campaigns = section(render_status_page(telemetry, query), "campaigns")
    assert ids_in(campaigns) == [f"c{i:03d}" for i in range(100, 200)]
    assert "page 2 of 3" in campaigns
    assert '<a href="?channel=email&amp;page=3#campaigns">next &rarr;</a>' in campaigns
    assert '<a href="?channel=email#campaigns">&larr; previous</a>' in campaigns
    assert Query.from_params({"page": "-1"}).page == 1
    assert Query.from_params({"page": "x"}).page == 1


def test_rows_show_channel_and_times() -> None:
    rows = [row("a", "running", channel="sms", send_at=NOW - 30 * MIN, started_at=NOW - 29 * MIN)]
    campaigns = section(
        render_status_page(telemetry_with(("prod", "experiture", rows))), "campaigns"
    )
    tr = campaigns[campaigns.index("<tr><td><code>a</code>") :]
    cells = re.findall(r"<td>(.*?)</td>", tr[: tr.index("</tr>")])
    assert cells[3] == "sms"
    assert re.sub(r"<[^>]+>", "", cells[4]) == "30m ago"
    assert 'title="2027-01-15 07:30:00 UTC"' in cells[4]
    assert re.sub(r"<[^>]+>", "", cells[5]) == "29m ago"


def source_row(page: str, name: str) -> str:
    tr = page[page.index(f'<tr><td><a href="#source-{name}">') :]
    return tr[: tr.index("</tr>")]


def backlog_of(
    telemetry: Telemetry,
    name: str,
    waiting: dict[str, tuple[int, float]],
    running_age: float,
    unread: int,
) -> Telemetry:
    telemetry.track_reads(name, lambda: waiting, lambda: running_age, lambda: unread)
    return telemetry


def test_a_source_behind_shows_its_backlog_and_needs_attention() -> None:
    """Running state 190 s old on a 30 s poll interval: past 2 intervals, as the alert."""
    telemetry = backlog_of(
        telemetry_with(("prod", "experiture", [row("a", "completed", finished_at=NOW)])),
        "prod",
        {"unread": (40, 1500.0), "active": (12, 150.0), "idle": (0, 0.0)},
        190.0,
        40,
    )
    page = render_status_page(telemetry)
    assert "<th>Backlog</th>" in page
    cells = re.findall(r"<td>(.*?)</td>", source_row(page, "prod"))
    assert cells[-2] == (
        '<span class="warn">running state 3m old</span> '
        '<span class="state late">falling behind</span><br>'
        "active: 12 due, oldest waiting 2m<br>"
        "unread: 40 due, oldest waiting 25m<br>"
        "40 campaigns not read yet"
    )
    attention = section(page, "attention")
    assert NOTHING not in attention
    assert (
        '<li class="warn">source <b>prod</b> is falling behind: its running campaigns\' state '
        "is 6.3 poll intervals old (3m), over 2; raise the vendor's quota and the source's "
        "rate_limits, shard (--total-shards, a token each) or narrow discovery "
        "(discovery.status, discovery.channels, max_campaigns); see the runbook, "
        "CampaignExporterFallingBehind</li>"
    ) in attention


def test_a_source_keeping_up_shows_its_backlog_without_a_flag() -> None:
    telemetry = backlog_of(
        telemetry_with(("prod", "experiture", [row("a", "running", progress_at=NOW)])),
        "prod",
        {"idle": (3, 20.0)},
        45.0,
        0,
    )
    page = render_status_page(telemetry)
    cells = re.findall(r"<td>(.*?)</td>", source_row(page, "prod"))
    assert cells[-2] == (
        "running state 45s old<br>idle: 3 due, oldest waiting 20s<br>0 campaigns not read yet"
    )
    assert "falling behind" not in page
    assert f"<p>{NOTHING}</p>" in section(page, "attention")


def test_falling_behind_is_the_alerts_default_condition() -> None:
    """Over (not at) 2 poll intervals, and not on a source down: that is SourceDown's page."""
    assert mixin_generator().Config().falling_behind_poll_intervals == 2
    telemetry = telemetry_with(
        ("prod", "experiture", []), ("backup", "experiture", []), error="auth: HTTP 401"
    )
    backlog_of(telemetry, "prod", {}, 60.0, 0)
    backlog_of(telemetry, "backup", {"active": (5, 600.0)}, 600.0, 0)
    page = render_status_page(telemetry)
    assert "falling behind" not in page
    assert re.findall(r"<td>(.*?)</td>", source_row(page, "prod"))[-2] == (
        "running state 1m old<br>no reads due<br>0 campaigns not read yet"
    )
    backlog_of(telemetry, "prod", {}, 61.0, 0)
    attention = section(render_status_page(telemetry), "attention")
    assert "<b>prod</b> is falling behind: its running campaigns' state is 2.0 poll " in attention
    assert "<b>backup</b> is falling behind" not in attention


CUSTOMISED = """\
failure_ratio: 0.2
failure_ratio_min_records: 10
send_overdue_after: 1h
stalled_after: 30m
falling_behind_poll_intervals: 4
"""


def test_a_customised_mixin_and_the_status_page_agree(tmp_path: Path) -> None:
    """The same keys in the mixin's config and the exporter's ``thresholds:``: the alerts
    and the page move together, from the defaults to the customised values."""
    mixin_config = tmp_path / "mixin.yml"
    mixin_config.write_text(CUSTOMISED)
    gen = mixin_generator()
    expressions = {
        rule["alert"]: rule["expr"]
        for group in gen.alerts(gen.load(mixin_config))["groups"]
        for rule in group["rules"]
    }
    assert "> 0.2\n" in expressions["CampaignHighFailureRatio"]
    assert (
        '{job="campaign-exporter", stage="scheduled"} >= 10\n'
        in (expressions["CampaignHighFailureRatio"])
    )
    assert "> 3600)" in expressions["CampaignSendOverdue"]
    assert "> 1800)" in expressions["CampaignStalled"]
    assert "\n> 4\n" in expressions["CampaignExporterFallingBehind"]

    config = parse_config(
        {
            "sources": [experiture_source("http://127.0.0.1:1")],
            "thresholds": yaml.safe_load(CUSTOMISED),
        }
    )
    rows = [
        row("late-40m", "pending_or_overdue", send_at=NOW - 40 * MIN),
        row("late-61m", "pending_or_overdue", send_at=NOW - 61 * MIN),
        row("still-20m", "running", progress_at=NOW - 20 * MIN),
        row("still-31m", "running", progress_at=NOW - 31 * MIN),
        row("ratio-10", "running", failure_ratio=0.1, ratio_base=1000, progress_at=NOW),
        row("ratio-25", "running", failure_ratio=0.25, ratio_base=10, progress_at=NOW),
    ]
    telemetry = backlog_of(telemetry_with(("prod", "experiture", rows)), "prod", {}, 100.0, 0)

    defaults = section(render_status_page(telemetry), "attention")
    assert ids_in(defaults) == ["late-61m", "late-40m", "still-31m", "still-20m", "ratio-10"]
    assert "falling behind: its running campaigns' state is 3.3 poll intervals old" in defaults

    customised = section(render_status_page(telemetry, thresholds=config.thresholds), "attention")
    assert ids_in(customised) == ["late-61m", "still-31m", "ratio-25"]
    assert problem_of(customised, "late-61m") == "overdue by 61m"
    assert problem_of(customised, "still-31m") == "no progress for 31m"
    assert problem_of(customised, "ratio-25") == "failed / scheduled 25.00% (over 20%)"
    assert "falling behind" not in customised
    behind = backlog_of(telemetry, "prod", {}, 130.0, 0)
    assert "4.3 poll intervals old (2m), over 4;" in section(
        render_status_page(behind, thresholds=config.thresholds), "attention"
    )
