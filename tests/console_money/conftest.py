"""Fixtures of the console's money pages: a cloud app on a fresh SQLite file, two stations,
a driver with money, settled and abnormal orders at both stations, one operator per role."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask

from cloud.db import db
from cloud.ledger import service as ledger
from cloud.models import Station
from cloud.orders import service as orders
from cloud.orders.machine import Event
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console.support import make_operator

T0 = 1_764_633_600_000  # 2025-12-02 08:00 in Shanghai


def _order(s, oid: str, sid: str, *, lines: list[orders.Line] | None = None, abnormal: bool = False,
           at: int = T0) -> None:
    orders.create(s, order_id=oid, driver_id="d1", sid=sid, gun="1", limit_mode="amount", limit_value=5000,
                  hold_fen=5000, now=at)
    orders.apply(s, oid, Event.START_SENT, now=at)
    orders.apply(s, oid, Event.SESSION_STARTED, session_id=f"sess-{oid}", now=at)
    if abnormal:
        orders.apply(s, oid, Event.TIMEOUT, now=at + 1000)
        return
    orders.apply(s, oid, Event.SESSION_ENDED, now=at + 1000)
    orders.apply(s, oid, Event.BILLED, lines=lines, now=at + 2000)


def seed(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        s.add_all([Station(sid="S1", name="东门站"), Station(sid="S2", name="西门站")])
        s.flush()
        ledger.top_up(s, "d1", 100_000, key="seed-top-up")
        _order(s, "o-s1", "S1", lines=[orders.Line("electricity", 1234, "peak", 2000),
                                       orders.Line("service", 321, "peak", 2000), orders.Line("idle", 100)])
        _order(s, "o-s1b", "S1", lines=[orders.Line("electricity", 1000, "valley", 3000),
                                        orders.Line("service", 200, "valley", 3000)], at=T0 + 86_400_000)
        _order(s, "o-s2", "S2", lines=[orders.Line("electricity", 777, "flat", 1000),
                                       orders.Line("service", 77, "flat", 1000)])
        _order(s, "ab-s1", "S1", abnormal=True)
        _order(s, "ab-s2", "S2", abnormal=True)
    for login, role, st in (("root", "admin", ()), ("ops", "operator", ()), ("fin", "finance", ()),
                            ("own1", "owner", ("S1",))):
        make_operator(app, login, role, st)


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated and seeded once; each test gets its own copy of the file."""
    import os

    from argon2 import PasswordHasher

    from cloud.operators import service

    where = tmp_path_factory.mktemp("money-seed")
    old_hasher, old_env = service.HASHER, os.environ.get("JC_INSTANCE_PATH")
    service.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    os.environ["JC_INSTANCE_PATH"] = str(where / "instance")
    try:
        a = make_app(where)
        seed(a)
        with a.app_context():
            db.engine.dispose()
    finally:
        service.HASHER = old_hasher
        if old_env is None:
            os.environ.pop("JC_INSTANCE_PATH", None)
        else:
            os.environ["JC_INSTANCE_PATH"] = old_env
    return where / "console.sqlite"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded_db: Path) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    shutil.copyfile(seeded_db, tmp_path / "console.sqlite")
    return make_app(tmp_path)
