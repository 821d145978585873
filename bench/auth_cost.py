"""Cost per message of sender authentication: inbound verify (DKIM + SPF + DMARC, DNS
answered from a table so only our CPU is measured) and outbound signing.

    .venv/bin/python bench/auth_cost.py [--messages 200]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.loader import load_settings  # noqa: E402
from filters.authentication import AuthenticationFilter  # noqa: E402
from filters.base import FilterContext  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.dns_lookup import StaticResolver  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from gateway.dkim_signing import DkimSigner, keygen, public_txt_value  # noqa: E402
from tests.factories import make_message  # noqa: E402

SCHOOL = "school.sch.uk"


def ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    return f"mean {statistics.mean(samples) * 1000:7.2f} ms  median {statistics.median(samples) * 1000:7.2f} ms  " \
           f"p95 {p95 * 1000:7.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--bits", type=int, default=2048)
    args = parser.parse_args()

    sender_pem, _ = keygen("sel", "sender.example", args.bits)
    school_pem, _ = keygen("gw", SCHOOL, args.bits)
    settings = load_settings(overrides={"school": {"domains": [SCHOOL]}})
    directory = Directory(None, {}, (SCHOOL,))
    resolver = StaticResolver({
        ("sel._domainkey.sender.example", "TXT"): [public_txt_value(sender_pem)],
        ("sender.example", "TXT"): ["v=spf1 ip4:192.0.2.0/24 include:_spf.sender.example -all"],
        ("_spf.sender.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"],
        ("_dmarc.sender.example", "TXT"): ["v=DMARC1; p=reject"],
    })
    flt = AuthenticationFilter(settings.filter_options["authentication"],
                               FilterContext(settings=settings, directory=directory), resolver=resolver)
    outside = DkimSigner(selector="sel", domain="sender.example", private_key=sender_pem,
                         school_domains=["sender.example"])
    school = DkimSigner(selector="gw", domain=SCHOOL, private_key=school_pem, school_domains=[SCHOOL])

    body = ("Dear parents,\n\nPlease find the term dates below.\n" * 40)
    inbound = outside.sign_sync(make_message(body, sender="Bob <bob@sender.example>", to=f"x@{SCHOOL}"))
    outbound = make_message(body, sender=f"head@{SCHOOL}", to="parent@example.com")
    envelope = Envelope("bob@sender.example", (f"x@{SCHOOL}",), "198.51.100.20", "mx.sender.example")
    views = [build_view(inbound, envelope, directory) for _ in range(args.messages)]

    verify: list[float] = []
    for view in views:
        started = time.perf_counter()
        await flt.check(view)
        verify.append(time.perf_counter() - started)
    assert "dkim=pass" in flt.authentication_results(views[-1])

    sign: list[float] = []
    for _ in range(args.messages):
        started = time.perf_counter()
        school.sign_sync(outbound)
        sign.append(time.perf_counter() - started)

    # Throughput and event-loop stall with signing off the loop. dkimpy's RSA is pure
    # Python big-int pow(), which holds the GIL, so a thread pool keeps the loop
    # running but still shares one core with it; a process pool does not.
    async def run_with(executor) -> tuple[float, float]:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
        tick_task = asyncio.create_task(ticker())
        started = time.perf_counter()
        await asyncio.gather(*(school.sign(outbound, executor) for _ in range(args.messages)))
        wall = time.perf_counter() - started
        tick_task.cancel()
        return args.messages / wall, max(gaps, default=0.0)

    pooled = {"thread pool (default executor)": None}
    with ProcessPoolExecutor(max_workers=2) as processes:
        await asyncio.gather(*(school.sign(outbound, processes) for _ in range(4)))  # warm the workers
        pooled["process pool (2 workers)"] = processes
        concurrent = {name: await run_with(ex) for name, ex in pooled.items()}

    print(f"messages: {args.messages}, message size {len(inbound)} bytes, RSA {args.bits} bits")
    print(f"verify (DKIM+SPF+DMARC, table DNS): {ms(verify)}")
    print(f"sign (dkimpy, relaxed/relaxed):     {ms(sign)}")
    for name, (rate, stall) in concurrent.items():
        print(f"sign, {args.messages} at once in a {name}: {rate:7.1f} msg/s, "
              f"longest event-loop stall {stall * 1000:6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
