"""The JSON bodies of Experiture's reads, as the docs' examples show them: a listing entry,
a campaign's status, metrics and summary, and the error envelope."""

from __future__ import annotations

from typing import Any

from .campaign import SimCampaign, iso


def campaign_listing(c: SimCampaign) -> dict[str, Any]:
    return {
        "campaignId": c.campaign_id,
        "name": c.name,
        "campaignType": c.campaign_type,
        "channel": c.channel,
        "authoringStatus": c.authoring_status,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
    }


def last_execution(c: SimCampaign, now: float) -> dict[str, Any] | None:
    if c.progress(now) is None:
        return None
    return {
        "executionId": f"exec-{c.campaign_id}",
        "startedAt": iso(c.start),
        "completedAt": iso(c.completed_at(now)),
        "status": c.state(now),
        "counts": c.counts(now),
    }


def status_body(c: SimCampaign, now: float) -> dict[str, Any]:
    # The seed's /status schedule: scheduleId, sendAt, timezone, active (no mode and no
    # batchDate: a batch's day is in the summary's schedule).
    schedule: dict[str, Any] | None = None
    if c.send_at is not None:
        schedule = {"scheduleId": f"sch-{c.campaign_id}", "timezone": c.timezone}
        if c.mode == "at":
            schedule["sendAt"] = iso(c.send_at)
        schedule["active"] = now < c.send_at
    return {
        "campaignId": c.campaign_id,
        "name": c.name,
        "authoringStatus": c.authoring_status,
        "schedule": schedule,
        "execution": {"state": c.state(now), "lastExecution": last_execution(c, now)},
    }


def metrics_body(c: SimCampaign, now: float) -> dict[str, Any]:
    return {"campaignId": c.campaign_id, "counts": c.counts(now)}


def summary_body(c: SimCampaign, now: float) -> dict[str, Any]:
    included = (
        [{"id": f"seg-{c.campaign_id[:8]}", "name": None, "type": "segment", "memberCount": None}]
        if c.has_audience
        else []
    )
    template = (
        {
            "id": f"tpl-{c.campaign_id[:8]}",
            "name": f"{c.name} template",
            "status": "published",
            "channel": c.channel,
        }
        if c.has_template
        else None
    )
    last = last_execution(c, now)
    return {
        **campaign_listing(c),
        "schedule": None if c.send_at is None else {**(c.schedule(now) or {}), "scheduled": True},
        "audience": {
            "included": included,
            "excluded": [],
            "reach": {
                "status": c.reach_status,
                "evaluatedCount": c.audience,
                "evaluatedAt": iso(c.updated_at),
                "isStale": c.reach_stale,
            },
        },
        "content": {"template": template, "proofStatus": "unavailable"},
        "preflight": {"status": "not_evaluated", "checks": []},
        "latestExecution": {
            "status": c.state(now),
            "lastExecutionAt": last["startedAt"] if last else None,
            "counts": last["counts"] if last else None,
        },
        "links": {"self": f"/public/v1/campaigns/{c.campaign_id}/summary"},
    }


def error_envelope(code: str, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": {}, "remediation": None},
    }
