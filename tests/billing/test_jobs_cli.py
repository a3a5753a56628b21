"""`jc-cloud jobs --once` runs every registered job once and says what each did."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cloud import create_app
from cloud.db import db, make_engine
from cloud.jobs.registry import JOBS
from cloud.migrate import upgrade
from tests.billing.support import order, state


def test_jobs_once_closes_a_stale_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CA_DIR": str(tmp_path / "ca")})
    with app.app_context():
        upgrade(db.engine)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        order(s, "old", sent=False, now=1_000)  # created in 1970: long stale
    result = app.test_cli_runner().invoke(args=["jobs", "--once", "--stale-hours", "1"])
    assert result.exit_code == 0, result.output
    said = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert list(said) == [name for name, _job in JOBS]
    assert said["close_stale"] == "1" and said["push_tariffs"] == "0"
    assert state(engine, "old")[0] == "cancelled"
    again = app.test_cli_runner().invoke(args=["jobs", "--once"])
    assert "close_stale: 0" in again.output
    engine.dispose()
