"""Same findings before and after a speed change: `schoolgate scan --manifest` of every corpus message, two checkouts.

    .venv/bin/python bench/findings_diff.py --before /tmp/base --after . [--limit N]
    .venv/bin/python bench/findings_diff.py --before /tmp/base --before-json /tmp/base.json  # the base scanned once

`--before-json` / `--after-json`: a checkout's results are read from the file when it exists
(and written there when it does not), so a series of changes against one base scans it once.
The files must come from the same manifest (the same corpora and `--limit`).

Each checkout's own code scans the same manifest (tests/filters/test_determinism.py's:
every mail file of the corpora, three envelopes in turn) through the shipped chain
without the virus filter (clamd's answers are not what a text change can alter),
with generous deadlines; the JSON lines are compared case by case and every
difference is printed. Exit 1 when any case differs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def site_config(tmp: Path) -> Path:
    from tests.factories import corpus_scan_site, shipped_chain
    chain = [n for n in shipped_chain() if n != "virus"]
    deadlines = "".join(f"[{name}]\ntimeout = 600\n" for name in chain if name != "authentication")
    return corpus_scan_site(tmp / "site.toml", f"""
[filters]
chain = [{", ".join(f'"{n}"' for n in chain)}]

[authentication]
timeout = 600
nameservers = ["127.0.0.1:9"]
{deadlines}""")


def scan(checkout: Path, config: Path, manifest: Path) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "1"}
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "scan", "--config", str(config),
                           "--manifest", str(manifest)], capture_output=True, text=True, cwd=checkout, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: scan failed: {done.stderr[-1500:]}")
    return {(out := json.loads(line))["id"]: out for line in done.stdout.splitlines() if line.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout with the old code")
    parser.add_argument("--after", type=Path, default=ROOT, help="checkout with the new code")
    parser.add_argument("--limit", type=int, help="only the first N corpus messages")
    parser.add_argument("--before-json", type=Path,
                        help="the base's results: read when the file exists, else scanned and written")
    parser.add_argument("--after-json", type=Path, help="the same for the new code")
    args = parser.parse_args()
    from tests.filters.test_determinism import _manifest
    with tempfile.TemporaryDirectory(prefix="findings-diff-") as tmp_name:
        tmp = Path(tmp_name)
        manifest, count = _manifest(tmp)
        if args.limit:
            lines = manifest.read_text(encoding="utf-8").splitlines()[:args.limit]
            manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
            count = len(lines)
        config = site_config(tmp)
        results = []
        for checkout, saved in ((args.before, args.before_json), (args.after, args.after_json)):
            started = time.monotonic()
            if saved and saved.exists():
                results.append(json.loads(saved.read_text(encoding="utf-8")))
                print(f"{checkout}: {len(results[-1])} cases read from {saved}", flush=True)
                continue
            results.append(scan(checkout.resolve(), config, manifest))
            if saved:
                saved.write_text(json.dumps(results[-1]), encoding="utf-8")
            print(f"{checkout}: {len(results[-1])} cases in {time.monotonic() - started:.0f} s", flush=True)
    before, after = results
    differ = [case for case in before if before[case] != after.get(case)]
    for case in differ[:50]:
        print(f"DIFFERS {case}:\n  before {json.dumps(before[case])[:600]}\n  after  {json.dumps(after.get(case))[:600]}")
    held = sum(1 for out in after.values() if out.get("action") != "pass")
    print(f"{count} cases: {len(differ)} differ; {held} not passed (after)")
    return 1 if differ or len(before) != len(after) else 0


if __name__ == "__main__":
    sys.exit(main())
