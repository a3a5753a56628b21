"""docs/architecture.md's package table says what each module may import; the code's real
imports (read with `ast`, lazy imports inside functions included) must stay inside it.

The table is read generically, so a row added for a new module is checked as soon as it is
written. Grammar of the "may import" column (as docs/architecture.md explains under the table):
- `stdlib`, the module's own package and `__future__` are always allowed;
- a backticked dotted name (`edge.cache`, `jcproto`) allows that project module and everything
  under it; "all of `edge`" the same for the whole package;
- any other word is a distribution name (`pymodbus`, `pyserial`, `paho-mqtt`) and allows the
  top-level import names that distribution installs;
- "Never imports `X`" forbids X outright; a remark in parentheses is not read.
A file is governed by the most specific row naming it (`jcproto/tariff.py` before `jcproto/`).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("edge", "cloud", "jcproto", "firmware_sim")
# The separation the contract package exists for (docs/architecture.md, under the table).
FORBIDDEN = {
    "jcproto": ("edge", "cloud"),
    "cloud": ("edge",),
    "edge": ("cloud",),
    "firmware_sim": ("edge", "cloud"),
}


# Words of the column that name no distribution.
FILLER = {"stdlib", "only", "and", "or", "nothing", "else", "—", "-"}


@dataclass
class Row:
    paths: list[str]  # as written: "edge/cache/", "edge/config.py"
    text: str  # the "may import" cell
    internal: set[str] = field(default_factory=set)  # dotted project modules allowed
    external: set[str] = field(default_factory=set)  # top-level third-party import names allowed
    never: set[str] = field(default_factory=set)


def table_rows(text: str) -> list[tuple[str, str]]:
    """(module cell, may-import cell) for each row of the table whose header names them."""
    rows, cols = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            cols = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cols is None:
            if "module" in cells and "may import" in cells:
                cols = (cells.index("module"), cells.index("may import"))
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        rows.append((cells[cols[0]], cells[cols[1]]))
    return rows


@functools.cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def import_names(dist: str) -> set[str]:
    wanted = re.sub(r"[-_.]+", "-", dist).lower()
    names = {mod for mod, dists in _installed().items()
             if any(re.sub(r"[-_.]+", "-", d).lower() == wanted for d in dists)}
    if not names:
        raise AssertionError(f"docs/architecture.md names `{dist}`, which is no installed distribution "
                             "(write a distribution name as in setup.cfg, or a backticked module)")
    return names


def parse_row(module_cell: str, may_cell: str) -> Row:
    paths = re.findall(r"`([^`]+)`", module_cell)
    row = Row(paths=paths, text=may_cell)
    for never in re.findall(r"[Nn]ever imports?\s+((?:`[^`]+`(?:,\s*|\s+or\s+|\s+nor\s+)?)+)", may_cell):
        row.never |= set(re.findall(r"`([^`]+)`", never))
    rest = re.sub(r"\*\*.*?\*\*|\([^)]*\)", "", may_cell)  # the never-clause; remarks in ()
    row.internal |= set(re.findall(r"`([^`]+)`", rest))
    rest = re.sub(r"all of", "", re.sub(r"`[^`]+`", "", rest))
    for word in re.split(r"[,;.]\s*|\s+", rest):
        word = word.strip()
        if word and word.lower() not in FILLER:
            row.external |= import_names(word)
    return row


def rows() -> list[Row]:
    found = [parse_row(m, c) for m, c in table_rows(DOC.read_text("utf-8"))]
    assert found, "docs/architecture.md: no table with `module` and `may import` columns"
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    pkg = module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    out.append((node.lineno, name))
                else:
                    out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
            else:
                # `from edge import station` imports edge.station: count each submodule named.
                out.append((node.lineno, node.module or ""))
                out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                        if (ROOT / Path(*f"{node.module}.{a.name}".split("."))).with_suffix(".py").exists()
                        or (ROOT / Path(*f"{node.module}.{a.name}".split("."))).is_dir()]
    return out


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def row_files(row_path: str) -> list[Path]:
    p = ROOT / row_path
    if row_path.endswith("/"):
        return sorted(p.rglob("*.py"))
    return [p] if p.suffix == ".py" else []


def governing_rows(all_rows: list[Row]) -> dict[Path, tuple[str, Row]]:
    """Each file -> (the most specific row path naming it, that row)."""
    best: dict[Path, tuple[str, Row]] = {}
    for row in all_rows:
        for rp in row.paths:
            for f in row_files(rp):
                if f not in best or len(rp) > len(best[f][0]):
                    best[f] = (rp, row)
    return best


def project_files() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py"))


def test_every_row_names_files_that_exist() -> None:
    for row in rows():
        for rp in row.paths:
            assert (ROOT / rp).exists(), f"docs/architecture.md's table names `{rp}`, which does not exist"


def test_every_module_has_a_row() -> None:
    governed = governing_rows(rows())
    missing = [str(f.relative_to(ROOT)) for f in project_files()
               if f not in governed and f.name != "__init__.py"]
    assert not missing, f"docs/architecture.md's table has no row for {missing}"


def _violations() -> list[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for f, (rp, row) in sorted(governing_rows(rows()).items()):
        own = rp.rstrip("/").removesuffix(".py").replace("/", ".")  # a row's own subtree
        for line, name in imports_of(f):
            top = name.split(".")[0]
            where = f"{f.relative_to(ROOT)}:{line} imports {name}"
            if any(under(name, n) for n in row.never):
                bad.append(f"{where}: its row says never ({row.text})")
            elif top in PACKAGES:
                if not under(name, own) and not any(under(name, a) for a in row.internal):
                    bad.append(f"{where}: row `{rp}` allows only {row.text}")
            elif top in stdlib:
                continue
            elif top not in row.external:
                bad.append(f"{where}: row `{rp}` allows only {row.text}")
    return bad


def test_real_imports_stay_inside_the_may_import_column() -> None:
    bad = _violations()
    assert not bad, "imports docs/architecture.md does not allow:\n" + "\n".join(bad)


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_package_separation(pkg: str) -> None:
    bad = []
    for f in sorted((ROOT / pkg).rglob("*.py")):
        for line, name in imports_of(f):
            if name.split(".")[0] in FORBIDDEN[pkg]:
                bad.append(f"{f.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, f"{pkg} must import nothing from {' or '.join(FORBIDDEN[pkg])}:\n" + "\n".join(bad)


def test_the_checker_reads_the_column_strictly() -> None:
    """The parser is no rubber stamp: a stdlib-only row rejects a third-party import, a
    backticked module allows exactly its subtree, and 'Never imports' is read."""
    row = parse_row("`edge/x.py`", "stdlib, `edge.gunstate`, pymodbus. **Never imports `cloud`**")
    assert row.internal == {"edge.gunstate"} and row.never == {"cloud"}
    assert "pymodbus" in row.external
    assert under("edge.gunstate", "edge.gunstate") and not under("edge.gunstates", "edge.gunstate")
    rows_ = table_rows("| module | holds | may import |\n|---|---|---|\n| `a/` | x | stdlib |\n\nafter\n")
    assert rows_ == [("`a/`", "stdlib")]
    with pytest.raises(AssertionError, match="no installed distribution"):
        parse_row("`edge/x.py`", "no-such-dist-xyz")
