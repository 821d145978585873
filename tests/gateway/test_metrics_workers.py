"""/metrics on a node with several workers counts every worker's messages, labelled with the node."""
from __future__ import annotations

import re
import time

import httpx
import pytest

from gateway.metrics_share import merge
from tests.conftest import free_port
from tests.gateway.test_workers import send, start, stop, wait_for, write_config

TOTAL = 24


@pytest.mark.slow
def test_metrics_add_up_every_worker(tmp_path, sink):
    web_port = free_port()
    config = write_config(tmp_path, sink.address, workers=2, web_port=web_port)
    text = config.read_text().replace("[gateway]\n", '[gateway]\nnode_name = "mx1"\n')
    config.write_text(text)
    log = tmp_path / "gateway.log"
    proc = start(config, log)
    try:
        port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc).group(1))
        for n in range(TOTAL):  # one connection each: the kernel spreads them over both workers
            send(port, n)
        assert len(sink.messages) == TOTAL
        deadline, total = time.monotonic() + 15, 0.0
        while time.monotonic() < deadline:
            body = httpx.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10).text
            total = sum(float(v) for v in re.findall(
                r'^schoolgate_messages_total\{[^}]*node="mx1"[^}]*\} (\S+)$', body, re.M))
            if total == TOTAL:
                break
            time.sleep(0.5)
        assert total == TOTAL, body
        assert re.search(r'^schoolgate_component_up\{component="[^"]+",node="mx1"\}', body, re.M)
    finally:
        assert stop(proc) == 0


def test_merge_adds_counters_and_keeps_primary_only_gauges():
    primary = (b'# HELP schoolgate_messages Messages\n# TYPE schoolgate_messages counter\n'
               b'schoolgate_messages_total{action="pass",direction="inbound"} 3.0\n'
               b'# HELP schoolgate_held_messages Held\n# TYPE schoolgate_held_messages gauge\n'
               b'schoolgate_held_messages 7.0\n')
    other = (b'# HELP schoolgate_messages Messages\n# TYPE schoolgate_messages counter\n'
             b'schoolgate_messages_total{action="pass",direction="inbound"} 4.0\n'
             b'schoolgate_messages_total{action="hold",direction="inbound"} 1.0\n'
             b'# HELP schoolgate_held_messages Held\n# TYPE schoolgate_held_messages gauge\n'
             b'schoolgate_held_messages 0.0\n')
    out = merge(primary, [other], "mx1").decode()
    assert 'schoolgate_messages_total{action="pass",direction="inbound",node="mx1"} 7.0' in out
    assert 'schoolgate_messages_total{action="hold",direction="inbound",node="mx1"} 1.0' in out
    assert 'schoolgate_held_messages{node="mx1"} 7.0' in out
