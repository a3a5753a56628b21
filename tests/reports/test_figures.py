"""The home figures equal what the orders, the ledger and the sessions hold: each checked
against direct SQL over the seeded data, for all stations and for one owner's stations."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.reports.service import charging_by_day, home_figures, station_map
from tests.reports.factories import NOW, SH, Seeded


def ms(*a: int) -> int:
    return int(datetime(*a, tzinfo=SH).timestamp() * 1000)


# NOW is 2026-03-15 10:30 in Shanghai: the windows written out by hand.
WINDOWS = {
    "today": {"cur": (ms(2026, 3, 15), NOW), "mom": (ms(2026, 2, 15), ms(2026, 2, 15, 10, 30)),
              "yoy": (ms(2025, 3, 15), ms(2025, 3, 15, 10, 30))},
    "month": {"cur": (ms(2026, 3, 1), NOW), "mom": (ms(2026, 2, 1), ms(2026, 2, 15, 10, 30)),
              "yoy": (ms(2025, 3, 1), ms(2025, 3, 15, 10, 30))},
    "total": {"cur": (0, NOW), "mom": (0, ms(2026, 2, 15, 10, 30)), "yoy": (0, ms(2025, 3, 15, 10, 30))},
}
SQL = {
    "new_accounts": "SELECT COUNT(*) FROM drivers WHERE created_at >= :a AND created_at < :b",
    "recharge_fen": """SELECT COALESCE(SUM(-e.amount), 0) FROM ledger_transactions t
        JOIN ledger_entries e ON e.txn_id = t.id JOIN ledger_accounts a ON a.id = e.account_id
        WHERE t.kind = 'top_up' AND a.code = 'platform:clearing' AND t.created_at >= :a AND t.created_at < :b""",
    "charging_fen": """SELECT COALESCE(SUM(total_fen), 0) FROM orders WHERE state = 'settled'
        AND settled_at >= :a AND settled_at < :b {scope}""",
    "energy_wh": """SELECT COALESCE(SUM(COALESCE(energy_stop_wh, energy_wh) - energy_start_wh), 0) FROM sessions
        WHERE ended_at >= :a AND ended_at < :b {scope}""",
    "sessions": "SELECT COUNT(*) FROM sessions WHERE ended_at >= :a AND ended_at < :b {scope}",
    "charging_ms": """SELECT COALESCE(SUM(ended_at - started_at), 0) FROM sessions
        WHERE ended_at >= :a AND ended_at < :b {scope}""",
}


def sql(s: Session, metric: str, a: int, b: int, sids: list[str] | None) -> int:
    scope = "" if sids is None else "AND sid IN (" + ", ".join(f"'{x}'" for x in sids) + ")"
    return int(s.execute(text(SQL[metric].format(scope=scope)), {"a": a, "b": b}).scalar_one())


@pytest.mark.parametrize("sids", [None, ["ST001"], ["ST000", "ST002"]])
def test_home_figures_equal_the_database(seeded: tuple[Session, Seeded], sids: list[str] | None) -> None:
    s, data = seeded
    got = home_figures(s, None if sids is None else set(sids), "Asia/Shanghai", now=NOW)["figures"]
    for metric, q in SQL.items():
        if sids is not None and "{scope}" not in q:
            assert got[metric] is None, metric  # no station's figure: an owner never sees it
            continue
        for scope, cmp in WINDOWS.items():
            f = got[metric][scope]
            cur, mom, yoy = (sql(s, metric, *cmp[c], sids) for c in ("cur", "mom", "yoy"))
            assert (f["value"], f["mom"], f["yoy"]) == (cur, mom, yoy), (metric, scope)
            assert f["mom_change"] == (round((cur - mom) / mom, 4) if mom else None)
    if sids is None:  # the seed put something in the windows that matter
        assert got["charging_fen"]["today"]["value"] > 0 and got["charging_fen"]["today"]["mom"] > 0
        assert got["recharge_fen"]["total"]["value"] == sum(a for t, a in data.topups if t < NOW)


def test_settled_revenue_is_what_the_seed_settled(seeded: tuple[Session, Seeded]) -> None:
    s, data = seeded
    f = home_figures(s, None, now=NOW)["figures"]["charging_fen"]["total"]["value"]
    assert f == sum(sum(fees.values()) for _o, _sid, at, fees in data.settled if at < NOW)


def test_this_months_charging_by_day(seeded: tuple[Session, Seeded]) -> None:
    s, data = seeded
    days = charging_by_day(s, {"ST000", "ST001"}, "Asia/Shanghai", now=NOW)
    assert [d["date"] for d in days] == [f"2026-03-{i:02d}" for i in range(1, 16)]
    for d in days:
        day = int(d["date"][-2:])
        a, b = ms(2026, 3, day), min(ms(2026, 3, day) + 86_400_000, NOW)
        for metric in ("sessions", "energy_wh"):
            assert d[metric] == sql(s, metric, a, b, ["ST000", "ST001"]), (d["date"], metric)
        assert d["charging_fen"] == sql(s, "charging_fen", a, b, ["ST000", "ST001"])
    assert sum(d["charging_fen"] for d in days) == home_figures(
        s, {"ST000", "ST001"}, now=NOW)["figures"]["charging_fen"]["month"]["value"]


def test_station_map_by_state(seeded: tuple[Session, Seeded]) -> None:
    s, _ = seeded
    m = station_map(s, None)
    by_sid = {st["sid"]: st for st in m["stations"]}
    assert by_sid["ST000"] == {"sid": "ST000", "name": "电站 ST000", "online": True,
                               "guns": {"idle": 1, "charging": 1}}
    assert by_sid["ST001"]["guns"] == {"idle": 1, "charging": 1, "faulted": 1}
    assert by_sid["ST002"] == {"sid": "ST002", "name": "电站 ST002", "online": False, "guns": {"offline": 4}}
    assert m["totals"] == {"stations": {"online": 2, "offline": 1},
                           "guns": {"charging": 2, "faulted": 1, "idle": 2, "offline": 4}}
    mine = station_map(s, {"ST001"})
    assert [st["sid"] for st in mine["stations"]] == ["ST001"]
    assert mine["totals"]["guns"] == {"charging": 1, "faulted": 1, "idle": 1}
    assert station_map(s, set()) == {"stations": [], "totals": {"stations": {"online": 0, "offline": 0},
                                                                "guns": {}}}
