"""The AMap driving-route client against the local fake: the signature, the parameters, the
route read back, and AMap's refusals."""

from __future__ import annotations

import hashlib

import pytest

from cloud.fakes.amap import FakeAmap, FakeAmapServer
from cloud.trips import corridor as corridors
from cloud.trips.amap import Amap, AmapConfig, AmapError, sign

KEY, PRIVATE = "k-test-0123", "p-secret-4567"


@pytest.fixture()
def fake():  # type: ignore[no-untyped-def]
    f = FakeAmap({KEY: PRIVATE, "unsigned-key": ""})
    with FakeAmapServer(f) as srv:
        yield f, srv.url


def test_signature_is_md5_of_sorted_pairs_and_the_private_key() -> None:
    # AMap's documented example shape: key=value pairs sorted by name, '&'-joined, key appended
    params = {"origin": "116.481028,39.989643", "key": "abc", "destination": "116.434446,39.90816"}
    text = "destination=116.434446,39.90816&key=abc&origin=116.481028,39.989643" + "PRIV"
    assert sign(params, "PRIV") == hashlib.md5(text.encode()).hexdigest()


def test_route_through_the_fake(fake) -> None:  # type: ignore[no-untyped-def]
    f, url = fake
    client = Amap(AmapConfig(KEY, PRIVATE, url))
    r = client.driving((31.2304, 121.4737), (31.30, 121.60))  # Shanghai, GCJ-02
    sent = f.requests[-1]
    assert sent["origin"] == "121.473700,31.230400" and sent["destination"] == "121.600000,31.300000"
    assert sent["sig"] == sign({k: v for k, v in sent.items() if k != "sig"}, PRIVATE)
    assert r.points[0] == (31.2304, 121.4737) and r.points[-1] == (31.3, 121.6)
    assert sum(r.seg_len) == pytest.approx(r.distance_m, abs=1)
    assert sum(r.seg_time) == pytest.approx(r.duration_s, abs=1)
    assert len(r.points) == len(r.seg_len) + 1 and len(r.points) > 5


def test_unsigned_key_needs_no_sig(fake) -> None:  # type: ignore[no-untyped-def]
    f, url = fake
    Amap(AmapConfig("unsigned-key", "", url)).driving((31.2, 121.4), (31.25, 121.45))
    assert "sig" not in f.requests[-1]


@pytest.mark.parametrize(("cfg", "info"), [
    (AmapConfig("nobody", PRIVATE), "INVALID_USER_KEY"),
    (AmapConfig(KEY, "wrong-private"), "INVALID_USER_SIGNATURE"),
    (AmapConfig(KEY, ""), "INVALID_USER_SIGNATURE"),
])
def test_refusals_are_errors_with_amap_s_info(fake, cfg: AmapConfig, info: str) -> None:  # type: ignore[no-untyped-def]
    _, url = fake
    with pytest.raises(AmapError) as e:
        Amap(AmapConfig(cfg.key, cfg.private_key, url)).driving((31.2, 121.4), (31.25, 121.45))
    assert e.value.info == info and not e.value.retryable


def test_quota_is_retryable_and_an_unreachable_host_too(fake) -> None:  # type: ignore[no-untyped-def]
    f, url = fake
    f.fail_next("CUQPS_HAS_EXCEEDED_THE_LIMIT", "10019")
    with pytest.raises(AmapError) as e:
        Amap(AmapConfig(KEY, PRIVATE, url)).driving((31.2, 121.4), (31.25, 121.45))
    assert e.value.infocode == "10019" and e.value.retryable
    with pytest.raises(AmapError) as e2:
        Amap(AmapConfig(KEY, PRIVATE, "http://127.0.0.1:9", timeout_s=0.5)).driving((31.2, 121.4), (31.25, 121.45))
    assert e2.value.retryable


def test_the_fake_checks_coordinates() -> None:
    f = FakeAmap({KEY: ""})
    body = f.handle({"key": KEY, "origin": "121.4737001,31.2304", "destination": "121.6,31.3"})
    assert body == {"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"}


def test_a_provider_route_becomes_a_corridor_with_estimated_detours(fake) -> None:  # type: ignore[no-untyped-def]
    _, url = fake
    r = Amap(AmapConfig(KEY, PRIVATE, url)).driving((31.2304, 121.4737), (31.30, 121.60))
    # a station ~1 km east of the third point of the route's first (north-south) leg, which
    # the fake draws with a point every 7.74 km / 4
    cor = corridors.from_polyline(r.points, r.seg_len, r.seg_time, {"S": (31.2652, 121.4842)}, detour_factor=1.3)
    a = cor.access["S"]
    assert cor.estimated_detours and cor.source == "amap"
    assert a.k_in == 2 and sum(a.in_len) == pytest.approx(1.3 * 999, rel=0.01)
