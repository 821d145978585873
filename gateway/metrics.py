"""Prometheus metrics, one registry per gateway instance (no global state)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.shared: tuple[Path, str] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter("schoolgate_messages", "Messages decided, by action and direction",
                                ["action", "direction"], registry=self.registry)
        self.recipients = Counter("schoolgate_recipients", "Recipient copies, by action",
                                  ["action"], registry=self.registry)
        self.filter_seconds = Histogram("schoolgate_filter_seconds", "Time per filter per message",
                                        ["filter"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._filter_children: dict[str, Any] = {}  # filter name -> filter_seconds.labels(name)
        self.filter_failures = Counter("schoolgate_filter_failures", "Filter errors and timeouts",
                                       ["filter", "kind"], registry=self.registry)
        self.next_hop_errors = Counter("schoolgate_next_hop_errors", "Next-hop delivery problems",
                                       ["kind"], registry=self.registry)
        self.transaction_seconds = Histogram("schoolgate_transaction_seconds",
                                             "End of DATA to our reply", buckets=LATENCY_BUCKETS,
                                             registry=self.registry)
        self.connections = Gauge("schoolgate_smtp_connections", "Open SMTP sessions", registry=self.registry)
        self.busy = Counter("schoolgate_busy", "Messages told 451 4.3.2 after waiting too long for a scan slot",
                            registry=self.registry)
        self.scan_waiting = Gauge("schoolgate_scan_waiting", "Messages waiting for a scan slot",
                                  registry=self.registry)
        self.internal_errors = Counter("schoolgate_internal_errors", "Our own bugs answered with 451",
                                       registry=self.registry)
        # health (gateway/health.py): set at each check, i.e. each /healthz, /metrics or monitor round
        self.component_up = Gauge("schoolgate_component_up", "1 when the component passed its last check",
                                  ["component"], registry=self.registry)
        self.degraded = Gauge("schoolgate_degraded", "1 while running on test or stale virus signatures "
                              "([virus] allow_test_signatures: evaluation only)", registry=self.registry)
        self.signature_age = Gauge("schoolgate_signature_age_seconds", "Age of clamd's signature database "
                                   "(absent when it has test signatures only)", registry=self.registry)
        self.held_messages = Gauge("schoolgate_held_messages", "Messages waiting for review (held, "
                                   "partially released)", registry=self.registry)
        self.oldest_held_seconds = Gauge("schoolgate_oldest_held_seconds", "Age of the oldest message "
                                         "waiting for review (0 when none)", registry=self.registry)
        self.dsl_alerts_unacknowledged = Gauge("schoolgate_dsl_alerts_unacknowledged",
                                               "DSL alerts nobody has acknowledged yet", registry=self.registry)
        self.build_info = Gauge("schoolgate_build_info", "The running version (value always 1)",
                                ["version", "python"], registry=self.registry)

    def observe_filter(self, name: str, seconds: float, failure_kind: str | None) -> None:
        # labels() takes the metric's lock and builds the key on every call; the child it returns
        # for a name is always the same (nothing here removes one), so it is kept: ~13 filters a
        # message made this ~27 us of the chain's ~73 us own cost (docs/performance.md, tenth pass)
        child = self._filter_children.get(name)
        if child is None:
            child = self._filter_children[name] = self.filter_seconds.labels(name)
        child.observe(seconds)
        if failure_kind:
            self.filter_failures.labels(name, failure_kind).inc()

    def next_hop_error(self, kind: str) -> None:
        self.next_hop_errors.labels(kind).inc()

    def render(self) -> bytes:
        """This worker's registry; on a primary of several workers, the whole node's."""
        own = generate_latest(self.registry)
        if self.shared is None:
            return own
        from gateway.metrics_share import merge, read_others

        directory, node = self.shared
        return merge(own, read_others(directory), node)

    def share(self, directory: "Path", node: str) -> None:
        """Primary of several workers: render() adds up the others' snapshots (metrics_share)."""
        self.shared = (directory, node)

    def render_own(self) -> bytes:
        return generate_latest(self.registry)
