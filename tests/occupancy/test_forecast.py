"""The forecast on hand-made histories whose answer is obvious (cloud/occupancy/forecast.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud.occupancy.forecast import (
    WEEK_MS,
    Observed,
    Shape,
    forecast,
    lead_weight,
    network,
    observe,
    share_at_arrival,
    slot_of,
    wait_s,
)

SH = ZoneInfo("Asia/Shanghai")
H = 3_600_000
# Wednesday 2 December 2026, 12:00 in Shanghai: "now" for every history below
NOW = int(datetime(2026, 12, 2, 12, 0, tzinfo=SH).timestamp() * 1000)
NEXT_TUESDAY = datetime(2026, 12, 8, tzinfo=SH)


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def local(days_ago: int, hh: int, mm: int = 0) -> datetime:
    d = datetime(2026, 12, 2, tzinfo=SH) - timedelta(days=days_ago)
    return d.replace(hour=hh, minute=mm)


def weekday_evenings(weeks: int, *, guns: int = 1, skip_recent: int = 0) -> list[tuple[int, int]]:
    """Every gun busy every weekday 18:00-20:00, over the last `weeks` weeks."""
    out = []
    for days_ago in range(1 + 7 * skip_recent, 7 * weeks + 1):
        d = local(days_ago, 18)
        if d.weekday() < 5:
            out += [(ms(d), ms(d) + 2 * H)] * guns
    return out


def test_slot_is_local_time_monday_first() -> None:
    # Monday 00:30 in Shanghai is Sunday 16:30 UTC: slot 0 (Monday, hour 0), not Sunday's
    monday = datetime(2026, 11, 30, 0, 30, tzinfo=SH)
    assert monday.astimezone(ZoneInfo("UTC")).weekday() == 6
    assert slot_of(ms(monday)) == 0
    assert slot_of(ms(monday) - H) == 167  # Sunday 23:30 local
    assert slot_of(ms(NEXT_TUESDAY.replace(hour=19))) == 24 + 19
    assert slot_of(ms(monday), slot_s=1_800) == 1  # half-hour slots: 00:30-01:00
    # no daylight saving in Shanghai: the same local hour 26 weeks on is the same slot
    july = datetime(2026, 7, 6, 19, 0, tzinfo=SH)
    assert slot_of(ms(july)) == 19 and slot_of(ms(july) + 26 * WEEK_MS) == 19


def test_busy_every_weekday_evening_forecasts_busy_at_19_and_free_at_3() -> None:
    obs = observe(weekday_evenings(8), 1, NOW - 30 * WEEK_MS, NOW)
    prof = forecast(obs, network([obs]))
    tuesday_19 = ms(NEXT_TUESDAY.replace(hour=19))
    tuesday_03 = ms(NEXT_TUESDAY.replace(hour=3))
    saturday_19 = ms(datetime(2026, 12, 5, 19, tzinfo=SH))
    assert obs.share[24 + 19] == 1.0 and obs.share[24 + 3] == 0.0
    assert prof.at(tuesday_19) > 0.7
    assert prof.at(tuesday_03) < 0.05
    assert prof.at(saturday_19) < 0.1  # the weekend evenings were free
    assert prof.evidence_at(tuesday_19) == pytest.approx(sum(0.8 ** a for a in range(8)), rel=0.01)
    # with one gun busy at 19:00, a wait of most of a session; at 03:00 next to none
    assert wait_s(prof.at(tuesday_19), 1, 2_400) > 1_600
    assert wait_s(prof.at(tuesday_03), 1, 2_400) < 120


def test_half_of_the_guns_busy_is_half() -> None:
    obs = observe(weekday_evenings(8, guns=1), 2, NOW - 30 * WEEK_MS, NOW)
    assert obs.share[19] == 0.5  # Monday 19:00: one gun of two


def test_little_data_falls_back_towards_the_network() -> None:
    """A station seen for one week only, busy once at Tuesday 19:00, beside a network where
    that hour is quiet: its forecast stays near the network's; eight weeks of the same
    habit make it busy."""
    quiet = [observe([(ms(local(d, 9)), ms(local(d, 10)))], 1, NOW - 30 * WEEK_MS, NOW) for d in range(1, 50, 3)]
    young_sessions = [(ms(local(1, 19)), ms(local(1, 20)))]  # Tuesday 1 December, 19:00
    young = observe(young_sessions, 1, NOW - WEEK_MS, NOW)
    old = observe([(ms(local(1 + 7 * w, 19)), ms(local(1 + 7 * w, 20))) for w in range(8)], 1,
                  NOW - 30 * WEEK_MS, NOW)
    net = network([*quiet, young, old])
    slot = 24 + 19
    assert young.share[slot] == 1.0 and young.weight[slot] == 1.0
    f_young, f_old = forecast(young, net).share[slot], forecast(old, net).share[slot]
    assert f_young < 0.5 < f_old
    # exactly the documented blend: a third own history, two thirds the prior
    prior = (f_young * 3 - 1.0) / 2
    assert 0 <= prior < 0.2
    # a station with no history at all is the network's shape at the network's level
    none = forecast(observe([], 1, NOW - 30 * WEEK_MS, NOW), net)
    assert none.share[slot] < f_young


def test_no_history_anywhere_is_the_typical_share() -> None:
    empty = observe([], 1, NOW, NOW)
    assert empty.total == 0
    prof = forecast(empty, network([empty]))
    assert set(prof.share) == {Shape().typical}
    assert set(prof.evidence) == {0.0}


def test_recent_weeks_weigh_more() -> None:
    """Busy at Tuesday 19:00 in the four latest weeks and free in the four before, or the
    reverse: the recent habit wins."""
    def tuesdays(weeks: range) -> list[tuple[int, int]]:
        return [(ms(local(1 + 7 * w, 19)), ms(local(1 + 7 * w, 20))) for w in weeks]

    recent = observe(tuesdays(range(0, 4)), 1, NOW - 30 * WEEK_MS, NOW)
    older = observe(tuesdays(range(4, 8)), 1, NOW - 30 * WEEK_MS, NOW)
    slot = 24 + 19
    assert recent.share[slot] == pytest.approx(sum(0.8 ** a for a in range(4)) / sum(0.8 ** a for a in range(8)))
    assert recent.share[slot] > 0.6 > 0.4 > older.share[slot]
    net = network([recent, older])
    assert forecast(recent, net).share[slot] > forecast(older, net).share[slot]
    # beyond the window nothing counts
    ancient = observe(tuesdays(range(8, 12)), 1, NOW - 30 * WEEK_MS, NOW)
    assert ancient.share[slot] == 0.0 and ancient.weight[slot] > 0


def test_session_edges_open_ends_and_the_current_hour() -> None:
    # 18:30-19:15 last Monday: half of 18:00 and a quarter of 19:00
    a = ms(local(2, 18, 30))
    obs = observe([(a, a + 45 * 60_000)], 1, NOW - 2 * WEEK_MS, NOW)
    assert obs.weight[18] == pytest.approx(1.8)
    assert obs.share[18] * obs.weight[18] == pytest.approx(0.5)
    assert obs.share[19] * obs.weight[19] == pytest.approx(0.25)
    # still running (no end): busy until now, capped at 12 hours; the hour now is not complete
    running = observe([(NOW - 3 * H - 30 * 60_000, None)], 1, NOW - WEEK_MS, NOW)
    wed = 2 * 24
    assert [round(running.share[wed + h], 2) for h in (8, 9, 10, 11, 12)] == [0.5, 1.0, 1.0, 1.0, 0.0]
    assert running.weight[wed + 12] == 1.0  # last week's 12:00-13:00 only: today's has not ended
    stale = observe([(NOW - 20 * H, None)], 1, NOW - WEEK_MS, NOW)
    assert sum(s * w for s, w in zip(stale.share, stale.weight, strict=True)) == pytest.approx(12.0)
    # observed from `since` only: a station two days old has no weight three days back
    young = observe([], 1, NOW - 2 * 86_400_000, NOW)
    assert young.weight[6 * 24] == 0.0 and young.weight[wed + 9] == 1.0


def test_an_observed_mean() -> None:
    o = Observed((1.0, 0.0), (1.0, 3.0))
    assert o.total == 4.0 and o.mean == 0.25


def test_the_wait_blends_now_into_the_forecast_by_lead_time() -> None:
    assert lead_weight(0, 1_800) == 1.0
    assert lead_weight(1_800, 1_800) == pytest.approx(0.3679, rel=1e-3)
    assert share_at_arrival(1.0, 0.0, 0, 1_800) == 1.0
    assert share_at_arrival(1.0, 0.2, 6 * 3_600, 1_800) == pytest.approx(0.2, abs=1e-4)
    assert wait_s(1.0, 2, 2_400) == 1_200 and wait_s(0.0, 2, 2_400) == 0.0
    assert wait_s(0.5, 0, 2_400) == float("inf")


def test_holidays_and_weekend_workdays_follow_the_day_they_are_kept_like() -> None:
    """China's calendar moves days: National Day (Thursday 1 October 2026) is kept like a
    Sunday, Saturday 10 October 2026 (调休) is a workday. A station busy on workday evenings is
    forecast free on the holiday and busy on that Saturday, and its history was read the same
    way (the Mid-Autumn Friday of 25 September fed Sunday's slots, not Friday's)."""
    from datetime import date

    import holidays

    from cloud.occupancy.forecast import HOLIDAY_AS, WORKDAY_AS, day_weekday

    assert day_weekday(date(2026, 10, 1)) == HOLIDAY_AS == 6
    assert day_weekday(date(2026, 10, 10)) == WORKDAY_AS == 2
    assert day_weekday(date(2026, 2, 14)) == WORKDAY_AS  # the Saturday before the Spring Festival
    assert day_weekday(date(2026, 12, 3)) == 3  # an ordinary Thursday
    cn = holidays.China()
    now = ms(datetime(2026, 9, 30, 12, 0, tzinfo=SH))
    history = []
    for days_ago in range(1, 8 * 7 + 1):
        d = datetime(2026, 9, 30, 18, tzinfo=SH) - timedelta(days=days_ago)
        if cn.is_working_day(d.date()):  # people keep the official calendar
            history.append((ms(d), ms(d) + 2 * H))
    obs = observe(history, 1, now - 30 * WEEK_MS, now)
    prof = forecast(obs, network([obs]))
    assert prof.at(ms(datetime(2026, 10, 15, 19, tzinfo=SH))) > 0.7  # an ordinary Thursday
    assert prof.at(ms(datetime(2026, 10, 1, 19, tzinfo=SH))) < 0.1  # National Day, a Thursday
    assert prof.at(ms(datetime(2026, 10, 10, 19, tzinfo=SH))) > 0.7  # the Saturday made a workday
    assert obs.share[4 * 24 + 19] == 1.0  # Friday evenings: every one busy (25 September is not among them)
