"""The `schoolgate` command as a network manager runs it: real processes, real files."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message, site_toml_virus

EXE = b"MZ\x90\x00" + b"\x00" * 60


def schoolgate(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def site_config(tmp_path: Path, extra: str = "", next_hop: str | None = None) -> Path:
    hop = f'next_hop = "{next_hop}"\n' if next_hop else ""
    path = tmp_path / "site.toml"
    path.write_text(f"""
[school]
name = "Hillside Academy"
domains = ["{SCHOOL_DOMAIN}"]

[gateway]
listen = "127.0.0.1:0"
workers = 1  # the CLI's own output is under test, not the supervisor's (tests/gateway/test_workers.py)
{hop}
[quarantine]
path = "q"

[web]
enabled = false
{site_toml_virus()}
{extra}
""", encoding="utf-8")
    return path


def test_unknown_flag_gives_usage_exit_2():
    result = schoolgate("quarantine", "list", "--no-such-flag")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "unrecognized arguments: --no-such-flag" in result.stderr


@pytest.mark.parametrize("content,key", [
    ('[gateway]\nnext_hop = "mailserver"\n', "[gateway] next_hop"),
    ('[gateway]\nmax_recipients = -1\n', "[gateway] max_recipients"),
    ('[gateway]\nno_such_key = 1\n', "[gateway] no_such_key: unknown key"),
    ('[nonsense]\nx = 1\n', "[nonsense]"),
    ('[filters]\nchain = ["attachments", "telepathy"]\n', "[filters] chain: unknown filter 'telepathy'"),
    ('[gateway\nlisten = 1\n', "not valid TOML"),
    ('[gateway]\ntrusted_networks = ["10.0.0.0/33"]\n', "[gateway] trusted_networks"),
])
def test_config_check_names_key_and_file(tmp_path, content, key):
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    result = schoolgate("config", "check", "--config", str(path))
    assert result.returncode == 1
    assert str(path) in result.stderr and key in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_config_check_ok_and_reports_unreachable_next_hop(tmp_path, sink):
    from tests.conftest import free_port
    ok = schoolgate("config", "check", "--config", str(site_config(tmp_path, next_hop=sink.address)))
    assert "writable" in ok.stdout and "answers" in ok.stdout
    # the session clamd has test signatures only: allowed for the tests, but config check
    # says so as a failure (tests/filters/test_virus.py); nothing else fails
    fails = [line for line in ok.stdout.splitlines() if line.startswith("FAIL")]
    assert all("TEST SIGNATURES ONLY" in line for line in fails), ok.stdout + ok.stderr
    (tmp_path / "b").mkdir()
    bad = schoolgate("config", "check", "--config",
                     str(site_config(tmp_path / "b", next_hop=f"127.0.0.1:{free_port()}")))
    assert bad.returncode == 1 and "FAIL next hop" in bad.stdout


def test_config_show_prints_resolved_chain(tmp_path):
    result = schoolgate("config", "show", "--config", str(site_config(tmp_path)))
    data = json.loads(result.stdout)
    assert [f["name"] for f in data["filters"]["resolved_chain"]][:2] == ["sender_list", "attachments"]
    assert data["quarantine"]["path"] == str((tmp_path / "q").resolve())


def test_scan_single_message_contract(tmp_path):
    eml = tmp_path / "invoice.eml"
    eml.write_bytes(make_message("Pay now", attachments=[("invoice.pdf.exe", "application/pdf", EXE)]))
    result = schoolgate("scan", "--config", str(site_config(tmp_path)), str(eml),
                        "--mail-from", "billing@example.com", "--rcpt", f"bursar@{SCHOOL_DOMAIN}")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"id", "action", "recipients", "findings", "failures"}
    assert out["action"] == "hold"
    assert out["recipients"] == {f"bursar@{SCHOOL_DOMAIN}": "hold"}
    finding = out["findings"][0]
    assert {"code", "filter", "category", "severity", "evidence", "reason"} <= set(finding)
    assert finding["code"] == "ATTACHMENT_DOUBLE_EXTENSION" and finding["evidence"] == ["invoice.pdf.exe"]
    assert not (tmp_path / "q" / "messages").exists() or not any((tmp_path / "q" / "messages").rglob("*.eml"))


def test_scan_manifest_streams_in_order(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    lines = []
    for i in range(30):
        attach = [("homework.pdf.exe", "application/pdf", EXE)] if i % 3 == 0 else []
        (cases / f"m{i}.eml").write_bytes(make_message(f"Message {i}", attachments=attach))
        lines.append(json.dumps({"id": f"case-{i}", "file": f"cases/m{i}.eml", "mail_from": "a@example.com",
                                 "rcpt_to": [f"t{i}@{SCHOOL_DOMAIN}"], "label": "ignored"}))
    manifest = tmp_path / "cases.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = schoolgate("scan", "--config", str(site_config(tmp_path)), "--manifest", str(manifest))
    assert result.returncode == 0, result.stderr
    outs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in outs] == [f"case-{i}" for i in range(30)]
    assert [o["action"] for o in outs] == ["hold" if i % 3 == 0 else "pass" for i in range(30)]


def test_scan_bad_manifest_line_is_reported_not_crashed(tmp_path):
    manifest = tmp_path / "cases.jsonl"
    manifest.write_text('{"id": "a", "file": "missing.eml", "mail_from": "x@y.z", "rcpt_to": ["b@c.d"]}\n'
                        'not json\n', encoding="utf-8")
    result = schoolgate("scan", "--config", str(site_config(tmp_path)), "--manifest", str(manifest))
    assert result.returncode == 1
    outs = [json.loads(line) for line in result.stdout.splitlines()]
    assert outs[0]["id"] == "a" and "missing.eml" in outs[0]["error"]
    assert "line 2" in outs[1]["error"]
    assert "Traceback" not in result.stderr


async def test_quarantine_cli_list_show_release_delete(tmp_path, sink, make_gateway):
    import asyncio
    config = site_config(tmp_path, next_hop=sink.address)
    # a real gateway holding two messages in the same store the CLI reads
    gw = await make_gateway(next_hop=sink.address, quarantine={"path": str(tmp_path / "q")})
    for i in range(2):
        code, _ = await gw.send(make_message(f"invoice {i}", subject=f"Invoice {i}",
                                             attachments=[("invoice.pdf.exe", "application/pdf", EXE)]))
        assert code == 250

    def cli(*args: str) -> subprocess.CompletedProcess:
        return schoolgate(*args, "--config", str(config))

    listed = await asyncio.to_thread(cli, "quarantine", "list", "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 2 and all(r["status"] == "held" for r in rows)
    text = (await asyncio.to_thread(cli, "quarantine", "list")).stdout
    assert "ATTACHMENT_DOUBLE_EXTENSION" in text and rows[0]["id"] in text
    assert json.loads((await asyncio.to_thread(cli, "quarantine", "list", "--status", "released", "--json")
                       ).stdout) == []
    shown = (await asyncio.to_thread(cli, "quarantine", "show", rows[0]["id"], "--reason", "triage")).stdout
    assert "invoice.pdf.exe" in shown and "ATTACHMENT_DOUBLE_EXTENSION" in shown and "Invoice" in shown

    released = await asyncio.to_thread(cli, "quarantine", "release", rows[0]["id"], "--reason", "known supplier")
    assert released.returncode == 0, released.stderr
    assert len(sink.messages) == 1
    again = await asyncio.to_thread(cli, "quarantine", "release", rows[0]["id"])
    assert again.returncode == 1 and "nothing held" in again.stderr
    assert len(sink.messages) == 1  # exactly once

    deleted = await asyncio.to_thread(cli, "quarantine", "delete", rows[1]["id"], "--reason", "phishing")
    assert deleted.returncode == 0
    shown = json.loads((await asyncio.to_thread(cli, "quarantine", "show", rows[1]["id"], "--json")).stdout)
    assert shown["status"] == "deleted"
    assert [a["action"] for a in shown["audit"]] == ["hold", "delete"]
    assert shown["audit"][1]["reason"] == "phishing"
    for command in (("show", "nope"), ("release", "nope", "--reason", "r"), ("delete", "nope", "--reason", "r")):
        missing = await asyncio.to_thread(cli, "quarantine", *command)
        assert missing.returncode == 1, command
        assert missing.stderr.splitlines() == ["schoolgate: no quarantined message with id nope"], missing.stderr


# --- one line per problem, never a traceback (issue 15, items 9 and 3) ---------------------------------
BROKEN = """
[gateway]
next_hop = "mailserver"
[notify]
dsl_addresses = ["not an email"]
[[policy.rules]]
category = "virus"
action = "drop"
[policy.default_actions]
high = "pass"
[directory]
csv = "people.csv"
[attachments]
archive_depth = "deep"
"""


def test_config_check_reports_every_problem_in_one_run(tmp_path):
    (tmp_path / "people.csv").write_text("email,role,name\na@school.sch.uk,staff,A\nb@school.sch.uk,teacher,B\n",
                                         encoding="utf-8")
    config = tmp_path / "site.toml"
    config.write_text(BROKEN, encoding="utf-8")
    result = schoolgate("config", "check", "--config", str(config))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 6, result.stderr
    assert all(line.startswith(f"schoolgate: configuration error: {config}: [") for line in lines)
    for key, words in [("[gateway] next_hop", "host:port"), ("[notify] dsl_addresses", "'not an email'"),
                       ("[policy] rules[0].action", "unknown action 'drop'"),
                       ("[policy] default_actions", 'high must not be "pass"'),
                       ("[attachments] archive_depth", "integer"),
                       ("[directory] csv", "people.csv: line 3: role must be staff or student, not 'teacher'")]:
        assert any(key in line and words in line for line in lines), (key, lines)
    assert "Traceback" not in result.stdout + result.stderr and "configuration valid" not in result.stdout


@pytest.mark.parametrize("csv,words", [
    (None, "people.csv: file not found"),
    ("mail,kind\nx@school.sch.uk,staff\n", "people.csv: line 1: missing column(s) email, role"),
    ("email,role\nx@school.sch.uk,staff\ny@school.sch.uk,governor\n",
     "people.csv: line 3: role must be staff or student, not 'governor'"),
])
def test_directory_csv_problems_stop_config_check_and_serve(tmp_path, csv, words):
    if csv is not None:
        (tmp_path / "people.csv").write_text(csv, encoding="utf-8")
    config = site_config(tmp_path, extra='[directory]\ncsv = "people.csv"\n')
    for command in (("config", "check"), ("serve",)):
        result = schoolgate(*command, "--config", str(config), timeout=60)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert f"{config}: [directory] csv: {tmp_path / words}" in result.stderr, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "q").exists()  # serve stopped before it made anything


@pytest.mark.parametrize("command", [
    ("serve",), ("scan", "x.eml", "--mail-from", "a@b.c", "--rcpt", "d@e.f"), ("quarantine", "list"),
    ("quarantine", "show", "ID"), ("quarantine", "release", "ID"), ("quarantine", "delete", "ID", "--reason", "r"),
    ("config", "check"), ("config", "show"), ("dkim", "keygen", "--selector", "s1"), ("user", "list"),
    ("user", "disable", "someone"), ("report", "--period", "week"),
])
def test_every_command_gives_one_line_for_a_broken_config(tmp_path, command):
    config = tmp_path / "site.toml"
    config.write_text('[gateway]\nnext_hop = "mailserver"\n', encoding="utf-8")
    result = schoolgate(*command, "--config", str(config), timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"schoolgate: configuration error: {config}: [gateway] next_hop: next_hop must be host:port, got 'mailserver'"]


@pytest.mark.parametrize("command,words", [
    (("user", "disable", "nobody"), "nobody"),
    (("report", "--from", "2026-03-02", "--to", "2026-03-01"), "--to"),
    (("report", "--from", "2026-03-02"), "give both --from and --to"),
    (("quarantine", "show", "no-such-id"), "no quarantined message"),
    (("quarantine", "release", "no-such-id"), "next_hop is not set"),
    (("dkim", "keygen", "--selector", "s1", "--domain", "school.sch.uk", "--bits", "12"), "bits"),
])
def test_user_mistakes_are_one_line_exit_1(tmp_path, command, words):
    config = site_config(tmp_path)
    schoolgate("user", "add", "reviewer1", "--role", "reviewer", "--config", str(config),
               stdin="a long enough password\n")  # creates the store, as the first serve would
    result = schoolgate(*command, "--config", str(config), timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("schoolgate: ") and words in lines[0], result.stderr


def test_version():
    result = schoolgate("--version")
    assert result.returncode == 0
    from importlib.metadata import version
    assert result.stdout.strip() == f"schoolgate {version('schoolgate')}"


def test_config_check_creates_no_directories(tmp_path):
    """Checked on a config in a fresh directory (like the shipped config/): no data/ appears."""
    shipped = Path(__file__).resolve().parents[2] / "config" / "schoolgate.toml"
    config = tmp_path / "conf" / "schoolgate.toml"
    config.parent.mkdir()
    config.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")  # clamd may fail: not the point
    before = sorted(p.name for p in config.parent.iterdir())
    result = schoolgate("config", "check", "--config", str(config))
    assert sorted(p.name for p in config.parent.iterdir()) == before, result.stdout
    store = config.parent / "data" / "quarantine"
    assert f"ok   quarantine store {store} does not exist yet; serve will create it ({config.parent} is writable)" \
        in result.stdout


def test_config_check_fails_for_a_store_it_cannot_create(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        config = site_config(tmp_path, extra="")
        config.write_text(config.read_text().replace('path = "q"', f'path = "{locked}/q"'), encoding="utf-8")
        result = schoolgate("config", "check", "--config", str(config))
        if os.geteuid() == 0:  # root writes anywhere: the check must say ok and still create nothing
            assert "does not exist yet" in result.stdout
        else:
            assert result.returncode == 1 and f"FAIL quarantine store {locked}/q" in result.stdout
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_reading_commands_never_create_a_store(tmp_path):
    config = site_config(tmp_path)
    result = schoolgate("quarantine", "list", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"schoolgate: no quarantine store at {tmp_path / 'q'}")
    assert not (tmp_path / "q").exists()


# --- one store: serve and the CLI agree ---------------------------------------------------------------
def start_serve(config: Path, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                             "--grace", "5", *args], stdout=open(log, "wb"), stderr=open(f"{log}.err", "wb"),
                            cwd=log.parent)


def wait_started(log: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            obj = json.loads(line)
            if obj.get("event") == "start":
                return obj
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()} {Path(f'{log}.err').read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"serve did not start: {log.read_text()}")


def stop_serve(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def send_held_message(port: int) -> None:
    raw = make_message("see attached", subject="Invoice", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("billing@example.com", [f"bursar@{SCHOOL_DOMAIN}"], raw.replace(b"\n", b"\r\n"))


def test_site_quarantine_path_wins_over_data_dir_for_serve_and_cli(tmp_path, sink):
    config = site_config(tmp_path, next_hop=sink.address)  # [quarantine] path = "q"
    config.write_text(config.read_text().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{free_port()}"'))
    log = tmp_path / "serve.log"
    proc = start_serve(config, log, "--data-dir", str(tmp_path / "data"))  # as scripts/serve passes it
    try:
        started = wait_started(log, proc)
        assert started["store"] == str(tmp_path / "q")
        send_held_message(started["port"])
    finally:
        assert stop_serve(proc) == 0
    assert not (tmp_path / "data").exists()
    listed = schoolgate("quarantine", "list", "--json", "--verbose", "--config", str(config))
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and [f["code"] for f in rows[0]["findings"]] == ["ATTACHMENT_DOUBLE_EXTENSION"]
    assert f"schoolgate: store {tmp_path / 'q'} (config {config})" in listed.stderr
    # the CLI given the same --data-dir still opens the site's store, as serve did
    again = schoolgate("quarantine", "list", "--json", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert json.loads(again.stdout) == rows
    shown = json.loads(schoolgate("config", "show", "--config", str(config)).stdout)
    assert shown["store"] == str(tmp_path / "q") and shown["config"] == str(config)
    released = schoolgate("quarantine", "release", rows[0]["id"], "--reason", "known supplier", "--config", str(config))
    assert released.returncode == 0, released.stderr
    assert len(sink.messages) == 1


def test_data_dir_applies_when_the_site_sets_no_path(tmp_path, sink):
    config = site_config(tmp_path, next_hop=sink.address)
    config.write_text(config.read_text().replace('[quarantine]\npath = "q"\n', "")
                      .replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{free_port()}"'))
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    proc = start_serve(config, log, "--data-dir", str(data))
    try:
        started = wait_started(log, proc)
        assert started["store"] == str(data / "quarantine")
        send_held_message(started["port"])
    finally:
        assert stop_serve(proc) == 0
    rows = json.loads(schoolgate("quarantine", "list", "--json", "--data-dir", str(data), "--config",
                                 str(config)).stdout)
    assert len(rows) == 1
    shown = json.loads(schoolgate("config", "show", "--data-dir", str(data), "--config", str(config)).stdout)
    assert shown["store"] == str(data / "quarantine")


# --- logs: one JSON object per line on stdout (issue 15, item 8) ----------------------------------------
def serve_config(tmp_path: Path, sink, logging_table: str) -> Path:
    config = site_config(tmp_path, next_hop=sink.address, extra=logging_table)
    config.write_text(config.read_text()
                      .replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{free_port()}"')
                      .replace("[web]\nenabled = false", f'[web]\nlisten = "127.0.0.1:{free_port()}"'))
    return config


def run_one_message(tmp_path: Path, sink, logging_table: str) -> tuple[str, str]:
    """serve as a subprocess (web UI on), one message with smtplib, /healthz, SIGTERM: (stdout, stderr)."""
    import httpx

    config = serve_config(tmp_path, sink, logging_table)
    log = tmp_path / "serve.log"
    proc = start_serve(config, log)
    try:
        deadline = time.monotonic() + 120
        while "SMTP on" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = int(config.read_text().split('listen = "127.0.0.1:')[1].split('"')[0])
        web = config.read_text().split('listen = "127.0.0.1:')[2].split('"')[0]
        send_held_message(port)
        assert httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=10).status_code in (200, 503)
    finally:
        assert stop_serve(proc) == 0
    return log.read_text(), Path(f"{log}.err").read_text()


def test_serve_stdout_is_one_json_object_per_line(tmp_path, sink):
    out, err = run_one_message(tmp_path, sink, '[logging]\nlevel = "info"\nformat = "json"\n')
    objects = [json.loads(line) for line in out.splitlines()]  # every line parses, or this fails
    assert objects and all({"ts", "level", "logger"} <= set(o) for o in objects)
    assert all("message" in o or "event" in o for o in objects)
    events = [o.get("event") for o in objects]
    assert events.index("start") < events.index("message") < events.index("stop")
    message = next(o for o in objects if o.get("event") == "message")
    assert message["logger"] == "schoolgate.message" and message["codes"] == ["ATTACHMENT_DOUBLE_EXTENSION"]
    assert message["recipients"] == {f"bursar@{SCHOOL_DOMAIN}": "hold"} and message["reply"] == "250"
    start = next(o for o in objects if o.get("event") == "start")
    assert start["store"] == str(tmp_path / "q") and start["version"]
    # library chatter (aiosmtpd's per-command lines, "Available AUTH mechanisms", uvicorn) stays below WARNING
    assert not [o for o in objects if not o["logger"].split(".")[0] in ("schoolgate", "gateway", "filters",
                                                                        "quarantine", "config")
                and o["level"] in ("debug", "info")]
    assert "AUTH" not in out and "Traceback" not in out + err
    assert err == ""


def test_text_format_is_readable_and_debug_opens_the_libraries(tmp_path, sink):
    out, err = run_one_message(tmp_path, sink, '[logging]\nlevel = "debug"\nformat = "text"\n')
    lines = out.splitlines()
    assert not any(line.startswith("{") for line in lines)
    assert any(" INFO schoolgate: SMTP on 127.0.0.1:" in line for line in lines)
    assert any(" INFO schoolgate.message: {" in line and "ATTACHMENT_DOUBLE_EXTENSION" in line for line in lines)
    assert any(" mail.log: " in line for line in lines)  # aiosmtpd, heard only at debug


@pytest.mark.parametrize("command", [("quarantine", "list"), ("user", "list"), ("report", "--period", "week",
                                                                                  "--format", "csv")])
def test_verbose_says_which_store_every_command_opened(tmp_path, command):
    config = site_config(tmp_path)
    schoolgate("user", "add", "reviewer1", "--role", "reviewer", "--config", str(config),
               stdin="a long enough password\n")
    result = schoolgate(*command, "--verbose", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"schoolgate: store {tmp_path / 'q'} (config {config})" in result.stderr.splitlines()


def test_serve_config_errors_are_json_on_stdout_and_lines_on_stderr(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('[notify]\ndsl_addresses = ["not an email"]\n[policy.default_actions]\ncritical = "pass"\n',
                      encoding="utf-8")
    result = schoolgate("serve", "--config", str(config))
    assert result.returncode == 1
    logged = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["event"] for o in logged] == ["config_error", "config_error"]
    assert all(o["level"] == "error" and o["message"].startswith(f"{config}: [") for o in logged)
    assert len(result.stderr.splitlines()) == 2 and "Traceback" not in result.stderr
