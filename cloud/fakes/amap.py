"""A fake AMap (高德) Web Service for tests and the demo: `GET /v3/direction/driving`, checked
the way AMap checks it and answered in AMap's shape.

Checks, in order: `key` known (else INVALID_USER_KEY, 10001); the signature when the key has a
private key (`sig` missing or wrong: INVALID_USER_SIGNATURE, 10007), recomputed here on its own
from AMap's published rule; `origin`/`destination` "lng,lat" with at most six decimals and in
range (INVALID_PARAMS, 20000); a trip over 5,000 km (OVER_DIRECTION_RANGE, 20803). A scripted
`fail_next(info, infocode)` answers instead (quota, busy). The route it gives is a real-shaped
one: first along the latitude, then along the longitude (an L through the grid of a city),
with a point every ~2 km, each step driven at 80 km/h. What it was asked is in `requests`.

    fake = FakeAmap({"amap-key": "private-key"})
    with FakeAmapServer(fake) as srv:   # srv.url is AMAP_BASE_URL
        ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request

from cloud.fakes.threaded import ThreadedApp

_COORD = re.compile(r"^(-?\d{1,3}(?:\.\d{1,6})?),(-?\d{1,2}(?:\.\d{1,6})?)$")
SPEED_MS = 80 / 3.6
STEP_M = 2_000.0


def expected_sig(params: Mapping[str, str], private_key: str) -> str:
    """AMap's rule, written here apart from the client: sorted name=value joined by '&', the
    private key appended, MD5 hex."""
    pairs = sorted((k, v) for k, v in params.items() if k != "sig")
    return hashlib.md5(("&".join(f"{k}={v}" for k, v in pairs) + private_key).encode("utf-8")).hexdigest()


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lng1, lat1), (lng2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


class FakeAmap:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(keys)  # key -> private key ("" : signature off for that key)
        self.requests: list[dict[str, str]] = []
        self._fail: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def fail_next(self, info: str, infocode: str, times: int = 1) -> None:
        with self._lock:
            self._fail += [(info, infocode)] * times

    def handle(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(params)
            return self._handle(params)

    @staticmethod
    def _err(info: str, code: str) -> dict[str, Any]:
        return {"status": "0", "info": info, "infocode": code}

    def _handle(self, p: dict[str, str]) -> dict[str, Any]:
        private = self.keys.get(p.get("key", ""))
        if private is None:
            return self._err("INVALID_USER_KEY", "10001")
        if private and not hmac.compare_digest(p.get("sig", ""), expected_sig(p, private)):
            return self._err("INVALID_USER_SIGNATURE", "10007")
        pts = []
        for name in ("origin", "destination"):
            m = _COORD.match(p.get(name, ""))
            if not m or not (-180 <= float(m.group(1)) <= 180 and -90 <= float(m.group(2)) <= 90):
                return self._err("INVALID_PARAMS", "20000")
            pts.append((float(m.group(1)), float(m.group(2))))
        if p.get("output", "JSON").upper() != "JSON" or p.get("strategy", "0") not in {str(i) for i in range(21)}:
            return self._err("INVALID_PARAMS", "20000")
        if self._fail:
            info, code = self._fail.pop(0)
            return self._err(info, code)
        (lng0, lat0), (lng1, lat1) = pts
        corner = (lng0, lat1)
        steps = []
        for a, b, road in ((pts[0], corner, "南北大道"), (corner, pts[1], "东西大道")):
            d = _dist(a, b)
            n = max(1, math.ceil(d / STEP_M))
            line = ";".join(f"{a[0] + (b[0] - a[0]) * i / n:.6f},{a[1] + (b[1] - a[1]) * i / n:.6f}"
                            for i in range(n + 1))
            if d > 0:
                steps.append({"instruction": f"沿{road}行驶{round(d)}米", "road": road, "distance": str(round(d)),
                              "duration": str(round(d / SPEED_MS)), "polyline": line})
        total = sum(int(s["distance"]) for s in steps)
        if total > 5_000_000:
            return self._err("OVER_DIRECTION_RANGE", "20803")
        if not steps:
            steps.append({"instruction": "到达目的地", "road": "", "distance": "0", "duration": "0",
                          "polyline": f"{lng0:.6f},{lat0:.6f};{lng1:.6f},{lat1:.6f}"})
        return {"status": "1", "info": "OK", "infocode": "10000", "count": "1",
                "route": {"origin": p["origin"], "destination": p["destination"],
                          "paths": [{"distance": str(total), "duration": str(sum(int(s["duration"]) for s in steps)),
                                     "strategy": "速度最快", "tolls": "0", "toll_distance": "0", "steps": steps}]}}


def make_app(fake: FakeAmap) -> Flask:
    app = Flask("cloud.fakes.amap")

    @app.get("/v3/direction/driving")
    def driving() -> Response:
        body = fake.handle(dict(request.args.items()))
        # AMap answers 200 with status "0" for its refusals too
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=utf-8")

    return app


class FakeAmapServer(ThreadedApp):
    """The fake on a free port, in a thread: `url` is what AMAP_BASE_URL should be."""

    thread_name = "fake-amap"

    def __init__(self, fake: FakeAmap, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        super().__init__(make_app(fake), host, port)
