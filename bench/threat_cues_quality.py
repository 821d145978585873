"""filters/threat_cues.py on the TRAINING splits: how many calls for violence / threatening posts its
structure finds, and how often it fires on posts labelled neither (the hard negatives).

    PYTHONPATH=. python bench/threat_cues_quality.py [--show N] [--filter] [--cost] [--grid T:C ...]

gab-hate-corpus train (cv = call for violence), implicit-hate train (stage 2 `threatening`;
stage 1 `not_hate`), OLID train tweets labelled not offensive, SpamAssassin ham `dev` (its training
part), r/teenagers train posts (pupils' own wording, none a threat by label). Never a test split:
hatecheck and the test files are reported by bench/risk_quality.py only. Then the project's own fixtures (the
threat forms of issue 17, friendly lines, counter-speech) and how much ham dev quotes someone
(filters/text/speech.py), and how often filters/text/counter.py reads counter-speech in hateful and
plain training posts. --show prints N sentences of each kind
(for the developer's eyes; nothing is written). --cost: the CPU time of the anchor scan and of
find() on the sentences it picks, over the ham dev mails, per 5 KB (best of 3). --grid: the risk
filter's threat findings with the model's threat threshold T and cue threshold C instead of the
shipped ones, on the rows the model's training held back (Gab, r/teenagers) and on the
implicit-hate rows and the test fixtures."""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from filters import threat_cues
from filters.text import sentences
from filters.text.model import prepare

CORPORA = Path(__file__).resolve().parent.parent / ".." / "shared" / "corpora"
csv.field_size_limit(sys.maxsize)


def hits(text: str) -> list[threat_cues.Threat]:
    found = []
    for a, b in sentences.spans(text):
        t = threat_cues.find(prepare(text[a:b]))
        if t:
            found.append(t)
    return found


def gab() -> tuple[list[str], list[str]]:
    pos, neg = [], []
    with open(CORPORA / "gab-hate-corpus" / "ghc_train.tsv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle, delimiter="\t"):
            (pos if r["cv"] == "1" else neg if r["hd"] == "0" else []).append(r["text"])
    return pos, neg


def implicit() -> tuple[list[str], list[str]]:
    base = CORPORA / "implicit-hate-latent-hatred"
    def rows(name: str) -> list[dict]:
        with open(base / name, encoding="utf-8") as handle:
            return list(csv.DictReader(handle, delimiter="\t" if name.endswith("tsv") else ","))
    s2, sp2 = rows("implicit_hate_v1_stg2_posts.tsv"), rows("stg2_split.csv")
    s1, sp1 = rows("implicit_hate_v1_stg1_posts.tsv"), rows("stg1_split.csv")
    pos = [s2[int(r["stg2_row"])]["post"] for r in sp2 if r["split"] == "train" and r["implicit_class"] == "threatening"]
    neg = [s1[int(r["stg1_row"])]["post"] for r in sp1 if r["split"] == "train" and r["class"] == "not_hate"]
    return pos, neg


def olid_not_offensive() -> list[str]:
    with open(CORPORA / "olid-offenseval2019" / "olid-training-v1.0.tsv", encoding="utf-8") as handle:
        return [r["tweet"] for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                if r["subtask_a"] == "NOT"]


def ham() -> list[str]:
    from email import message_from_bytes, policy
    base = CORPORA / "spamassassin-public-corpus-sample"
    out = []
    with open(base / "index.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] == "dev" and r["label"] == "ham":
                msg = message_from_bytes((base / r["path"]).read_bytes(), policy=policy.default)
                body = msg.get_body(("plain",))
                try:
                    out.append(f"{msg['subject'] or ''}\n{body.get_content() if body else ''}")
                except (LookupError, ValueError):
                    continue
    return out


def cost() -> None:
    from filters.text.model import model_text
    mails = ham()
    documents = [(m, sentences.spans(m), model_text(m)) for m in mails]
    best = {"scan": 1e9, "find": 1e9}
    for _ in range(3):
        start = time.process_time()
        picked = [(m, spans, threat_cues.candidate_sentences(folded, spans)) for m, spans, folded in documents]
        scanned = time.process_time()
        prepared = [prepare(m[spans[i][0]:spans[i][1]]) for m, spans, found in picked for i in found]
        begin = time.process_time()
        for text in prepared:
            threat_cues.find(text)
        end = time.process_time()
        best = {"scan": min(best["scan"], scanned - start), "find": min(best["find"], end - begin)}
    per = sum(len(m) for m in mails) / 5120
    print(f"SpamAssassin ham dev, {len(mails)} mails, {len(prepared)} candidate sentences: anchor scan "
          f"{best['scan'] * 1000 / per:.3f} ms + find {best['find'] * 1000 / per:.3f} ms CPU per 5 KB")


def grid(settings: list[tuple[float, float]]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.risk_quality import reddit
    from bench.train_risk_model import _validation
    from filters.base import FilterContext, Role
    from filters.risk import Options, RiskFilter
    from tests.filters import test_threats as fixtures
    gab_pos, gab_neg = gab()
    imp_pos, imp_neg = implicit()
    held = lambda texts: [t for t in texts if _validation(t.strip().lower())]  # noqa: E731
    sets = {"gab cv held back": held(gab_pos), "gab non-hate held back": held(gab_neg),
            "implicit threatening": imp_pos, "implicit not_hate held back": held(imp_neg),
            "r/teenagers dev": [t for t, suicidal in reddit("train") if not suicidal],
            "fixture threats": fixtures.DIRECT + fixtures.CONDITIONAL + fixtures.GROUP + fixtures.WEAPON
            + fixtures.DISCLOSURE, "fixture look-alikes": fixtures.NOT_THREATS}
    for threshold, cue in [(None, None), *settings]:
        options = {} if threshold is None else {"thresholds": {"violent_threat": threshold},
                                                "cue_thresholds": {**Options().cue_thresholds, "violent_threat": cue}}
        flt = RiskFilter(Options(**options), FilterContext(settings=None, directory=None))
        def found(text: str) -> bool:
            return any(f.code == "RISK_VIOLENT_THREAT" for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,)))
        counts = [f"{name} {sum(map(found, texts))}/{len(texts)}" for name, texts in sets.items()]
        print(f"threat threshold {threshold or 'shipped'}, cue {cue or 'shipped'}: " + "; ".join(counts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0)
    parser.add_argument("--filter", action="store_true",
                        help="also the risk filter's RISK_VIOLENT_THREAT rate, threat_rules on and off")
    parser.add_argument("--cost", action="store_true", help="only the CPU cost of the scan and find() on ham dev")
    parser.add_argument("--grid", nargs="+", metavar="T:C", help="only the threat findings at these thresholds")
    args = parser.parse_args()
    if args.cost:
        cost()
        return
    if args.grid:
        grid([tuple(map(float, g.split(":"))) for g in args.grid])
        return
    if args.filter:
        from filters.base import FilterContext, Role
        from filters.risk import Options, RiskFilter
        filters = {on: RiskFilter(Options(threat_rules=on), FilterContext(settings=None, directory=None))
                   for on in (False, True)}
        for name, (pos, neg) in (("gab train cv", gab()), ("implicit-hate train threatening", implicit())):
            for on, flt in filters.items():
                rate = [sum(any(f.code == "RISK_VIOLENT_THREAT" for f in flt.analyse([t], Role.STUDENT, (Role.STUDENT,)))
                            for t in texts) for texts in (pos, neg)]
                print(f"risk filter, threat_rules {'on ' if on else 'off'}: {name} {rate[0]}/{len(pos)}; "
                      f"negatives {rate[1]}/{len(neg)}")
    for name, (pos, neg) in (("gab train cv", gab()), ("implicit-hate train threatening", implicit())):
        found = [hits(t) for t in pos]
        false = [(t, hits(t)) for t in neg]
        print(f"{name}: found {sum(map(bool, found))}/{len(pos)} = {sum(map(bool, found)) / len(pos):.3f}; "
              f"on the negatives {sum(bool(h) for _, h in false)}/{len(neg)}")
        for t, h in [(t, h) for t, h in false if h][:args.show]:
            print("   FP", h[0].kind, "|", h[0].words, "|", t[:160].replace("\n", " "))
        for t in [t for t, h in zip(pos, found) if not h][:args.show]:
            print("   FN", t[:160].replace("\n", " "))
    with open(CORPORA / "reddit-suicidewatch-teenagers-kaggle" / "suicide_detection_first5000.csv",
              encoding="utf-8") as handle:
        teens = [r["text"] for r in csv.DictReader(handle) if r["split"] == "train" and r["class"] != "suicide"]
    for name, texts in (("r/teenagers train", teens), ("OLID train not offensive", olid_not_offensive())):
        false = [(t, hits(t)) for t in texts]
        print(f"{name}: {sum(bool(h) for _, h in false)}/{len(texts)} with a threat")
        for t, h in [(t, h) for t, h in false if h][:args.show]:
            print("   FP", h[0].kind, "|", h[0].words, "|", t[:160].replace("\n", " "))
    mails = ham()
    false = [(t, hits(t)) for t in mails]
    print(f"SpamAssassin ham dev: {sum(bool(h) for _, h in false)}/{len(mails)} with a threat")
    for t, h in [(t, h) for t, h in false if h][:args.show]:
        print("   FP", h[0].kind, "|", h[0].words)
    from filters.text import speech
    quoted = [speech.quoted_sentences(t, sentences.spans(t)) for t in mails]
    print(f"SpamAssassin ham dev: {sum(map(bool, quoted))}/{len(mails)} mails quote someone (filters/text/speech.py), "
          f"{sum(map(len, quoted))} sentences inside attributed quotations, "
          f"{sum(1 for q in quoted for r in q.values() if r.received)} of them said to the writer's side")
    counter_speech()
    fixtures()


def counter_speech() -> None:
    """How often filters/text/counter.py reads a sentence of a hateful training post as counter-speech
    (the risk filter then drops a hate or bullying finding whose every evidence sentence is one): it
    should be no more often than on the posts labelled not hateful."""
    from filters.text.counter import condemned_after, condemns
    with open(CORPORA / "gab-hate-corpus" / "ghc_train.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    hateful = [r["text"] for r in rows if r["hd"] == "1" or r["cv"] == "1"]
    plain = [r["text"] for r in rows if r["hd"] == "0" and r["cv"] == "0"]
    imp_pos, imp_neg = implicit()
    def share(texts: list[str]) -> str:
        n = sum(any(condemns(prepare(t[a:b])) for a, b in sentences.spans(t)) for t in texts)
        return f"{n}/{len(texts)} = {n / max(1, len(texts)):.3f}"

    def share_after(texts: list[str]) -> str:  # eighth pass: a sentence judged by the next one
        def judged(t: str) -> bool:
            spans = list(sentences.spans(t))
            return any(condemned_after(prepare(t[a:b]), prepare(t[x:y])) for (a, b), (x, y) in zip(spans, spans[1:]))
        n = sum(judged(t) for t in texts)
        return f"{n}/{len(texts)} = {n / max(1, len(texts)):.3f}"
    print(f"counter-speech read in: gab train hateful {share(hateful)}, not hateful {share(plain)}; "
          f"implicit-hate train threatening {share(imp_pos)}, not_hate {share(imp_neg)}")
    print(f"judged in the next sentence: gab train hateful {share_after(hateful)}, not hateful {share_after(plain)}; "
          f"implicit-hate train threatening {share_after(imp_pos)}, not_hate {share_after(imp_neg)}")


def fixtures() -> None:
    """The project's own fixtures (tests/filters/test_threats.py): the threat forms of issue 17 and
    the friendly school lines and counter-speech that must stay out."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.filters import test_threat_norms as n
    from tests.filters import test_threats as t
    for name, texts, want in (("group forms", t.GROUP_FORMS, True), ("school forms", t.SCHOOL_FORMS, True),
                              ("norm and plan forms", n.FORMS, True), ("friendly school lines", t.FRIENDLY, False),
                              ("norm look-alikes", n.FRIENDLY, False), ("counter-speech", t.COUNTER_SPEECH, False)):
        found = sum(threat_cues.find(prepare(x)) is not None for x in texts)
        print(f"fixtures, {name}: {found}/{len(texts)} read as a threat{' (want all)' if want else ' (want none)'}")


if __name__ == "__main__":
    main()
