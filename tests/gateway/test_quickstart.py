"""scripts/serve's quickstart (gateway/quickstart.py) as run on an offline machine: its own clamd, loud evaluation mode."""
from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from filters.virus import EICAR
from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN

ROOT = Path(__file__).resolve().parents[2]


def _message(attachment: bytes | None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "parent@example.net", f"office@{SCHOOL_DOMAIN}", "Trip form"
    msg.set_content("Please find the signed trip form attached.")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="form.com")
    return msg.as_bytes()


def test_quickstart_offline_runs_a_filtering_gateway_and_says_it_is_not_protected(tmp_path, sink):
    if shutil.which("clamd") is None and not Path("/usr/sbin/clamd").exists():
        pytest.fail("clamd is not installed: apt-get install -y --no-install-recommends clamav-daemon")
    data, port = tmp_path / "data", free_port()
    env = {**os.environ, "SCHOOLGATE_FRESHCLAM": "0",  # offline: no signature download
           "SCHOOLGATE_CLAMAV_DB": str(tmp_path / "no-system-db")}
    log = tmp_path / "quickstart.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.quickstart", "--data-dir", str(data), "--next-hop", sink.address,
         "--listen", f"127.0.0.1:{port}", "--web-listen", f"127.0.0.1:{free_port()}"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # banner on stderr, JSON log lines on stdout
    try:
        deadline = time.monotonic() + 120
        while "SMTP on" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        out = log.read_text()
        clamd_pid = int((data / "clamd" / "clamd.pid").read_text())
        assert b"clamd" in Path(f"/proc/{clamd_pid}/cmdline").read_bytes()
        assert "EVALUATION ONLY - THIS GATEWAY IS NOT PROTECTED AGAINST VIRUSES" in out
        assert "allow_test_signatures = true" in out
        config = data / "evaluation.toml"
        assert "allow_test_signatures = true" in config.read_text()
        assert f"unix:{data}/clamd/clamd.sock" in config.read_text()  # its own clamd, under the data dir

        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("parent@example.net", [f"office@{SCHOOL_DOMAIN}"], _message(EICAR))
            assert refused.value.smtp_code == 554 and b"Eicar" in refused.value.smtp_error
            smtp.sendmail("parent@example.net", [f"office@{SCHOOL_DOMAIN}"], _message(None))
        assert len(sink.messages) == 1 and b"signed trip form" in sink.messages[0].data

        check = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(config)],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert check.returncode == 1
        assert any(line.startswith("FAIL EVALUATION ONLY") for line in check.stdout.splitlines()), check.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()
    assert not Path(f"/proc/{clamd_pid}").exists()  # clamd lives as long as the gateway
