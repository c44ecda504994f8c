"""The exposition store alone, at steady state, against a baseline commit: CPU of the
publications, of the first whole-body build after them (gzip, plain), and the store's
memory.

    .venv/bin/python bench/store.py --baseline f4c6eba

The store holds --campaigns campaigns of one source, 12 families each, one line per
family (about 100 bytes, as the exporter's own campaign lines are), 4% of them running.
Each simulated second publishes 24 reads, in one of two mixes:

- ``running``, as in the steady state of bench/steady.py (its reads are nearly all of
  running campaigns): 23 running campaigns read again in turn, their read time alone
  moved; one more with all its lines changed; one idle campaign, read time only.
- ``idle``: 4 running campaigns, all their lines changed; 20 idle campaigns read in turn,
  the one read longest ago first, their read time alone moved (an account with few
  running, whose idle campaigns are read again each in its turn).

Every 15 s (a Prometheus scrape) the whole gzip body is built, as the first scrape after
a publication does; every 60 s the plain body too. Each tree runs in a child process
(``PYTHONPATH=<tree>``), its clock process CPU time; memory is what tracemalloc counts of
the store once its first gzip body is built. (A store that joins the plain text while it
builds the gzip body shows a near-zero plain build after it: the join was counted in its
gzip build.) The lines are synthetic, so that both trees hold the same bytes whatever
their renderer does. The first 300 s are not a settled account: lines that change leave
their first places then.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

FAMILIES = [f"campaign_exporter_bench_family_{i}" for i in range(12)]
RUNNING_EVERY = 25  # 4% of campaigns run
MIXES = {  # (running read time only, running all lines, idle read time only) per second
    "running": (23, 1, 1),
    "idle": (0, 4, 20),
}
SCRAPE_EVERY, PLAIN_EVERY = 15, 60


def measure(campaigns: int, seconds: int, mix: str) -> dict[str, float]:
    """In this process, on the exporter first on sys.path."""
    from exporter.exposition import store as module
    from exporter.exposition.render import RenderedFamily
    from exporter.exposition.store import ExpositionStore

    tree = Path(os.environ["PYTHONPATH"]).resolve()
    assert Path(module.__file__).resolve().is_relative_to(tree), "the store of another tree"

    class NoOwnFamilies:
        def families(self) -> list[Any]:
            return []

    def lines(cid: int, value: int, names: list[str]) -> list[RenderedFamily]:
        labels = f'source="bench",campaign_id="{cid}",campaign_name="Campaign number {cid}"'
        return [
            RenderedFamily(name, "gauge", "h", f"{name}{{{labels}}} {value}\n".encode())
            for name in names
        ]

    tracemalloc.start()
    store = ExpositionStore(NoOwnFamilies())
    store.update("bench", {str(c): lines(c, 0, FAMILIES) for c in range(campaigns)}, [])
    store.build(False, True)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    running = [c for c in range(campaigns) if c % RUNNING_EVERY == 0]
    idle = [c for c in range(campaigns) if c % RUNNING_EVERY]
    times_only, whole, idle_times = MIXES[mix]
    publish = 0.0
    gzip: list[float] = []
    plain: list[float] = []
    running_turn, idle_turn = itertools.cycle(running), itertools.cycle(idle)
    for second in range(1, seconds + 1):
        full = {}
        some = {}
        for c in itertools.islice(running_turn, whole):
            full[str(c)] = lines(c, second, FAMILIES)
        for c in itertools.islice(running_turn, times_only):
            some[str(c)] = lines(c, second, FAMILIES[:1])
        for c in itertools.islice(idle_turn, idle_times):
            some[str(c)] = lines(c, second, FAMILIES[:1])
        start = time.process_time()
        store.update("bench", full, [], some)
        publish += time.process_time() - start
        if second % SCRAPE_EVERY == 0:
            start = time.process_time()
            store.build(False, True)
            gzip.append(time.process_time() - start)
        if second % PLAIN_EVERY == 0:
            start = time.process_time()
            store.build(False, False)
            plain.append(time.process_time() - start)
    reads = seconds * (times_only + whole + idle_times)
    body = len(store.build(False, False).body)
    return {
        "body (MB)": body / 1e6,
        "publication CPU per read (us)": 1e6 * publish / reads,
        "gzip build after publications p50 (ms)": 1e3 * statistics.median(gzip),
        "gzip build after publications max (ms)": 1e3 * max(gzip),
        "plain build after a gzip build p50 (ms)": 1e3 * statistics.median(plain),
        "store CPU per read, gzip builds included (us)": 1e6 * (publish + sum(gzip)) / reads,
        "store memory after the first gzip build (MiB)": memory / 2**20,
    }


def run(tree: str, args: argparse.Namespace) -> dict[str, float]:
    done = subprocess.run(
        [
            *(sys.executable, __file__, "--child", f"--campaigns={args.campaigns}"),
            *(f"--seconds={args.seconds}", f"--mix={args.mix}"),
        ],
        env={**os.environ, "PYTHONPATH": tree},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=300, help="simulated seconds")
    parser.add_argument("--baseline", default="HEAD~1", help='a git rev, or "none"')
    parser.add_argument("--mix", choices=sorted(MIXES), default="running")
    parser.add_argument("--runs", type=int, default=2, help="of each tree, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the tree on PYTHONPATH, so not _common (it puts this one first)
        print(json.dumps(measure(args.campaigns, args.seconds, args.mix)))
        return
    from _common import ROOT, checkout, git

    baseline = None if args.baseline == "none" else git("rev-parse", "--verify", args.baseline)
    print(
        f"tree under test: {ROOT} at {git('rev-parse', '--short', 'HEAD')}; baseline: "
        f"{baseline[:10] if baseline else 'none'}; {args.campaigns} campaigns x "
        f"{len(FAMILIES)} families, mix {args.mix}, {args.seconds} s simulated, "
        f"{args.runs} runs each "
        "(medians)",
        flush=True,
    )
    new: list[dict[str, float]] = []
    old: list[dict[str, float]] = []
    if baseline:
        with checkout(baseline) as path:
            for _ in range(args.runs):
                old.append(run(str(path), args))
                new.append(run(str(ROOT), args))
    else:
        new = [run(str(ROOT), args) for _ in range(args.runs)]
    keys = list(new[0])
    width = max(map(len, keys))
    print(f"{'figure':<{width}} | {'baseline':>9} | {'this tree':>9} | ratio")
    for key in keys:
        b = statistics.median(run[key] for run in new)
        if old:
            a = statistics.median(run[key] for run in old)
            print(f"{key:<{width}} | {a:9.3g} | {b:9.3g} | {b / a:.2f}")
        else:
            print(f"{key:<{width}} | {'':>9} | {b:9.3g} |")


if __name__ == "__main__":
    main()
