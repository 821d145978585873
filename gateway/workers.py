"""Several gateway processes sharing one SMTP port, so every core works ([gateway] workers).

Why processes: the filters are CPU-bound Python (parsing, lexicons, the learned
model), and one event loop uses one core. Each worker is a whole gateway node
(store, scanner, next-hop pool) in a forked child with its own listening socket
bound with SO_REUSEPORT; the kernel spreads connections across them. Worker 0
is the primary: only it serves the web UI and runs the timers (digests, DSL
escalation, scheduled reports), so nothing is sent twice.

The supervisor (the process `schoolgate serve` started as) holds a bound, not
listening, socket on the port: it fixes the port when the config says port 0
and keeps it from being taken while a worker restarts; a bound socket that never
listens receives no connections. It forks before any thread or event loop
exists (forking a threaded process is unsafe), forwards SIGTERM/SIGINT, and
restarts a worker that dies unexpectedly; a worker that cannot start (clamd
missing, store unwritable) stops them all with that worker's message.

Memory (issue 19): the supervisor builds the filters before forking, so the
workers share those pages. Once every worker listens, the supervisor no longer
needs them, yet kept as it was it would hold the originals of every page both
workers have since written (refcounts, allocator pools) and the libraries it
faulted in while importing: ~90 MB of distinct pages for two workers
(bench/gateway_memory.py). So it re-executes itself as a small supervisor
(`light_main`: the same Supervisor, no filters, the same pid, the claimed port
and the reservation kept as inherited descriptors, SIGTERM/SIGINT blocked
across the exec so none is lost). A worker that dies later is replaced by a
fresh `schoolgate serve` process in worker mode (SCHOOLGATE_WORKER_LISTEN),
which builds its own filters: it starts in a few seconds and does not share
their pages (docs/performance.md).
"""
from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import time
from typing import Callable

# Imports are kept to the standard library's small modules: this module is all the small
# supervisor (light_main) loads. logging, tempfile and dataclasses would add ~3 MB to it.


def split_host_port(listen: str) -> tuple[str, int]:
    # config.schema's, imported when used: the small supervisor (light_main) never loads the config
    from config.schema import split_host_port as split
    return split(listen)



# A worker that exits within this many seconds of being restarted counts as failing
# to start; restarts then back off up to RESTART_MAX seconds.
RESTART_MIN, RESTART_MAX = 1.0, 30.0

# The small supervisor's state across its exec, and what a replacement worker is told.
STATE_ENV = "SCHOOLGATE_SUPERVISOR_STATE"
WORKER_LISTEN_ENV = "SCHOOLGATE_WORKER_LISTEN"  # set: `schoolgate serve` runs as one worker on this address
SUPERVISOR_PID_ENV = "SCHOOLGATE_SUPERVISOR_PID"
_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# argv[1] is the directory this checkout's `gateway` package is imported from, so the new
# process runs the same code whatever its sys.path would have been
_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_LIGHT_BOOT = ("import sys; r = sys.argv[1]; r in sys.path or sys.path.insert(0, r); "
               "from gateway.workers import light_main; sys.exit(light_main())")
_WORKER_BOOT = ("import sys; r = sys.argv[1]; r in sys.path or sys.path.insert(0, r); "
                "from gateway.cli import main; sys.exit(main(sys.argv[2:]))")


def _holder_pid(name: str) -> int | None:
    """The pid holding the port lock (SO_PEERCRED), when the kernel tells us."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.connect(name)
            creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return struct.unpack("3i", creds)[0] or None
    except OSError:
        return None


def claim_port(listen: str) -> socket.socket | None:
    """Hold the SMTP port for this gateway (its supervisor and workers) while it runs.

    Why: SO_REUSEPORT lets any process of the same user bind the port too, and
    the kernel would then split the mail between two gateways without a word.
    The claim is an abstract unix socket named after the port: a second
    schoolgate fails at once, even while the first one is still starting, and
    the kernel drops the claim when the holder exits (even on SIGKILL). Port 0
    (tests) is unique anyway. Raises OSError(EADDRINUSE) with one line naming
    the port; a foreign listener (Postfix on 25) is caught by the bind itself.
    """
    port = split_host_port(listen)[1]
    if port == 0:
        return None
    name = f"\0schoolgate-smtp-port-{port}"
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(name)
        lock.listen(1)  # only so a second instance can ask who holds it (SO_PEERCRED)
    except OSError:
        lock.close()
        pid = _holder_pid(name)
        raise OSError(errno.EADDRINUSE, f"port {port} is already in use by another schoolgate"
                                        f"{f' (pid {pid})' if pid else ''}") from None
    lock.set_inheritable(False)
    return lock


def reserve_port(listen: str) -> tuple[socket.socket, str]:
    """Bind (never listen) with SO_REUSEPORT; returns the socket and the concrete host:port."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    bound_host = host or ""
    concrete = f"[{bound_host}]:{sock.getsockname()[1]}" if ":" in bound_host else \
        f"{bound_host}:{sock.getsockname()[1]}"
    return sock, concrete


class Supervisor:
    """Forks `count` workers running `run_worker(index, listen) -> exit code` and keeps them up.

    `restart_argv` (the `schoolgate` arguments this gateway was started with): once every
    worker listens the supervisor re-executes itself small (module docstring) and replaces a
    dead worker by running `schoolgate <restart_argv>` in worker mode. None: it stays as it
    is and forks `run_worker` again."""

    def __init__(self, count: int, listen: str, run_worker: Callable[[int, str], int] | None,
                 restart_argv: list[str] | None = None, children: dict[int, int] | None = None) -> None:
        self.count = count
        self.listen = listen
        self.run_worker = run_worker
        self.restart_argv = restart_argv
        self.children: dict[int, int] = dict(children or {})  # pid -> worker index
        self._stopping = False

    def run(self) -> int:
        claim = claim_port(self.listen)  # OSError naming the port: the caller prints it
        try:
            reservation, concrete = reserve_port(self.listen)
        except BaseException:
            if claim is not None:
                claim.close()
            raise
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        # where the workers leave metrics snapshots for the primary's /metrics (gateway/metrics_share.py)
        import tempfile
        metrics_dir = tempfile.mkdtemp(prefix="schoolgate-metrics-")
        os.environ["SCHOOLGATE_METRICS_DIR"] = metrics_dir
        try:
            ready_r, ready_w = os.pipe()
            # Worker 0 first, the others once it listens: a broken config, store or clamd is
            # then said once, by one worker (not once per core), and the others never start.
            self._spawn(0, concrete, ready_w)
            code = self._wait_ready(ready_r, 1)
            if code is None and self.count > 1:
                for index in range(1, self.count):
                    self._spawn(index, concrete, ready_w)
                code = self._wait_ready(ready_r, self.count - 1)
            os.close(ready_w)
            os.close(ready_r)
            if code is not None:
                self._terminate_all()
                return code
            print(f"schoolgate: {self.count} workers share {concrete}", file=sys.stderr, flush=True)
            if self.restart_argv is not None:
                self._exec_small(concrete, [s for s in (claim, reservation) if s is not None], metrics_dir)
            return self._supervise(concrete)  # restart_argv None, or the exec failed
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.environ.pop("SCHOOLGATE_METRICS_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
            reservation.close()
            if claim is not None:
                claim.close()

    def _exec_small(self, listen: str, keep: list[socket.socket], metrics_dir: str) -> None:
        """Become light_main (never returns), or return when the exec fails or a stop came first."""
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # kept pending across the exec
        if self._stopping:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
            return
        fds = [sock.fileno() for sock in keep]
        state = {"count": self.count, "listen": listen, "children": {str(p): i for p, i in self.children.items()},
                 "restart": self.restart_argv, "metrics_dir": metrics_dir, "fds": fds}
        for fd in fds:
            os.set_inheritable(fd, True)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            # -S: no site-packages (nor the .pth files' imports): only the standard library is needed
            # the arguments after the root are for ps / pgrep only: "... schoolgate serve --config ..."
            os.execve(sys.executable, [sys.executable, "-S", "-c", _LIGHT_BOOT, _ROOT, "schoolgate",
                                       *(self.restart_argv or [])],
                      {**os.environ, STATE_ENV: json.dumps(state)})
        except OSError as exc:  # the full supervisor goes on: more memory, same behaviour
            print(f"schoolgate: could not re-execute the supervisor ({exc.strerror}); it stays as it is",
                  file=sys.stderr, flush=True)
            for fd in fds:
                os.set_inheritable(fd, False)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    # -- children -----------------------------------------------------------------
    def _spawn(self, index: int, listen: str, ready_fd: int | None) -> int:
        if self.run_worker is None:
            return self._spawn_replacement(index, listen)
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                _die_with(parent)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                os.environ["SCHOOLGATE_WORKER"] = str(index)
                if ready_fd is not None:
                    os.environ["SCHOOLGATE_READY_FD"] = str(ready_fd)
                code = self.run_worker(index, listen)
            except BaseException:  # noqa: BLE001 - a worker must exit, never unwind into the parent's loop
                import logging
                logging.getLogger(__name__).exception("worker %d crashed", index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = index
        return pid

    def _spawn_replacement(self, index: int, listen: str) -> int:
        """A worker as a new process: `schoolgate <restart_argv>` in worker mode (cli.cmd_serve)."""
        assert self.restart_argv is not None
        sys.stdout.flush()
        sys.stderr.flush()
        env = {**os.environ, "SCHOOLGATE_WORKER": str(index), WORKER_LISTEN_ENV: listen,
               SUPERVISOR_PID_ENV: str(os.getpid())}
        pid = os.fork()
        if pid == 0:
            try:
                for sig in _SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                os.execve(sys.executable, [sys.executable, "-c", _WORKER_BOOT, _ROOT, *self.restart_argv], env)
            except BaseException as exc:  # noqa: BLE001 - never unwind into the supervisor's loop
                print(f"schoolgate: worker {index} could not be started: {exc}", file=sys.stderr, flush=True)
            finally:
                os._exit(1)
        self.children[pid] = index
        return pid

    def _wait_ready(self, ready_r: int, count: int) -> int | None:
        """None when `count` more workers said they are listening; else the exit code to return."""
        ready = 0
        while ready < count:
            if self._stopping:
                return 0
            readable, _, _ = select.select([ready_r], [], [], 0.1)
            if readable:
                ready += len(os.read(ready_r, 64))
            for pid, status in self._reap():
                if self._stopping:  # our own SIGTERM reached it while it started: a stop, not a failure
                    self.children.pop(pid, None)
                    return 0
                index = self.children.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                print(f"schoolgate: worker {index} could not start (exit {code}); stopping",
                      file=sys.stderr, flush=True)
                return code or 1
        return None

    def _reap(self) -> list[tuple[int, int]]:
        done = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            done.append((pid, status))
        return done

    def _supervise(self, listen: str) -> int:
        backoff: dict[int, float] = {}
        started: dict[int, float] = {index: time.monotonic() for index in self.children.values()}
        exit_code = 0
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = self.children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                    exit_code = 1
                continue
            # an unexpected exit: the sender of any message in flight was not told 250 and retries
            quick = time.monotonic() - started.get(index, 0.0) < 10.0
            delay = min(RESTART_MAX, backoff.get(index, RESTART_MIN / 2) * 2) if quick else RESTART_MIN
            backoff[index] = delay
            print(f"schoolgate: worker {index} exited ({code}); restarting in {delay:g}s",
                  file=sys.stderr, flush=True)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self._stopping:
                time.sleep(0.1)
            if self._stopping:
                continue
            started[index] = time.monotonic()
            self._spawn(index, listen, None)
        return exit_code

    def _on_signal(self, signum, _frame) -> None:
        self._stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _terminate_all(self) -> None:
        self._on_signal(signal.SIGTERM, None)
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.children.clear()


def light_main() -> int:
    """The supervisor after its exec (Supervisor._exec_small): its workers, the claimed port and
    the reservation as it left them; it supervises until they have all stopped."""
    state = json.loads(os.environ.pop(STATE_ENV))
    fds: list[int] = state["fds"]
    for fd in fds:
        os.set_inheritable(fd, False)  # not into replacement workers
    supervisor = Supervisor(state["count"], state["listen"], None, restart_argv=state["restart"],
                            children={int(pid): index for pid, index in state["children"].items()})
    for sig in _SIGNALS:
        signal.signal(sig, supervisor._on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # one that came during the exec is handled now
    try:
        return supervisor._supervise(state["listen"])
    finally:
        os.environ.pop("SCHOOLGATE_METRICS_DIR", None)
        shutil.rmtree(state["metrics_dir"], ignore_errors=True)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def die_with(parent: int) -> None:
    """In a replacement worker (cli.cmd_serve): as a forked worker, die with the supervisor."""
    _die_with(parent)


def _die_with(parent: int) -> None:
    """A worker whose supervisor is SIGKILLed (OOM killer, kill -9) dies too (Linux
    PR_SET_PDEATHSIG): left running it would keep taking mail on the shared port with
    nobody to restart or stop it, beside the supervisor systemd starts again. A client
    cut off mid-transaction never got its 250 and retries."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM still stops workers
        return
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(1)


def tell_ready() -> None:
    """In a worker: tell the supervisor this worker listens (no-op when not supervised)."""
    fd = os.environ.pop("SCHOOLGATE_READY_FD", None)
    if fd is None:
        return
    try:
        os.write(int(fd), b"1")
        os.close(int(fd))
    except OSError:
        pass
