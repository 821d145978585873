"""Multi-pattern engines for filters/text/matcher.py, measured on the shipped patterns.

    .venv/bin/python bench/text_matcher.py              # RE2 set, Hyperscan (prefilter mode), Python re
    .venv/bin/python bench/text_matcher.py --no-hyperscan

The offensive filter's context patterns (config/lists) over its normalised joined
text of two messages: the bench's 5.6 KB newsletter and a corpus text with hits.
Prints compile time, scan time per text, and which patterns each engine names
(RE2 and Hyperscan as prefilters: a superset, confirmed by `re`). Hyperscan and
google-re2 are imported only if installed (pip install hyperscan google-re2).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def timed(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-hyperscan", action="store_true", help="skip Hyperscan (its compile takes long)")
    parser.add_argument("-n", type=int, default=300, help="scans per measurement")
    args = parser.parse_args()

    from filters.base import FilterContext
    from filters.offensive import OffensiveFilter, Options
    from filters.text.matcher import PatternDatabase, widen
    import throughput

    flt = OffensiveFilter(Options(model=False), FilterContext(settings=None, directory=None))
    patterns = [p.regex for p in flt._patterns]
    newsletter = throughput.WEEKLY
    abusive = ("honestly you are such a loser, nobody likes you and people like you should just shut up. "
               "if you tell anyone i will kill you, you re dead tomorrow. ") * 8
    texts = {"newsletter": newsletter, "abusive": abusive}
    joined = {k: flt._lexicon.joined(flt._lexicon.normalise(v))[0] for k, v in texts.items()}
    print(f"{len(patterns)} patterns; texts: " + ", ".join(f"{k} {len(v):,} chars" for k, v in joined.items()))
    truth = {k: {i for i, p in enumerate(patterns) if p.search(v)} for k, v in joined.items()}

    rows = [("engine", "compile ms", *(f"{k} scan ms" for k in joined), *(f"{k} named" for k in joined))]

    # Python re, each pattern in turn (what the filter did before)
    rows.append(("python re, each pattern", "0",
                 *(f"{timed(lambda t=t: [p.search(t) for p in patterns], args.n):.3f}" for t in joined.values()),
                 *(str(len(truth[k])) for k in joined)))
    alternation = re.compile("|".join(f"(?:{p.pattern})" for p in patterns))
    rows.append(("python re, one alternation", "-",
                 *(f"{timed(lambda t=t: list(alternation.finditer(t)), args.n):.3f}" for t in joined.values()),
                 *("-" for _ in joined)))

    started = time.perf_counter()
    db = PatternDatabase()
    route = db.register("offensive", patterns)
    db.compile()
    compile_ms = (time.perf_counter() - started) * 1000
    named = {k: set(db.candidates(route, db.scan(v))) for k, v in joined.items()}
    assert all(truth[k] <= named[k] for k in joined), "RE2 prefilter missed a pattern"
    rows.append(("RE2 set (filters/text/matcher.py)", f"{compile_ms:.1f}",
                 *(f"{timed(lambda t=t: db.scan(t), args.n):.3f}" for t in joined.values()),
                 *(str(len(named[k])) for k in joined)))

    if not args.no_hyperscan:
        try:
            import hyperscan
        except ImportError:
            print("hyperscan not installed (pip install hyperscan): skipped")
        else:
            for label, extra in (("Hyperscan prefilter, UTF-8 + UCP", hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP),
                                 ("Hyperscan prefilter, bytes", 0)):
                hs = hyperscan.Database()
                flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH | extra
                started = time.perf_counter()
                try:
                    hs.compile(expressions=[p.pattern.encode() for p in patterns], ids=list(range(len(patterns))),
                               flags=[flags] * len(patterns))
                except hyperscan.error as exc:  # type: ignore[attr-defined]
                    rows.append((label, f"failed: {exc}", *("-" for _ in joined), *("-" for _ in joined)))
                    continue
                compile_ms = (time.perf_counter() - started) * 1000
                found: set[int] = set()

                def on(pid, _a, _b, _f, _c):
                    found.add(pid)

                def scan(text: bytes) -> None:
                    found.clear()
                    hs.scan(text, match_event_handler=on)
                counts = []
                for value in joined.values():
                    scan(value.encode())
                    counts.append(str(len(found)))
                rows.append((label, f"{compile_ms:.1f}",
                             *(f"{timed(lambda t=t.encode(): scan(t), args.n):.3f}" for t in joined.values()), *counts))

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    unwidened = sum(1 for p in patterns if widen(p.pattern) == p.pattern)
    print(f"\npatterns with nothing to widen: {unwidened}/{len(patterns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
