"""The live control API: JSON over HTTP on localhost.

A stdlib ThreadingHTTPServer runs in a thread; every request is handed to the asyncio loop
that owns the station (`run_coroutine_threadsafe`), so the model is only ever touched from
that loop. Errors are JSON objects `{"error": "...", "status": N}` with a 4xx status.
Every endpoint is documented in docs/simulator.md; `GET /` lists them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import SimError
from .ev import EVSpec
from .linkfaults import LinkFaults
from .pile import FAULT_BITS
from .station import ACTIVITY_KINDS, Station

log = logging.getLogger("firmware_sim.control")

_TIMEOUT_S = 10.0
_MAX_BODY = 1 << 20

Handler = Callable[[Station, dict[str, str], dict[str, Any], dict[str, str]], Any]


def _keys(body: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    for key in body:
        if key not in allowed:
            raise SimError(400, f"unknown key {key!r}; this endpoint takes: "
                                f"{', '.join(allowed) or 'no body'}")
    for key in required:
        if key not in body:
            raise SimError(400, f"missing key {key!r}")


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise SimError(400, f"{key} must be true or false, got {value!r}")
    return value


def _opt_gun(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimError(400, f"gun must be an integer, got {value!r}")
    return value


# --- endpoints: (station, path params, body, query) -> JSON-able result ----------------------


def _state(st: Station, p: dict, b: dict, q: dict) -> Any:
    return st.snapshot()


def _devices(st: Station, p: dict, b: dict, q: dict) -> Any:
    return st.scenario.devices()


def _pile(st: Station, p: dict, b: dict, q: dict) -> Any:
    unit = int(p["unit"])
    pile = st.pile(unit)
    st.tick()
    return {**pile.snapshot(), "link_cut": unit in st.links_cut, "reachable": st.reachable(unit)}


def _meter(st: Station, p: dict, b: dict, q: dict) -> Any:
    return st.snapshot()["meter"]


def _plug(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("ev", "soc", "local_start"))
    ev = b.get("ev", {})
    if not isinstance(ev, dict):
        raise SimError(400, "ev must be an object of EV fields (battery_kwh, start_soc, ...)")
    soc = b.get("soc")
    if soc is not None and (isinstance(soc, bool) or not isinstance(soc, int | float)
                            or not 0 <= soc <= 100):
        raise SimError(400, f"soc must be a number within 0..100, got {soc!r}")
    local = b.get("local_start", False)
    if not isinstance(local, bool):
        raise SimError(400, "local_start must be true or false")
    st.tick()
    st.plug(int(p["unit"]), int(p["gun"]), ev, local_start=local, soc=soc)
    return _gun(st, p)


def _unplug(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    st.tick()
    st.unplug(int(p["unit"]), int(p["gun"]))
    return _gun(st, p)


def _suspend(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("suspended",), ("suspended",))
    st.tick()
    st.pile(int(p["unit"])).set_ev_suspended(int(p["gun"]), _bool(b, "suspended"))
    return _gun(st, p)


def _button(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    st.tick()
    st.pile(int(p["unit"])).press_stop_button(int(p["gun"]))
    return _gun(st, p)


def _card(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    st.tick()
    result = st.pile(int(p["unit"])).card_start(int(p["gun"]))
    return {"result": result.name.lower(), "code": int(result), "gun": _gun(st, p)}


def _availability(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("available",), ("available",))
    st.tick()
    st.pile(int(p["unit"])).set_available(int(p["gun"]), _bool(b, "available"))
    return _gun(st, p)


def _raise_fault(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("fault", "gun"), ("fault",))
    st.tick()
    st.raise_fault(int(p["unit"]), b["fault"], _opt_gun(b.get("gun")))
    return _pile(st, p, {}, {})


def _clear_fault(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    st.tick()
    st.clear_fault(int(p["unit"]), p["fault"], _opt_gun(q.get("gun")))
    return _pile(st, p, {}, {})


def _reset(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("gun",))
    st.tick()
    results = st.pile(int(p["unit"])).reset_faults(_opt_gun(b.get("gun")))
    return {"results": [r.name.lower() for r in results], "pile": _pile(st, p, {}, {})}


def _power(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("on",), ("on",))
    st.tick()
    st.set_power(int(p["unit"]), _bool(b, "on"))
    return _pile(st, p, {}, {})


def _link(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("cut",), ("cut",))
    unit = int(p["unit"])
    if _bool(b, "cut"):
        st.cut_link(unit)
    else:
        st.restore_link(unit)
    return {"unit": unit, "link_cut": unit in st.links_cut, "reachable": st.reachable(unit)}


def _get_link_faults(st: Station, p: dict, b: dict, q: dict) -> Any:
    return st.link_faults.to_dict()


def _put_link_faults(st: Station, p: dict, b: dict, q: dict) -> Any:
    fields = tuple(LinkFaults.__dataclass_fields__)
    _keys(b, ("transport", "unit", *fields))
    transport = b.get("transport", "all")
    unit = b.get("unit")
    if unit is not None:
        st.check_unit(unit)
    changes = {k: v for k, v in b.items() if k in fields}
    st.link_faults.update(changes, transport, unit)
    return st.link_faults.to_dict()


def _delete_link_faults(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    unit = q.get("unit")
    if unit is not None:
        if not (unit.isascii() and unit.isdigit()):
            raise SimError(400, f"unit must be an integer, got {unit!r}")
        st.check_unit(int(unit))
    st.link_faults.clear(q.get("transport", "all"), None if unit is None else int(unit))
    return st.link_faults.to_dict()


def _add_override(st: Station, p: dict, b: dict, q: dict) -> Any:
    st.tick()
    return st.set_override(int(p["unit"]), b).to_dict()


def _clear_overrides(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ())
    st.clear_overrides(int(p["unit"]))
    return {"unit": int(p["unit"]), "overrides": []}


def _base_load(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("kw",), ("kw",))
    st.tick()
    st.set_base_load(b["kw"])
    st.tick()  # the meter follows at once (and GET /log notes the moment)
    return {"base_load_kw": st.base_load_kw(), "overridden": st.base_load_kw_override is not None}


def _meter_conditions(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("residual_current_ma", "temperature_c", "power_factor", "clear"))
    for key in ("residual_current_ma", "temperature_c", "power_factor"):
        value = b.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SimError(400, f"{key} must be a number, got {value!r}")
    pf = b.get("power_factor")
    if pf is not None and not 0.05 <= pf <= 1.0:
        raise SimError(400, "power_factor must be within 0.05..1")
    clear = b.get("clear", False)
    if not isinstance(clear, bool):
        raise SimError(400, "clear must be true or false")
    st.tick()
    st.meter.set_conditions(b.get("residual_current_ma"), b.get("temperature_c"), pf, clear)
    return st.snapshot()["meter"]


def _clock(st: Station, p: dict, b: dict, q: dict) -> Any:
    _keys(b, ("speed",), ("speed",))
    st.set_speed(b["speed"])
    return st.snapshot()["clock"]


def _activity(st: Station, p: dict, b: dict, q: dict) -> Any:
    values: dict[str, int] = {}
    for key in ("since", "unit"):
        raw = q.get(key)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()):
                raise SimError(400, f"{key} must be a non-negative integer, got {raw!r}")
            values[key] = int(raw)
    kind = q.get("kind")
    if kind is not None and kind not in ACTIVITY_KINDS:
        raise SimError(400, f"kind must be one of {', '.join(ACTIVITY_KINDS)}, got {kind!r}")
    return st.activity_since(values.get("since", 0), kind, values.get("unit"))


def _gun(st: Station, p: dict) -> dict[str, Any]:
    pile = st.pile(int(p["unit"]))
    gun = pile.gun(int(p["gun"]))
    return pile._gun_snapshot(gun)


_G = r"/piles/(?P<unit>\d+)/guns/(?P<gun>\d+)"
ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", r"/state", _state, "the whole simulated state"),
    ("GET", r"/devices", _devices, "what is served (as in the first stdout line)"),
    ("GET", r"/piles/(?P<unit>\d+)", _pile, "one pile"),
    ("GET", r"/meter", _meter, "the meter"),
    ("POST", _G + r"/plug", _plug, "plug an EV in: {ev: {...}, soc?, local_start?}"),
    ("POST", _G + r"/unplug", _unplug, "unplug the EV"),
    ("POST", _G + r"/suspend", _suspend, "the EV pauses/resumes: {suspended}"),
    ("POST", _G + r"/button", _button, "the stop button at the pile (stop reason 2)"),
    ("POST", _G + r"/card", _card, "a local start (card / free mode), session_tag 0"),
    ("POST", _G + r"/availability", _availability, "take a gun out of service: {available}"),
    ("POST", r"/piles/(?P<unit>\d+)/faults", _raise_fault, "raise a fault: {fault, gun?}"),
    ("DELETE", r"/piles/(?P<unit>\d+)/faults/(?P<fault>\w+)", _clear_fault,
     "the fault's cause goes away (?gun=N); the bit stays latched until reset"),
    ("POST", r"/piles/(?P<unit>\d+)/reset", _reset, "the reset button at the pile: {gun?}"),
    ("POST", r"/piles/(?P<unit>\d+)/power", _power, "supply off/on: {on}"),
    ("POST", r"/devices/(?P<unit>\d+)/link", _link, "cut/restore a unit's link: {cut}"),
    ("GET", r"/link-faults", _get_link_faults, "fault injection settings"),
    ("PUT", r"/link-faults", _put_link_faults,
     "change fault injection: {transport?, unit?, silence_rate, crc_error_rate, ...}"),
    ("DELETE", r"/link-faults", _delete_link_faults, "clear fault injection (?transport=&unit=)"),
    ("POST", r"/devices/(?P<unit>\d+)/overrides", _add_override,
     "force a register (absurd values): {field, gun?, table?, value|delta, reads?}"),
    ("DELETE", r"/devices/(?P<unit>\d+)/overrides", _clear_overrides, "drop a unit's overrides"),
    ("PUT", r"/base-load", _base_load, "base load: {kw} (null = the scenario's curve)"),
    ("PUT", r"/meter/conditions", _meter_conditions,
     "{residual_current_ma?, temperature_c?, power_factor?, clear?}"),
    ("PUT", r"/clock", _clock, "clock speed: {speed}"),
    ("GET", r"/log", _activity,
     "timestamped writes, base-load steps and load changes (?since=SEQ&kind=&unit=)"),
]
_COMPILED = [(m, re.compile(f"^{pattern}$"), fn, doc) for m, pattern, fn, doc in ROUTES]


def _index(st: Station, p: dict, b: dict, q: dict) -> Any:
    return {
        "endpoints": [f"{m} {pattern}  - {doc}" for m, pattern, _, doc in ROUTES],
        "faults": list(FAULT_BITS),
        "ev_fields": list(EVSpec.__dataclass_fields__),
    }


class ControlServer:
    def __init__(self, station: Station, loop: asyncio.AbstractEventLoop, host: str,
                 port: int) -> None:
        self.station = station
        self.loop = loop
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        # A short poll interval: shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        name="jc-sim control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def dispatch(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        """Route one request; runs in an HTTP thread, executes in the station's loop."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path == "/" and method == "GET":
            handler: Handler = _index
            params: dict[str, str] = {}
        else:
            allowed = []
            found = None
            for m, rx, fn, _doc in _COMPILED:
                match = rx.match(path)
                if match:
                    allowed.append(m)
                    if m == method:
                        found = (fn, match.groupdict())
            if found is None:
                if allowed:
                    return 405, {"error": f"{method} not allowed on {path}; use "
                                          f"{', '.join(allowed)}", "status": 405}
                return 404, {"error": f"no endpoint {path}; GET / lists them", "status": 404}
            handler, params = found
        try:
            data = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            return 400, {"error": f"the body is not valid JSON: {exc}", "status": 400}
        if not isinstance(data, dict):
            return 400, {"error": "the body must be a JSON object", "status": 400}

        async def run() -> Any:
            return handler(self.station, params, data, query)

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return 200, future.result(timeout=_TIMEOUT_S)
        except SimError as exc:
            return exc.status, {"error": exc.message, "status": exc.status}
        except TimeoutError:
            future.cancel()
            return 503, {"error": "the simulator did not answer in time", "status": 503}
        except Exception as exc:  # a bug of ours: say so rather than drop the connection
            log.exception("control %s %s failed", method, raw_path)
            return 500, {"error": f"internal error: {exc!r}", "status": 500}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            server_version = "jc-sim"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    self._send(413, {"error": "body too large", "status": 413})
                    return
                body = self.rfile.read(length) if length else b""
                status, payload = server.dispatch(self.command, self.path, body)
                self._send(status, payload)

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status, HTTPStatus(status).phrase)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("control: " + format, *args)

        return _Handler
