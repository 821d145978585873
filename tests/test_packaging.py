"""What a school installs: the built wheel, in a fresh virtual environment, run from outside the tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Iterator

import pytest

from filters.virus import EICAR
from tests.factories import SCHOOL_DOMAIN, shipped_chain

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "filters", "quarantine", "config")
# a chain letter the shipped lists know, with a word the offensive lists know
CHAIN_LETTER = ("Send this to 10 people in the next hour or you will have bad luck for ten years. "
                "Don't break the chain, you idiot. Forward it to everyone you know!")


def _tracked_files() -> list[str]:
    """What a fresh clone holds; a copy of the tree when this is not a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        ignore = {".venv", "data", "build", ".git", "__pycache__", ".pytest_cache"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                if p.is_file() and not ignore.intersection(p.relative_to(ROOT).parts)]
    return [name for name in out.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _setuptools_is_new_enough() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _clean_env() -> dict[str, str]:
    # PYTHONPATH (the worktree shadowing the editable install) must not reach the install
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


class Installed:
    def __init__(self, root: Path, wheel: Path) -> None:
        self.root, self.wheel = root, wheel
        self.venv = root / "venv"
        self.bin = self.venv / "bin" / "schoolgate"
        self.python = self.venv / "bin" / "python"
        self.work = root / "elsewhere"  # the current directory: outside the source tree

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=self.work, env=_clean_env())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("packaging")
    clone = root / "clone"
    for name in _tracked_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    # build from a copy of the tracked files, as from a fresh clone: no stale build/ output
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(clone)]
    if _setuptools_is_new_enough():
        build.insert(4, "--no-build-isolation")  # offline and fast; else pip fetches setuptools>=77
    result = subprocess.run(build, capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    # setuptools says nothing (no deprecated metadata, no data directories posing as packages)
    assert "Deprecat" not in result.stderr and "!!" not in result.stderr, result.stderr
    (wheel,) = (root / "dist").glob("schoolgate-*.whl")
    inst = Installed(root, wheel)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(inst.venv)], check=True, timeout=120)
    # The dependencies come from the running environment through a path line in a .pth:
    # a path line only extends sys.path (that directory's own .pth files, such as the
    # editable-install finder for schoolgate, are not run), and it comes after the new
    # environment's own site-packages, where the wheel goes.
    new_site = Path(subprocess.run([str(inst.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    (new_site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(inst.python), "install", "-q",
                             "--no-deps", "--no-index", str(wheel)],
                            capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deprecat" not in result.stderr, result.stderr
    inst.work.mkdir()
    yield inst


def test_wheel_carries_every_shipped_file(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = [n for n in _tracked_files() if n.split("/")[0] in PACKAGES]
    missing = sorted(n for n in shipped if n not in names)
    assert missing == []
    for probe in ("config/lists/offensive/profanity.txt", "config/lists/known_chain_letters/prayer_chain.txt",
                  "quarantine/web/templates/mail/dsl_alert.txt", "quarantine/web/static/style.css",
                  "config/schoolgate.toml"):
        assert probe in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    metadata = zipfile.ZipFile(installed.wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: AGPL-3.0-or-later" in metadata


def test_installed_code_is_the_wheel_not_the_source_tree(installed):
    result = subprocess.run(
        [str(installed.python), "-c", "import gateway, filters, config, quarantine; "
         "print('\\n'.join(m.__file__ for m in (gateway, filters, config, quarantine)))"],
        capture_output=True, text=True, cwd=installed.work, env=_clean_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    for path in result.stdout.split():
        assert Path(path).is_relative_to(installed.venv), path


def _site(installed: Installed, sink_address: str, allow_test_signatures: bool) -> Path:
    clamd = os.environ.get("SCHOOLGATE_TEST_CLAMD")
    if not clamd:
        pytest.fail("the packaging test needs the session clamd (tests/conftest.py): "
                    "apt-get install -y --no-install-recommends clamav-daemon")
    path = installed.work / f"site-{allow_test_signatures}.toml"
    path.write_text(f"""
[school]
name = "Hillside Academy"
domains = ["{SCHOOL_DOMAIN}"]

[gateway]
listen = "127.0.0.1:0"
next_hop = "{sink_address}"

[quarantine]
path = "store-{allow_test_signatures}"

[web]
enabled = false

[virus]
clamd = "{clamd}"
allow_test_signatures = {str(allow_test_signatures).lower()}
""", encoding="utf-8")
    return path


def test_config_check_from_the_install(installed, sink):
    result = installed.run("config", "check", "--config", str(_site(installed, sink.address, True)))
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "cannot read" not in out, out
    assert "configuration valid; chain: " + ", ".join(shipped_chain()) in result.stdout
    assert "writable" in result.stdout and "answers" in result.stdout
    # every filter's self-test ran; the only failure is the test clamd's test-only signatures
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "TEST SIGNATURES ONLY" in fails[0] and "EVALUATION ONLY" in fails[0], out
    assert result.returncode == 1


def test_scan_through_every_shipped_filter_from_the_install(installed, sink):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "stranger@example.net", f"pupil@{SCHOOL_DOMAIN}", "Read this!!"
    msg.set_content(CHAIN_LETTER)
    msg.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="game.com")
    eml = installed.work / "message.eml"
    eml.write_bytes(msg.as_bytes())
    result = installed.run("scan", "--config", str(_site(installed, sink.address, True)), str(eml),
                           "--mail-from", "stranger@example.net", "--rcpt", f"pupil@{SCHOOL_DOMAIN}")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["failures"] == []  # every shipped filter ran and found its lists and models
    codes = {f["code"] for f in verdict["findings"]}
    filters_hit = {f["filter"] for f in verdict["findings"]}
    assert "VIRUS_FOUND" in codes and verdict["action"] == "reject"
    assert "chain_letter" in filters_hit, verdict  # config/lists/known_chain_letters, chain_letter_*.txt
    assert "offensive" in filters_hit, verdict  # config/lists/offensive/*
    assert sink.messages == []  # scan delivers nothing


def test_serve_from_the_install_refuses_test_signatures_without_the_setting(installed, sink):
    result = installed.run("serve", "--config", str(_site(installed, sink.address, False)))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and "TEST SIGNATURES ONLY" in lines[0] and "allow_test_signatures" in lines[0]
    assert "Traceback" not in result.stderr
