"""A client of AMap's (高德) Web Service driving route API, v3 (`GET /v3/direction/driving`).

Request: `key`, `origin` and `destination` as "lng,lat" (GCJ-02, at most six decimals),
`strategy` (0: fastest, not using live traffic), `extensions=base`, `output=JSON`. With a
private key (安全密钥, "digital signature" switched on for the key), AMap's signature is added:
`sig` = MD5 (lower-case hex) of every other parameter as `name=value`, sorted by name, joined
by `&`, with the private key appended (values as sent, UTF-8, before URL encoding).

Answer: `status` "1" with `route.paths[0]`: `distance` (m), `duration` (s) and `steps`, each
with its own `distance`, `duration` and `polyline` ("lng,lat;lng,lat;…"); or `status` "0"
with `info` (INVALID_USER_KEY, INVALID_USER_SIGNATURE, DAILY_QUERY_OVER_LIMIT, …) and
`infocode`. Each step's length and time are spread over its polyline's pieces in proportion
to their straight length, so the planner sees a point every few hundred metres.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cloud.trips.graph import haversine_m

LatLng = tuple[float, float]
RETRYABLE = frozenset({"10003", "10004", "10014", "10015", "10019", "10020", "10021"})  # quotas, busy


class AmapError(RuntimeError):
    def __init__(self, info: str, infocode: str = "", retryable: bool = False) -> None:
        super().__init__(f"AMap: {info} ({infocode})" if infocode else f"AMap: {info}")
        self.info, self.infocode, self.retryable = info, infocode, retryable


def sign(params: Mapping[str, str], private_key: str) -> str:
    """AMap's `sig`: MD5 of the sorted name=value pairs joined by & with the private key appended."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig") + private_key
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def lnglat(p: LatLng) -> str:
    return f"{round(p[1], 6):.6f},{round(p[0], 6):.6f}"


@dataclass(frozen=True)
class AmapConfig:
    key: str
    private_key: str = ""
    base_url: str = "https://restapi.amap.com"
    timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, cfg: Mapping[str, Any]) -> AmapConfig | None:
        key = str(cfg.get("AMAP_KEY") or "")
        if not key:
            return None
        return cls(key, str(cfg.get("AMAP_PRIVATE_KEY") or ""), str(cfg.get("AMAP_BASE_URL") or cls.base_url),
                   float(cfg.get("AMAP_TIMEOUT_S") or 5.0))


@dataclass(frozen=True)
class Route:
    points: list[LatLng]
    seg_len: list[float]
    seg_time: list[float]
    distance_m: float
    duration_s: float


class Amap:
    def __init__(self, config: AmapConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.http = session or requests.Session()

    def params(self, origin: LatLng, destination: LatLng) -> dict[str, str]:
        p = {"key": self.config.key, "origin": lnglat(origin), "destination": lnglat(destination),
             "strategy": "0", "extensions": "base", "output": "JSON"}
        if self.config.private_key:
            p["sig"] = sign(p, self.config.private_key)
        return p

    def driving(self, origin: LatLng, destination: LatLng) -> Route:
        url = self.config.base_url.rstrip("/") + "/v3/direction/driving"
        try:
            r = self.http.get(url, params=self.params(origin, destination), timeout=self.config.timeout_s)
        except requests.RequestException as exc:
            raise AmapError(f"unreachable: {type(exc).__name__}", retryable=True) from exc
        if r.status_code != 200:
            raise AmapError(f"HTTP {r.status_code}", retryable=r.status_code >= 500)
        try:
            body = r.json()
        except ValueError:
            raise AmapError("not JSON", retryable=True) from None
        if not isinstance(body, dict) or str(body.get("status")) != "1":
            info = str(body.get("info", "unknown")) if isinstance(body, dict) else "unknown"
            code = str(body.get("infocode", "")) if isinstance(body, dict) else ""
            raise AmapError(info, code, code in RETRYABLE)
        return parse_route(body)


def _pair(text: str) -> LatLng:
    lng, lat = text.split(",")
    return float(lat), float(lng)


def parse_route(body: Mapping[str, Any]) -> Route:
    try:
        path = body["route"]["paths"][0]
        steps = path["steps"]
        points: list[LatLng] = []
        seg_len: list[float] = []
        seg_time: list[float] = []
        for step in steps:
            pts = [_pair(x) for x in str(step["polyline"]).split(";") if x]
            dist, dur = float(step["distance"]), float(step["duration"])
            if points and pts and pts[0] == points[-1]:
                pts = pts[1:]
            if not pts:
                continue
            chain = ([points[-1]] if points else []) + pts
            straight = [haversine_m(*a, *b) for a, b in zip(chain, chain[1:], strict=False)]
            total = sum(straight)
            for s in straight:
                share = s / total if total > 0 else 1.0 / len(straight)
                seg_len.append(dist * share)
                seg_time.append(max(dur * share, 0.01))
            points.extend(pts)
        if len(points) < 2:
            raise ValueError("fewer than two points")
        return Route(points, seg_len, seg_time, float(path["distance"]), float(path["duration"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise AmapError(f"unreadable route: {exc}") from exc
