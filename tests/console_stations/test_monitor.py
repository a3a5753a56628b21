"""cloud/stations/monitor.py and the scoped lists the archive pages use, on SQLite and
PostgreSQL: the owner scope leaves the other owner's rows out of every list and count."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud import provisioning
from cloud.models import ChargingSession, IssuedCert, MeterMinuteRow, StationState, now_ms
from cloud.pki import registry
from cloud.stations import monitor
from cloud.stations.service import set_gun, set_station


def test_scoped_lists_counts_and_figures(engine: Engine) -> None:
    now = now_ms()
    with Session(engine) as s, s.begin():
        for sid in ("A1", "B1"):
            set_station(s, sid, name=f"站 {sid}")
            set_gun(s, sid, "P1-1", rated_power_w=7000)
            set_gun(s, sid, "P1-2", rated_power_w=7000)
            s.add(IssuedCert(serial=f"{sid.lower()}ff", kind="station", subject_cn=sid, fingerprint_sha256="0" * 64,
                             not_before=now, not_after=now + 1, pem="-"))
            provisioning.create_token(s, sid, 60)
            s.add(MeterMinuteRow(sid=sid, seq=1, ts=now - 60_000, p_avg_w=1, p_max_w=1, load_pct_max=55.5,
                                 energy_import_wh=1))
        s.add(StationState(sid="A1", online=True, telemetry={"guns": [{"id": "P1-1", "state": "plugged"},
                                                                     {"id": "P1-2", "state": "faulted"}]}))
        s.add(ChargingSession(session_id="00000000-0000-4000-8000-000000000001", sid="A1", gun="P1-1",
                              status="ended", started_at=now - 3_600_000, ended_at=now - 1_800_000,
                              energy_start_wh=500, energy_stop_wh=4500))
    with Session(engine) as s:
        own = {"A1"}
        page = monitor.list_stations(s, sids=own)
        assert [i["sid"] for i in page.items] == ["A1"] and page.total == 1
        assert page.items[0]["counts"] == {"charging": 0, "idle": 0, "plugged": 1, "faulted": 1, "offline": 0, "total": 2}
        assert monitor.list_stations(s, sids=None).total == 2 and monitor.list_stations(s, sids=set()).total == 0
        assert {g["sid"] for g in monitor.list_guns(s, sids=own).items} == {"A1"}
        assert monitor.list_guns(s, sids=None, per_page=3).total == 4
        assert monitor.station_monitor(s, "B1", sids=own, day_start=0, now=now) is None
        view = monitor.station_monitor(s, "A1", sids=own, day_start=0, now=now)
        assert view is not None and view["today"] == {"sessions": 1, "kwh": 4.0, "hours": 0.5}
        assert monitor.load_curve(s, "B1", sids=own, since=0, until=now) == []
        assert [p["load_pct"] for p in monitor.load_curve(s, "A1", sids=own, since=0, until=now)] == [55.5]
        assert monitor.gun_monitor(s, "B1", "P1-1", sids=own, day_start=0, now=now) is None
        assert monitor.station_archive(s, "B1", sids=own) is None
        assert monitor.guns_for_labels(s, "B1", sids=own) is None
        certs, n = registry.station_certs(s, sids=own)
        assert [c.subject_cn for c in certs] == ["A1"] and n == 1
        tokens, n = provisioning.list_tokens(s, sids=own)
        assert [t.sid for t in tokens] == ["A1"] and n == 1
        assert provisioning.list_tokens(s, sids=None)[1] == 2
