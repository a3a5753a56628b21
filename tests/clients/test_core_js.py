"""The shared page logic (clients/core) under node's own test runner (`node --test`)."""

from __future__ import annotations

from tests.clients.support import ROOT, run_node


def test_core_unit_tests_pass_under_node() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "clients" / "core" / "test").glob("*.test.js"))
    assert len(files) >= 5
    done = run_node(["--test", *files])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
