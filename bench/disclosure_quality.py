"""Quality and cost of the disclosure filter, on the shared corpora.

    .venv/bin/python bench/disclosure_quality.py [--split test|dev] [--show N]

Prints: recall on Presidio's UK postcode vectors and libphonenumber's UK
example numbers (and false positives on their negatives), the false-hold rate
on SpamAssassin ham treated as student mail to an external address (the
policy decides, as in production), the phone leniency comparison, and the
cost per 2 KB of text.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.loader import load_settings  # noqa: E402
from filters.base import Action, FilterContext  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.base import Role  # noqa: E402
from filters.directory import Person  # noqa: E402
from filters.disclosure import DisclosureFilter, Options, PupilIndex  # noqa: E402
from filters.extract import AttachmentExtractor  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.policy import Policy  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
PRESIDIO = CORPORA / "pii-uk-test-vectors-presidio" / "uk_pii_test_vectors.csv"
PHONES = CORPORA / "uk-phone-examples-libphonenumber" / "phone_example_numbers.csv"
HAM = CORPORA / "spamassassin-public-corpus-sample"
UK_REGIONS = {"GB", "GG", "JE", "IM"}
PERSONAL_KINDS = {"fixed_line", "mobile", "personal_number", "voip", "pager"}
STUDENT = "pupil@pupils.school.sch.uk"
EXTERNAL = "someone@example.com"


def settings_and_directory():
    settings = load_settings(overrides={
        "school": {"name": "Hillside Academy", "domains": ["school.sch.uk"]},
        "directory": {"domain_roles": {"pupils.school.sch.uk": "student", "school.sch.uk": "staff"}}})
    directory = Directory(None, settings.directory.domain_roles, tuple(settings.school.domains))
    return settings, directory


def make_filter(settings, directory, **options) -> DisclosureFilter:
    return DisclosureFilter(Options(**options), FilterContext(settings=settings, directory=directory))


def overlaps(span, spans) -> bool:
    return any(s < span[1] and e > span[0] for s, e in spans)


def bench_postcodes(flt: DisclosureFilter) -> None:
    if not PRESIDIO.exists():
        print(f"presidio vectors: absent ({PRESIDIO})")
        return
    found = expected = negatives = false_pos = 0
    missed = []
    for row in csv.DictReader(PRESIDIO.open(encoding="utf-8")):
        if row["entity"] != "UK_POSTCODE":
            continue
        spans = flt.scan(row["text"]).spans.get("PII_HOME_ADDRESS", [])
        want = [tuple(s) for s in json.loads(row["expected_spans"])]
        if not want:
            negatives += 1
            false_pos += bool(spans)
            continue
        for span in want:
            expected += 1
            if overlaps(span, spans):
                found += 1
            else:
                missed.append(row["text"])
    print(f"presidio UK_POSTCODE: recall {found}/{expected} = {found / expected:.1%}; "
          f"negatives flagged {false_pos}/{negatives}" + (f"; missed {missed}" if missed else ""))


def bench_phones(settings, directory) -> None:
    if not PHONES.exists():
        print(f"libphonenumber examples: absent ({PHONES})")
        return
    rows = list(csv.DictReader(PHONES.open(encoding="utf-8")))
    for label, flt in (("default", make_filter(settings, directory)),
                       ("service_numbers=true", make_filter(settings, directory, service_numbers=True))):
        hit = Counter()
        total = Counter()
        foreign_flagged = foreign = 0
        missed = []
        for row in rows:
            text = f"my number is {row['number']} x"
            found = bool(flt.scan(text).spans.get("PII_PHONE_NUMBER"))
            if row["region"] in UK_REGIONS:
                group = "personal" if row["number_type"] in PERSONAL_KINDS else "service"
                total[group] += 1
                hit[group] += found
                if not found and group == "personal":
                    missed.append(row["number"])
            else:
                foreign += 1
                foreign_flagged += found
        parts = [f"{g} {hit[g]}/{total[g]} = {hit[g] / total[g]:.1%}" for g in ("personal", "service")]
        allr = sum(hit.values()) / sum(total.values())
        print(f"libphonenumber UK ({label}): recall all {sum(hit.values())}/{sum(total.values())} = {allr:.1%} "
              f"[{'; '.join(parts)}]; non-UK flagged {foreign_flagged}/{foreign}"
              + (f"; missed personal {missed}" if missed else ""))


def ham_views(split: str, directory):
    index = HAM / "index.csv"
    extractor = AttachmentExtractor()
    for row in csv.DictReader(index.open(encoding="utf-8")):
        if row["label"] != "ham" or row["split"] != split:
            continue
        raw = (HAM / row["path"]).read_bytes()
        if raw.startswith(b"From "):  # mbox envelope line, not a header
            raw = raw.split(b"\n", 1)[1]
        yield row["path"], build_view(raw, Envelope(STUDENT, (EXTERNAL,)), directory, extractor=extractor)


async def bench_ham(settings, directory, split: str, show: int) -> list:
    if not (HAM / "index.csv").exists():
        print(f"spamassassin ham: absent ({HAM})")
        return []
    policy = Policy(settings)
    flt = make_filter(settings, directory)
    strict = make_filter(settings, directory, phone_leniency="valid")
    views = list(ham_views(split, directory))
    held = 0
    codes = Counter()
    examples = []
    phone_possible = phone_valid = 0
    for path, view in views:
        findings = await flt.check(view)
        verdict = policy.decide(view, findings)
        if verdict.action >= Action.HOLD:
            held += 1
            codes.update(f.code for f in findings)
            examples.append((path, [(f.code, f.evidence[:3]) for f in findings]))
        phone_possible += any(f.code == "PII_PHONE_NUMBER" for f in findings)
        phone_valid += any(f.code == "PII_PHONE_NUMBER" for f in await strict.check(view))
    n = len(views)
    print(f"ham {split} split as student -> external: held {held}/{n} = {held / n:.2%} (target <= 1%); "
          f"by code {dict(codes)}")
    print(f"phone leniency on ham {split}: messages with PII_PHONE_NUMBER possible={phone_possible} "
          f"valid={phone_valid}")
    for path, found in examples[:show]:
        print(f"  {path}: {found}")
    return views


FIRST = ("jess amelia olivia isla ava mia ivy lily sophia grace freya evie ella poppy rosie emily zara "
         "aisha maya ruby noah oliver george leo arthur harry oscar jack liam sam mohammed ali ethan josh "
         "kai reggie theo finley dylan adam").split()
LAST = ("smith jones taylor brown williams wilson johnson davies patel wright walker thompson robinson "
        "white hughes edwards green hall wood harris lewis martin jackson clarke clark turner hill scott "
        "cooper morris ward moore king watson baker harrison morgan ahmed khan okafor").split()


def bench_cost(settings, directory, views) -> None:
    flt = make_filter(settings, directory)
    # a school-sized directory (40 x 40 = 1,600 pupils) for the name detectors
    people = [Person(f"{f}.{l}@pupils.school.sch.uk", Role.STUDENT, f"{f.title()} {l.title()}")
              for f in FIRST for l in LAST]
    pupils = PupilIndex(people)
    text = "\n\n".join(v.all_text for _, v in views)[:2_000_000]
    chunks = [text[i:i + 2048] for i in range(0, len(text), 2048)]
    # a chatty pupil's 2 KB email with a handful of disclosures, and a worst case
    # where every sentence discloses something (14 phones, meetings, handles ...)
    chat = ("hiya kayla!! omg did u see what happened in form today, mr jones went mad at liam for "
            "leaving his phone on in maths and then it rang AGAIN lol. anyway i finished the english "
            "essay finally, it was sooo long, like 1500 words about macbeth and lady macbeth being evil. "
            "are u going to the party on saturday? my mum says i can go if i'm back by 10. i still "
            "dont know what to wear tbh, maybe the black top from primark. ") * 3
    chat += ("add me on snap its jess_xx and my new number is 07700 900123 cos my old phone broke. "
             "meet me at the park at 4 tmrw and we can walk down together x ")
    chat = (chat + " lol " * 200)[:2048]
    dense = ("hiya!! add me on snap its jess_xx and my number is 07700 900123. im 13 btw, "
             "meet me at the park at 4 tmrw and dont tell ur mum x ") * 14
    dense = dense[:2048]
    for label, sample in (("ham", chunks), ("teen chat", [chat] * 500), ("teen dense worst case", [dense] * 500)):
        if not sample:
            continue
        start = time.perf_counter()
        for chunk in sample:
            flt.scan(chunk, "Jess Taylor", False, pupils, ())
        per = (time.perf_counter() - start) / len(sample)
        print(f"cost per 2 KB ({label}, {len(sample)} chunks): {per * 1000:.3f} ms (target <= 1 ms)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["test", "dev"])
    parser.add_argument("--show", type=int, default=0, help="print this many held ham messages")
    args = parser.parse_args()
    settings, directory = settings_and_directory()
    flt = make_filter(settings, directory)
    bench_postcodes(flt)
    bench_phones(settings, directory)
    views = await bench_ham(settings, directory, args.split, args.show)
    bench_cost(settings, directory, views)


if __name__ == "__main__":
    asyncio.run(main())
