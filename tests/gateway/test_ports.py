"""Busy ports: a second gateway on the same SMTP port, or a busy web port, fails with one line naming it."""
from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message, site_toml_virus
from tests.gateway.test_workers import children, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, smtp_port: int, sink_address: str, *, workers: int = 1,
                 web_port: int | None = None) -> Path:
    web = f'enabled = true\nlisten = "127.0.0.1:{web_port}"' if web_port else "enabled = false"
    path.mkdir(parents=True, exist_ok=True)
    config = path / "site.toml"
    config.write_text(f"""
[school]
domains = ["{SCHOOL_DOMAIN}"]
[gateway]
listen = "127.0.0.1:{smtp_port}"
next_hop = "{sink_address}"
workers = {workers}
[quarantine]
path = "q"
[web]
{web}
{site_toml_virus()}
""", encoding="utf-8")
    return config


def serve(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                             "--grace", "5"], cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def run_to_failure(config: Path) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def the_error(output: str) -> str:
    """Exactly one line says why it stopped, and nothing else looks like a crash."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("schoolgate: cannot")]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_second_gateway_on_the_same_smtp_port_fails_naming_it(tmp_path, sink, workers):
    port = free_port()
    log = tmp_path / "first.log"
    first = serve(write_config(tmp_path / "first", port, sink.address, workers=workers), log)
    try:
        wait_for(log, r"SMTP on" if workers == 1 else r"workers share", first)
        code, output = run_to_failure(write_config(tmp_path / "second", port, sink.address, workers=workers))
        assert code == 1
        line = the_error(output)
        assert str(port) in line and "already in use by another schoolgate" in line, line
        assert f"pid {first.pid}" in line or any(f"pid {kid}" in line for kid in children(first.pid))
        # the first gateway still takes all the mail: nothing was split off to the second
        raw = make_message("still here").replace(b"\n", b"\r\n")
        for _ in range(10):
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("alice@example.com", [f"bob@{SCHOOL_DOMAIN}"], raw)
        assert len(sink.messages) == 10
    finally:
        assert stop(first) == 0


def test_foreign_listener_on_the_smtp_port_is_one_line(tmp_path, sink):
    with socket.create_server(("127.0.0.1", 0)) as other:  # e.g. Postfix already on port 25
        port = other.getsockname()[1]
        code, output = run_to_failure(write_config(tmp_path, port, sink.address))
    assert code == 1
    line = the_error(output)
    assert str(port) in line and "in use" in line, line


def test_busy_web_port_is_one_line(tmp_path, sink):
    with socket.create_server(("127.0.0.1", 0)) as other:
        web_port = other.getsockname()[1]
        code, output = run_to_failure(write_config(tmp_path, free_port(), sink.address, web_port=web_port))
    assert code == 1
    line = the_error(output)
    assert f"web UI 127.0.0.1:{web_port}" in line and "in use" in line, line
