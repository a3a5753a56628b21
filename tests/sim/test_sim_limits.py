"""The watchdog and the power limit a gun obeys, on their own (explicit times, no pile)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.pile.gun import Gun
from firmware_sim.pile.limits import Watchdog, follow_limit, obeyed_limit


def test_watchdog_off_never_expires() -> None:
    wd = Watchdog()
    wd.reset(now=100.0)
    assert not wd.expired(1e9)


def test_watchdog_expires_a_period_after_the_last_feed() -> None:
    wd = Watchdog()
    wd.set_period(5, now=10.0)
    assert not wd.expired(14.99) and wd.expired(15.0)
    wd.beat(42, now=15.5)  # a heartbeat restores it
    assert wd.heartbeat == 42 and not wd.expired(20.0) and wd.expired(20.5)
    wd.set_period(30, now=21.0)  # a new period counts from its own write
    assert not wd.expired(50.9) and wd.expired(51.0)


def test_reset_is_the_power_on_default() -> None:
    wd = Watchdog(period_s=5, fallback_power_w=1000, heartbeat=9, last_feed_real=1.0)
    wd.reset(now=50.0)
    assert wd == Watchdog(period_s=0, fallback_power_w=0, heartbeat=0, last_feed_real=50.0)


def test_obeyed_limit_takes_the_fallback_while_expired_and_clamps() -> None:
    assert obeyed_limit(5000, None, 7000) == 5000
    assert obeyed_limit(9000, None, 7000) == 7000
    assert obeyed_limit(5000, 1000, 7000) == 1000
    assert obeyed_limit(5000, 0, 7000) == 0
    assert obeyed_limit(5000, 99_999, 7000) == 7000


def test_a_new_limit_takes_effect_after_the_delay() -> None:
    gun = Gun(number=1, power_limit_w=7000, limit_active_w=7000, temperature_c=25.0)
    follow_limit(gun, 3000, now=10.0, delay_s=0.5)
    assert gun.limit_active_w == 7000 and gun.pending_limit == (10.5, 3000)
    follow_limit(gun, 3000, now=10.4, delay_s=0.5)  # asking again does not push it back
    assert gun.pending_limit == (10.5, 3000)
    follow_limit(gun, 3000, now=10.5, delay_s=0.5)
    assert gun.limit_active_w == 3000 and gun.pending_limit is None


def test_a_changed_target_restarts_the_delay_and_going_back_cancels_it() -> None:
    gun = Gun(number=1, power_limit_w=7000, limit_active_w=7000, temperature_c=25.0)
    follow_limit(gun, 3000, 10.0, 0.5)
    follow_limit(gun, 2000, 10.3, 0.5)
    assert gun.pending_limit == (10.8, 2000)
    follow_limit(gun, 7000, 10.4, 0.5)
    assert gun.pending_limit is None and gun.limit_active_w == 7000


@given(
    targets=st.lists(st.tuples(st.floats(0.0, 2.0), st.integers(0, 10_000)), min_size=1,
                     max_size=30),
)
def test_the_active_limit_is_always_a_target_held_for_the_delay(
    targets: list[tuple[float, int]],
) -> None:
    gun = Gun(number=1, power_limit_w=5000, limit_active_w=5000, temperature_c=25.0)
    now, since, current = 0.0, 0.0, 5000
    for dt, target in targets:
        now += dt
        if target != current:
            since, current = now, target
        before = gun.limit_active_w
        follow_limit(gun, target, now, 0.5)
        if gun.limit_active_w != before:
            assert gun.limit_active_w == target and now >= since + 0.5
        if now >= since + 0.5:
            assert gun.limit_active_w == target


def test_pile_keeps_the_watchdog_names_it_always_had(ac7) -> None:
    ac7.heartbeat = 12
    ac7.watchdog_s, ac7.fallback_power_w = 5, 1000
    assert ac7.watchdog.heartbeat == 12 and ac7.read("holding", 10, 3) == [5, 0, 1000]
    assert ac7.read("input", 19, 1) == [12]
    ac7.last_feed_real = ac7.clock.real() - 5
    assert ac7.watchdog_expired
