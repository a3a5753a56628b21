"""The shipped JSON Schemas: well-formed Draft 2020-12, documented, and both validator back ends agree."""

from __future__ import annotations

import json
import uuid

import pytest
from jsonschema import Draft202012Validator

from jcproto import schema
from tests.support.services import require_module

jsonschema_rs = require_module("jsonschema_rs", "jsonschema-rs (cloud extra) is not installed: run scripts/setup.sh")

SCHEMAS = schema.schemas()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    s = SCHEMAS[name]
    Draft202012Validator.check_schema(s)
    assert s["$id"] == f"{schema.BASE_URI}{name}.json"
    assert s.get("title") and (name == "defs" or s.get("description"))


def test_docs_name_every_schema() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    text = doc.read_text("utf-8")
    missing = [n for n in SCHEMAS if f"{n}.json" not in text]
    assert not missing, f"docs/protocol.md does not mention {missing}"


SID = str(uuid.uuid4())
SAMPLES = [
    ("up", {"v": 1, "records": [{"seq": 1, "type": "pruned", "ts": 1, "of": "event"}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "pruned", "ts": 1, "of": "session_ended"}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "x_new", "ts": 1}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "event", "ts": 1, "kind": "meter_lost", "gun": None, "detail": {}}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "event", "ts": 1, "kind": "load_level", "gun": "P1-1", "detail": {}}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "gun_released", "ts": 1, "session_id": SID, "gun": "P1-1", "released_at": 1, "idle_fen": 0}]}),
    ("up", {"v": 1, "records": [{"seq": 1, "type": "gun_released", "ts": 1, "session_id": SID, "gun": "P1-1", "released_at": 1}]}),
    ("cmd", {"v": 1, "id": SID, "type": "set_tariff", "expires_at": 1, "tariff": {"id": "t", "currency": "CNY", "periods": [{"start": "00:00", "end": "24:00", "name": "f", "energy_price_e4": 6855, "service_price_e4": 1}]}}),
    ("cmd", {"v": 1, "id": SID, "type": "set_tariff", "expires_at": 1, "tariff": {"id": "t", "currency": "CNY", "periods": [{"start": "00:00", "end": "24:00", "name": "f", "energy_price_e4": 6855}]}}),
    ("up", {"v": 2, "records": []}),
    ("up", {"v": 1, "records": "x"}),
    ("state", {"v": 1, "online": False, "ts": 0, "cfg_rev": "abc"}),
    ("state", {"v": 1.5, "online": False, "ts": 0}),
    ("telemetry", {"v": 1, "ts": 1, "transformer": None, "guns": [{"id": "P1-1", "state": "flying", "power_w": 0, "limit_w": None, "energy_wh": 0, "session_id": None, "soc": None}]}),
    ("cmd", {"v": 1, "id": SID, "type": "stop", "expires_at": 1, "gun": "P1-1"}),
    ("cmd", {"v": 1, "id": SID, "type": "stop", "expires_at": 1}),
    ("cmd", {"v": 1, "id": SID, "type": "set_config", "expires_at": 1, "values": {"Bad Key": 1}}),
    ("reply", {"v": 1, "id": SID, "ok": True, "error": None, "detail": None}),
    ("ack", {"v": 1, "seq": -1}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "payload"), SAMPLES)
def test_python_and_rust_back_ends_agree(name: str, payload: dict) -> None:
    py = schema.checker(name, "python").is_valid(payload)
    rs = schema.checker(name, "rust").is_valid(payload)
    assert py == rs, json.dumps(payload)
