"""A tariff assignment never starts in the past (audit finding: the CLI took one): the service
refuses it, so the console and the CLI (and any other caller) do, each
with a clear message; "now" (nothing given, or a moment ago) still works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.models import Station
from cloud.models.base import now_ms
from cloud.tariffs import service
from cloud.tariffs.models import StationTariff
from cloud.tariffs.service import TariffServiceError
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console.support import csrf_of, login, make_operator

FLAT = {"periods": [{"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6855,
                     "service_price_e4": 4000}]}
HOUR = 3_600_000


@pytest.fixture
def s(engine: Engine):
    with Session(engine) as session:
        session.add(Station(sid="S1"))
        session.flush()
        yield session


def test_the_service_refuses_a_past_start_and_keeps_now(s: Session) -> None:
    v = service.create(s, FLAT, code="flat").tariff_id
    now = now_ms()
    with pytest.raises(TariffServiceError) as e:
        service.assign(s, "S1", v, effective_from=now - HOUR)
    assert e.value.code == "in_the_past" and "past" in str(e.value)
    with pytest.raises(TariffServiceError):
        service.assign(s, "S1", v, effective_from=now - service.PAST_GRACE_MS - 1_000, now=now)
    assert s.scalar(select(StationTariff.id)) is None
    # now: nothing given, or a moment ago (a form typed and sent), or in the future
    assert service.assign(s, "S1", v).effective_from >= now
    assert service.assign(s, "S1", v, effective_from=now - 5_000, now=now).effective_from == now - 5_000
    assert service.assign(s, "S1", v, effective_from=now + HOUR).effective_from == now + HOUR
    # seeding a database's history says so explicitly
    assert service.assign(s, "S1", v, effective_from=1_000, backdate=True).effective_from == 1_000


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    with app.app_context(), db.transaction() as s:
        s.add(Station(sid="S1"))
        s.flush()
        service.create(s, FLAT, code="flat")
    return app


def test_the_cli_refuses_a_past_start(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2020-01-01T00:00+08:00"])
    assert r.exit_code != 0 and "in the past" in r.output, r.output
    with app.app_context():
        assert db.session.scalar(select(StationTariff.id)) is None
    # a fresh station's first tariff may say it was in force already (the demo's, seeding)
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2020-01-01T00:00+08:00", "--backdate"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2021-01-01T00:00+08:00", "--backdate"])
    assert r.exit_code != 0 and "has a tariff already" in r.output, r.output
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1"])  # now
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2099-01-01T00:00+08:00"])
    assert r.exit_code == 0, r.output
    assert json.dumps(r.output)  # printed the row


@pytest.mark.parametrize(("lang", "text"), [("en", "in the past"), ("zh-CN", "生效时间已过")])
def test_the_console_says_why_in_both_languages(app: Flask, lang: str, text: str) -> None:
    make_operator(app, "root", "admin")
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    assert login(c, "root").status_code in (302, 303)
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "flat-v1", "effective_from": "2020-01-01T00:00",
                                        "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 400 and text in r.text
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "flat-v1",
                                        "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 303
