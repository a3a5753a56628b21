"""Migration 0036_resfee on SQLite and PostgreSQL: tariff versions stored before it reserve
free (both reservation fee columns 0), a station's rules may then take the fee from the
tariff (the widened CHECK), downgrade turns such rules back into `none` and narrows it again,
and the models' CHECK text is the migration's."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import CheckConstraint, Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.migrate import alembic_config, upgrade
from cloud.reservations.models import ReservationRule
from cloud.stations import service as stations


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _rule(conn, sid: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("INSERT INTO reservation_rules (sid, enabled, max_minutes, fee_mode, fee_fen, refund_on_start, "
                      "refund_on_cancel, keep_on_no_show, no_show_limit, suspend_days, updated_at) "
                      "VALUES (:sid, true, 30, :mode, 0, true, true, true, 0, 0, 1)"), {"sid": sid, "mode": mode})


def test_old_versions_reserve_free_and_the_mode_tariff_comes_and_goes(engine: Engine) -> None:
    _to(engine, "0034_inbox2", down=True)
    with Session(engine) as s, s.begin():  # the stations table is the same before and after
        stations.set_station(s, "S1", name="一")
        stations.set_station(s, "S2", name="二")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tariff_versions (tariff_id, code, version, body, created_at) "
                          "VALUES ('old-v1', 'old', 1, '{}', 1)"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _rule(conn, "S1", "tariff")  # not yet a mode
    upgrade(engine)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT reservation_fee_e4, reservation_per_minute_e4 FROM tariff_versions")).one()
        assert tuple(row) == (0, 0)
        _rule(conn, "S1", "tariff")
        _rule(conn, "S2", "fixed")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE reservation_rules SET fee_mode = 'other' WHERE sid = 'S2'"))
    _to(engine, "0034_inbox2", down=True)
    with engine.begin() as conn:
        modes = dict(conn.execute(text("SELECT sid, fee_mode FROM reservation_rules")).all())
        assert modes == {"S1": "none", "S2": "fixed"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE reservation_rules SET fee_mode = 'tariff' WHERE sid = 'S1'"))
    upgrade(engine)


def test_the_models_fee_mode_check_is_the_migrations(tmp_path: Path) -> None:
    from tests.cloud.support import migrated_engine

    engine = migrated_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    try:
        with engine.connect() as conn:
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'reservation_rules'")).scalar_one()
    finally:
        engine.dispose()
    [check] = [c for c in ReservationRule.__table__.constraints
               if isinstance(c, CheckConstraint) and str(c.sqltext).startswith("fee_mode")]
    assert str(check.sqltext) in sql
