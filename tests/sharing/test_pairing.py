"""Pairing codes (cloud/sharing/pairing.py) on a real database: the code as read out is
accepted, it is bound to its gun, a new one voids the older, and on PostgreSQL one code
claimed by several drivers at once registers exactly one pile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.sharing import pairing
from cloud.sharing.models import SharedPile
from cloud.sharing.service import SharingError
from cloud.stations import service as stations
from tests.cloud.support import migrated_engine


def _gun(engine: Engine, sid: str = "H1") -> None:
    with Session(engine) as s, s.begin():
        stations.set_station(s, sid, name=sid)
        stations.set_gun(s, sid, "P1-1", code=f"{sid}-P1-1")
        stations.set_gun(s, sid, "P1-2", code=f"{sid}-P1-2")


def _issue(engine: Engine, gun: str = "P1-1", **kw: object) -> str:
    with Session(engine) as s, s.begin():
        return pairing.issue(s, "H1", gun, issued_by="t", **kw)[0]  # type: ignore[arg-type]


def _register(engine: Engine, driver: str, gun_code: str, code: str) -> int | str:
    try:
        return pairing.register_with_code(
            sessionmaker(engine).begin, driver, gun_code, code, commission_bp=1000
        )
    except SharingError as e:
        return e.code


def test_codes_are_bound_single_and_the_newest_only(engine: Engine) -> None:
    _gun(engine)
    first = _issue(engine)
    assert set(first) <= set(pairing.ALPHABET) and len(first) == pairing.LENGTH
    second = _issue(engine)  # a new code voids the older live one
    assert _register(engine, "1", "H1-P1-1", first) == "pairing_code_invalid"
    assert _register(engine, "1", "H1-P1-2", second) == "pairing_code_invalid"  # another gun's code
    read_out = (
        second.lower().replace("0", "o").replace("1", "l")
    )  # Crockford's look-alikes are read as digits
    assert isinstance(_register(engine, "1", "H1-P1-1", f" {read_out[:5]}-{read_out[5:]} "), int)
    assert _register(engine, "2", "H1-P1-1", second) == "pairing_code_invalid"  # used
    assert (
        pairing.normalize(None) == "" and _register(engine, "2", "NOPE", second) == "gun_not_found"
    )


@pytest.mark.postgres
def test_one_code_claimed_at_once_registers_one_pile(pg_url: str) -> None:
    engine = migrated_engine(pg_url)
    try:
        _gun(engine)
        code = _issue(engine)
        with ThreadPoolExecutor(6) as pool:
            got = list(
                pool.map(lambda i: _register(engine, str(100 + i), "H1-P1-1", code), range(6))
            )
        assert sum(isinstance(g, int) for g in got) == 1
        assert sorted(g for g in got if isinstance(g, str)) == ["pairing_code_invalid"] * 5
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(SharedPile)) == 1
    finally:
        engine.dispose()
