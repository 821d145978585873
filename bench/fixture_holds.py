"""The project's own fixture lines through the shipped chain: how many are held (docs/safeguarding.md,
seventh to ninth passes). Own wording only (tests/data/seventh_pass/, eighth_pass/, ninth_pass/);
never a corpus or a test suite.

    nice -n 19 .venv/bin/python bench/fixture_holds.py                 # counts per file
    nice -n 19 .venv/bin/python bench/fixture_holds.py --show          # and each held line, why
    nice -n 19 .venv/bin/python bench/fixture_holds.py --pass eighth_pass

non_hateful.txt and hateful.txt are sent as a pupil's mail to an external friend (as
bench/risk_quality.py sends hatecheck); adult_mail.txt as an outsider's mail to a pupil and a
member of staff (as it sends SpamAssassin ham).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.risk_quality import FRIEND, PUPIL, STAFF, pupil_mail, scanner  # noqa: E402
from filters.base import Action  # noqa: E402
from filters.message import Envelope  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "seventh_pass"
OUTSIDER = "someone@example.org"


def lines(path: Path) -> list[str]:
    return [line.rstrip("\n").replace("\\n", "\n") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def outsider_mail(text: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = OUTSIDER, PUPIL, "Re: list"
    message.set_content(text)
    return bytes(message)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print each held line with its findings")
    parser.add_argument("--pass", dest="fixtures", default=FIXTURES.name,
                        help="the fixture folder under tests/data/ (seventh_pass, eighth_pass, ninth_pass)")
    args = parser.parse_args()
    folder = FIXTURES.parent / args.fixtures
    scan = scanner()
    for name in ("non_hateful.txt", "hateful.txt"):
        texts = lines(folder / name)
        envelope = Envelope(PUPIL, (FRIEND,), "127.0.0.1", "bench")
        held = 0
        for text in texts:
            verdict = (await scan.scan(pupil_mail(text), envelope)).verdict
            if verdict.action >= Action.HOLD:
                held += 1
                if args.show:
                    print(f"  held {text[:100]!r}: {', '.join(f.code for f in verdict.findings)}")
        print(f"{name}: held {held}/{len(texts)} (pupil -> external friend)")
    texts = lines(folder / "adult_mail.txt")
    envelope = Envelope(OUTSIDER, (PUPIL, STAFF), "192.0.2.1", "bench")
    held = {"pupil": 0, "staff": 0}
    for text in texts:
        verdict = (await scan.scan(outsider_mail(text), envelope)).verdict
        for who, address in (("pupil", PUPIL), ("staff", STAFF)):
            held[who] += verdict.actions[address] >= Action.HOLD
        if args.show and verdict.actions[PUPIL] >= Action.HOLD:
            who = "staff" if verdict.actions[STAFF] >= Action.HOLD else "a pupil"
            print(f"  held for {who} {text[:100]!r}: {', '.join(f.code for f in verdict.findings)}")
    print(f"adult_mail.txt: held for a pupil {held['pupil']}/{len(texts)}, for staff {held['staff']}/{len(texts)}"
          " (outsider -> pupil and staff)")
    await scan.close()


if __name__ == "__main__":
    asyncio.run(main())
