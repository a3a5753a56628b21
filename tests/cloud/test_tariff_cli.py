"""`jc-cloud tariff create|assign|list` on the app's CLI."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from cloud.db import db
from cloud.models import Station
from cloud.tariffs import service


def test_create_assign_list(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert runner.invoke(args=["init-db"]).exit_code == 0
    with app.app_context(), db.transaction() as s:
        s.add(Station(sid="S1"))
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                                          "energy_price_e4": 6855, "service_price_e4": 4000}]}))
    r = runner.invoke(args=["tariff", "create", str(f), "--code", "flat", "--name", "平价"])
    assert r.exit_code == 0 and r.output.strip() == "flat-v1", r.output
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2099-01-01T00:00+08:00"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["tariff", "assign", "S1", "flat-v1", "--from", "2099-01-01T00:00"])
    assert r.exit_code != 0 and "offset" in r.output
    assert "flat-v1" in runner.invoke(args=["tariff", "list", "--sid", "S1"]).output
    # a reservation fee in the file: the version's, beside the body
    f.write_text(json.dumps({"periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                                          "energy_price_e4": 6855, "service_price_e4": 4000}],
                             "reservation": {"fee_e4": 20_000, "per_minute_e4": 125}}))
    r = runner.invoke(args=["tariff", "create", str(f), "--code", "rsv"])
    assert r.exit_code == 0 and r.output.strip() == "rsv-v1", r.output
    with app.app_context():
        v = service.get(db.session, "rsv-v1")
        assert v is not None and "reservation" not in v.body
        assert service.reservation_of(v) == {"fee_e4": 20_000, "per_minute_e4": 125}
    f.write_text('{"periods": 1}')
    r = runner.invoke(args=["tariff", "create", str(f), "--code", "flat"])
    assert r.exit_code != 0 and "periods" in r.output
    with app.app_context(), db.transaction() as s:
        assert service.in_force(s, "S1", 4_102_444_800_000).id == "flat-v1"
        # a price change from the command line is in the audit log as one from the console is
        from cloud.audit.models import AuditEntry

        done = [(e.actor, e.action, e.target) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert done == [("cli", "tariff.create", "tariff:flat-v1"), ("cli", "tariff.assign", "station:S1"),
                        ("cli", "tariff.create", "tariff:rsv-v1")]
