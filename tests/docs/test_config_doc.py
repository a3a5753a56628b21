"""docs/config.md and edge/config.py name the same keys, in the same tables, with the same
defaults; its examples are accepted, its "required" keys are required.

The keys the code accepts are taken from its own `known({...})` sets: recorded while a config
with every table is parsed, and cross-checked with the set literals in the source."""

from __future__ import annotations

import ast
import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

import edge.config as config_module
from edge.config import ConfigError, parse_config

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "config.md"

# The smallest config with every table, each array table once.
MINIMAL: dict[str, Any] = {
    "station": {"id": "ST-0001"},
    "bus": [{"name": "rs485-1", "port": "/dev/ttyUSB0"}],
    "pile": [{"id": "P1", "unit": 2}],
    "meter": {"bus": "rs485-1", "unit": 10},
    "transformer": {"rated_kva": 400},
    "load_policy": {}, "watchdog": {}, "store": {}, "status": {}, "cloud": {},
}
TOP = "(top level)"


def known_sets() -> dict[str, set[str]]:
    """table name → the keys edge/config.py accepts there (from its `known()` calls)."""
    seen: dict[str, set[str]] = {}
    original = config_module._Reader.known

    def spy(self: Any, keys: set[str]) -> None:
        where = self.where or TOP
        table = where if where == TOP else re.match(r"\[\[?(\w+)\]\]?", where).group(1)  # type: ignore[union-attr]
        assert seen.get(table, keys) == keys, f"{table}: two different key sets"
        seen[table] = set(keys)
        original(self, keys)

    config_module._Reader.known = spy  # type: ignore[method-assign]
    try:
        parse_config(copy.deepcopy(MINIMAL), "minimal")
    finally:
        config_module._Reader.known = original  # type: ignore[method-assign]
    return seen


def source_sets() -> list[frozenset[str]]:
    """Every set literal passed to `.known(...)` in edge/config.py."""
    tree = ast.parse(Path(config_module.__file__).read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "known":
            (arg,) = node.args
            assert isinstance(arg, ast.Set), "known() is given a set literal"
            out.append(frozenset(ast.literal_eval(arg)))
    return out


def doc_tables() -> dict[str, list[list[str]]]:
    """table name → the rows (cells) of its key table in docs/config.md."""
    tables: dict[str, list[list[str]]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            m = re.match(r"## `\[\[?(\w+)\]\]?`\s*$", line)
            current = m.group(1) if m else None
            if current:
                tables[current] = []
            continue
        if current and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            tables[current].append(cells)
    return tables


def overview_tables() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Tables", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `\[\[?(\w+)\]\]?` \|", section, re.M)}


def key_of(cells: list[str]) -> str:
    m = re.fullmatch(r"`(\w+)`", cells[0])
    assert m, f"first cell should be a key in backticks: {cells[0]!r}"
    return m.group(1)


def test_the_code_s_known_sets_were_all_seen() -> None:
    seen = known_sets()
    assert sorted(map(frozenset, seen.values()), key=sorted) == sorted(source_sets(), key=sorted)


def test_every_table_is_documented_and_no_other() -> None:
    top = known_sets()[TOP]
    assert set(doc_tables()) == top, "docs/config.md sections vs the tables edge/config.py accepts"
    assert overview_tables() == top, "the table overview in docs/config.md vs the tables edge/config.py accepts"


@pytest.mark.parametrize("table", sorted(set(MINIMAL)))
def test_every_key_is_documented_and_no_other(table: str) -> None:
    documented = [key_of(cells) for cells in doc_tables()[table]]
    assert len(documented) == len(set(documented)), f"[{table}]: a key is listed twice"
    code = known_sets()[table]
    assert set(documented) - code == set(), f"[{table}]: documented but not accepted by edge/config.py"
    assert code - set(documented) == set(), f"[{table}]: accepted by edge/config.py but not documented"


def _section(cfg: Any, table: str) -> Any:
    return {"bus": lambda c: c.buses[0], "pile": lambda c: c.piles[0], "station": lambda c: c.station,
            "meter": lambda c: c.meter, "load_policy": lambda c: c.load_policy, "watchdog": lambda c: c.watchdog,
            "store": lambda c: c.store, "status": lambda c: c.status, "cloud": lambda c: c.cloud,
            "transformer": lambda c: c}[table](cfg)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


@pytest.mark.parametrize("table", sorted(set(MINIMAL)))
def test_documented_defaults_are_the_code_s(table: str) -> None:
    for cells in doc_tables()[table]:
        key, default = key_of(cells), cells[2]
        data = copy.deepcopy(MINIMAL)
        section = data[table][0] if isinstance(data[table], list) else data[table]
        if default == "required":
            section.pop(key, None)
            with pytest.raises(ConfigError) as err:
                parse_config(data, "doc")
            assert f"`{key}`" in str(err.value), f"[{table}] {key} is documented as required"
            continue
        m = re.fullmatch(r"`([^`]+)`", default)
        if not m:
            continue  # a default in words (e.g. "the only [[bus]]"), not a TOML value
        want = tomllib.loads(f"v = {m.group(1)}")["v"]
        if key in section:
            section.pop(key)
        got = getattr(_section(parse_config(data, "doc"), table), key)
        assert _plain(got) == want and type(_plain(got)) in (type(want), float if isinstance(want, int) else type(want)), \
            f"[{table}] {key}: docs/config.md says the default is {want!r}, edge/config.py gives {got!r}"


def doc_example() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    return tomllib.loads(block)


def test_the_complete_example_is_a_valid_config() -> None:
    cfg = parse_config(doc_example(), "docs/config.md")
    assert cfg.meter is not None and cfg.piles


@pytest.mark.parametrize("table", sorted(set(MINIMAL)))
def test_every_example_is_accepted(table: str) -> None:
    for cells in doc_tables()[table]:
        key = key_of(cells)
        m = re.fullmatch(r"`(\w+) = (.+)`", cells[4])
        assert m and m.group(1) == key, f"[{table}] {key}: the example should read `{key} = …`, not {cells[4]!r}"
        value = tomllib.loads(f"v = {m.group(2)}")["v"]
        data = doc_example()
        data.setdefault(table, {})
        section = data[table][0] if isinstance(data[table], list) else data[table]
        section[key] = value
        if key == "host":
            section.pop("port", None)
        try:
            cfg = parse_config(data, "docs/config.md")
        except ConfigError as exc:
            pytest.fail(f"[{table}] the example `{key} = {m.group(2)}` is refused: {exc}")
        attr = getattr(_section(cfg, table), key, None)
        if key != "host" and attr is not None:
            assert _plain(attr) == value, f"[{table}] {key}: example {value!r} read as {attr!r}"
