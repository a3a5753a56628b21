"""Pairing codes made at the gateway (edge/pairing.py, the status server's guard): the code
and its record on a real SQLite store, and the status server on a real socket with a station
whose pile answers on a scripted line."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest

from edge.cache import Store
from edge.clock import FakeClock
from edge.config import parse_config
from edge.pairing import MAX_TTL_MS, MIN_TTL_MS, make_code
from edge.station import Station
from edge.statusweb import TOKEN_HEADER, StatusServer
from jcproto import parse_record, schema
from jcproto.pairing import ALPHABET, LENGTH, code_sha256, normalize
from tests.drivers.fakes import FakeLine, arcm300t, reference_pile
from tests.support.ports import free_port

NOW = 1_767_312_000_000


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.db", clock=FakeClock())
    yield s
    if not s.closed:
        s.close()


def test_a_code_is_made_here_and_only_its_hash_goes_to_the_outbox(store, tmp_path):
    made = make_code(store, "P1-1", NOW, ttl_ms=24 * 3_600_000)
    assert len(made.code) == LENGTH and set(made.code) <= set(ALPHABET)
    assert made.expires_at == NOW + 24 * 3_600_000
    [rec] = store.outbox.batch(after_seq=0, limit=10)
    assert rec.seq == made.seq and rec.type == "event" and rec.ts == NOW
    wire = rec.to_wire()
    schema.validate("record", wire)  # what the cloud validates
    assert parse_record(wire).kind == "pairing_code"
    assert rec.body == {"kind": "pairing_code", "gun": "P1-1", "detail": {
        "gun": "P1-1", "code_sha256": hashlib.sha256(made.code.encode()).hexdigest(), "expires_at": made.expires_at}}
    assert made.code not in rec.raw  # the code itself is never written down
    [ev] = store.events.recent(5)
    assert (ev.kind, ev.gun, ev.detail) == ("pairing_code", "P1-1", rec.body["detail"])
    # what the owner types, however spelt, hashes to what was sent
    spelt = "-".join([made.code[:5].lower(), made.code[5:]]).replace("0", "o").replace("1", "l")
    assert code_sha256(normalize(spelt)) == rec.body["detail"]["code_sha256"]
    # it survives a restart of the gateway in the outbox, unsent
    store.close()
    again = Store.open(tmp_path / "s.db", clock=FakeClock())
    try:
        assert [r.body["detail"]["code_sha256"] for r in again.outbox.batch(after_seq=0, limit=10)] == [
            code_sha256(made.code)]
    finally:
        again.close()


def test_two_codes_differ_and_the_life_of_a_code_is_bounded(store):
    a, b = make_code(store, "P1-1", NOW), make_code(store, "P1-1", NOW)
    assert a.code != b.code and b.seq == a.seq + 1
    for ttl in (MIN_TTL_MS - 1, MAX_TTL_MS + 1, 0):
        with pytest.raises(ValueError):
            make_code(store, "P1-1", NOW, ttl_ms=ttl)
    assert store.outbox.last_seq() == b.seq  # nothing written for a refused one


CONFIG: dict[str, Any] = {
    "station": {"id": "ST-PAIR"},
    "bus": [{"name": "line", "host": "127.0.0.1:5020", "retries": 0, "lost_after": 10}],
    "pile": [{"id": "P1", "unit": 1}],
    "meter": {"bus": "line", "unit": 10},
    "transformer": {"rated_kva": 100},
}


async def _served(tmp_path, pairing_from=None, host="127.0.0.1"):
    status: dict[str, Any] = {"listen": f"{host}:{free_port()}"}
    if pairing_from is not None:
        status["pairing_from"] = pairing_from
    cfg = parse_config({**CONFIG, "store": {"path": str(tmp_path / "s.db")}, "status": status}, "pair.toml")
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2)
    line.devices[10] = arcm300t(10, s_va=30_000)
    st = Station(cfg, clock=FakeClock(autoadvance=True), transports={"line": line})
    st.startup()
    await st.pile_service.poll_pile(st.piles["P1"])  # the pile says it has two guns
    server = StatusServer(st, cfg.status.listen, pairing_from=cfg.status.pairing_from)
    await server.start()
    return st, server, f"http://{host}:{server.port}"


async def _call(http, method, url, body=None, headers=None):
    async with http.request(method, url, json=body, headers=headers or {}) as r:
        return r.status, await r.json()


async def test_the_status_server_makes_a_code_for_a_client_on_the_gateway(tmp_path):
    st, server, base = await _served(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            code, info = await _call(http, "GET", base + "/api/pairing")
            assert code == 200 and info["allowed"] is True and info["guns"] == ["P1-1", "P1-2"]
            assert info["hours"] == {"default": 24, "min": 1, "max": 168}
            token = info["token"]
            url = base + "/api/pairing-codes"
            # no token, a wrong one: nothing made
            assert (await _call(http, "POST", url, {"gun": "P1-1"}))[1]["error"] == "bad_token"
            assert (await _call(http, "POST", url, {"gun": "P1-1"}, {TOKEN_HEADER: token[:-1] + "x"}))[0] == 403
            hdr = {TOKEN_HEADER: token}
            assert await _call(http, "POST", url, {"gun": "P9-1"}, hdr) == (400, {
                "error": "unknown_gun", "message": "unknown gun 'P9-1'; guns here: P1-1, P1-2"})
            for hours in (0, 169, "24", True, 1.5):
                status, err = await _call(http, "POST", url, {"gun": "P1-1", "hours": hours}, hdr)
                assert (status, err["error"]) == (400, "invalid"), hours
            assert st.store.outbox.last_seq() == 0 or all(
                r.body.get("kind") != "pairing_code" for r in st.store.outbox.batch(after_seq=0, limit=100))
            status, made = await _call(http, "POST", url, {"gun": "P1-2", "hours": 2}, hdr)
            assert status == 201 and made["gun"] == "P1-2" and len(made["code"]) == LENGTH
            assert made["in_cloud"] is False and made["acked_seq"] == 0
            [rec] = [r for r in st.store.outbox.batch(after_seq=0, limit=100) if r.body.get("kind") == "pairing_code"]
            assert rec.seq == made["seq"]
            assert rec.body["detail"] == {"gun": "P1-2", "code_sha256": code_sha256(made["code"]),
                                          "expires_at": made["expires_at"]}
            assert made["expires_at"] - rec.ts == 2 * 3_600_000
            # the cloud acknowledged it: the next code says the cloud has its predecessor's seq
            st.store.outbox.ack(rec.seq)
            _, again = await _call(http, "POST", url, {"gun": "P1-2"}, hdr)
            assert again["acked_seq"] == rec.seq and again["in_cloud"] is False and again["seq"] > rec.seq
    finally:
        await server.stop()
        st.store.close()


async def test_a_page_of_another_site_or_name_or_network_makes_no_code(tmp_path):
    st, server, base = await _served(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            token = (await _call(http, "GET", base + "/api/pairing"))[1]["token"]
            url = base + "/api/pairing-codes"
            # DNS rebinding: a site's name resolving to this address
            status, info = await _call(http, "GET", base + "/api/pairing", headers={"Host": "evil.example:8081"})
            assert status == 200 and info["allowed"] is False and info["reason"] == "host" and info["token"] is None
            status, err = await _call(http, "POST", url, {"gun": "P1-1"},
                                      {TOKEN_HEADER: token, "Host": "evil.example:8081"})
            assert (status, err["error"]) == (403, "pairing_forbidden")
            # a form of another origin
            status, err = await _call(http, "POST", url, {"gun": "P1-1"},
                                      {TOKEN_HEADER: token, "Origin": "http://evil.example"})
            assert (status, err["error"]) == (403, "cross_origin")  # refused for every action
            # the page's own origin is fine
            status, _ = await _call(http, "POST", url, {"gun": "P1-1"},
                                    {TOKEN_HEADER: token, "Origin": base})
            assert status == 201
        made = [r for r in st.store.outbox.batch(after_seq=0, limit=100) if r.body.get("kind") == "pairing_code"]
        assert len(made) == 1
    finally:
        await server.stop()
        st.store.close()


@pytest.mark.parametrize(("nets", "reason"), [([], "off"), (["10.0.0.0/8"], "address")])
async def test_only_the_configured_networks_make_codes(tmp_path, nets, reason):
    st, server, base = await _served(tmp_path, pairing_from=nets)
    try:
        async with aiohttp.ClientSession() as http:
            status, info = await _call(http, "GET", base + "/api/pairing")
            assert (status, info["allowed"], info["reason"], info["token"]) == (200, False, reason, None)
            status, err = await _call(http, "POST", base + "/api/pairing-codes", {"gun": "P1-1"},
                                      {TOKEN_HEADER: server.token})
            assert (status, err["error"]) == (403, "pairing_forbidden")
    finally:
        await server.stop()
        st.store.close()


def test_the_config_checks_pairing_from():
    from edge.config import ConfigError

    base = {**CONFIG, "store": {"path": "/tmp/none.db"}}
    assert parse_config(base).status.pairing_from == ("127.0.0.0/8", "::1/128")
    assert parse_config({**base, "status": {"pairing_from": ["192.168.1.0/24"]}}).status.pairing_from == (
        "192.168.1.0/24",)
    with pytest.raises(ConfigError) as e:
        parse_config({**base, "status": {"pairing_from": ["192.168.1.300/24"]}}, "x.toml")
    assert "pairing_from" in e.value.errors[0]


@pytest.mark.parametrize(("served_on", "allowed"), [("127.0.0.2", True), ("127.0.0.1", False)])
async def test_a_client_on_the_gateway_by_another_of_its_addresses_counts_as_the_gateway_itself(
        tmp_path, served_on, allowed):
    # The client's address is 127.0.0.2, outside pairing_from. Served on that same address, the
    # client is the gateway's own machine (as one using the gateway's LAN address would be);
    # served on 127.0.0.1, it stands for another machine and is refused.
    st, server, base = await _served(tmp_path, pairing_from=["127.0.0.1/32"], host=served_on)
    try:
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            status, info = await _call(http, "GET", base + "/api/pairing")
            assert status == 200 and info["allowed"] is allowed, info
            status, made = await _call(http, "POST", base + "/api/pairing-codes", {"gun": "P1-1"},
                                       {TOKEN_HEADER: server.token})
            assert status == (201 if allowed else 403), made
            if not allowed:
                assert made["error"] == "pairing_forbidden" and "not 127.0.0.2" in made["message"]
    finally:
        await server.stop()
        st.store.close()


async def test_no_action_is_taken_from_a_form_of_another_site(tmp_path):
    """Start, stop and clear an alarm, like the pairing code: a cross-site form (text/plain or
    form-encoded, whose body can still parse as JSON) and a request whose Origin is another
    page's are refused before anything happens; the page's own JSON posts work."""
    st, server, base = await _served(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            body = '{"gun": "P1-1", "card": "C1"}'
            for path in ("/api/sessions/start", "/api/sessions/stop", "/api/alarms/store_corrupt/clear"):
                for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
                    async with http.post(base + path, data=body, headers={"Content-Type": ctype}) as r:
                        assert (r.status, (await r.json())["error"]) == (415, "json_required"), (path, ctype)
                for origin in ("http://evil.example", "null", base.replace("127.0.0.1", "localhost")):
                    status, err = await _call(http, "POST", base + path, {"gun": "P1-1"}, {"Origin": origin})
                    assert (status, err["error"]) == (403, "cross_origin"), (path, origin)
            # the page's own: the stop is heard (no session on the gun), with or without Origin
            for hdr in ({}, {"Origin": base}):
                status, err = await _call(http, "POST", base + "/api/sessions/stop", {"gun": "P1-1"}, hdr)
                assert (status, err["error"]) == (409, "no_session")
        assert st.sessions.session_on("P1-1") is None
    finally:
        await server.stop()
        st.store.close()


@pytest.mark.parametrize("listen_host", ["[::1]", "::1", "[::]"])
async def test_a_gateway_listening_on_ipv6_loopback_serves_and_makes_codes(tmp_path, listen_host):
    # `listen = "[::1]:8081"` passes the config's check; the server took "[::1]" as a host name
    # and the gateway died at its start (gaierror). "[::]" listens on IPv6 only: asked on ::1
    st, server, _ = await _served(tmp_path, host=listen_host)
    base = f"http://[::1]:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            status, info = await _call(http, "GET", base + "/api/pairing")
            assert status == 200 and info["allowed"] is True, info
            status, made = await _call(http, "POST", base + "/api/pairing-codes", {"gun": "P1-1"},
                                       {TOKEN_HEADER: info["token"], "Origin": base})
            assert status == 201 and made["gun"] == "P1-1", made
    finally:
        await server.stop()
        st.store.close()


@pytest.mark.parametrize(("listen", "url"), [("[::1]:8081", "http://[::1]:8081"), ("::1:8081", "http://[::1]:8081"),
                                             ("[::]:8081", "http://[::1]:8081"), (":::8081", "http://[::1]:8081"),
                                             ("0.0.0.0:8081", "http://127.0.0.1:8081"),
                                             ("127.0.0.1:8081", "http://127.0.0.1:8081")])
def test_the_cli_asks_the_listen_address_as_a_url(tmp_path, listen, url):
    from edge.cli import _status_url

    path = tmp_path / "station.toml"
    path.write_text(
        '[station]\nid = "ST-PAIR"\n[[bus]]\nname = "line"\nhost = "127.0.0.1:5020"\n[[pile]]\nid = "P1"\nunit = 1\n'
        '[meter]\nbus = "line"\nunit = 10\n[transformer]\nrated_kva = 100\n'
        f'[store]\npath = "{tmp_path / "s.db"}"\n[status]\nlisten = "{listen}"\n')
    assert _status_url(str(path), None) == url


async def test_a_code_moved_by_a_seq_conflict_is_not_said_to_be_in_the_cloud(tmp_path):
    """A restored store's code record collides with a record the cloud holds: renumbered past
    the cloud's high seq, the store acknowledges up to that high, beyond the code's first seq.
    The state the page follows (by gun and expiry) still says waiting, with the new seq,
    until the moved record itself is acknowledged."""
    st, server, base = await _served(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            token = (await _call(http, "GET", base + "/api/pairing"))[1]["token"]
            _, made = await _call(http, "POST", base + "/api/pairing-codes", {"gun": "P1-1"}, {TOKEN_HEADER: token})
            state = f"{base}/api/pairing-codes/state?gun=P1-1&expires_at={made['expires_at']}"
            assert (await _call(http, "GET", state))[1] == {"in_cloud": False, "seq": made["seq"],
                                                            "acked_seq": made["acked_seq"], "state": "waiting",
                                                            "refused": None}
            s = made["seq"]
            moved = st.store.outbox.renumber(held=s, conflicts=[s], high=s + 3)
            assert moved is not None and st.store.outbox.acked_seq() >= s  # the old seq is "acked"
            [(_, new_seq)] = [m for m in moved.moves if m[0] == s]
            status, got = await _call(http, "GET", state)
            assert (status, got["in_cloud"], got["seq"]) == (200, False, new_seq)
            # the code's own row moved with its record: a refusal the cloud sends names the new seq
            assert st.store.pairing.find("P1-1", made["expires_at"]).seq == new_seq
            st.store.outbox.ack(new_seq)
            assert (await _call(http, "GET", state))[1]["in_cloud"] is True
            for bad in ("gun=P9-1&expires_at=1", "gun=P1-1&expires_at=x", "gun=P1-1&expires_at=%C2%B2", "gun=P1-1"):
                status, err = await _call(http, "GET", f"{base}/api/pairing-codes/state?{bad}")
                assert (status, err["error"]) == (400, "invalid"), bad
    finally:
        await server.stop()
        st.store.close()
