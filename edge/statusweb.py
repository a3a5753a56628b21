"""The gateway's local status page and JSON API for installers (default 127.0.0.1:8081).

    GET  /                    the status page (中文 / English)
    GET  /api/status          gun states and limits, load level and %, meter, outbox, sync, alarms
    GET  /api/events?limit=N  recent local events
    POST /api/sessions/start  {"gun": "P1-1", "card": "0A1B2C3D"}   a card from the offline allow-list
    POST /api/sessions/stop   {"gun": "P1-1"}
    POST /api/alarms/KEY/clear  acknowledge an alarm (e.g. store_corrupt after recovery)
    GET  /api/pairing         whether this client may make a pairing code, and its token
    GET  /api/pairing-codes/state?gun=P1-1&expires_at=MS   whether the cloud has that code yet, or refused it
    POST /api/pairing-codes   {"gun": "P1-1", "hours": 24} + header X-JC-Token: a one-time pairing
                              code for the pile's owner (edge/pairing.py), shown once

A card reader at the station posts the card it read to /api/sessions/start; the allow-list
(`set_auth_list`) decides, so local cards work while the cloud is unreachable.

Every POST must be JSON (`Content-Type: application/json`) and, when the browser says where
it comes from (`Origin`), from this page itself: another site's page can make a browser on the
station's network post a form here, but neither with that content type (a cross-origin JSON
POST needs a preflight this server never grants) nor with this page's origin.

A pairing code proves ownership of a gun (docs/sharing.md), so making one is guarded beyond
the rest of the page: the client's address must be in `[status] pairing_from` (the gateway
itself by default), the page must be opened by an IP address or `localhost` (a DNS name could
be rebound to this address by a web site), an `Origin` sent must be this page's own, and the
POST carries the token that `GET /api/pairing` gives only to such a client (a custom header,
which a page of another origin can neither read nor send without the gateway's consent).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
from importlib import resources
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from edge.cache import SessionRow, Store
from edge.config import StatusConfig
from edge.gunstate import StopReason
from edge.pairing import MAX_TTL_MS, MIN_TTL_MS, TTL_MS, MadeCode, code_state
from edge.runtime import GunRuntime
from edge.sessions import StartError
from jcproto import Limit

log = logging.getLogger(__name__)
CARD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class OpenSessions(Protocol):
    def session_on(self, gun: str) -> SessionRow | None: ...


@runtime_checkable
class StatusHost(Protocol):
    """What the status page needs of the station: its picture, its history and allow-list
    (the store), its guns, and starting, stopping and acknowledging alarms."""

    @property
    def store(self) -> Store: ...

    @property
    def guns(self) -> dict[str, GunRuntime]: ...

    @property
    def sessions(self) -> OpenSessions: ...

    def status(self) -> dict[str, Any]: ...

    def now_ms(self) -> int: ...

    async def start_session(self, gun_id: str, *, auth: str, **kw: Any) -> dict[str, Any]: ...

    async def stop_gun(self, gun_id: str, reason: StopReason) -> bool: ...

    def clear_alarm(self, key: str) -> None: ...

    def pairing_code(self, gun_id: str, ttl_ms: int) -> MadeCode: ...


TOKEN_HEADER = "X-JC-Token"
HOUR_MS = 3_600_000


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status,
                        content_type="application/json", charset="utf-8")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": code, "message": message}, status)


class StatusServer:
    def __init__(self, station: StatusHost, listen: str,
                 pairing_from: tuple[str, ...] = StatusConfig.pairing_from) -> None:
        self.station = station
        self.pairing_nets = [ipaddress.ip_network(n, strict=False) for n in pairing_from]
        self.token = secrets.token_urlsafe(32)  # for this run of the gateway only
        host, _, port = listen.rpartition(":")
        # "[::1]:8081" as in a URL, or "::1:8081": the address without brackets for the socket
        self.host, self.port = host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._errors, self._no_cross_site_posts])
        self.app.add_routes([
            web.get("/", self.page),
            web.get("/api/status", self.status),
            web.get("/api/events", self.events),
            web.post("/api/sessions/start", self.start_session),
            web.post("/api/sessions/stop", self.stop_session),
            web.post("/api/alarms/{key}/clear", self.clear_alarm),
            web.get("/api/pairing", self.pairing_info),
            web.post("/api/pairing-codes", self.make_pairing_code),
            web.get("/api/pairing-codes/state", self.pairing_code_state),
        ])

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if request.path.startswith("/api/"):
                return _error(exc.status, "http_error", exc.reason or "error")
            raise
        except Exception:  # noqa: BLE001 — a status request must never take the gateway down
            log.exception("status request %s failed", request.path)
            return _error(500, "internal", "the gateway could not answer; see its log")

    @web.middleware
    async def _no_cross_site_posts(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """An action (start, stop, clear an alarm, a pairing code) only as JSON and never from
        a page of another origin: a form of another site can send text/plain that parses as
        JSON, and a browser sends a cross-origin application/json POST only after a preflight,
        which this server never grants."""
        if request.method == "POST":
            if request.content_type != "application/json":
                return _error(415, "json_required", "send the body as JSON (Content-Type: application/json)")
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{request.host}":
                return _error(403, "cross_origin", f"a request from another page ({origin}) is refused")
        return await handler(request)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # port 0: report the port the OS chose
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("status page on http://%s:%d/", f"[{self.host}]" if ":" in self.host else self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def page(self, request: web.Request) -> web.Response:
        html = resources.files("edge").joinpath("status.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.station.status())

    async def events(self, request: web.Request) -> web.Response:
        try:
            limit = max(1, min(500, int(request.query.get("limit", "50"))))
        except ValueError:
            return _error(400, "invalid", "limit must be a whole number 1..500")
        rows = self.station.store.events.recent(limit)
        return _json([{"id": e.id, "kind": e.kind, "gun": e.gun, "detail": e.detail, "ts": e.ts} for e in rows])

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Bad("the body must be JSON, e.g. {\"gun\": \"P1-1\"}") from None
        if not isinstance(body, dict):
            raise _Bad("the body must be a JSON object")
        gun = body.get("gun")
        if not isinstance(gun, str) or gun not in self.station.guns:
            raise _Bad(f"unknown gun {gun!r}; guns here: {', '.join(sorted(self.station.guns))}", "unknown_gun")
        return body

    async def start_session(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
        except _Bad as exc:
            return _error(400, exc.code, str(exc))
        card = body.get("card")
        if not isinstance(card, str) or not CARD_RE.match(card):
            return _error(400, "invalid", "give the card id that was read (letters, digits, _ and -): "
                                          "{\"gun\": \"P1-1\", \"card\": \"0A1B2C3D\"}")
        limit = None
        if body.get("limit") is not None:
            raw = body["limit"]
            if (not isinstance(raw, dict) or raw.get("mode") not in ("full", "energy", "time", "amount")
                    or not isinstance(raw.get("value", 0), int) or isinstance(raw.get("value"), bool)
                    or raw.get("value", 0) < 0):
                return _error(400, "invalid", "limit must be {\"mode\": \"full\"|\"energy\"|\"time\"|\"amount\", "
                                              "\"value\": whole number (Wh, s or fen)}")
            limit = Limit(mode=raw["mode"], value=int(raw.get("value", 0)))
        extra: dict[str, Any] = {}
        if body.get("departure_at") is not None:
            dep = body["departure_at"]
            if isinstance(dep, bool) or not isinstance(dep, int) or limit is None or limit.mode != "energy" \
                    or limit.value <= 0:
                return _error(400, "invalid", "departure_at (epoch ms) goes with an energy limit: "
                                              "{\"limit\": {\"mode\": \"energy\", \"value\": 20000}, "
                                              "\"departure_at\": 1767312000000}")
            extra["departure_at"] = dep
        if not self.station.store.cards.is_allowed(card, self.station.now_ms()):
            return _error(403, "card_refused", f"card {card} is not on this station's allow-list")
        try:
            detail = await self.station.start_session(body["gun"], auth=f"card:{card.upper()}", limit=limit,
                                                      **extra)
        except StartError as exc:
            return _error(409, exc.code, str(exc))
        return _json({"ok": True, **detail})

    async def stop_session(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
        except _Bad as exc:
            return _error(400, exc.code, str(exc))
        if self.station.sessions.session_on(body["gun"]) is None:
            return _error(409, "no_session", f"{body['gun']} has no session to stop")
        ok = await self.station.stop_gun(body["gun"], StopReason.LOCAL)
        return _json({"ok": ok}, 200 if ok else 502)


    async def clear_alarm(self, request: web.Request) -> web.Response:
        """An installer acknowledges an alarm that needs a person (a store that was found
        corrupt and recovered, say). Alarms load control raises come back while their cause lasts."""
        key = request.match_info["key"]
        alarm = self.station.store.alarms.get(key)
        if alarm is None or not alarm.active:
            return _error(404, "no_alarm", f"no active alarm {key!r}")
        self.station.clear_alarm(key)
        return _json({"ok": True, "key": key})


    # --- pairing codes ---------------------------------------------------------------------
    def _pairing_refusal(self, request: web.Request) -> tuple[str, str] | None:
        """Why this request may not make a pairing code, (code, message); None: it may."""
        if not self.pairing_nets:
            return "off", "pairing codes are off on this gateway ([status] pairing_from = [])"
        ip = _ip(request.remote)
        if ip is None:
            return "address", "the client's address is unknown"
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        if sock and _ip(sock[0]) == ip:  # a client on the gateway's own machine, by any of its addresses
            ip = ipaddress.ip_address("127.0.0.1")
        if not any(ip.version == n.version and ip in n for n in self.pairing_nets):
            return "address", (f"pairing codes are made only from the addresses in [status] pairing_from "
                               f"(not {ip}): run `jc-gateway pairing-code GUN` on the gateway itself")
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        host = host.strip("[]")
        if host != "localhost" and _ip(host) is None:
            return "host", f"open the status page by the gateway's IP address, not by the name {host!r}"
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{request.host}":
            return "origin", f"a request from another page ({origin}) may not make a pairing code"
        return None

    async def pairing_info(self, request: web.Request) -> web.Response:
        why = self._pairing_refusal(request)
        return _json({
            "allowed": why is None,
            "reason": why[0] if why else None,
            "message": why[1] if why else None,
            "token": self.token if why is None else None,
            "guns": sorted(self.station.guns),
            "hours": {"default": TTL_MS // HOUR_MS, "min": MIN_TTL_MS // HOUR_MS, "max": MAX_TTL_MS // HOUR_MS},
        })

    async def pairing_code_state(self, request: web.Request) -> web.Response:
        """Whether the cloud has acknowledged a code's record, found by its gun and expiry
        (shown with the code; neither the code nor its hash is asked for), and whether it
        refused the code (its ack's `refused`), with what the owner should do."""
        gun, raw = request.query.get("gun", ""), request.query.get("expires_at", "")
        if gun not in self.station.guns or not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
            return _error(400, "invalid", "give gun=<a gun of this station>&expires_at=<the code's expiry, ms>")
        return _json(code_state(self.station.store, gun, int(raw)))

    async def make_pairing_code(self, request: web.Request) -> web.Response:
        why = self._pairing_refusal(request)
        if why is not None:
            return _error(403, "pairing_forbidden", why[1])
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return _error(403, "bad_token", f"send the token of GET /api/pairing in the {TOKEN_HEADER} header")
        try:
            body = await self._body(request)
        except _Bad as exc:
            return _error(400, exc.code, str(exc))
        hours = body.get("hours", TTL_MS // HOUR_MS)
        lo, hi = MIN_TTL_MS // HOUR_MS, MAX_TTL_MS // HOUR_MS
        if isinstance(hours, bool) or not isinstance(hours, int) or not lo <= hours <= hi:
            return _error(400, "invalid", f"hours must be a whole number {lo}..{hi}")
        try:
            made = self.station.pairing_code(body["gun"], hours * HOUR_MS)
        except KeyError:
            return _error(400, "unknown_gun", f"unknown gun {body['gun']!r}")
        acked = self.station.store.outbox.acked_seq()
        return _json({
            "code": made.code,
            "gun": made.gun,
            "expires_at": made.expires_at,
            "seq": made.seq,
            "acked_seq": acked,
            "in_cloud": made.seq <= acked,
            "message": (f"valid once the cloud has record {made.seq} (acknowledged so far: {acked}), "
                        "until it expires; a new code for this gun voids this one"),
        }, 201)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address((text or "").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class _Bad(Exception):
    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code
