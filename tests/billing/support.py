"""Set-ups of the billing tests: a station with its key and tariff, a driver's order with its
hold, records handed to the real ingest store, balances read back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore
from cloud.ingest.decode import Batch, add_message
from cloud.ingest.store import Store
from cloud.ledger import service as ledger
from cloud.models import Station, StationState, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.pki.registry import record_issued
from cloud.tariffs import service as tariffs
from jcproto import topic
from jcproto.tariff import Tariff

SID = "S1"
GUN = "P1-1"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, 08:00 in Shanghai
PEAK_VALLEY = {
    "periods": [
        {"start": "00:00", "end": "08:00", "name": "valley", "energy_price_e4": 3125, "service_price_e4": 4001},
        {"start": "08:00", "end": "24:00", "name": "peak", "energy_price_e4": 11237, "service_price_e4": 6855},
    ],
}  # fmt: skip
IDLE = {"grace_min": 10, "step_min": 15, "fen_per_step": 100, "cap_fen": 1000}


def station_key(s: Session, sid: str = SID) -> ec.EllipticCurvePrivateKey:
    """A station key and a certificate for it on record (as provisioning leaves them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
            .sign(key, hashes.SHA256()))
    record_issued(s, cert, "station")
    return key


def station(s: Session, sid: str = SID, *, rated_power_w: int | None = 60_000) -> None:
    insert_or_ignore(s, Station.__table__, [{"sid": sid, "created_at": now_ms()}])
    guns = [{"id": GUN, "state": "charging", "rated_power_w": rated_power_w}] if rated_power_w else []
    insert_or_ignore(s, StationState.__table__, [{"sid": sid, "online": True, "claimed_online": True,
                                                 "telemetry": {"guns": guns}, "telemetry_ts": T0}])


def tariff(s: Session, body: dict[str, Any], *, sid: str = SID, code: str = "std",
           effective_from: int = T0 - 86_400_000) -> Tariff:
    v = tariffs.create(s, body, code=code)
    tariffs.assign(s, sid, v.tariff_id, effective_from=effective_from, backdate=True)
    return tariffs.tariff_of(v)


def order(s: Session, order_id: str, *, driver: str = "1", cash: int = 10_000, hold: int = 5_000,
          sid: str = SID, sent: bool = True, now: int | None = None) -> None:
    if cash:
        ledger.top_up(s, driver, cash, key=f"topup:{order_id}")
    orders.create(s, order_id=order_id, driver_id=driver, sid=sid, gun=GUN, limit_mode="amount",
                  limit_value=hold, hold_fen=hold, now=now)
    if sent:
        orders.apply(s, order_id, Event.START_SENT, now=now)


def deliver(engine: Engine, records: list[dict[str, Any]], sid: str = SID, store: Store | None = None) -> None:
    """Records through ingest's decoding and store, as one `up` message."""
    batch = Batch(received_at=now_ms())
    add_message(batch, topic(sid, "up"), json.dumps({"v": 1, "records": records}).encode())
    assert batch.records, batch.dropped
    (store or Store(engine)).write(batch)


def state(engine: Engine, order_id: str) -> tuple[str, str | None]:
    with Session(engine) as s:
        o = orders.get(s, order_id)
        assert o is not None
        return o.state, o.abnormal_reason


def balances(engine: Engine, driver: str = "1") -> ledger.Balances:
    with Session(engine) as s:
        return ledger.balances(s, driver)


def lines(engine: Engine, order_id: str) -> list[tuple[str, str | None, int | None, int]]:
    with Session(engine) as s:
        return [(ln.kind, ln.period, ln.energy_wh, ln.fen) for ln in orders.lines_of(s, order_id)]
