"""The read queue on its own: reads pop by urgency, then rank, then due time, each endpoint
class from its own queue, one read per key."""

from __future__ import annotations

from exporter.books.reads import Read, Urgency
from exporter.run.readqueue import ReadQueue

CAMPAIGNS, ANALYTICS = "campaigns", "analytics"  # two endpoint classes
STATE_EVERY = 30.0  # the interval of a campaign's reads


def state(subject: str, due: float, urgency: Urgency = Urgency.ACTIVE, rank: float = 0) -> Read:
    return Read("state", subject, CAMPAIGNS, urgency, due, STATE_EVERY, rank)


def test_due_reads_pop_by_urgency_then_rank() -> None:
    queue = ReadQueue()
    for queued in [
        state("idle", 10, Urgency.IDLE),
        state("unread-2", 10, Urgency.UNREAD, rank=2),
        state("settling", 10, Urgency.SETTLING),
        state("unread-0", 10, Urgency.UNREAD, rank=0),
        state("detail", 10, Urgency.DETAIL),
        state("active", 10, Urgency.ACTIVE),
        state("unread-1", 10, Urgency.UNREAD, rank=1),
    ]:
        queue.put(queued)
    popped = []
    while (read := queue.pop(CAMPAIGNS, 10.0)) is not None:
        popped.append(read.subject)
    assert popped == [
        "active",
        "unread-0",
        "unread-1",
        "unread-2",
        "detail",
        "settling",
        "idle",
    ]
    assert queue.reads == {}


def test_within_an_urgency_and_rank_the_earlier_due_goes_first() -> None:
    queue = ReadQueue()
    queue.put(state("later", 7, Urgency.IDLE))
    queue.put(state("earlier", 3, Urgency.IDLE))
    first, second = queue.pop(CAMPAIGNS, 10.0), queue.pop(CAMPAIGNS, 10.0)
    assert first is not None and first.subject == "earlier"
    assert second is not None and second.subject == "later"


def test_a_read_not_due_yet_waits_for_its_time_whatever_its_urgency() -> None:
    queue = ReadQueue()
    queue.put(state("urgent-later", 150, Urgency.ACTIVE))
    queue.put(state("idle-now", 100, Urgency.IDLE))
    now = queue.pop(CAMPAIGNS, 100.0)
    assert now is not None and now.subject == "idle-now"
    assert queue.pop(CAMPAIGNS, 100.0) is None
    assert queue.next_due(CAMPAIGNS, 100.0) == 150.0
    assert queue.pop(CAMPAIGNS, 149.5) is None
    later = queue.pop(CAMPAIGNS, 150.0)
    assert later is not None and later.subject == "urgent-later"
    assert queue.next_due(CAMPAIGNS, 150.0) is None


def test_each_endpoint_class_has_its_own_queue() -> None:
    queue = ReadQueue()
    queue.put(Read("report", "c1", ANALYTICS, Urgency.ACTIVE, 0.0))
    assert queue.pop(CAMPAIGNS, 5.0) is None
    assert queue.next_due(CAMPAIGNS, 5.0) is None
    report = queue.pop(ANALYTICS, 5.0)
    assert report is not None and report.key == ("report", "c1")


def test_a_newer_read_for_the_same_key_replaces_the_older() -> None:
    queue = ReadQueue()
    queue.put(state("c1", 100, Urgency.IDLE))
    queue.put(state("c1", 200, Urgency.ACTIVE))  # put off, and more urgent
    assert list(queue.reads) == [("state", "c1")]
    assert queue.pop(CAMPAIGNS, 150.0) is None, "the older read went with its due time"
    assert queue.next_due(CAMPAIGNS, 150.0) == 200.0
    read = queue.pop(CAMPAIGNS, 200.0)
    assert read is not None and (read.due, read.urgency) == (200.0, Urgency.ACTIVE)
    assert queue.pop(CAMPAIGNS, 1e9) is None, "one read, not two"
    # brought forward: the newer due time holds too
    queue.put(state("c2", 500))
    queue.put(state("c2", 300))
    assert queue.next_due(CAMPAIGNS, 0.0) == 300.0
    brought = queue.pop(CAMPAIGNS, 300.0)
    assert brought is not None and brought.due == 300.0
    assert queue.pop(CAMPAIGNS, 1e9) is None


def test_discard_removes_every_read_of_a_campaign_and_no_other() -> None:
    queue = ReadQueue()
    queue.put(state("c1", 0))
    queue.put(Read("counts", "c1", CAMPAIGNS, Urgency.DETAIL, 0.0))
    queue.put(Read("report", "c1", ANALYTICS, Urgency.DETAIL, 50.0))
    queue.put(state("c2", 0, Urgency.IDLE))
    sent = queue.pop(CAMPAIGNS, 0.0)  # the others are on the due heap now
    assert sent is not None and sent.key == ("state", "c1")
    queue.put(state("c1", 0))  # due again
    assert queue.discard("c1") == {("state", "c1"), ("counts", "c1"), ("report", "c1")}
    assert list(queue.reads) == [("state", "c2")]
    left = queue.pop(CAMPAIGNS, 100.0)
    assert left is not None and left.subject == "c2"
    assert queue.pop(CAMPAIGNS, 100.0) is None
    assert queue.pop(ANALYTICS, 100.0) is None
    assert queue.discard("c1") == set()
