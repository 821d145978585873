"""Mutation testing as a bench: change one thing in a critical module, run the tests that guard it.

Each mutant is one small change to the AST of one function (a flipped comparison, a negated
condition, `and` for `or`, a dropped call such as an fsync or a commit, a dropped `raise`, a
return value replaced by None, True for False). It is written into a COPY of the tree (the
working tree is never touched), the module's tests run there with a time limit, and the mutant
is *killed* when they fail, *survives* when they pass. The score is killed / (killed + survived);
a mutant that makes the tests hang past the limit counts as killed (timeout) and is listed.

    nice -n 19 python bench/mutants.py --max-mutants 60 --budget 1800
    nice -n 19 python bench/mutants.py --module quarantine/store.py --list   # the mutants only

CPU heavy: one test run per mutant. Run it with nice, a mutant cap and a time budget.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> (functions to mutate (empty = all), tests that guard it). The functions are the
# promises: the save path, the exactly-once release, the SMTP reply, the web's auth checks.
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quarantine/store.py": (
        ("_fsync_dir", "_write_bytes", "add_sync", "discard_sync", "claim_for_release_sync",
         "finish_release_sync", "delete_sync", "_refresh_status", "_pragmas", "open_sync"),
        ("tests/quarantine/test_store.py", "tests/gateway/test_durability.py", "tests/quarantine/test_races.py",
         "tests/gateway/test_faults.py::test_full_quarantine_filesystem_gives_4xx_and_leaves_nothing_behind",
         "tests/gateway/test_faults.py::test_next_hop_dying_mid_data_gives_4xx")),
    "quarantine/review.py": (
        ("release_from_store",),
        ("tests/quarantine/test_release_guards.py", "tests/quarantine/test_races.py", "tests/quarantine/test_web.py")),
    "gateway/server.py": (
        ("handle_exception", "handle_RCPT", "handle_DATA", "_data", "connection_made", "is_trusted"),
        ("tests/gateway/test_server.py", "tests/gateway/test_faults.py::test_full_quarantine_filesystem_gives_4xx"
         "_and_leaves_nothing_behind", "tests/gateway/test_faults.py::test_next_hop_dying_mid_data_gives_4xx")),
    "gateway/dispatch.py": (
        ("dispatch", "_deliver", "_is_internal", "findings_header"),
        ("tests/gateway/test_server.py", "tests/gateway/test_faults.py::test_next_hop_dying_mid_data_gives_4xx",
         "tests/quarantine/test_security.py::test_outbound_mail_is_dkim_signed_and_verifies_at_the_sink",
         "tests/gateway/test_dkim_signing.py",
         "tests/quarantine/test_notify.py::test_hold_through_smtp_sends_the_notice")),
    "quarantine/web/app.py": (
        ("secure", "page", "endpoint", "login_post", "logout", "load", "download", "bundle", "_needs_open",
         "act", "link_post", "open_safeguarding"),
        ("tests/quarantine/test_security.py", "tests/quarantine/test_web.py")),
    "quarantine/web/auth.py": (
        (), ("tests/quarantine/test_security.py", "tests/quarantine/test_web.py")),
    "filters/chain.py": ((), ("tests/filters/test_chain.py",)),
    "filters/policy.py": ((), ("tests/filters/test_policy.py", "tests/filters/test_chain.py")),
}
CRITICAL = ("quarantine/store.py", "quarantine/review.py", "gateway/server.py", "gateway/dispatch.py",
            "quarantine/web/app.py", "quarantine/web/auth.py")

FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
        ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
# a dropped call of one of these is a broken promise worth a mutant of its own
DROP_CALLS = {"fsync", "_fsync_dir", "fdatasync", "flush", "commit", "execute", "unlink", "discard",
              "audit", "finish_release_sync", "set_cookie", "delete_cookie", "destroy", "grant_access_sync",
              "_on_hold", "sign", "_refresh_status"}


QUIET_KEYWORDS = {"exist_ok", "parents", "missing_ok", "future", "indent", "follow_redirects", "return_exceptions"}


@dataclass(frozen=True)
class Mutant:
    module: str
    site: int  # the n-th mutation site in the module (stable for an unchanged file)
    line: int
    function: str
    kind: str
    before: str
    after: str


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


class Sites(ast.NodeTransformer):
    """Walks one module; numbers each mutation site in the wanted functions. With `apply`
    set, replaces that one site and records what it did."""

    def __init__(self, functions: tuple[str, ...], apply: int | None = None) -> None:
        self.functions = set(functions)
        self.apply = apply
        self.count = 0
        self.found: list[tuple[int, int, str, str, str, str]] = []  # site, line, fn, kind, before, after
        self._stack: list[str] = []

    def _inside(self) -> bool:
        return bool(self._stack) and (not self.functions or any(f in self.functions for f in self._stack))

    def _site(self, node: ast.AST, kind: str, make) -> ast.AST:
        """`make()` returns the mutated node; only built for the site being applied."""
        site = self.count
        self.count += 1
        if self.apply is None:
            try:
                after = ast.unparse(make())
            except Exception:
                after = "?"
            self.found.append((site, getattr(node, "lineno", 0), self._stack[-1], kind,
                               ast.unparse(node)[:120], after[:120]))
            return node
        if site == self.apply:
            new = make()
            return ast.copy_location(new, node) if isinstance(new, ast.AST) else new
        return node

    def _function(self, node):
        self._stack.append(node.name)
        self.generic_visit(node)
        self._stack.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if not self._inside() or type(node.ops[0]) not in FLIP:
            return node

        def flipped():
            return ast.Compare(node.left, [FLIP[type(node.ops[0])]()] + node.ops[1:], node.comparators)
        return self._site(node, "flip comparison", flipped)

    def visit_BoolOp(self, node: ast.BoolOp):
        self.generic_visit(node)
        if not self._inside():
            return node
        return self._site(node, "and/or swapped",
                          lambda: ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values))

    def visit_UnaryOp(self, node: ast.UnaryOp):
        self.generic_visit(node)
        if not self._inside() or not isinstance(node.op, ast.Not):
            return node
        return self._site(node, "not removed", lambda: node.operand)

    def visit_If(self, node: ast.If):
        self.generic_visit(node)
        if not self._inside():
            return node
        site = self.count
        self.count += 1
        if self.apply is None:
            self.found.append((site, node.lineno, self._stack[-1], "condition negated",
                               ast.unparse(node.test)[:120], f"not ({ast.unparse(node.test)})"[:120]))
        elif site == self.apply:
            node.test = ast.copy_location(ast.UnaryOp(ast.Not(), node.test), node.test)
        return node

    def visit_Return(self, node: ast.Return):
        self.generic_visit(node)
        if not self._inside() or node.value is None or (isinstance(node.value, ast.Constant)
                                                         and node.value.value is None):
            return node
        return self._site(node, "return None", lambda: ast.Return(ast.Constant(None)))

    def visit_Raise(self, node: ast.Raise):
        self.generic_visit(node)
        if not self._inside():
            return node
        return self._site(node, "raise dropped", lambda: ast.Pass())

    def visit_Expr(self, node: ast.Expr):
        self.generic_visit(node)
        if not self._inside() or _call_name(node.value) not in DROP_CALLS:
            return node
        return self._site(node, f"call dropped ({_call_name(node.value)})", lambda: ast.Pass())

    def visit_keyword(self, node: ast.keyword):
        # mkdir(exist_ok=True), unlink(missing_ok=True) ...: switches whose flip tests nothing we promise
        if node.arg in QUIET_KEYWORDS:
            return node
        self.generic_visit(node)
        return node

    def visit_Constant(self, node: ast.Constant):
        if not self._inside() or not isinstance(node.value, bool):
            return node
        return self._site(node, "True/False swapped", lambda: ast.Constant(not node.value))


def mutants_of(module: str) -> list[Mutant]:
    functions, _ = TARGETS[module]
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    sites = Sites(functions)
    sites.visit(tree)
    return [Mutant(module, s, line, fn, kind, before, after) for s, line, fn, kind, before, after in sites.found]


def mutated_source(mutant: Mutant) -> str:
    functions, _ = TARGETS[mutant.module]
    tree = ast.parse((ROOT / mutant.module).read_text(encoding="utf-8"))
    tree = Sites(functions, apply=mutant.site).visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def copy_tree(dest: Path) -> Path:
    """The project without .git, venvs and caches: mutants are written here only."""
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info",
                                    "dist", "build", "node_modules")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)  # a missing part is not what a mutant run measures
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                               "-o", "addopts=", *tests], cwd=tree, env=env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    # exit 0: all passed (survived); 1: a test failed (killed); anything else: an error (killed)
    return ("survived" if proc.returncode == 0 else "killed"), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(TARGETS),
                        help="mutate these (repeatable); default: the critical ones")
    parser.add_argument("--all", action="store_true", help="every configured module, not only the critical")
    parser.add_argument("--max-mutants", type=int, default=40, help="at most this many, spread over the modules")
    parser.add_argument("--budget", type=float, default=1800, help="stop starting mutants after this many seconds")
    parser.add_argument("--timeout", type=float, default=120,
                        help="least seconds per mutant's test run (else 2.5x the module's baseline)")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    modules = args.module or (sorted(TARGETS) if args.all else list(CRITICAL))

    per_module = {m: mutants_of(m) for m in modules}
    if args.list:
        for module, found in per_module.items():
            print(f"{module}: {len(found)} mutants")
            for m in found:
                print(f"  #{m.site} {m.function}:{m.line} {m.kind}: {m.before!r} -> {m.after!r}")
        return 0
    # a fair sample: round-robin over the modules, each module's mutants shuffled by the seed
    rng = random.Random(args.seed)
    queues = {m: rng.sample(found, len(found)) for m, found in per_module.items()}
    chosen: list[Mutant] = []
    while len(chosen) < args.max_mutants and any(queues.values()):
        for module in modules:
            if queues[module] and len(chosen) < args.max_mutants:
                chosen.append(queues[module].pop())

    started = time.monotonic()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="schoolgate-mutants-") as tmp:
        tree = copy_tree(Path(tmp) / "tree")
        # the tests must pass on the unmutated copy, or nothing is measured; a mutant's run
        # may take 2.5x the baseline (a loaded machine) before it counts as a timeout
        limits: dict[str, float] = {}
        baselines: dict[tuple[str, ...], float] = {}
        for module in modules:
            tests = TARGETS[module][1]
            if tests not in baselines:
                outcome, seconds = run_tests(tree, tests, args.timeout * 4)
                print(f"baseline {module}: {outcome} in {seconds:.0f}s", flush=True)
                if outcome != "survived":
                    print(f"the tests of {module} fail without any mutant: fix them first", file=sys.stderr)
                    return 2
                baselines[tests] = seconds
            limits[module] = max(args.timeout, 2.5 * baselines[tests])
        for n, mutant in enumerate(chosen, 1):
            if time.monotonic() - started > args.budget:
                print(f"time budget of {args.budget:g}s used: {len(chosen) - n + 1} mutants not run", flush=True)
                break
            target = tree / mutant.module
            original = target.read_text(encoding="utf-8")
            try:
                target.write_text(mutated_source(mutant), encoding="utf-8")
                outcome, seconds = run_tests(tree, TARGETS[mutant.module][1], limits[mutant.module])
            finally:
                target.write_text(original, encoding="utf-8")
            results.append({**asdict(mutant), "outcome": outcome, "seconds": round(seconds, 1)})
            print(f"[{n}/{len(chosen)}] {outcome:8} {mutant.module}:{mutant.line} {mutant.function} "
                  f"{mutant.kind}: {mutant.before!r} -> {mutant.after!r} ({seconds:.0f}s)", flush=True)

    print("\nmodule                        killed  survived  timeout  score")
    for module in modules:
        rows = [r for r in results if r["module"] == module]
        killed = sum(r["outcome"] == "killed" for r in rows)
        survived = sum(r["outcome"] == "survived" for r in rows)
        timeout = sum(r["outcome"] == "timeout" for r in rows)
        done = killed + survived + timeout
        score = f"{(killed + timeout) / done:.0%}" if done else "-"
        print(f"{module:30}{killed:6}{survived:10}{timeout:9}  {score}")
    total = len(results)
    caught = sum(r["outcome"] != "survived" for r in results)
    print(f"total: {caught}/{total} killed ({caught / total:.0%})" if total else "total: nothing run")
    survivors = [r for r in results if r["outcome"] == "survived"]
    if survivors:
        print("\nsurvivors:")
        for r in survivors:
            print(f"  {r['module']}:{r['line']} {r['function']} {r['kind']}: {r['before']!r} -> {r['after']!r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
