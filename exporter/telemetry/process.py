"""This process's CPU, memory, file descriptors and garbage collector, read from
prometheus_client's collectors into the exposition's ``MetricFamily``."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from ..exposition.render import MetricFamily


def _from_client(metric: Metric) -> MetricFamily | None:
    if metric.type not in ("gauge", "counter") or not metric.samples:
        return None
    name = metric.samples[0].name if metric.type == "counter" else metric.name
    label_names = tuple(metric.samples[0].labels)
    fam = MetricFamily(name, metric.type, metric.documentation, label_names)  # type: ignore[arg-type]
    for sample in metric.samples:
        if sample.name == name:
            fam.add(tuple(sample.labels[k] for k in label_names), sample.value)
    return fam


def process_families(collectors: Sequence[str] = ("process_", "python_gc_")) -> list[MetricFamily]:
    """CPU, memory and file descriptors of this process, from prometheus_client's collectors."""
    out = []
    for metric in REGISTRY.collect():
        if metric.name.startswith(tuple(collectors)):
            fam = _from_client(metric)
            if fam is not None:
                out.append(fam)
    return out
