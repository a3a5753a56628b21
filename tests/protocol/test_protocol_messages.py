"""Messages round-trip through JSON, and every refusal has the reason the spec names."""

from __future__ import annotations

import json
import uuid

import pytest

from jcproto import (
    COMMAND_TYPES,
    RECORD_TYPES,
    Ack,
    CancelReservation,
    CancelTariff,
    ErrorCode,
    Event,
    GunReleased,
    GunTelemetry,
    IdleFee,
    Limit,
    Lost,
    MeterMinute,
    Orderly,
    ProtocolError,
    Pruned,
    Reply,
    Reserve,
    ResetFault,
    SessionEnded,
    SessionProgress,
    SessionStarted,
    SetAuthList,
    SetConfig,
    SetLoadPolicy,
    SetTariff,
    Start,
    State,
    Stop,
    Tariff,
    TariffPeriod,
    Telemetry,
    Transformer,
    UnknownRecord,
    Up,
    build_command,
    command_from_json,
    parse_record,
)

SID = "S1"
NOW = 1_767_225_600_000
SESSION = str(uuid.uuid4())
TARIFF = Tariff(
    id="t1",
    periods=[
        TariffPeriod(
            start="00:00", end="08:00", name="valley", energy_fen_per_kwh=30, service_fen_per_kwh=40
        ),
        TariffPeriod(
            start="08:00", end="24:00", name="peak", energy_fen_per_kwh=110, service_fen_per_kwh=40
        ),
    ],
)

# Revision 1.1: prices to four decimals, one price in each form, and an idle fee.
TARIFF_E4 = Tariff(
    id="t2",
    periods=[
        TariffPeriod(start="00:00", end="24:00", name="flat", energy_price_e4=6855, service_fen_per_kwh=40),
    ],
    idle=IdleFee(grace_min=15, step_min=30, fen_per_step=200, cap_fen=2000),
)

RECORDS = [
    SessionStarted(seq=1, ts=NOW, session_id=SESSION, gun="P1-1", order_id="o-1", auth="remote",
                   energy_start_wh=1000, limit=Limit(mode="amount", value=5000), power_cap_w=60000),
    SessionProgress(seq=2, ts=NOW + 60_000, session_id=SESSION, energy_wh=1500, power_w=30000,
                    voltage_v=400.5, current_a=75.0, soc=40, cost_fen=75),
    SessionEnded(seq=3, ts=NOW + 120_000, session_id=SESSION, energy_start_wh=1000, energy_stop_wh=2000,
                 started_at=NOW, ended_at=NOW + 120_000, stop_reason="ev_full", cost_fen=150,
                 signature="c2lnbmF0dXJl", gun="P1-1", tariff_id="t-2"),
    Event(seq=4, ts=NOW, kind="load_level", gun=None, detail={"level": "capped", "load_pct": 55.5}),
    MeterMinute(seq=5, ts=NOW, p_avg_w=100000, p_max_w=120000, load_pct_max=61.2, energy_import_wh=10**9),
    Pruned(seq=6, ts=NOW, of="meter_minute"),
    Lost(seq=8, ts=NOW, reason="store_rewound"),
    GunReleased(seq=9, ts=NOW + 3_600_000, session_id=SESSION, gun="P1-1", released_at=NOW + 3_600_000,
                idle_fen=400),
]  # fmt: skip

COMMANDS = [
    Start(
        expires_at=NOW,
        gun="P1-1",
        order_id="o-1",
        limit=Limit(mode="energy", value=20000),
        tariff=TARIFF,
    ),
    Stop(expires_at=NOW, gun="P1-1"),
    Stop(expires_at=NOW, session_id=SESSION),
    Reserve(expires_at=NOW, gun="P1-2", reservation_id="r-1", until=NOW + 900_000),
    CancelReservation(expires_at=NOW, reservation_id="r-1"),
    SetLoadPolicy(expires_at=NOW, rated_kva=630, mode="share"),
    SetTariff(expires_at=NOW, tariff=TARIFF),
    SetTariff(expires_at=NOW, tariff=TARIFF_E4),
    SetTariff(expires_at=NOW, tariff=TARIFF_E4, effective_from=NOW + 3_600_000),
    CancelTariff(expires_at=NOW, effective_from=NOW + 3_600_000, tariff_id="t-2"),
    CancelTariff(expires_at=NOW, effective_from=NOW + 3_600_000),
    SetAuthList(expires_at=NOW, cards=["A1", "B2"]),
    ResetFault(expires_at=NOW, gun="P1-1"),
    SetConfig(expires_at=NOW, values={"poll.period_s": 2, "debug": True}),
]


def test_every_record_and_command_type_is_covered() -> None:
    assert {type(r) for r in RECORDS} == set(RECORD_TYPES.values())
    assert {type(c) for c in COMMANDS} == set(COMMAND_TYPES.values())


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.TYPE)
def test_record_round_trip(record) -> None:
    text = record.to_json()
    assert parse_record(json.loads(text)) == record


def test_up_batch_round_trip() -> None:
    up = Up(records=RECORDS, sid=SID)
    assert Up.from_json(up.to_json()) == up
    assert json.loads(up.to_json())["v"] == 1


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.TYPE)
def test_command_round_trip(command) -> None:
    assert command_from_json(command.to_json()) == command


def test_build_command_from_type_and_fields() -> None:
    cmd = build_command("stop", {"gun": "P1-1"}, expires_at=NOW)
    assert isinstance(cmd, Stop) and cmd.gun == "P1-1" and uuid.UUID(cmd.id)
    with pytest.raises(ProtocolError):
        build_command("stop", {}, expires_at=NOW)  # needs gun or session_id
    with pytest.raises(ProtocolError):
        build_command("launch", {}, expires_at=NOW)


def test_state_telemetry_ack_reply_round_trip() -> None:
    msgs = [
        State(online=True, ts=NOW, fw="1.0.0", cfg_rev=3),
        State(online=False, ts=NOW),
        Telemetry(
            ts=NOW,
            transformer=Transformer(
                load_pct=42.5, s_total_va=267_750, p_total_w=250_000, level="normal"
            ),
            guns=[
                GunTelemetry(
                    id="P1-1",
                    state="charging",
                    power_w=30000,
                    limit_w=60000,
                    energy_wh=123456,
                    session_id=SESSION,
                    soc=55,
                )
            ],
        ),  # fmt: skip
        Telemetry(ts=NOW, transformer=None, guns=[]),
        Ack(seq=0),
        Ack(seq=17),
        Reply.success(str(uuid.uuid4()), {"session_id": SESSION, "power_cap_w": 30000}),
        Reply.failure(str(uuid.uuid4()), ErrorCode.BLOCKED_BY_LOAD),
    ]
    for msg in msgs:
        assert type(msg).from_json(msg.to_json()) == msg


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\xff\xfe", "json"),
        (b"not json", "json"),
        (b"[1,2]", "json"),
        (b'{"online":true,"ts":1}', "version"),  # no v
        (b'{"v":2,"online":true,"ts":1}', "version"),
        (b'{"v":true,"online":true,"ts":1}', "version"),
        (b'{"v":"1","online":true,"ts":1}', "version"),
        (b'{"v":1,"online":"yes","ts":1}', "schema"),
        (b'{"v":1,"online":true,"ts":-5}', "schema"),
        (b'{"v":1,"online":true,"ts":1,"sid":"bad sid"}', "schema"),
    ],
)
def test_state_refusals(payload: bytes, kind: str) -> None:
    with pytest.raises(ProtocolError) as info:
        State.from_json(payload)
    assert info.value.kind == kind


def test_reply_error_must_match_ok() -> None:
    cid = str(uuid.uuid4())
    with pytest.raises(ProtocolError):
        Reply.from_json(
            json.dumps({"v": 1, "id": cid, "ok": True, "error": "busy", "detail": None})
        )
    with pytest.raises(ProtocolError):
        Reply.from_json(json.dumps({"v": 1, "id": cid, "ok": False, "error": None, "detail": None}))
    with pytest.raises(ProtocolError):
        Reply.from_json(
            json.dumps({"v": 1, "id": cid, "ok": False, "error": "oops", "detail": None})
        )


def test_invalid_records_are_refused() -> None:
    bad = [
        {"seq": 0, "type": "pruned", "ts": NOW, "of": "event"},  # seq starts at 1
        {"seq": 1, "type": "pruned", "ts": NOW, "of": "session_ended"},  # money is never pruned
        {"seq": 1, "type": "session_progress", "ts": NOW, "session_id": "x", "energy_wh": 1,
         "power_w": 1, "voltage_v": None, "current_a": None, "soc": None, "cost_fen": 0},
        {"seq": 1, "type": "event", "ts": NOW, "kind": "load_level", "gun": None, "detail": {}},
        {"seq": 1, "type": "meter_minute", "ts": NOW},
    ]  # fmt: skip
    for rec in bad:
        with pytest.raises(ProtocolError):
            parse_record(rec)
    with pytest.raises(ProtocolError):
        Up.from_json(json.dumps({"v": 1, "records": []}))


def test_unknown_record_type_is_kept_not_refused() -> None:
    rec = parse_record({"seq": 9, "type": "tyre_pressure", "ts": NOW, "kpa": 230})
    assert isinstance(rec, UnknownRecord) and rec.body == {"kpa": 230}
    assert rec.to_dict() == {"seq": 9, "type": "tyre_pressure", "ts": NOW, "kpa": 230}


def test_unknown_fields_are_tolerated() -> None:
    # A newer peer may add optional fields (spec: "may add optional fields").
    st = State.from_json(json.dumps({"v": 1, "online": True, "ts": NOW, "uptime_s": 5}))
    assert st.online is True


def test_tariff_periods_take_either_price_form_and_an_idle_fee() -> None:
    from jcproto.tariff import Tariff as PricedTariff

    cmd = SetTariff(expires_at=NOW, tariff=TARIFF_E4)
    raw = json.loads(cmd.to_json())
    assert raw["tariff"]["periods"][0] == {"start": "00:00", "end": "24:00", "name": "flat",
                                           "energy_price_e4": 6855, "service_fen_per_kwh": 40}
    assert raw["tariff"]["idle"] == {"grace_min": 15, "step_min": 30, "fen_per_step": 200, "cap_fen": 2000}
    priced = PricedTariff.from_dict(raw["tariff"])
    assert (priced.periods[0].energy_price_e4, priced.periods[0].service_price_e4) == (6855, 4000)
    assert priced.idle is not None and priced.idle.cap_fen == 2000
    # A period must give each price in one form or the other.
    bad = dict(raw)
    bad["tariff"] = {**raw["tariff"], "periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                                                   "energy_price_e4": 6855}]}
    with pytest.raises(ProtocolError):
        command_from_json(json.dumps(bad))
    bad["tariff"] = {**raw["tariff"], "idle": {"grace_min": 15, "step_min": 0, "fen_per_step": 1, "cap_fen": 1}}
    with pytest.raises(ProtocolError):
        command_from_json(json.dumps(bad))


def test_gun_released_requires_its_fields() -> None:
    good = GunReleased(seq=1, ts=NOW, session_id=SESSION, gun="P1-1", released_at=NOW, idle_fen=0).to_dict()
    assert parse_record(good) == GunReleased(seq=1, ts=NOW, session_id=SESSION, gun="P1-1",
                                             released_at=NOW, idle_fen=0)
    for key in ("session_id", "gun", "released_at", "idle_fen"):
        with pytest.raises(ProtocolError):
            parse_record({k: v for k, v in good.items() if k != key})
    with pytest.raises(ProtocolError):
        parse_record({**good, "idle_fen": -1})


def test_orderly_carries_what_the_car_takes_and_older_records_without_it_still_decode() -> None:
    plan = Orderly(
        departure_at=NOW + 3_600_000,
        energy_wh=7000,
        status="on_track",
        expected_wh=7000,
        finish_at=NOW + 1_800_000,
        power_w=3600,
        acceptance_w=3600,
    )
    rec = SessionProgress(
        seq=2, ts=NOW, session_id=SESSION, energy_wh=1500, power_w=3600, orderly=plan
    )
    wire = json.loads(rec.to_json())
    assert wire["orderly"]["acceptance_w"] == 3600
    assert parse_record(wire) == rec
    # not known yet: written as null
    unknown = SessionProgress(
        seq=3,
        ts=NOW,
        session_id=SESSION,
        energy_wh=1500,
        power_w=0,
        orderly=Orderly(
            departure_at=NOW + 3_600_000, energy_wh=7000, status="on_track", expected_wh=7000
        ),
    )
    assert json.loads(unknown.to_json())["orderly"]["acceptance_w"] is None
    # a record from a gateway before the field: no key at all, decodes to None
    old = {**wire, "orderly": {k: v for k, v in wire["orderly"].items() if k != "acceptance_w"}}
    assert parse_record(old).orderly.acceptance_w is None  # type: ignore[attr-defined]
    ended = {
        "seq": 4,
        "type": "session_ended",
        "ts": NOW,
        "session_id": SESSION,
        "energy_start_wh": 0,
        "energy_stop_wh": 7000,
        "started_at": NOW - 1,
        "ended_at": NOW,
        "stop_reason": "limit",
        "cost_fen": 1,
        "signature": "c2lnbmF0dXJl",
        "orderly": old["orderly"],
    }
    assert parse_record(ended).orderly.acceptance_w is None  # type: ignore[attr-defined]
    for bad in (-1, 1.5, "3600"):
        with pytest.raises(ProtocolError):
            parse_record({**wire, "orderly": {**wire["orderly"], "acceptance_w": bad}})


def test_an_ack_carries_the_records_the_cloud_refused() -> None:
    from jcproto import RefusedRecord

    ack = Ack(seq=9, refused=[RefusedRecord(seq=7, kind="pairing_code", reason="unknown_gun")])
    wire = json.loads(ack.to_json())
    assert wire == {"v": 1, "seq": 9, "refused": [{"seq": 7, "kind": "pairing_code", "reason": "unknown_gun"}]}
    assert Ack.from_json(ack.to_json()) == ack
    assert "refused" not in json.loads(Ack(seq=9).to_json())  # optional: left out when none
    with pytest.raises(ProtocolError):  # the cloud cannot send more than an ack may carry
        Ack(seq=9, refused=[RefusedRecord(seq=1, kind="pairing_code", reason="expired")] * 1001).to_json()


@pytest.mark.parametrize("value", [
    "x", 7, None, True, {"seq": 1, "kind": "pairing_code", "reason": "expired"},
    [{"seq": 1, "kind": "pairing_code", "reason": "expired"}] * 1001,
    [None, 1, "a", [], {}],
    [{"seq": "1", "kind": "pairing_code", "reason": "expired"}, {"seq": True, "kind": "pairing_code", "reason": "x"},
     {"seq": 0, "kind": "pairing_code", "reason": "x"}, {"seq": 2**53 + 1, "kind": "pairing_code", "reason": "x"},
     {"seq": 1, "kind": "Pairing Code", "reason": "x"}, {"seq": 1, "kind": "pairing_code", "reason": "BAD!"},
     {"seq": 1, "kind": "pairing_code", "reason": "x" * 65}, {"seq": 1, "kind": "pairing_code"}],
])
def test_a_malformed_refused_field_costs_only_itself_never_the_ack(value) -> None:
    """An ack is read with its `refused` dropped (or its bad entries): the acknowledgement counts."""
    from jcproto import read_refused

    ack = Ack.from_json(json.dumps({"v": 1, "seq": 12, "refused": value}))
    assert ack.seq == 12 and ack.refused is None
    good, problems = read_refused(value)
    assert good == [] and problems


def test_good_refused_entries_are_kept_beside_bad_ones_and_unknown_keys_ignored() -> None:
    from jcproto import RefusedRecord

    ack = Ack.from_json(json.dumps({"v": 1, "seq": 12, "conflicts": [3], "high": 40, "refused": [
        {"seq": "5"}, {"seq": 5, "kind": "pairing_code", "reason": "expired", "at": 1, "more": {"x": [1]}},
        {"seq": 6, "kind": "some_future_kind", "reason": "whatever_it_is"}]}))
    assert (ack.seq, ack.conflicts, ack.high) == (12, [3], 40)
    assert ack.refused == [RefusedRecord(seq=5, kind="pairing_code", reason="expired"),
                           RefusedRecord(seq=6, kind="some_future_kind", reason="whatever_it_is")]


def test_a_receiver_that_does_not_know_refused_takes_the_ack_as_before() -> None:
    """Revision 1.1: a receiver ignores fields it does not know. The ack schema as it was before
    `refused` (this schema without that property) accepts an ack that carries it, and the old
    fields decode alike."""
    import copy

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from jcproto import RefusedRecord
    from jcproto.schema import schemas

    every = copy.deepcopy(schemas())
    del every["ack"]["properties"]["refused"]
    assert "additionalProperties" not in every["ack"]
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in every.values())
    old = Draft202012Validator({"$ref": every["ack"]["$id"]}, registry=registry)
    wire = json.loads(Ack(seq=9, conflicts=[4], high=20,
                          refused=[RefusedRecord(seq=7, kind="pairing_code", reason="unknown_gun")]).to_json())
    assert old.is_valid(wire)
    assert not old.is_valid({**wire, "seq": "9"})  # the old schema still checks what it knew
