"""Fixtures of the home, alarms and settlement pages: a console app on a fresh SQLite file,
seeded with tests/reports' data set (stations, drivers, top-ups, settled orders, sessions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.models import Station
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console.support import fake_clock, make_operator
from tests.reports.factories import NOW, Seeded, patch_ledger_clock, seed

# GCJ-02, as an operator enters them (Shenzhen)
COORDS = {"ST000": (22.5431, 114.0579), "ST001": (22.5333, 114.1200)}


@pytest.fixture(scope="package")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Seeded]]:
    """One seeded app for the package's tests (they read it; the pages they change are
    checked in tables the others do not read)."""
    tmp_path = tmp_path_factory.mktemp("console_home")
    mp0 = pytest.MonkeyPatch()
    mp0.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    with app.app_context():
        with pytest.MonkeyPatch.context() as mp, Session(db.engine) as s:
            data = seed(s, patch_ledger_clock(mp))
            for sid, (lat, lng) in COORDS.items():
                s.execute(update(Station).where(Station.sid == sid).values(lat=lat, lng=lng))
            s.commit()
    fake_clock(app).now = NOW
    from argon2 import PasswordHasher

    from cloud.operators import service

    mp0.setattr(service, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    make_operator(app, "root", "admin")
    make_operator(app, "fin", "finance")
    make_operator(app, "own", "owner", stations=("ST000",))
    yield app, data
    mp0.undo()
