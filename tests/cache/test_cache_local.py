"""Minute samples, cards, settings, command replies."""

from __future__ import annotations

import pytest

from edge.cache import Card, MinuteSample, Store

M = 60_000
T0 = 1_767_225_600_000  # a minute boundary


def test_samples_put_range_latest(store: Store) -> None:
    for i in range(5):
        store.samples.put(MinuteSample(T0 + i * M, 1000 + i, 2000 + i, 40.5 + i, 10_000 + i))
    store.samples.put(MinuteSample(T0 + 2 * M, 1, 2, 3.0, 4))  # replaces that minute
    got = store.samples.range(T0 + M, T0 + 4 * M)
    assert [s.minute_ts for s in got] == [T0 + M, T0 + 2 * M, T0 + 3 * M]
    assert got[1] == MinuteSample(T0 + 2 * M, 1, 2, 3.0, 4)
    assert [s.minute_ts for s in store.samples.latest(2)] == [T0 + 3 * M, T0 + 4 * M]
    assert store.samples.count() == 5


def test_samples_are_bounded(db_path, clock) -> None:
    with Store.open(db_path, clock=clock, max_samples=3) as s:
        for i in range(10):
            s.samples.put(MinuteSample(T0 + i * M, 1, 1, 1.0, i))
        assert [x.minute_ts for x in s.samples.latest(100)] == [T0 + 7 * M, T0 + 8 * M, T0 + 9 * M]


@pytest.mark.parametrize(
    "sample",
    [
        MinuteSample(T0 + 1, 1, 1, 1.0, 1),
        MinuteSample(T0, 1.5, 1, 1.0, 1),  # type: ignore[arg-type]
        MinuteSample(T0, 1, 1, "x", 1),  # type: ignore[arg-type]
        MinuteSample(-M, 1, 1, 1.0, 1),
    ],
)
def test_samples_validate(store: Store, sample) -> None:
    with pytest.raises(ValueError):
        store.samples.put(sample)


def test_auth_list_replaced_atomically(store: Store) -> None:
    assert store.cards.set_auth_list(
        [Card("04a1b2c3", "driver A"), Card("BLOCKED1", valid=False), Card("OLD1", expires_at=T0)],
        rev=3,
    ) == 3
    assert store.cards.is_allowed("04A1B2C3", T0)
    assert store.cards.is_allowed(" 04a1b2c3 ", T0)  # case and blanks do not matter
    assert not store.cards.is_allowed("BLOCKED1", T0)
    assert store.cards.is_allowed("OLD1", T0 - 1)
    assert not store.cards.is_allowed("OLD1", T0)  # expired at T0
    assert not store.cards.is_allowed("UNKNOWN", T0)
    assert not store.cards.is_allowed("", T0)
    assert store.settings.get("auth_list_rev") == 3
    assert store.cards.get("04a1b2c3") == Card("04A1B2C3", "driver A", None, True)

    store.cards.set_auth_list([Card("NEW1")])
    assert [c.card_id for c in store.cards.all()] == ["NEW1"]
    assert not store.cards.is_allowed("04A1B2C3", T0)

    # A bad list changes nothing.
    with pytest.raises(ValueError):
        store.cards.set_auth_list([Card("X1"), Card("x1")])
    with pytest.raises(ValueError):
        store.cards.set_auth_list([Card("X2", expires_at=-1)])
    assert [c.card_id for c in store.cards.all()] == ["NEW1"]
    assert store.cards.set_auth_list([]) == 0
    assert store.cards.all() == []


def test_kv(store: Store) -> None:
    assert store.settings.get("cfg_rev") is None
    assert store.settings.get("cfg_rev", 0) == 0
    store.settings.set("cfg_rev", 12)
    store.settings.set("last_sync", {"ts": T0, "ok": True})
    assert store.settings.get("cfg_rev") == 12
    assert store.settings.get("last_sync") == {"ts": T0, "ok": True}
    store.settings.set("cfg_rev", 13, durable=True)
    assert store.settings.get("cfg_rev") == 13
    assert store.settings.delete("cfg_rev") is True
    assert store.settings.delete("cfg_rev") is False


def test_tariff_and_load_policy(store: Store) -> None:
    tariff = {
        "id": "t1",
        "currency": "CNY",
        "periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                     "energy_fen_per_kwh": 60, "service_fen_per_kwh": 40}],
    }
    assert store.settings.tariff() is None
    store.outbox.append("meter_minute", {}, 1)
    store.settings.set_tariff(tariff)
    assert not store._dirty  # the tariff prices sessions: durable
    assert store.settings.tariff() == tariff
    policy = {"mode": "threshold", "rated_kva": 630, "cap_above_pct": 50, "block_above_pct": 80}
    store.settings.set_load_policy(policy)
    assert store.settings.load_policy() == policy
    with pytest.raises(ValueError):
        store.settings.set_tariff([])  # type: ignore[arg-type]


def test_command_replies(store: Store) -> None:
    reply = {"v": 1, "id": "c1", "ok": True, "error": None, "detail": {"session_id": "s"}}
    assert store.settings.reply_for("c1") is None
    store.settings.remember_reply("c1", reply, until_ms=T0)
    assert not store._dirty  # durable: a repeated command must get the same answer
    assert store.settings.reply_for("c1") == reply
    assert store.settings.reply_for("c1", now_ms=T0) == reply
    assert store.settings.reply_for("c1", now_ms=T0 + 1) is None
    store.settings.remember_reply("c2", reply, until_ms=T0 + 10)
    assert store.settings.expire_replies(T0 + 5) == 1
    assert store.settings.reply_for("c1") is None
    assert store.settings.reply_for("c2") == reply
