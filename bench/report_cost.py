"""Time to gather and render a report over a synthetic school's decision log (SQLite).

    .venv/bin/python bench/report_cost.py [messages_per_day] [days]

Prints seconds for gathering the numbers and for each format.
"""
from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from quarantine.report_data import custom_period, gather_sync  # noqa: E402
from quarantine.report_render import render_csv, render_html, render_pdf  # noqa: E402
from quarantine.store import QuarantineStore, decisions, messages  # noqa: E402

LONDON = ZoneInfo("Europe/London")
CATS = ["attachment", "chain_letter", "personal_account", "profanity", "bullying", "disclosure", "grooming", "virus"]


def main() -> None:
    per_day = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    rng = random.Random(1)
    first = date(2026, 9, 7)
    period = custom_period(first, first + timedelta(days=days - 1), LONDON)
    store = QuarantineStore(Path(tempfile.mkdtemp())).open_sync()
    start = period.start_ts
    rows, holds = [], []
    for i in range(per_day * days * 2):  # this period and the previous one
        at = start - days * 86400 + rng.random() * days * 2 * 86400
        action = rng.choices(["pass", "tag", "hold", "reject", "tempfail"], [90, 4, 4, 1, 1])[0]
        cat = rng.choice(CATS) if action != "pass" else ""
        rows.append(dict(at=at, message_id=f"m{i}", direction=rng.choice(["inbound", "outbound", "internal"]),
                         sender_role=rng.choice(["staff", "student", "external"]), action=action,
                         actions=json.dumps({f"student:{action}": 1}), codes=cat.upper(), categories=cat,
                         failures="", size=5000, seconds=0.02))
        if action in ("hold", "reject"):
            holds.append(dict(id=f"m{i}", received_at=at, updated_at=at, mail_from=f"u{rng.randrange(500)}@s.sch.uk",
                              from_header="", subject="", direction="inbound", sender_role="student",
                              client_ip="", size=5000, sha256="", path=None,
                              status="rejected" if action == "reject" else rng.choice(["held", "released", "deleted"]),
                              codes=f" {cat.upper()} ", categories=f" {cat} ", max_severity=3,
                              findings=json.dumps([{"code": cat.upper(), "filter": "x", "category": cat,
                                                    "severity": "high"}]), failures="[]", alerts=""))
    with store.engine.begin() as conn:
        conn.execute(insert(decisions), rows)
        conn.execute(insert(messages), holds)
    print(f"{len(rows):,} decisions, {len(holds):,} holds over {days * 2} days")
    t = time.perf_counter()
    data = gather_sync(store.engine, period, school="Bench School")
    print(f"gather  {time.perf_counter() - t:6.2f} s")
    for name, fn in (("csv", render_csv), ("html", lambda d: render_html(d).html),
                     ("mail", lambda d: render_html(d, images="cid")), ("pdf", render_pdf)):
        t = time.perf_counter()
        fn(data)
        print(f"{name:<7} {time.perf_counter() - t:6.2f} s")


if __name__ == "__main__":
    main()
