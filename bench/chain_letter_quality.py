"""Chain-letter filter quality: recall, hard-negative pass rate, false holds on ham, ms per message.

Run: .venv/bin/python bench/chain_letter_quality.py [--split dev|test] [--show-misses] [--show-fp]

Sets: ../shared/corpora/chain-letters-spamassassin (21 pyramid positives, 18
hard negatives), the SpamAssassin public-corpus sample's ham in the chosen
split (tune on dev, report test), and the school-style fixtures in
tests/data/chain_letters/{positive,negative}.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.base import FilterContext  # noqa: E402
from filters.chain_letter import ChainLetterFilter  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.extract import AttachmentExtractor  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_settings  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "chain_letters"


def load(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw.startswith(b"From ") and b"\n" in raw:  # mbox envelope line of the SpamAssassin files
        raw = raw.split(b"\n", 1)[1]
    if path.suffix == ".txt":  # a bare body: wrap it as a student's message
        raw = (f"From: pupil@{SCHOOL_DOMAIN}\nTo: friend@{SCHOOL_DOMAIN}\nSubject: {path.stem}\n"
               "Content-Type: text/plain; charset=utf-8\n\n").encode() + raw
    return raw


async def run_set(flt: ChainLetterFilter, directory: Directory, paths: list[Path],
                  timings: list[float]) -> list[tuple[Path, float, str]]:
    """(path, score or 0, reason) per message; finding present iff score > 0."""
    extractor = AttachmentExtractor()
    out = []
    for path in paths:
        view = build_view(load(path), Envelope(f"sender@{SCHOOL_DOMAIN}", (f"rcpt@{SCHOOL_DOMAIN}",)),
                          directory, extractor=extractor)
        start = time.perf_counter()
        findings = await flt.check(view)
        timings.append(time.perf_counter() - start)
        if findings:
            out.append((path, findings[0].score or 0.0, findings[0].reason))
        else:
            text = view.all_text[:60_000]
            score, fired = flt.score(flt.assess_text(view, text))
            out.append((path, 0.0, f"(no finding; score {score:g}: {'; '.join(fired)})"))
    return out


def report(name: str, results: list[tuple[Path, float, str]], want_hit: bool, show: bool) -> None:
    hits = sum(1 for _, score, _ in results if score > 0)
    good = hits if want_hit else len(results) - hits
    label = "detected" if want_hit else "passed"
    rate = 100.0 * good / len(results) if results else 0.0
    print(f"{name:<44} {good:>4}/{len(results):<4} {label:<9} {rate:6.1f}%")
    if show:
        for path, score, reason in results:
            if (score > 0) != want_hit:
                print(f"    {'MISS' if want_hit else 'FP  '} {path.name}: {reason[:300]}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--show-misses", action="store_true", help="list missed positives and passed hard negatives")
    parser.add_argument("--show-fp", action="store_true", help="list false holds on ham")
    args = parser.parse_args()

    # only this filter: the others' options (and imports) are not needed here
    settings = make_settings(filters={"chain": ["chain_letter"]})
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    flt = ChainLetterFilter(settings.filter_options["chain_letter"], FilterContext(settings, directory))
    timings: list[float] = []

    chain_dir = CORPORA / "chain-letters-spamassassin"
    sample_dir = CORPORA / "spamassassin-public-corpus-sample"
    if chain_dir.is_dir():
        report("chain-letters-spamassassin positives", await run_set(
            flt, directory, sorted((chain_dir / "positives").glob("*.eml")), timings), True, args.show_misses)
        report("chain-letters-spamassassin hard negatives", await run_set(
            flt, directory, sorted((chain_dir / "hard_negatives").glob("*.eml")), timings), False,
            args.show_misses)
    else:
        print(f"skipped: {chain_dir} not found")
    if sample_dir.is_dir():
        with open(sample_dir / "index.csv", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["label"] == "ham" and r["split"] == args.split]
        ham = await run_set(flt, directory, [sample_dir / r["path"] for r in rows], timings)
        report(f"SpamAssassin ham ({args.split} split), false holds:", ham, False, args.show_fp)
        false_holds = sum(1 for _, score, _ in ham if score > 0)
        print(f"{'  false-hold rate':<44} {100.0 * false_holds / len(ham):.2f}% (target <= 0.5%)")
    else:
        print(f"skipped: {sample_dir} not found")
    report("school fixtures: chain letters", await run_set(
        flt, directory, sorted((FIXTURES / "positive").glob("*.*")), timings), True, args.show_misses)
    report("school fixtures: hard negatives", await run_set(
        flt, directory, sorted((FIXTURES / "negative").glob("*.*")), timings), False, args.show_misses)
    if timings:
        timings.sort()
        print(f"time per message: mean {1000 * sum(timings) / len(timings):.2f} ms, "
              f"median {1000 * timings[len(timings) // 2]:.2f} ms, "
              f"p99 {1000 * timings[int(len(timings) * 0.99)]:.2f} ms over {len(timings)} messages")


if __name__ == "__main__":
    asyncio.run(main())
