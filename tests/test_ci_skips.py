"""Under CI=true no test may silently run with a real part removed: a skip is a failure there
(tests/conftest.py), an expected failure (xfail) stays one, and a developer's skip stays a skip."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest

def test_needs_swaks():
    pytest.skip("swaks not installed")

@pytest.mark.skipif(True, reason="chromium missing")
def test_needs_chromium():
    pass

@pytest.mark.xfail(reason="a known bug, reported", strict=True)
def test_known_bug():
    assert False

def test_plain():
    assert True
"""
MODULE_SKIP = """
import pytest
pytest.importorskip("no_such_module_schoolgate")

def test_never_collected():
    pass
"""


def run(tmp_path: Path, ci: str | None, source: str) -> str:
    """pytest on one throwaway test file with the project's conftest as a plugin: the output."""
    (tmp_path / "test_file.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                             "-q", "-rA", "--rootdir", str(tmp_path), str(tmp_path / "test_file.py")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_skip_under_ci_is_a_failure(tmp_path, ci):
    out = run(tmp_path, ci, SKIPPING)
    assert out.startswith("rc=1"), out
    # a skip in the test is a failure, a skip at setup (skipif) an error; xfail and passes unchanged
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in out, out
    assert "swaks not installed" in out and "chromium missing" in out and "skipped under CI=true" in out
    # a module-level importorskip (collection) fails too
    out = run(tmp_path, ci, MODULE_SKIP)
    assert not out.startswith("rc=0") and "1 error" in out and "no_such_module_schoolgate" in out, out


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_skip_on_a_developer_machine_stays_a_counted_skip(tmp_path, ci):
    out = run(tmp_path, ci, SKIPPING)
    assert out.startswith("rc=0") and "1 passed, 2 skipped, 1 xfailed" in out, out
    out = run(tmp_path, ci, MODULE_SKIP)
    assert out.startswith("rc=5") and "1 skipped" in out, out  # 5: nothing collected, not a failure
