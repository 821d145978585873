"""Soak: N messages through Postfix -> schoolgate (full chain, real clamd) -> a counting sink; RSS, replies, lost.

    python bench/soak.py                 # 20,000 messages (not CI: tens of minutes)
    python bench/soak.py -n 2000         # a shorter run

A private Postfix instance (its own config and queue in a temp dir; the system's
Postfix is not touched) takes the messages from smtp-source and relays them to
schoolgate as an edge MTA would. schoolgate sees Postfix as an OUTSIDE client
([gateway] trusted_networks does not hold loopback here), so every message takes
the inbound path: RCPT-time recipient probes, sender_trust, the whole shipped
chain and clamd (the test suite's ClamdServer, as bench/throughput.py starts it).
The mix: plain mail to a pupil and a member of staff (passes), a 200 kB newsletter
(passes), an executable attachment (held for the pupil), a forged school sender
(held for the pupil, tagged for staff) and HTML with a 60,000-character line.
DKIM/SPF/DMARC ask a DNS server on loopback (tests/dns_server.py) publishing SPF
and DMARC for the senders' domain, never the public internet.

Printed: schoolgate's RSS (all its processes) after warm-up, half way and at the
end; its replies by class (from its JSON decision log); Postfix's delivery
statuses (its maillog); what reached the sink and the quarantine; and lost =
injected - delivered - bounced - still queued, which must be 0. Installs nothing.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import (  # noqa: E402  (reuse: processes, RSS, clamd, site config, samples)
    INSTALL, PUPILS, SCHOOL, Server, _newsletter_message, free_port, rss_bytes, site_config, start_clamd, tree,
    wait_smtp,
)

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
PUPIL = f"pupil@{PUPILS}"  # smtp-source -r N makes 1pupil@, 2pupil@ ...
STAFF = f"teacher@{SCHOOL}"


# --- the mix ------------------------------------------------------------------------------------
def _message(sender: str, to: str, subject: str, body: str, *, html: str | None = None,
             attachment: tuple[str, bytes] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return msg


def mix(work: Path) -> list[tuple[str, str, str, int, Path]]:
    """(label, mail_from, rcpt, recipients, LF-only file for smtp-source -F)."""
    long_line = "<p>" + "Spring fair stalls, raffle and cake sale. " * 1_430 + "</p>"
    specs = [
        ("plain", "parent@example.org", PUPIL, 2, _message(
            "A Parent <parent@example.org>", PUPIL, "Trip form", "Hello, the trip form is signed and in the bag.")),
        ("newsletter", "news@example.org", STAFF, 1, _newsletter_message(200_000)),
        ("exe", "vendor@example.org", PUPIL, 1, _message(
            "vendor@example.org", PUPIL, "Your tool", "Run the attached tool.", attachment=("setup.exe", EXE))),
        ("spoof", f"office@{SCHOOL}", PUPIL, 1, _message(
            f"School Office <office@{SCHOOL}>", PUPIL, "Urgent", "Reply with your home address and phone.")),
        ("long_line", "events@example.org", STAFF, 1, _message(
            "events@example.org", STAFF, "Spring fair", "See the HTML part.", html=long_line)),
    ]
    out = []
    for label, mail_from, rcpt, count, msg in specs:
        path = work / f"{label}.eml"
        path.write_bytes(msg.as_bytes(policy=DEFAULT_POLICY.clone(linesep="\n", max_line_length=0)))
        out.append((label, mail_from, rcpt, count, path))
    return out


# --- the sink: counts, keeps nothing -----------------------------------------------------------
class CountingSink:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        class LongLines(SMTP):
            line_length_limit = 1_100_000

        class Ctl(Controller):
            def factory(self):
                return LongLines(self.handler, **self.SMTP_kwargs)

        self.messages = 0
        self.recipients = 0
        self.probes = 0
        self.lock = threading.Lock()
        self.controller = Ctl(self, hostname="127.0.0.1", port=free_port())

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address == "<>":
            with self.lock:
                self.probes += 1
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
        return "250 2.0.0 counted"


# --- a private Postfix ---------------------------------------------------------------------------
def start_postfix(work: Path, gateway_port: int) -> tuple[Path, int]:
    etc, spool = work / "postfix" / "etc", work / "postfix" / "spool"
    data = work / "postfix" / "data"
    for d in (etc, spool, data):
        d.mkdir(parents=True)
    shutil.chown(data, "postfix")
    port = free_port()
    (etc / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = edge.soak.example
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{gateway_port}
smtp_dns_support_level = disabled
smtp_tls_security_level = none
maillog_file = {work / 'postfix' / 'maillog'}
maillog_file_prefixes = {work}
default_destination_concurrency_limit = 20
minimal_backoff_time = 5s
maximal_backoff_time = 10s
queue_run_delay = 5s
message_size_limit = 52428800
""")
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"  # no chroot: the spool is a temp dir without one
            line = " ".join(fields)
        lines.append(line)
    (etc / "master.cf").write_text("\n".join(lines) + "\n")
    subprocess.run(["postfix", "-c", str(etc), "check"], check=True, capture_output=True)
    subprocess.run(["postfix", "-c", str(etc), "start"], check=True, capture_output=True)
    return etc, port


def stop_postfix(etc: Path) -> None:
    subprocess.run(["postfix", "-c", str(etc), "stop"], capture_output=True)


def queued(etc: Path) -> int:
    spool = Path(subprocess.run(["postconf", "-c", str(etc), "-h", "queue_directory"], capture_output=True,
                                text=True).stdout.strip())
    return sum(len(files) for sub in ("maildrop", "incoming", "active", "deferred", "hold")
               for _, _, files in os.walk(spool / sub))


def start_dns():
    """The senders' domain publishes SPF for Postfix's address (so SPF and DMARC pass,
    as for a real sender); the school's domain publishes its own strict records."""
    from tests.dns_server import DnsServer

    return DnsServer({
        ("example.org", "TXT"): ["v=spf1 ip4:127.0.0.0/8 -all"],
        ("_dmarc.example.org", "TXT"): ["v=DMARC1; p=none"],
        (SCHOOL, "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"],
        (f"_dmarc.{SCHOOL}", "TXT"): ["v=DMARC1; p=quarantine"],
    }).start()


def start_gateway(work: Path, config: Path, port: int) -> Server:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # the JSON decision log is on stdout (gateway/logs.py: for journald): report() reads it
    log = open(work / "schoolgate.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--grace", "5"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_smtp(port, proc, 180, "schoolgate")
    return Server("schoolgate", port, proc)


def inject(postfix_port: int, spec: tuple[str, str, str, int, Path], count: int, sessions: int) -> str:
    label, mail_from, rcpt, rcpts, path = spec
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count), "-f", mail_from, "-t", rcpt, "-M", "client.soak",
           "-F", str(path), f"127.0.0.1:{postfix_port}"]
    if rcpts > 1:
        cmd[1:1] = ["-r", str(rcpts)]
    done = subprocess.run(cmd, capture_output=True, timeout=3600)
    return "" if done.returncode == 0 else done.stderr.decode(errors="replace").strip()[-200:]


def mb(pids: list[int]) -> float:
    return rss_bytes(pids) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=10, help="smtp-source sessions into Postfix")
    parser.add_argument("--batch", type=int, default=250, help="messages per smtp-source run (types alternate)")
    parser.add_argument("--drain-timeout", type=float, default=900, help="seconds to wait for Postfix's queue")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs, quarantine)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop injecting after this long (a loaded machine), then drain and report "
                             "what was injected; the report says so")
    args = parser.parse_args()
    missing = [f"{t}: {INSTALL['smtp-source']}" for t in ("smtp-source", "postfix") if shutil.which(t) is None]
    if shutil.which("clamd") is None and not Path("/usr/sbin/clamd").exists():
        missing.append(f"clamd: {INSTALL['clamd']}")
    if os.geteuid() != 0:
        missing.append("root: a private Postfix instance must be started as root")
    if missing:
        print("cannot run (this script installs nothing):\n  " + "\n  ".join(missing))
        return 2

    work = Path(tempfile.mkdtemp(prefix="schoolgate-soak-"))
    os.chmod(work, 0o755)
    clamd = gateway = etc = dns = None
    sink = CountingSink()
    try:
        specs = mix(work)
        sink.controller.start()
        clamd = start_clamd(work)
        port = free_port()
        dns = start_dns()
        config = site_config(work, port, sink.controller.port, clamd.address, workers=1, dns_address=dns.address)
        text = config.read_text().replace("[gateway]\n", '[gateway]\ntrusted_networks = ["192.0.2.0/24"]\n', 1)
        config.write_text(text.replace('level = "warning"', 'level = "info"'))
        gateway = start_gateway(work, config, port)
        etc, postfix_port = start_postfix(work, port)
        _wait_banner(postfix_port, 30)
        print(f"work dir {work}; schoolgate :{port}, postfix :{postfix_port}, sink :{sink.controller.port}; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")

        for spec in specs:  # warm-up: one of each, then wait for the queue
            inject(postfix_port, spec, 2, 1)
        _drain(etc, 300)
        rss = {"start": mb(tree(gateway.proc.pid))}
        injected, errors, started = 0, [], time.monotonic()
        turn = 0
        while injected < args.messages:
            if args.max_seconds is not None and time.monotonic() - started > args.max_seconds:
                print(f"  --max-seconds {args.max_seconds:g} reached: stopping at {injected} injected", flush=True)
                args.messages = injected  # "middle" and the report refer to what was injected
                break
            spec = specs[turn % len(specs)]
            count = min(args.batch, args.messages - injected)
            error = inject(postfix_port, spec, count, args.sessions)
            if error:
                errors.append(f"{spec[0]}: {error}")
            injected += count
            turn += 1
            _sample(rss, injected - queued(etc), args.messages, gateway)
            while queued(etc) > 4 * args.batch:  # keep Postfix's queue short: the gateway sets the pace
                time.sleep(1)
                _sample(rss, injected - queued(etc), args.messages, gateway)
            print(f"  injected {injected}/{args.messages}, queued {queued(etc)}, "
                  f"rss {mb(tree(gateway.proc.pid)):.0f} MB, {time.monotonic() - started:.0f}s", flush=True)
        left = _drain(etc, args.drain_timeout, lambda: _sample(rss, injected - queued(etc), args.messages, gateway))
        seconds = time.monotonic() - started
        rss["end"] = mb(tree(gateway.proc.pid))
        if args.max_seconds is not None:  # half way through what was actually handled
            half = injected // 2
            rss["middle"] = min(rss.get("series", [(0, 0.0)]), key=lambda pr: abs(pr[0] - half))[1]
        report(work, config, args, injected + 2 * len(specs), errors, left, seconds, rss, sink)
        return 0
    finally:
        if etc is not None:
            stop_postfix(etc)
        if gateway is not None:
            gateway.stop()
        if clamd is not None:
            clamd.stop()
        if dns is not None:
            dns.stop()
        if sink.controller._thread is not None:
            sink.controller.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _wait_banner(port: int, timeout: float) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(256).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"postfix did not answer on port {port} within {timeout:g}s")


def _sample(rss: dict, processed: int, total: int, gateway: Server) -> None:
    """RSS half way through what the gateway has handled (not what was injected), and the peak."""
    now = mb(tree(gateway.proc.pid))
    rss["peak"] = max(rss.get("peak", 0.0), now)
    rss.setdefault("series", []).append((processed, now))  # for a run cut short by --max-seconds
    if "middle" not in rss and processed >= total // 2:
        rss["middle"] = now


def _drain(etc: Path, timeout: float, tick=lambda: None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = queued(etc)
        if left == 0:
            return 0
        tick()
        time.sleep(1)
    return queued(etc)


def report(work: Path, config: Path, args, injected: int, errors: list[str], left: int, seconds: float,
           rss: dict, sink: CountingSink) -> None:
    replies: collections.Counter[str] = collections.Counter()
    actions: collections.Counter[str] = collections.Counter()
    for line in (work / "schoolgate.log").read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0 or '"event": "message"' not in line:
            continue
        try:
            entry = json.loads(line[start:])  # "... INFO schoolgate.message: {json}"
        except ValueError:
            continue
        replies[f"{str(entry.get('reply', '?'))[0]}xx"] += 1
        actions.update(entry.get("recipients", {}).values())
    statuses: collections.Counter[str] = collections.Counter()  # per recipient, as Postfix logs them
    final: dict[str, set[str]] = collections.defaultdict(set)  # queue id -> statuses
    maillog = work / "postfix" / "maillog"
    for line in maillog.read_text(errors="replace").splitlines() if maillog.exists() else []:
        if " postfix/smtp[" in line and "status=" in line:
            status = line.split("status=", 1)[1].split()[0]
            statuses[status] += 1
            queue_id = line.split("]: ", 1)[1].split(":", 1)[0]
            final[queue_id].add(status)
    sent = sum(1 for s in final.values() if "sent" in s and "bounced" not in s)
    bounced = sum(1 for s in final.values() if "bounced" in s)
    import tomllib

    index = Path(tomllib.loads(config.read_text())["quarantine"]["path"]) / "index.sqlite3"
    held: int | str = f"? (no {index})"
    if index.exists():  # sqlite3.connect would make an empty one
        with sqlite3.connect(index) as db:
            held = db.execute("SELECT COUNT(*) FROM messages WHERE status = 'held'").fetchone()[0]
    lost = injected - sent - bounced - left
    print(f"\nschoolgate RSS MB: start {rss['start']:.0f}, middle {rss.get('middle', 0):.0f}, "
          f"end {rss['end']:.0f} (peak {rss.get('peak', 0):.0f})", flush=True)
    print(f"soak: {injected} messages (incl. warm-up) via Postfix in {seconds:.0f}s "
          f"({injected / seconds:.1f} msg/s); smtp-source errors: {len(errors)}")
    for e in errors[:5]:
        print(f"  {e}")
    print(f"schoolgate replies to DATA by class: {dict(sorted(replies.items()))}; "
          f"recipient actions: {dict(sorted(actions.items()))}")
    print(f"postfix: {sent} messages sent, {bounced} bounced, {left} still queued; statuses per recipient "
          f"{dict(sorted(statuses.items()))}")
    print(f"sink: {sink.messages} messages, {sink.recipients} recipients; recipient probes (MAIL FROM:<>) "
          f"{sink.probes}; quarantine held: {held}")
    print(f"lost = injected - sent - bounced - queued = {lost}")


if __name__ == "__main__":
    sys.exit(main())
