"""Under CI a missing service fails the run (tests/support/services.py); nothing in tests/
skips around that rule, and the rule itself does what it says in a real pytest run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPS = re.compile(r"pytest\.skip\(|importorskip\(|mark\.skip(if)?\b|skipif\(")


def test_no_test_skips_except_through_services() -> None:
    here = Path(__file__).resolve()
    offenders = []
    for f in sorted((ROOT / "tests").rglob("*.py")):
        if f.resolve() in (here, ROOT / "tests" / "support" / "services.py"):
            continue
        for n, line in enumerate(f.read_text("utf-8").splitlines(), 1):
            if SKIPS.search(line):
                offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, ("skip through tests.support.services.missing/require_module, which fail "
                           "under CI=true:\n" + "\n".join(offenders))


def _run(tmp_path: Path, ci: str | None) -> str:
    test = tmp_path / "test_needs_service.py"
    test.write_text(
        "from tests.support.services import missing, require_module\n"
        "def test_service():\n    missing('no such service here')\n"
        "def test_module():\n    require_module('no_such_module_jc', 'not installed')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                          "--rootdir", str(tmp_path), str(test)],
                         cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=60)
    return out.stdout + out.stderr


def test_missing_service_skips_on_a_developer_machine(tmp_path: Path) -> None:
    out = _run(tmp_path, None)
    assert "2 skipped" in out and "failed" not in out, out


def test_missing_service_fails_under_ci(tmp_path: Path) -> None:
    out = _run(tmp_path, "true")
    assert "2 failed" in out and "CI=true: a missing service fails the run" in out, out
    assert "no such service here" in out and "not installed" in out, out
