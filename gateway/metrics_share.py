"""/metrics for every worker of a node ([gateway] workers > 1): each worker but the primary writes
its registry to a file in a directory the supervisor made; the primary's /metrics adds them up.

Why files and not prometheus_client's multiprocess mode: that mode is switched on by an
environment variable read when prometheus_client is first imported, for the whole process — a
global the supervisor imports long before it knows how many workers it will fork. A snapshot
file per worker, rewritten every PUBLISH_SECONDS and at stop, keeps each Metrics object its own;
a scrape sees the other workers' counts at most that old.

Every sample gets a `node` label ([gateway] node_name, default the host name) so the series of
several nodes behind one MX stay apart.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Iterable

from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 2.0
ENV_DIR = "SCHOOLGATE_METRICS_DIR"
# Set by the primary's own checks (gateway/health.py): the other workers' copies are never set,
# and adding them up would be wrong; counters and every other gauge are per worker, so they add.
PRIMARY_ONLY = frozenset({
    "schoolgate_component_up", "schoolgate_degraded", "schoolgate_signature_age_seconds",
    "schoolgate_held_messages", "schoolgate_oldest_held_seconds", "schoolgate_dsl_alerts_unacknowledged",
    "schoolgate_build_info"})


def worker_file(directory: Path, index: int) -> Path:
    return directory / f"worker-{index}.prom"


def publish(directory: Path, index: int, text: bytes) -> None:
    """Atomically replace this worker's snapshot (a reader never sees half a file)."""
    target = worker_file(directory, index)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(text)
    os.replace(tmp, target)


async def publish_forever(directory: Path, index: int, render) -> None:
    while True:
        try:
            publish(directory, index, render())
        except OSError as exc:  # a full /tmp must not stop a worker taking mail
            log.warning("metrics snapshot for worker %d not written: %s", index, exc)
        await asyncio.sleep(PUBLISH_SECONDS)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def merge(primary: bytes, others: Iterable[bytes], node: str) -> bytes:
    """One exposition: the primary's families, each sample summed with the same sample of every
    other worker (except PRIMARY_ONLY families), each labelled with the node."""
    order: list[str] = []
    meta: dict[str, tuple[str, str]] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for n, text in enumerate([primary, *others]):
        for family in text_string_to_metric_families(text.decode("utf-8")):
            if n and family.name in PRIMARY_ONLY:
                continue
            if family.name not in meta:
                order.append(family.name)
                meta[family.name] = (family.type, family.documentation)
                values[family.name] = {}
            samples = values[family.name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # creation times do not add up
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    lines: list[str] = []
    for name in order:
        kind, doc = meta[name]
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} {kind}")
        for (sample_name, labels), value in values[name].items():
            pairs = [*labels, ("node", node)]
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
            lines.append(f"{sample_name}{{{rendered}}} {value!r}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_others(directory: Path, primary_index: int = 0) -> list[bytes]:
    out = []
    for path in sorted(directory.glob("worker-*.prom")):
        if path != worker_file(directory, primary_index):
            try:
                out.append(path.read_bytes())
            except OSError:
                continue
    return out
