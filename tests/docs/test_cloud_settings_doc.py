"""docs/cloud.md's settings table names every cloud setting (cloud.config.defaults) and no
other, with the default the code has."""

from __future__ import annotations

import re
from pathlib import Path

from cloud.config import defaults

DOC = Path(__file__).resolve().parents[2] / "docs" / "cloud.md"


def table() -> dict[str, str]:
    section = DOC.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for key in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                rows[key] = cells[1]
    return rows


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(table())
    code = set(defaults("/srv/juchong"))
    assert code - documented == set(), f"settings missing from docs/cloud.md: {sorted(code - documented)}"
    assert documented - code == set(), f"docs/cloud.md documents settings that do not exist: {sorted(documented - code)}"


def test_simple_defaults_match() -> None:
    rows = table()
    for key, value in defaults("/srv/juchong").items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert f"`{value:g}`" in rows[key] or f"`{int(value)}`" in rows[key], (key, value, rows[key])
        elif isinstance(value, str) and value and "/" not in value:
            assert f"`{value}`" in rows[key], (key, value, rows[key])
        elif value == "":
            assert "empty" in rows[key] or "`" in rows[key], (key, rows[key])
