"""Chain-letter filter quality: recall, hard-negative pass rate, false holds on ham, ms per message.

Run: nice -n 15 .venv/bin/python bench/chain_letter_quality.py [--split train|dev|test] [--show-misses] [--show-fp]

Sets: ../shared/corpora/snopes-urban-legends-hoaxes (each row sent as a
pupil's "FW:" to three classmates, held = the policy holds it for the
CHAIN_LETTER finding; `--split train` for tuning, `--split dev --fold K` for
fold K of train carved out (with a model trained `--hold-out K`), `test` to
report; never shipped), ../shared/corpora/chain-letters-spamassassin (21 pyramid positives,
18 hard negatives; it has no split and is report-only), the SpamAssassin
public-corpus sample's ham (`--split dev`/`train` tunes, `test` reports), and
the school-style fixtures in tests/data/chain_letters/{positive,negative}.
SCHOOLGATE_CORPORA overrides where the corpora are (default ../shared/corpora).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.base import Action, FilterContext  # noqa: E402
from filters.chain_letter import ChainLetterFilter  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.extract import AttachmentExtractor  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.policy import Policy  # noqa: E402
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_settings  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "chain_letters"
PUPIL = f"jade.w@{SCHOOL_DOMAIN}"
CLASSMATES = tuple(f"{name}@{SCHOOL_DOMAIN}" for name in ("kayla.m", "omar.h", "zofia.k"))


def corpora_dir() -> Path:
    """The corpora beside the checkout; a git worktree sits one level deeper, so look there too."""
    if os.environ.get("SCHOOLGATE_CORPORA"):
        return Path(os.environ["SCHOOLGATE_CORPORA"])
    for candidate in (CORPORA, *(parent / "shared" / "corpora" for parent in ROOT.parents)):
        if candidate.is_dir():
            return candidate
    return CORPORA


# The dev split carved from the tuning data: variants of one legend (same title) and one
# ham file always fall in the same of FOLDS folds; `--split dev --fold K` measures fold K,
# and bench/train_chain_letter_model.py --hold-out K trains a model that never saw it.
FOLDS = 5


def fold_of(group: str) -> int:
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % FOLDS


def snopes_group(row: dict) -> str:
    return "snopes:" + " ".join(row["title"].lower().split())


def ham_group(row: dict) -> str:
    return "ham:" + row["path"]


def pupil_forward(text: str) -> bytes:
    """A corpus text as a pupil forwards it to three classmates: FW: subject, a
    one-line note, a forwarded-message block (how Outlook and Gmail forward)."""
    words = " ".join(text.split()[:6])[:60] or "read this"
    head = (f"From: Jade W <{PUPIL}>\nTo: {', '.join(CLASSMATES)}\nSubject: FW: {words}\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
    body = ("look at this\n\n---------- Forwarded message ---------\nFrom: Auntie Pat <pat@example.com>\n"
            f"Subject: Fw: {words}\n\n{text}\n")
    return (head + body).encode("utf-8")


async def run_snopes(flt: ChainLetterFilter, policy: Policy, directory: Directory, rows: list[dict],
                     timings: list[float]) -> list[tuple[str, bool, str]]:
    """(title, held for CHAIN_LETTER, reason or the sub-threshold score) per row."""
    extractor = AttachmentExtractor()
    out = []
    for row in rows:
        view = build_view(pupil_forward(row["text"]), Envelope(PUPIL, CLASSMATES), directory,
                          extractor=extractor)
        start = time.perf_counter()
        findings = await flt.check(view)
        timings.append(time.perf_counter() - start)
        held = bool(findings) and policy.decide(view, findings).action >= Action.HOLD
        if findings:
            reason = findings[0].reason
        else:
            score, fired = flt.score(flt.assess_text(view, view.all_text[:60_000]))
            reason = f"(no finding; score {score:g}: {'; '.join(fired)})"
        out.append((row["title"], held, reason))
    return out


def report_snopes(name: str, results: list[tuple[str, bool, str]], show: bool, want: bool = True) -> None:
    held = sum(1 for _, h, _ in results if h)
    rate = held / len(results) if results else 0.0
    print(f"{name:<44} {held:>4}/{len(results):<4} held      {100 * rate:6.1f}%")
    if show:
        for title, h, reason in results:
            if h != want:
                print(f"    {'MISS' if want else 'HELD'} {title[:70]}: {reason[:300]}")


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
    parser.add_argument("--split", choices=("train", "dev", "test"), default="test",
                        help="train: the tuning halves (snopes train, SpamAssassin ham dev); dev: fold --fold "
                             "of them (measure it with a model trained --hold-out that fold); test: report")
    parser.add_argument("--fold", type=int, default=0, choices=range(FOLDS),
                        help="with --split dev: which carved-out fold (default 0)")
    parser.add_argument("--only", choices=("snopes", "spamassassin", "ham", "fixtures"), action="append",
                        help="run only these sets (repeatable)")
    parser.add_argument("--show-held", action="store_true", help="list snopes rows held that do not ask to be forwarded")
    parser.add_argument("--show-misses", action="store_true", help="list missed positives and passed hard negatives")
    parser.add_argument("--show-fp", action="store_true", help="list false holds on ham")
    parser.add_argument("--options", default="{}", metavar="JSON",
                        help='[chain_letter] overrides, e.g. \'{"weights": {"fear": 1.5}, "threshold": 4.5}\'')
    parser.add_argument("--no-library", action="store_true",
                        help="no known-letter library (measure the cue model alone, e.g. on snopes train, "
                             "whose fingerprints are in the library; implied by --split dev)")
    parser.add_argument("--cost", type=int, default=0, metavar="PASSES",
                        help="also time the scoring (assess_text) over the ham split, best of PASSES per "
                             "message: steadier than one pass on a shared machine; run it on two trees to compare")
    args = parser.parse_args()

    # only this filter: the others' options (and imports) are not needed here
    options = json.loads(args.options)
    if args.no_library or args.split == "dev":  # the library holds every train hoax's fingerprint
        options.update(library_dir="__none__", extra_library_dirs=[])
    settings = make_settings(filters={"chain": ["chain_letter"]}, chain_letter=options)
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    flt = ChainLetterFilter(settings.filter_options["chain_letter"], FilterContext(settings, directory))
    policy = Policy(settings)
    timings: list[float] = []
    only = set(args.only or ("snopes", "spamassassin", "ham", "fixtures"))
    corpora = corpora_dir()
    ham_split = "dev" if args.split in ("train", "dev") else "test"
    snopes_split = "train" if args.split in ("train", "dev") else "test"
    split_name = f"dev fold {args.fold}" if args.split == "dev" else snopes_split

    snopes_csv = corpora / "snopes-urban-legends-hoaxes" / "snopes_legends.csv"
    if "snopes" in only and snopes_csv.is_file():
        with open(snopes_csv, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["split"] == snopes_split]
        if args.split == "dev":
            rows = [r for r in rows if fold_of(snopes_group(r)) == args.fold]
        asks = [r for r in rows if r["asks_to_forward_checked"] == "1"]
        results = await run_snopes(flt, policy, directory, rows, timings)
        by_title = {id(r): res for r, res in zip(rows, results)}
        report_snopes(f"snopes {split_name}: asks to forward (checked)", [by_title[id(r)] for r in asks],
                      args.show_misses)
        checked_no = [by_title[id(r)] for r in rows if r["asks_to_forward_checked"] == "0"]
        report_snopes(f"snopes {split_name}: checked, does not ask", checked_no, args.show_held, want=False)
        report_snopes(f"snopes {split_name}: all rows (report only)", results, False)
    elif "snopes" in only:
        print(f"skipped: {snopes_csv} not found")

    chain_dir = corpora / "chain-letters-spamassassin"
    sample_dir = corpora / "spamassassin-public-corpus-sample"
    if "spamassassin" not in only:
        pass
    elif chain_dir.is_dir():
        report("chain-letters-spamassassin positives", await run_set(
            flt, directory, sorted((chain_dir / "positives").glob("*.eml")), timings), True, args.show_misses)
        report("chain-letters-spamassassin hard negatives", await run_set(
            flt, directory, sorted((chain_dir / "hard_negatives").glob("*.eml")), timings), False,
            args.show_misses)
    else:
        print(f"skipped: {chain_dir} not found")
    if "ham" not in only:
        pass
    elif sample_dir.is_dir():
        with open(sample_dir / "index.csv", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["label"] == "ham" and r["split"] == ham_split]
        if args.split == "dev":
            rows = [r for r in rows if fold_of(ham_group(r)) == args.fold]
        ham_timings: list[float] = []
        ham = await run_set(flt, directory, [sample_dir / r["path"] for r in rows], ham_timings)
        timings.extend(ham_timings)
        report(f"SpamAssassin ham ({ham_split} split), false holds:", ham, False, args.show_fp)
        false_holds = sum(1 for _, score, _ in ham if score > 0)
        print(f"{'  false-hold rate':<44} {100.0 * false_holds / len(ham):.2f}% (target <= 0.3%)")
        ham_timings.sort()
        print(f"{'  check() on ham':<44} mean {1000 * sum(ham_timings) / len(ham_timings):.2f} ms, "
              f"median {1000 * ham_timings[len(ham_timings) // 2]:.2f} ms")
        if args.cost:
            extractor = AttachmentExtractor()
            views = [build_view(load(sample_dir / r["path"]), Envelope(f"sender@{SCHOOL_DOMAIN}",
                                (f"rcpt@{SCHOOL_DOMAIN}",)), directory, extractor=extractor) for r in rows]
            best = [float("inf")] * len(views)
            cpu_start = time.process_time()  # process CPU: steadier than wall time on a shared machine
            for _ in range(args.cost):
                for i, view in enumerate(views):
                    start = time.perf_counter()
                    flt.assess_text(view, view.all_text[:60_000])
                    best[i] = min(best[i], time.perf_counter() - start)
            cpu = (time.process_time() - cpu_start) / (args.cost * len(views))
            best.sort()
            print(f"{'  scoring on ham, process CPU':<44} {1000 * cpu:.3f} ms per message (mean of {args.cost} passes)")
            print(f"{'  scoring on ham, best of ' + str(args.cost):<44} mean {1000 * sum(best) / len(best):.3f} ms, "
                  f"median {1000 * best[len(best) // 2]:.3f} ms, p99 {1000 * best[int(len(best) * 0.99)]:.3f} ms")
    else:
        print(f"skipped: {sample_dir} not found")
    if "fixtures" in only:
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
