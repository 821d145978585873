"""The quickstart behind scripts/serve: a clamd of its own under the data dir, an evaluation config, then `serve`.

Used when no site config is given (scripts/serve without --config). It never
pretends: signatures come from freshclam (or Debian's /var/lib/clamav kept by
clamav-freshclam); where none can be had (an offline machine) clamd gets a test
database that knows EICAR only, the evaluation config says
`[virus] allow_test_signatures = true`, and a banner says so on every start.

    python -m gateway.quickstart [--data-dir data] [serve flags: --next-hop H:P --listen H:P ...]

Layout under the data dir (default ./data)::

    evaluation.toml            the config serve runs on (rewritten on every start)
    quarantine/                held mail and the SQLite index
    clamd/clamd.conf           clamd's config; clamd.sock, clamd.pid, clamd.log, tmp/
    clamd/db/                  signatures from freshclam (freshclam.conf beside it)
    clamd/test-db/             the EICAR-only test database, used only when db/ is empty

clamd lives as long as the gateway: stopped when serve returns.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from filters.errors import SchoolgateError
from filters.virus import (DEFAULT_MAX_SCAN_BYTES, EICAR, ClamdAddress, ClamdClient, ClamdError,
                           SignatureCheck, check_signatures, parse_version)

# Debian's database, kept fresh by the clamav-freshclam service; used in place when present
DEBIAN_DB = Path(os.environ.get("SCHOOLGATE_CLAMAV_DB", "/var/lib/clamav"))
# clamd loads the full database (~350 MB of signatures) in 20-60 s on a small machine
CLAMD_START_SECONDS = 300.0
# freshclam gives up on an unreachable mirror in ~10 s (ConnectTimeout); a first full
# download is ~200 MB, so the whole run is bounded generously but never unbounded.
FRESHCLAM_SECONDS = float(os.environ.get("SCHOOLGATE_FRESHCLAM_TIMEOUT", "600"))
TEST_SIGNATURE = "Eicar-Test-Signature"


class QuickstartError(SchoolgateError):
    """Something the person running scripts/serve must fix; printed as one line."""


def _say(line: str = "") -> None:
    print(f"schoolgate quickstart: {line}" if line else "", file=sys.stderr, flush=True)


def _has_database(directory: Path) -> bool:
    """A real ClamAV database: main and daily, as .cvd (downloaded) or .cld (updated)."""
    names = {p.name for p in directory.glob("*.c[lv]d")} if directory.is_dir() else set()
    return bool({"main.cvd", "main.cld"} & names) and bool({"daily.cvd", "daily.cld"} & names)


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def fetch_signatures(db: Path, timeout: float = FRESHCLAM_SECONDS) -> str | None:
    """Run freshclam once into `db`; None on success, else why not (one line)."""
    binary = shutil.which("freshclam")
    if binary is None:
        return "freshclam is not installed (apt-get install clamav-freshclam)"
    db.mkdir(parents=True, exist_ok=True)
    conf = db.parent / "freshclam.conf"
    conf.write_text("\n".join([
        f"DatabaseDirectory {db}",
        f"DatabaseOwner {_user()}",  # as root freshclam would switch to 'clamav' and fail to write here
        "DatabaseMirror database.clamav.net",
        "ConnectTimeout 10",
        "ReceiveTimeout 120",
        "Foreground yes",
        "LogTime no",
    ]) + "\n", encoding="ascii")
    try:
        result = subprocess.run([binary, f"--config-file={conf}"], capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"freshclam did not finish within {timeout:g}s"
    if result.returncode == 0 and _has_database(db):
        return None
    output = (result.stdout + result.stderr).splitlines()
    # the first "Message: ..." is curl's reason (e.g. "Couldn't resolve host name")
    reasons = [line.split("Message:", 1)[1].strip() for line in output if "Message:" in line]
    errors = [line.removeprefix("ERROR:").strip() for line in output if line.startswith("ERROR")]
    detail = (reasons or errors or ["no database downloaded"])[0]
    return f"freshclam could not fetch signatures from database.clamav.net (exit {result.returncode}: {detail})"


def write_test_database(db: Path) -> Path:
    """EICAR only, as a whole file (.hdb) and anywhere in a message (.ndb body signature)."""
    db.mkdir(parents=True, exist_ok=True)
    (db / "schoolgate-evaluation.hdb").write_text(
        f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{TEST_SIGNATURE}\n", encoding="ascii")
    (db / "schoolgate-evaluation.ndb").write_text(f"{TEST_SIGNATURE}:0:*:{EICAR.hex()}\n", encoding="ascii")
    return db


@dataclass(frozen=True, slots=True)
class Signatures:
    directory: Path
    source: str  # a sentence for the start-up output
    problem: str | None  # why there are no real signatures; None when there are


def choose_signatures(root: Path, try_freshclam: bool) -> Signatures:
    """Debian's maintained database, else freshclam into root/db, else the test database."""
    if _has_database(DEBIAN_DB):
        return Signatures(DEBIAN_DB, f"{DEBIAN_DB} (kept up to date by clamav-freshclam)", None)
    db = root / "db"
    problem = "freshclam skipped (SCHOOLGATE_FRESHCLAM=0)"
    if try_freshclam:
        _say(f"fetching virus signatures with freshclam into {db} (up to {FRESHCLAM_SECONDS:g}s) ...")
        problem = fetch_signatures(db)
    if problem is None:
        return Signatures(db, f"{db} (freshclam, just now)", None)
    if _has_database(db):
        # an earlier download: real signatures, perhaps stale; clamd's VERSION decides below
        return Signatures(db, f"{db} (from an earlier freshclam run; this update: {problem})", None)
    return Signatures(write_test_database(root / "test-db"), "EICAR test signature only", problem)


class LocalClamd:
    """clamd with its own config, socket and pid file under `root`; stopped by its PID."""

    def __init__(self, root: Path, database: Path, binary: str | None = None) -> None:
        self.root, self.database = root, database
        self.binary = binary or shutil.which("clamd") or "/usr/sbin/clamd"
        self.socket = root / "clamd.sock"
        self.conf = root / "clamd.conf"
        self.pidfile = root / "clamd.pid"
        self.log = root / "clamd.log"
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def write_config(self) -> None:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        lines = [
            "Foreground yes",
            f"LocalSocket {self.socket}",
            "LocalSocketMode 660",
            f"PidFile {self.pidfile}",
            f"DatabaseDirectory {self.database}",
            f"TemporaryDirectory {self.root / 'tmp'}",
            f"LogFile {self.log}",
            "LogTime yes",
            # the settings docs/clamd.md requires: equal to [virus] max_scan_bytes, and
            # what cannot be scanned is reported (held), never skipped
            f"StreamMaxLength {DEFAULT_MAX_SCAN_BYTES}",
            f"MaxScanSize {4 * DEFAULT_MAX_SCAN_BYTES}",
            f"MaxFileSize {DEFAULT_MAX_SCAN_BYTES}",
            "AlertExceedsMax yes",
            "AlertEncrypted yes",
            "MaxThreads 8",
            "SelfCheck 3600",  # reload the database when freshclam has updated it
        ]
        if os.geteuid() == 0:
            lines.append("User root")  # do not drop to 'clamav', which cannot read the data dir
        self.conf.write_text("\n".join(lines) + "\n", encoding="ascii")

    def _stop_leftover(self) -> None:
        """A clamd of ours left by a killed quickstart holds the socket: stop it, by its
        PID file, only if that PID really is clamd on our config."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.conf).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def start(self, wait: float = CLAMD_START_SECONDS) -> None:
        if not Path(self.binary).exists():
            raise QuickstartError("clamd is not installed: apt-get install -y --no-install-recommends "
                                  "clamav-daemon (scripts/serve does it when run as root)")
        self.root.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.write_config()
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C reaches us, we stop it
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise QuickstartError(f"clamd exited with {self.process.returncode}; see {self.log}: "
                                      f"{self._log_tail()}")
            if self.socket.exists() and self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise QuickstartError(f"clamd did not answer within {wait:g}s; see {self.log}")

    def _answers(self) -> bool:
        try:
            return asyncio.run(ClamdClient(ClamdAddress.parse(self.address), 2.0).ping()) == "PONG"
        except ClamdError:
            return False

    def signatures(self, max_age_days: float) -> SignatureCheck:
        reply = asyncio.run(ClamdClient(ClamdAddress.parse(self.address), 10.0).version())
        return check_signatures(parse_version(reply), max_age_days, self.address)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(15)

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        errors = [line for line in lines if "ERROR" in line]
        return (errors or lines or ["(empty log)"])[-1]


def write_evaluation_config(path: Path, clamd: str, allow_test_signatures: bool, reason: str | None) -> None:
    lines = [
        "# Written by scripts/serve (gateway/quickstart.py) on every start: an evaluation setup.",
        "# For production write your own site file (docs/deploy.md) and run serve --config it.",
        "",
        "[quarantine]",
        'path = "quarantine"  # relative to this file',
        "",
        "[virus]",
        f'clamd = "{clamd}"  # the quickstart\'s own clamd',
    ]
    if allow_test_signatures:
        lines += [
            f"# NOT PROTECTED AGAINST VIRUSES: {reason}",
            "# clamd knows the EICAR test signature only (or stale signatures); real viruses pass.",
            "allow_test_signatures = true",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def banner(paragraphs: Sequence[str], width: int = 78) -> str:
    lines = [line for text in paragraphs for line in textwrap.wrap(text, width - 4)]
    edge = "!" * width
    return "\n".join([edge, *(f"! {line.ljust(width - 4)} !" for line in lines), edge])


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="scripts/serve", description=(
        "Run an evaluation gateway with its own clamd; other flags go to `schoolgate serve`."))
    parser.add_argument("--data-dir", default=os.environ.get("SCHOOLGATE_DATA", "data"), metavar="DIR")
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args, serve_args = parse_args(sys.argv[1:] if argv is None else argv)
    if any(a == "--config" or a.startswith("--config=") for a in serve_args):
        print("scripts/serve: with --config the site file names its clamd; run `schoolgate serve` "
              "(scripts/serve does that itself)", file=sys.stderr)
        return 2
    data = Path(args.data_dir).resolve()
    root = data / "clamd"
    # SIGTERM before serve has its own handler: stop clamd on the way out (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clamd: LocalClamd | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        sigs = choose_signatures(root, os.environ.get("SCHOOLGATE_FRESHCLAM", "1") != "0")
        clamd = LocalClamd(root, sigs.directory)
        _say(f"starting clamd on {clamd.address} with {sigs.source} ...")
        started = time.monotonic()
        clamd.start()
        check = clamd.signatures(max_age_days=3.0)
        _say(f"clamd answers ({time.monotonic() - started:.1f}s)")
        evaluation = check.problem is not None
        reason = sigs.problem or check.problem
        config = data / "evaluation.toml"
        write_evaluation_config(config, clamd.address, evaluation, reason)
        if evaluation:
            print(banner([
                "EVALUATION ONLY - THIS GATEWAY IS NOT PROTECTED AGAINST VIRUSES",
                f"No current virus signature database: {reason}.",
                "clamd detects the EICAR test string only: a real virus would be delivered.",
                f"{config} sets [virus] allow_test_signatures = true.",
                "Production: apt-get install clamav-daemon clamav-freshclam and a site file "
                "(README.md, docs/deploy.md); `schoolgate serve` refuses test signatures there.",
            ]), file=sys.stderr, flush=True)
        else:
            _say(f"virus signatures: {check.age_days:.1f} days old")
        _say(f"config {config}; store {data / 'quarantine'}")
    except QuickstartError as exc:
        _say(f"cannot start: {exc}")
        if clamd is not None:
            clamd.stop()
        return 1
    except BaseException:
        if clamd is not None:
            clamd.stop()
        raise
    # serve runs as a child process, not in this one: once its workers listen, serve's
    # supervisor re-executes itself as a small process (gateway/workers.py, issue 19's memory),
    # and an exec'd image never runs this function's finally, so clamd would outlive the gateway.
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), *serve_args]
    child: subprocess.Popen | None = None

    def forward(signum, _frame) -> None:  # serve stops gracefully on either; a repeat is harmless
        if child is None:
            raise SystemExit(128 + signum)  # before serve started: the finally stops clamd
        child.send_signal(signum)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:
        child = subprocess.Popen(command)
        code = child.wait()
        return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N
    finally:
        clamd.stop()


if __name__ == "__main__":
    sys.exit(main())
