"""A real clamd for tests: its own signature database, config and socket in a temp dir.

Use the session fixture from a test module with
``from tests.clamd_server import clamd_server  # noqa: F401``.
freshclam is never needed: the database holds only the signatures built here.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from filters.virus import EICAR

INSTALL_HINT = "apt-get install -y --no-install-recommends clamav-daemon"
# Names as they go into the database; clamd reports local signatures with
# ".UNOFFICIAL" appended.
EICAR_SIGNATURE = "Eicar-Test-Signature"
TESTFILE_SIGNATURE = "ClamAV-Test-File"
# clam.exe from Debian's clamav-testfiles: MD5 and size (../shared/corpora/clamav-testfiles-mail/README.md).
CLAM_EXE_MD5, CLAM_EXE_SIZE = "aa15bcf478d165efd2065190eb473bcb", 544

STREAM_MAX_LENGTH = 4 * 1024 * 1024
MAX_FILE_SIZE = 1024 * 1024


def _free_tcp_port() -> int:
    # clamd needs a fixed TCPSocket; take one the kernel says is free right now.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClamdServer:
    """Builds the database and clamd.conf under `root`, runs `clamd -c`, stops it by PID."""

    def __init__(self, root: Path, *, binary: str | None = None,
                 stream_max_length: int = STREAM_MAX_LENGTH, max_file_size: int = MAX_FILE_SIZE) -> None:
        self.root = root
        self.binary = binary or shutil.which("clamd") or "/usr/sbin/clamd"
        self.stream_max_length = stream_max_length
        self.max_file_size = max_file_size
        self.socket_path = root / "clamd.sock"
        self.tcp_port = _free_tcp_port()
        self.log_path = root / "clamd.log"
        self.conf_path = root / "clamd.conf"
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}"

    @property
    def tcp_address(self) -> str:
        return f"tcp:127.0.0.1:{self.tcp_port}"

    def write_database(self) -> Path:
        db = self.root / "db"
        db.mkdir(exist_ok=True)
        # .hdb: md5:size:name of whole files (an EICAR attachment, clam.exe)
        (db / "schoolgate-test.hdb").write_text(
            f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{EICAR_SIGNATURE}\n"
            f"{CLAM_EXE_MD5}:{CLAM_EXE_SIZE}:{TESTFILE_SIGNATURE}\n", encoding="ascii")
        # .ndb body signature, any file type, any offset: EICAR pasted inside a text part
        (db / "schoolgate-test.ndb").write_text(f"{EICAR_SIGNATURE}:0:*:{EICAR.hex()}\n", encoding="ascii")
        return db

    def write_config(self, db: Path) -> None:
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        lines = [
            "Foreground yes",
            f"LocalSocket {self.socket_path}",
            "TCPAddr 127.0.0.1",
            f"TCPSocket {self.tcp_port}",
            f"DatabaseDirectory {db}",
            f"TemporaryDirectory {tmp}",
            f"LogFile {self.log_path}",
            f"StreamMaxLength {self.stream_max_length}",
            f"MaxScanSize {self.stream_max_length * 4}",
            f"MaxFileSize {self.max_file_size}",
            "AlertExceedsMax yes",
            "AlertEncrypted yes",
            "MaxThreads 4",
            "SelfCheck 0",
        ]
        if os.geteuid() == 0:
            lines.append("User root")  # do not drop to a user that cannot write tmp/
        self.conf_path.write_text("\n".join(lines) + "\n", encoding="ascii")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"zPING\0")
                return sock.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def start(self, wait: float = 60.0) -> None:
        self.write_config(self.write_database())
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf_path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited with {self.process.returncode}: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"clamd did not answer PING within {wait:g}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def in_ci() -> bool:
    """CI=true (GitHub, GitLab, .ci/run); CI=false or unset is a developer machine."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def clamd_missing() -> None:
    """Fail in CI (the pipeline must install clamd), skip on a developer machine."""
    message = f"clamd is not installed: {INSTALL_HINT}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    if shutil.which("clamd") is None and not Path("/usr/sbin/clamd").exists():
        clamd_missing()
    server = ClamdServer(tmp_path_factory.mktemp("clamd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


SCAN_BYTES = 200  # more than PING, VERSION or the EICAR self-test send: a message being scanned


class ClamdProxy:
    """A TCP front for a real clamd's socket that can hold each answer back and SIGKILL clamd
    part-way through a stream: real faults on a real clamd, seen by the gateway as they would be.

    `sessions` records (start, end, bytes from the client) per connection, on the monotonic clock,
    so a test can measure how many scans overlapped."""

    def __init__(self, clamd: ClamdServer, *, delay: float = 0.0, together: int = 0,
                 kill_after: int | None = None) -> None:
        """delay: hold each answer this long after the connection opened, or until `together`
        connections are open at once, whichever comes first (together=0: the delay only)."""
        import threading

        self.clamd = clamd
        self.delay = delay
        self.together = together
        self._open = 0
        self._met = False
        self._changed = threading.Condition()
        self.kill_after = kill_after
        self.killed = threading.Event()
        self.sessions: list[tuple[float, float, int]] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    @property
    def address(self) -> str:
        return f"tcp:127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        import threading

        start = time.monotonic()
        sent = [0]
        counted = threading.Event()  # this connection streams a message (not PING or the self-test)
        upstream = socket.socket(socket.AF_UNIX)
        try:
            upstream.connect(str(self.clamd.socket_path))
        except OSError:
            client.close()
            return

        def to_clamd() -> None:
            try:
                while data := client.recv(65536):
                    sent[0] += len(data)
                    if sent[0] >= SCAN_BYTES and not counted.is_set():
                        counted.set()
                        with self._changed:
                            self._open += 1
                            # once `together` scans were open at one time, every held answer goes
                            self._met = self._met or bool(self.together and self._open >= self.together)
                            self._changed.notify_all()
                    upstream.sendall(data)
                    if self.kill_after is not None and sent[0] >= self.kill_after and not self.killed.is_set():
                        self.killed.set()
                        assert self.clamd.process is not None
                        self.clamd.process.kill()  # SIGKILL mid-stream: no goodbye, as in a crash
                        self.clamd.process.wait(10)
            except OSError:
                pass
            finally:
                try:
                    upstream.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        pump = threading.Thread(target=to_clamd, daemon=True)
        pump.start()
        answered = None
        try:
            while data := upstream.recv(65536):
                if answered is None and self.delay and counted.is_set():  # PING, VERSION: at once
                    with self._changed:
                        self._changed.wait_for(lambda: self._met,
                                               max(0.0, start + self.delay - time.monotonic()))
                # the scan ends when its answer leaves: the client cannot go on before that
                answered = time.monotonic() if answered is None else answered
                client.sendall(data)
        except OSError:
            pass
        finally:
            pump.join(10)
            client.close()
            upstream.close()
            with self._lock:
                self.sessions.append((start, answered or time.monotonic(), sent[0]))
            if counted.is_set():
                with self._changed:
                    self._open -= 1

    def scans_since(self, since: float, min_bytes: int = SCAN_BYTES) -> list[tuple[float, float, int]]:
        """Sessions that streamed at least `min_bytes` (a message, not PING or the EICAR self-test)."""
        with self._lock:
            return sorted(s for s in self.sessions if s[0] >= since and s[2] >= min_bytes)

    async def wait_for_scans(self, since: float, count: int, timeout: float = 10.0) -> list[tuple[float, float, int]]:
        """scans_since, once `count` are recorded (or after `timeout`). A session is recorded when
        its connection closes, which can come after the gateway has read the answer and finished
        the SMTP transaction; the gateway closes it in the event loop, so this waits without
        blocking the loop."""
        import asyncio

        deadline = time.monotonic() + timeout
        while len(found := self.scans_since(since)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return found


def max_overlap(intervals: list[tuple[float, float, int]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals])
    open_now = peak = 0
    for _, step in events:  # at a tie the end (-1) sorts first: touching is not overlapping
        open_now += step
        peak = max(peak, open_now)
    return peak
