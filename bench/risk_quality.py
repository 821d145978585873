"""Risk model quality through the shipped chain and policy (as `schoolgate scan` runs it), and its CPU cost.

    nice -n 19 .venv/bin/python bench/risk_quality.py          # held-out test splits (report these)
    nice -n 19 .venv/bin/python bench/risk_quality.py --dev    # training splits (tune on these only)
    nice -n 19 .venv/bin/python bench/risk_quality.py --dev --only reddit --only cssrs --show 10   # and read them

--dev reads only the validation carve-out of the training splits, the rows
bench/train_risk_model.py holds back (same hash): scoring the rows the model was
fitted on would measure its memory, not its reading.

Each text is sent as a pupil's mail to an external friend (SpamAssassin ham: as
received, inbound to a pupil and a member of staff) through the Scanner built
from the shipped config, less the virus filter (it needs a running clamd).
"self-harm finding" = any finding of category self_harm from any filter;
"flagged" = any finding at all; "held" = the policy holds it. The risk model's
own share is shown beside. hatecheck is a test suite: it never runs with --dev.
The offensive sets (OLID, ETHOS, Kaggle insults, Formspring, Stormfront,
implicit-hate, Gab) give the F1 of "any finding" from the offensive filter, the
risk filter and both, beside alt-profanity-check and better-profanity.
Corpora are read in place from ../shared/corpora.
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import csv
import statistics
import sys
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.loader import load_settings  # noqa: E402
from filters.base import Action, Category, FilterContext, Role  # noqa: E402
from filters.message import Envelope  # noqa: E402
from filters.risk import Options, RiskFilter  # noqa: E402
from filters.scanner import Scanner  # noqa: E402

CORPORA = next((p / "shared" / "corpora" for p in ROOT.parents if (p / "shared" / "corpora").is_dir()),
               ROOT.parent / "shared" / "corpora")
SCHOOL = "school.sch.uk"
PUPIL = f"pupil@pupils.{SCHOOL}"
STAFF = f"teacher@{SCHOOL}"
FRIEND = "friend@example.org"
csv.field_size_limit(10_000_000)


def scanner(without: tuple[str, ...] = (), risk: dict | None = None) -> Scanner:
    shipped = load_settings()
    chain = [name for name in shipped.filters.chain if name != "virus" and name not in without]
    overrides = {
        "school": {"domains": [SCHOOL, f"pupils.{SCHOOL}"]},
        "directory": {"domain_roles": {f"pupils.{SCHOOL}": "student", SCHOOL: "staff"}},
        "filters": {"chain": chain}}
    if risk:
        overrides["risk"] = risk
    settings = load_settings(overrides=overrides)
    return Scanner(settings)


def pupil_mail(text: str) -> bytes:
    message = EmailMessage()
    message["From"] = PUPIL
    message["To"] = FRIEND
    message["Subject"] = "hi"
    message.set_content(text)
    return bytes(message)


async def scan_texts(scan: Scanner, texts: list[str]) -> list:
    envelope = Envelope(PUPIL, (FRIEND,), "127.0.0.1", "bench")
    return [(await scan.scan(pupil_mail(t), envelope)).verdict for t in texts]


def self_harm(verdict, risk_only: bool = False) -> bool:
    return any(f.category is Category.SELF_HARM and (not risk_only or f.filter == "risk")
               for f in verdict.findings)


def rate(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} = {sum(flags) / max(1, len(flags)):.3f}"


# -- the sets --

def _held_back(key: str, share: float) -> bool:
    """bench/train_risk_model.py's validation carve-out (the same hash)."""
    from bench import train_risk_model
    return train_risk_model._validation(key, share)


def reddit(split: str) -> list[tuple[str, bool]]:
    from bench import train_risk_model
    with open(CORPORA / "reddit-suicidewatch-teenagers-kaggle" / "suicide_detection_first5000.csv",
              encoding="utf-8") as handle:
        rows = [(r["text"], r["class"] == "suicide") for r in csv.DictReader(handle) if r["split"] == split]
    if split == "train":
        rows = [(t, g) for t, g in rows if _held_back(t.strip().lower(), train_risk_model.VALIDATION_SHARE)]
    return rows


def cssrs(split: str) -> list[tuple[str, str]]:
    """Each user's posts as one message (the history), with the user's label."""
    return [("\n\n".join(posts), label) for posts, label in cssrs_posts(split)]


def cssrs_posts(split: str) -> list[tuple[list[str], str]]:
    """Each user's posts, one by one, with the user's label."""
    base = CORPORA / "cssrs-reddit-suicide-gaur"
    from bench import train_risk_model
    with open(base / "split.csv", encoding="utf-8") as handle:
        wanted = {r["User"] for r in csv.DictReader(handle) if r["split"] == split}
    if split == "train":
        wanted = {u for u in wanted if _held_back(f"cssrs:{u}", train_risk_model.CSSRS_VALIDATION_SHARE)}
    users = []
    with open(base / "500_Reddit_users_posts_labels.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["User"] not in wanted:
                continue
            try:
                posts = ast.literal_eval(r["Post"])
            except (ValueError, SyntaxError):  # unescaped quotes in 28 rows (its README)
                posts = r["Post"].strip("[]").split("', '")
            users.append(([p.strip("'\" ") for p in posts], r["Label"]))
    return users


def hatecheck() -> list[tuple[str, str]]:
    with open(CORPORA / "hatecheck-functional-tests" / "test_suite_cases.csv", encoding="utf-8") as handle:
        return [(r["test_case"], r["functionality"]) for r in csv.DictReader(handle)]


def ham(split: str, held_back: bool = False) -> list[bytes]:
    """The ham of a split; `held_back`: only what the training held back of it (dev)."""
    from bench import train_risk_model
    from filters.directory import Directory
    from filters.message import Envelope as Env, build_view
    base = CORPORA / "spamassassin-public-corpus-sample"
    out = []
    with open(base / "index.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] == split and r["label"] == "ham":
                raw = (base / r["path"]).read_bytes()
                raw = raw.split(b"\n", 1)[1] if raw.startswith(b"From ") else raw
                if held_back:  # the training's key: the text it read (train_risk_model.spamassassin)
                    view = build_view(raw, Env("a@example.org", ("b@example.org",)), Directory(None, {}, ()))
                    text = "\n\n".join(t for t in [view.subject, *(p.text for p in view.text_parts)] if t)
                    if not _held_back(text.strip().lower(), train_risk_model.HAM_VALIDATION_SHARE):
                        continue
                out.append(raw)
    return out


# -- the reports --

def show_self_harm(verdict, text: str, width: int = 160) -> None:
    """A dev row's self-harm findings (filter, score, level, reason, evidence) and its opening."""
    for f in verdict.findings:
        if f.category is Category.SELF_HARM:
            print(f"      {f.filter} {f.code} score {f.score:.2f} level {f.level}: {f.reason[:width]}")
            print(f"        evidence {[e[:width] for e in f.evidence]}")
    print(f"      text ({len(text)} chars): {text[:width]!r}")


async def report_reddit(scan: Scanner, split: str, show: int = 0) -> None:
    data = reddit(split)
    verdicts = await scan_texts(scan, [t for t, _ in data])
    for name, positive in (("r/SuicideWatch", True), ("r/teenagers", False)):
        chosen = [v for v, (_, gold) in zip(verdicts, data) if gold is positive]
        print(f"  {name:15} self-harm finding {rate([self_harm(v) for v in chosen])}"
              f" | risk model's {rate([self_harm(v, True) for v in chosen])}"
              f" | held for any reason {rate([v.action >= Action.HOLD for v in chosen])}")
    if show:  # --dev only (main() refuses it on test): what to read when choosing
        print(f"    r/teenagers posts with a self-harm finding (up to {show}):")
        for v, (text, _) in [(v, d) for v, d in zip(verdicts, data) if not d[1] and self_harm(v)][:show]:
            show_self_harm(v, text)
        print(f"    r/SuicideWatch posts with none (up to {show}):")
        for v, (text, _) in [(v, d) for v, d in zip(verdicts, data) if d[1] and not self_harm(v)][:show]:
            show_self_harm(v, text)


async def report_cssrs(scan: Scanner, split: str, show: int = 0, per_post: bool = False) -> None:
    data = cssrs(split)
    verdicts = await scan_texts(scan, [t for t, _ in data])
    by_label: dict[str, list] = {}
    for verdict, (_, label) in zip(verdicts, data):
        by_label.setdefault(label, []).append(verdict)
    at_risk = [v for label in ("Ideation", "Behavior", "Attempt") for v in by_label.get(label, [])]
    print(f"  Ideation+Behavior+Attempt  self-harm finding {rate([self_harm(v) for v in at_risk])}"
          f" | risk model's {rate([self_harm(v, True) for v in at_risk])}")
    for label in ("Attempt", "Behavior", "Ideation", "Indicator", "Supportive"):
        chosen = by_label.get(label, [])
        print(f"    {label:11} {rate([self_harm(v) for v in chosen])}"
              f" | risk model's {rate([self_harm(v, True) for v in chosen])}")
    if per_post:  # each post its own mail, as a school would see them: a user is flagged by any one
        users = cssrs_posts(split)
        flags = []  # (label, any post: any filter, any post: the model)
        for posts, label in users:
            post_verdicts = await scan_texts(scan, [p for p in posts if p.strip()])
            flags.append((label, any(self_harm(v) for v in post_verdicts),
                          any(self_harm(v, True) for v in post_verdicts)))
        for name, wanted in (("Ideation+Behavior+Attempt", ("Ideation", "Behavior", "Attempt")),
                             ("Indicator", ("Indicator",)), ("Supportive", ("Supportive",))):
            chosen = [(a, m) for label, a, m in flags if label in wanted]
            print(f"  per post, any flagged: {name:26} {rate([a for a, _ in chosen])}"
                  f" | risk model's {rate([m for _, m in chosen])}")
    if show:
        print(f"    Supportive users with a self-harm finding (up to {show}):")
        for v, (text, _) in [(v, d) for v, d in zip(verdicts, data) if d[1] == "Supportive" and self_harm(v)][:show]:
            show_self_harm(v, text)


async def report_hatecheck(scan: Scanner) -> None:
    data = hatecheck()
    verdicts = await scan_texts(scan, [t for t, _ in data])
    threats = [v for v, (_, f) in zip(verdicts, data) if f.startswith("threat_")]
    print(f"  threatening (threat_dir_h, threat_norm_h) flagged {rate([bool(v.findings) for v in threats])}"
          f" | by the risk model {rate([any(f.filter == 'risk' for f in v.findings) for v in threats])}")
    non_hateful = [(v, f) for v, (_, f) in zip(verdicts, data) if f.endswith("_nh")]
    print(f"  non-hateful held {rate([v.action >= Action.HOLD for v, _ in non_hateful])}"
          f" | risk findings on them {rate([any(f.filter == 'risk' for f in v.findings) for v, _ in non_hateful])}")
    per: dict[str, list[bool]] = {}
    for verdict, functionality in non_hateful:
        per.setdefault(functionality, []).append(verdict.action >= Action.HOLD)
    print("    held per non-hateful test: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(per.items())))
    hateful = [v for v, (_, f) in zip(verdicts, data) if f.endswith("_h")]
    print(f"  hateful flagged {rate([bool(v.findings) for v in hateful])}")


async def report_ham(scan: Scanner, split: str, held_back: bool = False) -> None:
    messages = ham(split, held_back)
    envelope = Envelope("sender@example.org", (PUPIL, STAFF), "192.0.2.1", "bench")
    held = Counter()
    safeguarding = 0
    risk_codes: Counter = Counter()
    examples: list[str] = []
    for raw in messages:
        verdict = (await scan.scan(raw, envelope)).verdict
        held["pupil"] += verdict.actions[PUPIL] >= Action.HOLD
        held["staff"] += verdict.actions[STAFF] >= Action.HOLD
        safeguarding += any(f.safeguarding for f in verdict.findings)
        for finding in verdict.findings:
            if finding.filter == "risk":
                risk_codes[finding.code] += 1
                if len(examples) < 8 and split != "test":  # a test split's texts are for counting only
                    examples.append(f"{finding.code} {finding.score}: {finding.evidence[0][:90]!r}")
    total = len(messages)
    for who in ("pupil", "staff"):
        print(f"  held for a {who}: {held[who]}/{total} = {100 * held[who] / total:.2f}%")
    print(f"  with a safeguarding finding (any filter): {safeguarding}/{total}")
    print(f"  risk findings: {dict(risk_codes) or 'none'}")
    for line in examples:
        print(f"    {line}")


def offensive_sets() -> dict:
    """The issue's offensive held-out sets: bench/offensive_quality.py's five, plus implicit-hate
    stage 1 `test` (any hate) and the Gab Hate Corpus test file (hd, cv or vo)."""
    from bench import offensive_quality as oq

    def implicit() -> list[tuple[str, bool]]:
        base = CORPORA / "implicit-hate-latent-hatred"
        with open(base / "stg1_split.csv", encoding="utf-8") as handle:
            split = {int(r["stg1_row"]): r["split"] for r in csv.DictReader(handle)}
        with open(base / "implicit_hate_v1_stg1_posts.tsv", encoding="utf-8") as handle:
            return [(r["post"], r["class"] != "not_hate") for i, r in enumerate(csv.DictReader(handle, delimiter="\t"))
                    if split.get(i) == "test"]

    def gab() -> list[tuple[str, bool]]:
        with open(CORPORA / "gab-hate-corpus" / "ghc_test.tsv", encoding="utf-8") as handle:
            return [(r["text"], "1" in (r["hd"], r["cv"], r["vo"])) for r in csv.DictReader(handle, delimiter="\t")]

    return {**oq.HELD_OUT, "implicit-hate test": implicit, "Gab test (hd/cv/vo)": gab}


def report_offensive(scan: Scanner, better_profanity: bool = True, skip: tuple[str, ...] = ()) -> None:
    """F1 of "any finding" from the offensive filter, the risk filter and both, against
    alt-profanity-check and better-profanity (issue 17's Measure list)."""
    from bench import offensive_quality as oq
    import profanity_check
    filters = {f.name: f for f, _ in scan.filters}
    offensive, risk = filters.get("offensive"), filters.get("risk")
    print(f"  {'set':24} {'n':>5} {'pos':>5} | {'system':26} {'P':>6} {'R':>6} {'F1':>6}")
    for name, load in offensive_sets().items():
        if name in skip:
            continue
        data = load()
        texts, gold = [t for t, _ in data], [g for _, g in data]
        off = [bool(offensive.analyse([t], Role.STUDENT)) for t in texts] if offensive else [False] * len(texts)
        rsk = [bool(risk.analyse([t], Role.STUDENT, (Role.EXTERNAL,))) for t in texts] if risk else [False] * len(texts)
        systems = {"offensive filter": off, "risk filter": rsk,
                   "offensive + risk": [a or b for a, b in zip(off, rsk)],
                   "alt-profanity-check": [bool(p) for p in profanity_check.predict(texts)]}
        if oq.HAVE_BETTER_PROFANITY and better_profanity:
            systems["better-profanity"] = oq.better_profanity(texts)
        for index, (system, predicted) in enumerate(systems.items()):
            p, r, f1 = oq.prf(predicted, gold)
            label = f"{name:24} {len(data):5} {sum(gold):5}" if index == 0 else " " * 36
            print(f"  {label} | {system:26} {p:6.3f} {r:6.3f} {f1:6.3f}")


def cost(split: str, risk: dict | None = None) -> None:
    """CPU ms the risk filter adds per 5 KB message of fresh ham text (process time, one thread),
    written by a pupil: every path runs (sentence windows and the whole-text model)."""
    flt = RiskFilter(Options(**(risk or {})), FilterContext(settings=None, directory=None))
    texts = []
    for raw in ham(split)[:300]:
        body = raw.split(b"\n\n", 1)[-1].decode("latin-1")
        texts.append((body * (5120 // max(1, len(body)) + 1))[:5120])
    flt.analyse(["warm up"], Role.STUDENT, (Role.STUDENT,))
    times = []
    for text in texts:
        start = time.process_time()
        flt.analyse([text], Role.STUDENT, (Role.STUDENT,))
        times.append((time.process_time() - start) * 1000)
    times.sort()
    print(f"  risk filter CPU per 5 KB message: mean {statistics.mean(times):.2f} ms, median "
          f"{statistics.median(times):.2f}, p95 {times[int(0.95 * len(times))]:.2f} (n={len(times)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="training splits instead of the held-out ones")
    parser.add_argument("--only", choices=["reddit", "cssrs", "hatecheck", "ham", "cost", "offensive"],
                        action="append")
    parser.add_argument("--no-better-profanity", action="store_true",
                        help="leave out the better-profanity baseline (~35 ms a text before its cache fills)")
    parser.add_argument("--skip-set", action="append", default=[], help="an offensive set to leave out, by name")
    parser.add_argument("--without-risk", action="store_true",
                        help="the shipped chain less the risk filter: the baseline it adds to")
    parser.add_argument("--model", type=Path, help="another risk model artifact (bench/train_risk_model.py --out)")
    parser.add_argument("--no-whole-text", action="store_true", help="the risk filter without its whole-text path")
    parser.add_argument("--no-gate", action="store_true",
                        help="the whole-text model on every text, not only past its gate (to see the gate loses nothing)")
    parser.add_argument("--cssrs-per-post", action="store_true",
                        help="C-SSRS also with each post its own message (a user flagged when any post is)")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="with --dev: print up to N r/teenagers and Supportive rows flagged for self-harm and "
                             "r/SuicideWatch rows missed, with the findings (never on test: its rows are not read)")
    args = parser.parse_args()
    if args.show and not args.dev:
        sys.exit("--show reads rows to choose on: only with --dev (test rows are for reporting)")
    risk_options: dict = {}
    if args.model:
        risk_options["model_path"] = str(args.model)
    if args.no_whole_text:
        risk_options["whole_text"] = False
    if args.no_gate:
        risk_options["whole_text_gate"] = False
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    split = "train" if args.dev else "test"
    only = set(args.only or ["reddit", "cssrs", "hatecheck", "ham", "offensive", "cost"])
    scan = scanner(("risk",) if args.without_risk else (), risk_options)
    risk = next((f for f, _ in scan.filters if f.name == "risk"), None)
    print(f"chain: {', '.join(scan.settings.filters.chain)}"
          + (f"; risk thresholds: {', '.join(f'{k} {v:.3f}' for k, v in risk.thresholds.items())}" if risk else "")
          + (f"; whole text: {', '.join(f'{k} {v:.3f}' for k, v in risk.text_thresholds.items())}"
             if risk and getattr(risk, "text_thresholds", None) else ""))
    if "reddit" in only:
        print(f"reddit-suicidewatch-teenagers {split}{' (held back by the training)' if args.dev else ''}"
              " (pupil -> external friend):")
        await report_reddit(scan, split, args.show)
    if "cssrs" in only:
        print(f"cssrs-reddit-suicide-gaur {split} users (each user's posts as one message):")
        await report_cssrs(scan, split, args.show, args.cssrs_per_post)
    if "hatecheck" in only and not args.dev:
        print("hatecheck functional tests (test suite; pupil -> external friend):")
        await report_hatecheck(scan)
    if "ham" in only:
        ham_split = "dev" if args.dev else "test"
        print(f"SpamAssassin ham {ham_split}{' (held back by the training)' if args.dev else ''}"
              " (inbound to a pupil and a member of staff):")
        await report_ham(scan, ham_split, args.dev)
    if "offensive" in only and not args.dev:
        print("offensive held-out sets, F1 of any finding (pupil -> external friend):")
        report_offensive(scan, not args.no_better_profanity, tuple(args.skip_set))
    if "cost" in only and not args.without_risk:
        cost("dev" if args.dev else "test", risk_options)
    await scan.close()


if __name__ == "__main__":
    asyncio.run(main())
