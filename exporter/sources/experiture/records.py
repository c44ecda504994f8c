"""What the exporter knows of one Experiture campaign: the last good answer of each
endpoint, when each pipeline stage last moved, and the values derived from those parts
that both the metrics and the status page's rows show (one derivation each)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import CampaignSetup, Counts, ExecutionStatus, ListedCampaign, Schedule


@dataclass
class CampaignRecord:
    """One campaign's snapshot. Each read brings one part (the others None) and is merged
    over the last good record as it lands (``ExperitureSource.merge``)."""

    campaign_id: str
    listing: ListedCampaign | None = None
    status: ExecutionStatus | None = None
    counts: Counts | None = None  # from /metrics (analytics:read)
    setup: CampaignSetup | None = None
    setup_read: float | None = None  # monotonic time /summary was last read
    setup_version: str | None = None  # the listing's updatedAt when it was read
    # Unix time of the read that brought this part: when, not what (a campaign read again
    # and found as it was compares equal, and only its read time is rendered anew)
    read_at: float | None = field(default=None, compare=False)
    # When each stage's count last grew. First seen counts count as progress: after a
    # restart nobody knows better, and "now" never raises a false stall.
    progress: dict[str, float] = field(default_factory=dict)

    def pipeline_counts(self, analytics: bool) -> Counts | None:
        if analytics and self.counts is not None:
            return self.counts
        return self.status.counts if self.status else None

    def note_progress(self, before: Counts | None, after: Counts | None, now: float) -> None:
        for stage, count in (after or {}).items():
            previous = (before or {}).get(stage)
            if previous is None or count != previous or stage not in self.progress:
                self.progress[stage] = now

    @property
    def schedule(self) -> Schedule | None:
        """When the send is due: /status's schedule when it gives a time, else /summary's.
        The documented /status schedule has only ``sendAt``; a direct-mail batch's
        ``batchDate`` comes with the summary (the docs' Schedule & Send model)."""
        status = self.status.schedule if self.status else None
        if status is not None and status.due_from is not None:
            return status
        return (self.setup.schedule if self.setup else None) or status

    @property
    def name(self) -> str | None:
        for part in (self.setup, self.status, self.listing):
            if part is not None and part.name:
                return part.name
        return None

    @property
    def channel(self) -> str | None:
        """The setup's channel (``/summary``), else the listing's."""
        setup, listing = self.setup, self.listing
        return (setup.channel if setup else None) or (listing.channel if listing else None)

    @property
    def authoring_status(self) -> str | None:
        """The freshest part's: ``/status``'s, else the setup's, else the listing's."""
        status, setup, listing = self.status, self.setup, self.listing
        return (
            (status.authoring_status if status else None)
            or (setup.authoring_status if setup else None)
            or (listing.authoring_status if listing else None)
        )


def failure_ratio(counts: Counts | None) -> float | None:
    """Failed over scheduled records; None without both (or with none scheduled)."""
    scheduled, failed = (counts or {}).get("scheduled"), (counts or {}).get("failed")
    return failed / scheduled if scheduled and failed is not None else None
