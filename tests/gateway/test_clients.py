"""Other real SMTP clients than smtplib: aiosmtplib, swaks and Postfix's smtp-source."""
from __future__ import annotations

import asyncio
import os
import shutil

import aiosmtplib
import pytest

from tests.factories import SCHOOL_DOMAIN, make_message


def need(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} missing in CI: scripts/setup --test installs it")
        pytest.skip(f"{tool} not installed: apt-get install -y swaks postfix")
    return path


async def test_aiosmtplib_client(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    errors, reply = await aiosmtplib.send(make_message("from aiosmtplib"), hostname="127.0.0.1", port=gw.port,
                                          sender="a@example.com", recipients=[f"b@{SCHOOL_DOMAIN}"])
    assert errors == {} and reply.startswith("2.0.0 Ok")
    assert len(sink.messages) == 1


async def test_swaks(make_gateway, sink):
    swaks = need("swaks")
    gw = await make_gateway(next_hop=sink.address)
    proc = await asyncio.create_subprocess_exec(
        swaks, "--server", "127.0.0.1", "--port", str(gw.port), "--from", "parent@example.com",
        "--to", f"office@{SCHOOL_DOMAIN}", "--header", "Subject: absence", "--body", "Sam is ill today.",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"<-  250 2.0.0 Ok" in out
    [delivered] = sink.messages
    assert b"Sam is ill today." in delivered.data


async def test_smtp_source_concurrent_sessions(make_gateway, sink):
    source = need("smtp-source")
    gw = await make_gateway(next_hop=sink.address)
    proc = await asyncio.create_subprocess_exec(
        source, "-s", "5", "-m", "60", "-f", "bulk@example.com", "-t", f"staff@{SCHOOL_DOMAIN}",
        f"127.0.0.1:{gw.port}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    assert len(sink.messages) == 60
