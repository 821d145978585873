"""Offensive filter quality: precision/recall/F1 per held-out set against two baselines, ham false holds, speed.

    .venv/bin/python bench/offensive_quality.py            # held-out test sets (report these)
    .venv/bin/python bench/offensive_quality.py --dev      # training splits (tune on these only)
    .venv/bin/python bench/offensive_quality.py --dev --show 20 --set "OLID train"   # its misses
    .venv/bin/python bench/offensive_quality.py --dev --only-ham --show 50   # ham dev: every hold, why

schoolgate "flags" a text when it reports any finding of the offensive filter
(the policy then tags or holds by severity, role and direction); "holds" counts
only findings that the shipped policy would hold for a pupil recipient.
alt-profanity-check alone = its predict() (score >= 0.5); better-profanity
alone = contains_profanity(). Davidson and Jigsaw are not used: the model was
trained on them. Corpora are read in place from ../shared/corpora.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from config.loader import load_settings  # noqa: E402
from filters.base import Action, FilterContext, Role  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.offensive import OffensiveFilter, Options  # noqa: E402
from filters.policy import Policy  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
SCHOOL = "school.sch.uk"
csv.field_size_limit(10_000_000)

Dataset = list[tuple[str, bool]]


def _kaggle_text(comment: str) -> str:
    text = comment.strip('"')
    try:  # the comments are Python-escaped: "\\n", "\\xe9"
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return text.replace("\\n", "\n")


def olid(name: str) -> Dataset:
    path = CORPORA / "olid-offenseval2019" / name
    with open(path, encoding="utf-8") as handle:
        return [(r["tweet"], r["subtask_a"] == "OFF") for r in csv.DictReader(handle, delimiter="\t")]


def ethos() -> Dataset:
    with open(CORPORA / "ethos-hate-speech" / "Ethos_Dataset_Binary.csv", encoding="utf-8") as handle:
        return [(r["comment"], float(r["isHate"]) >= 0.5) for r in csv.DictReader(handle, delimiter=";")]


def kaggle(name: str) -> Dataset:
    with open(CORPORA / "kaggle-insults-impermium" / name, encoding="utf-8") as handle:
        return [(_kaggle_text(r["Comment"]), r["Insult"] == "1") for r in csv.DictReader(handle)]


FORMSPRING_DEV_SHARE = 4  # one post in 4 (by a hash of its text) is the dev fold; the rest is reported


def _formspring_dev(text: str) -> bool:
    """Formspring has no split: a fixed dev fold, by a hash of the post (stable across runs and
    machines), so rules can be checked on it (--dev --show) and the other 3/4 stays held out."""
    import hashlib
    return int(hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % FORMSPRING_DEV_SHARE == 0


def formspring(part: str = "test") -> Dataset:
    """part: "test" (3/4, reported), "dev" (1/4, to tune on) or "all" (the issue's first figures)."""
    path = CORPORA / "formspring-cyberbullying" / "formspring_data_nouser.tsv"
    with open(path, encoding="utf-8", errors="replace") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        data = [(r["post"] or "", sum(r.get(f"ans{i}") == "Yes" for i in (1, 2, 3)) >= 2) for r in rows]
    if part == "all":
        return data
    return [(t, g) for t, g in data if _formspring_dev(t) == (part == "dev")]


def stormfront(split: str) -> Dataset:
    with open(CORPORA / "stormfront-hate-speech" / "stormfront_sentences.csv", encoding="utf-8") as handle:
        return [(r["text"], r["label"] == "hate") for r in csv.DictReader(handle)
                if r["split"] == split and r["label"] in ("hate", "noHate")]


def implicit_hate(split: str) -> Dataset:
    """Latent Hatred stage 1: explicit or implicit hate vs not (the project's 80/20 split)."""
    base = CORPORA / "implicit-hate-latent-hatred"
    with open(base / "stg1_split.csv", encoding="utf-8") as handle:
        splits = {int(r["stg1_row"]): r["split"] for r in csv.DictReader(handle)}
    with open(base / "implicit_hate_v1_stg1_posts.tsv", encoding="utf-8") as handle:
        return [(r["post"], r["class"] != "not_hate")
                for i, r in enumerate(csv.DictReader(handle, delimiter="\t")) if splits.get(i) == split]


def gab(name: str) -> Dataset:
    """Gab Hate Corpus: positive when any of hd (dignity), cv (call for violence), vo (vulgar)."""
    with open(CORPORA / "gab-hate-corpus" / name, encoding="utf-8") as handle:
        return [(r["text"], "1" in (r["hd"], r["cv"], r["vo"])) for r in csv.DictReader(handle, delimiter="\t")]


# The names match bench/risk_quality.py's (it adds these sets to its own run).
HELD_OUT: dict[str, Callable[[], Dataset]] = {
    "OLID test (A)": lambda: olid("olid-test-levela-with-labels.tsv"),
    "ETHOS (>=0.5)": ethos,
    "Kaggle insults test": lambda: kaggle("test_with_solutions.csv"),
    "Formspring test (3/4)": formspring,
    "Stormfront test": lambda: stormfront("sampled_test"),
    "implicit-hate test": lambda: implicit_hate("test"),
    "Gab test (hd/cv/vo)": lambda: gab("ghc_test.tsv"),
}
# ETHOS has no training split: it is only ever reported. Formspring's dev fold is a hashed quarter.
DEV: dict[str, Callable[[], Dataset]] = {
    "Formspring dev (1/4)": lambda: formspring("dev"),
    "OLID train": lambda: olid("olid-training-v1.0.tsv"),
    "Kaggle insults train": lambda: kaggle("train.csv"),
    "Stormfront train": lambda: stormfront("sampled_train"),
    "implicit-hate train": lambda: implicit_hate("train"),
    "Gab train": lambda: gab("ghc_train.tsv"),
}


try:
    import better_profanity  # noqa: F401  (a baseline only)
    HAVE_BETTER_PROFANITY = True
except ImportError:
    HAVE_BETTER_PROFANITY = False
    print("better-profanity baseline skipped: .venv/bin/pip install -e '.[bench]' (scripts/bench does)")

CACHE = Path.home() / ".cache" / "schoolgate-bench" / "better_profanity.json"


def better_profanity(texts: list[str]) -> list[bool]:
    """better-profanity takes ~35 ms a tweet, so its answers are kept on disk between runs."""
    import hashlib
    import json
    from better_profanity import profanity
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    out = []
    for text in texts:
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        if key not in cache:
            cache[key] = profanity.contains_profanity(text)
        out.append(cache[key])
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(cache))
    return out


def prf(predicted: Iterable[bool], gold: Iterable[bool]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for p, g in zip(predicted, gold):
        tp += p and g
        fp += p and not g
        fn += g and not p
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ham_messages(split: str = "test") -> list[Path]:
    base = CORPORA / "spamassassin-public-corpus-sample"
    with open(base / "index.csv", encoding="utf-8") as handle:
        return [base / r["path"] for r in csv.DictReader(handle) if r["split"] == split and r["label"] == "ham"]


def _finding_line(f) -> str:
    return f"{f.code}/{f.severity.name.lower()}/L{f.level} {list(f.evidence[:3])}"


async def ham_false_holds(flt: OffensiveFilter, split: str = "test"
                          ) -> tuple[int, dict[str, int], list[str], list[float]]:
    """Each ham message as inbound mail to a pupil and to a member of staff."""
    settings = load_settings(overrides={"school": {"domains": [SCHOOL]}, "directory": {
        "domain_roles": {f"pupils.{SCHOOL}": "student", SCHOOL: "staff"}}})
    directory = Directory(None, settings.directory.domain_roles, (SCHOOL, f"pupils.{SCHOOL}"))
    policy = Policy(settings)
    held = {"pupil": 0, "staff": 0}
    examples: list[str] = []
    safeguarding: list[str] = []  # issue 17: no safeguarding finding on any ham message
    times: list[float] = []
    paths = ham_messages(split)
    for path in paths:
        raw = path.read_bytes()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        envelope = Envelope("sender@example.org", (f"pupil@pupils.{SCHOOL}", f"teacher@{SCHOOL}"))
        view = build_view(raw, envelope, directory)
        start = time.perf_counter()
        findings = await flt.check(view)
        times.append((time.perf_counter() - start) * 1000 / max(1.0, len(view.all_text) / 2048))
        verdict = policy.decide(view, findings)
        if any(f.safeguarding or f.level >= 4 for f in verdict.findings):
            safeguarding.append(f"{path.name[:10]} {[_finding_line(f) for f in verdict.findings]}")
        holds = [who for who, address in (("pupil", f"pupil@pupils.{SCHOOL}"), ("staff", f"teacher@{SCHOOL}"))
                 if verdict.actions[address] >= Action.HOLD]
        for who in holds:
            held[who] += 1
        if holds:
            examples.append(f"{'+'.join(holds):11} {path.parent.name}/{path.name[:10]} "
                            f"{[_finding_line(f) for f in verdict.findings]}")
    examples[:0] = [f"SAFEGUARDING {line}" for line in safeguarding]
    held["safeguarding finding (any level 4+)"] = len(safeguarding)
    return len(paths), held, examples, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="training splits instead of the held-out sets")
    parser.add_argument("--no-ham", action="store_true", help="skip the SpamAssassin ham false-hold run")
    parser.add_argument("--only-ham", action="store_true", help="only the ham run (and the speed)")
    parser.add_argument("--only-speed", action="store_true", help="only the CPU cost per message")
    parser.add_argument("--no-better-profanity", action="store_true",
                        help="leave out the better-profanity baseline (~35 ms a text before its cache fills)")
    parser.add_argument("--carve-out", type=Path, metavar="MODEL",
                        help="with --dev: only the fifth of each training split that bench/train_offensive_model.py "
                             "--carve-out held back, scored with the learned model it wrote (MODEL): the figures "
                             "the filter's thresholds are chosen on")
    parser.add_argument("--set", action="append", default=[], help="only this set (by name; repeatable)")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="print N false flags and N misses per set (on --dev only: never read a test "
                             "split's texts to tune), and N ham holds with their findings")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    if args.only_speed:
        print(speed(None))
        return
    import profanity_check
    flt = OffensiveFilter(Options(cache_size=1_000_000), FilterContext(settings=None, directory=None))
    if args.carve_out:
        if not args.dev:
            sys.exit("--carve-out is for the training splits: add --dev")
        from filters.offensive import _ModelScorer
        from train_offensive_model import carved
        flt._scorer = _ModelScorer(1_000_000, learned_path=args.carve_out)
        args.no_ham = True
    policy_hold = _pupil_hold_codes()
    sets = {} if args.only_ham else {k: v for k, v in (DEV if args.dev else HELD_OUT).items()
                                     if not args.set or k in args.set}
    print(f"{'set':24} {'n':>5} {'pos':>5} | {'system':22} {'P':>6} {'R':>6} {'F1':>6}")
    for name, load in sets.items():
        data = load()
        if args.carve_out:
            data = [(t, g) for t, g in data if carved(t)]
        texts = [t for t, _ in data]
        gold = [g for _, g in data]
        flt.warm(texts)
        findings = [flt.analyse([t], Role.STUDENT) for t in texts]
        systems = {
            "schoolgate (flags)": [bool(f) for f in findings],
            "schoolgate (holds)": [any(policy_hold(x) for x in f) for f in findings],
            "alt-profanity-check": [bool(p) for p in profanity_check.predict(texts)],
        }
        if HAVE_BETTER_PROFANITY and not args.no_better_profanity:
            systems["better-profanity"] = better_profanity(texts)
        for index, (system, predicted) in enumerate(systems.items()):
            p, r, f1 = prf(predicted, gold)
            label = f"{name:24} {len(data):5} {sum(gold):5}" if index == 0 else " " * 36
            print(f"{label} | {system:22} {p:6.3f} {r:6.3f} {f1:6.3f}")
        if args.show and args.dev:
            _show(args.show, texts, gold, findings)
    if not args.no_ham:
        ham_split = "dev" if args.dev else "test"
        total, held, examples, times = asyncio.run(ham_false_holds(flt, ham_split))
        for who, count in held.items():
            what = who if who.startswith("safeguarding") else f"held for a {who} recipient"
            print(f"SpamAssassin ham {ham_split}: {count}/{total} {what} = {100 * count / total:.2f}%")
        # the test split's holds are counted, never printed: its texts are not read to tune
        for line in examples[:max(args.show, 10)] if args.dev else ():
            print("  held:", line)
        times.sort()
        print(f"check() per ham message, ms per 2 KB of its text: median "
              f"{statistics.median(times):.2f}, p95 {times[int(0.95 * len(times))]:.2f}")
    print(speed(flt))


def _show(n: int, texts: list[str], gold: list[bool], findings: list) -> None:
    """False flags (with what flagged them) and misses of a training split."""
    false_flags = [(t, f) for t, g, f in zip(texts, gold, findings) if f and not g]
    misses = [t for t, g, f in zip(texts, gold, findings) if g and not f]
    print(f"  false flags ({len(false_flags)}):")
    for text, found in false_flags[:n]:
        print(f"    {[_finding_line(f) for f in found]} :: {text[:160]!r}")
    print(f"  misses ({len(misses)}):")
    for text in misses[:n]:
        print(f"    {text[:200]!r}")


def _pupil_hold_codes() -> Callable:
    """Whether a finding would be held for a pupil receiving it from outside (the shipped policy)."""
    settings = load_settings(overrides={"school": {"domains": [SCHOOL]},
                                        "directory": {"domain_roles": {SCHOOL: "student"}}})
    policy = Policy(settings)
    directory = Directory(None, settings.directory.domain_roles, (SCHOOL,))
    view = build_view(b"From: a@example.org\r\nSubject: x\r\n\r\nx\r\n",
                      Envelope("a@example.org", (f"p@{SCHOOL}",)), directory)
    rcpt = view.recipients[0]
    return lambda finding: policy.action_for(finding, view, rcpt)[0] >= Action.HOLD


def speed(_: OffensiveFilter | None = None) -> str:
    """CPU ms (process time: the machine is shared, wall time is not this filter's) per 2 KB
    message of fresh text (no cache hits: cache_size=0): lexicon + patterns + one model batch."""
    paths = ham_messages()[:200]
    texts = []
    for path in paths:
        body = path.read_bytes().split(b"\n\n", 1)[-1].decode("latin-1")
        texts.append((body * (2048 // max(1, len(body)) + 1))[:2048])

    def cpu_ms(filter_: OffensiveFilter) -> float:
        """The best of three passes: other work on a shared machine only ever adds time."""
        filter_.analyse(["warm up"], Role.STUDENT)
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for text in texts:
                filter_.analyse([text], Role.STUDENT)
            best = min(best, time.process_time() - start)
        return best * 1000 / len(texts)

    total = cpu_ms(OffensiveFilter(Options(cache_size=0), FilterContext(settings=None, directory=None)))
    words = cpu_ms(OffensiveFilter(Options(model=False), FilterContext(settings=None, directory=None)))
    adults = OffensiveFilter(Options(cache_size=0), FilterContext(settings=None, directory=None))
    best = float("inf")
    for _ in range(3):  # staff to a parent: the model runs only where the lists found something
        start = time.process_time()
        for text in texts:
            adults.analyse([text], Role.STAFF, deep=False)
        best = min(best, time.process_time() - start)
    return (f"CPU ms per 2 KB message: {total:.2f} total, of which lexicon+patterns {words:.2f}; "
            f"adults' mail (model only on a hit) {best * 1000 / len(texts):.2f} (n={len(texts)})")


if __name__ == "__main__":
    main()
