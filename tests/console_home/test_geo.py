"""cloud/geo.py: the GCJ-02/WGS-84 conversion against published reference points and as a
round trip."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from cloud.geo import gcj02_to_wgs84, outside_china, to_map, wgs84_to_gcj02


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = math.radians(b[0] - a[0])
    dlng = math.radians(b[1] - a[1]) * math.cos(math.radians(a[0]))
    return 6371000 * math.hypot(dlat, dlng)


def test_reference_point_tiananmen() -> None:
    # WGS-84 (39.9087, 116.3975) is shown by AMap/Tencent near (39.9101, 116.4037): ~550 m apart
    g = wgs84_to_gcj02(39.9087, 116.3975)
    assert abs(g[0] - 39.91010) < 2e-4 and abs(g[1] - 116.40374) < 2e-4
    assert 300 < metres((39.9087, 116.3975), g) < 800


@given(st.floats(min_value=18.0, max_value=53.0), st.floats(min_value=74.0, max_value=134.0))
def test_round_trip_within_a_centimetre(lat: float, lng: float) -> None:
    w = gcj02_to_wgs84(lat, lng)
    assert metres(wgs84_to_gcj02(*w), (lat, lng)) < 0.01


def test_outside_china_is_unchanged() -> None:
    assert outside_china(48.8566, 2.3522)
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522) == gcj02_to_wgs84(48.8566, 2.3522)


def test_to_map_converts_only_for_wgs84_tiles() -> None:
    assert to_map(31.23, 121.47, "gcj02") == (31.23, 121.47)
    assert to_map(31.23, 121.47, "wgs84") != (31.23, 121.47)
