"""The station config (one TOML file an installer writes), as validated dataclasses.

Every problem is reported at once, each naming the key and what to write instead:
    station.toml: [[pile]] #2 (id "P2"): `unit` = 300 is out of range; write a Modbus unit id 1..247, e.g. `unit = 2`
"""

from __future__ import annotations

import difflib
import errno
import ipaddress
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.drivers.profile import ProfileError, load_profile

SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PILE_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


class ConfigError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class StationSection:
    id: str
    name: str = ""
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class BusConfig:
    name: str
    port: str | None = None  # serial device, e.g. /dev/ttyUSB0
    host: str | None = None
    tcp_port: int = 502
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5
    retries: int = 1
    pause_ms: float = 0.0
    lost_after: int = 3
    poll_period_s: float = 1.0

    @property
    def serial(self) -> bool:
        return self.port is not None

    @property
    def address(self) -> str:
        return self.port if self.port else f"{self.host}:{self.tcp_port}"


@dataclass(frozen=True)
class PileConfig:
    id: str
    bus: str
    unit: int
    profile: str = "jc-ref-v1"
    free_vend: bool = False  # every gun starts without authorisation
    free_vend_guns: tuple[int, ...] = ()
    priority: int = 0


@dataclass(frozen=True)
class MeterConfig:
    bus: str
    unit: int = 1
    profile: str = "arcm300t"
    timeout_s: float = 3.0  # no good reading for this long: failsafe
    fast_period_s: float = 0.25  # how often S total is read (default by line: FAST_PERIOD_S)


# The default S-total read period by the meter's line. On a slow RS-485 line (up to 19,200 baud)
# every reaction waits for the next read on top of the limit writes' wire time: at 0.1 s the
# read comes between every two gun reads of a 9600-baud line (the shortest wait whole gun
# reads allow, docs/load-control.md) for under a third of the line. On a faster line or over TCP
# the writes are quick, the reaction far inside its target at 0.25 s, and reading more often
# would only cost CPU.
FAST_PERIOD_S = {"slow_serial": 0.1, "other": 0.25}
SLOW_SERIAL_MAX_BAUD = 19_200


@dataclass(frozen=True)
class LoadPolicyConfig:
    mode: str = "threshold"
    cap_above_pct: float = 50.0
    block_above_pct: float = 80.0
    cap_power_pct: float = 50.0
    hysteresis_pct: float = 5.0
    share_target_pct: float = 80.0
    dwell_s: float = 10.0  # the load must stay below a threshold this long before stepping down
    emergency_above_pct: float = 100.0  # above it running sessions are shed, under every mode
    pile_sessions: str = "wait"  # a session the pile starts while starts are refused: wait or stop
    meter_tolerance_pct: float = 5.0  # S total may be this far (% of rated) below the guns' draw
    meter_implausible_s: float = 20.0  # ... or frozen while they change, for this long: failsafe
    orderly_margin_pct: float = 5.0  # orderly plans keep this % of rated kVA free in the hours ahead
    orderly_replan_pct: float = 2.0  # ... and are made again when the headroom moves by more
    orderly_replan_s: float = 60.0  # ... or anyway this often
    # what the car takes (edge/loadctl/acceptance.py): readings ignored after a limit change,
    orderly_ramp_s: float = 10.0
    orderly_sustain_s: float = 15.0  # ... how long a shortfall must last to be learned,
    orderly_shortfall_pct: float = 90.0  # ... a reading under this % of the limit ...
    orderly_shortfall_min_w: float = 200.0  # ... and this far below it falls short;
    orderly_move_pct: float = 3.0  # the figure moves only by more than this % of itself ...
    orderly_move_min_w: float = 100.0  # ... or these W


@dataclass(frozen=True)
class WatchdogConfig:
    timeout_s: int = 30  # the piles fall back when the gateway is silent this long; 0 = off
    fallback_power_pct: float = 50.0  # of each pile's rated power
    heartbeat_s: float = 5.0


@dataclass(frozen=True)
class StoreConfig:
    path: str = "/var/lib/juchong/station.db"
    max_mb: float = 512.0


@dataclass(frozen=True)
class StatusConfig:
    listen: str = "127.0.0.1:8081"
    # Who may make a pairing code (a gun's proof of ownership) on the status page: networks
    # of the clients' addresses. The gateway itself by default; [] turns the feature off.
    pairing_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class CloudConfig:
    broker: str | None = None  # mqtts://host:port: overrides the address provisioning returned
    credentials_dir: str = "/var/lib/juchong/credentials"
    telemetry_s: float = 5.0


@dataclass(frozen=True)
class StationConfig:
    station: StationSection
    buses: tuple[BusConfig, ...]
    piles: tuple[PileConfig, ...]
    meter: MeterConfig | None
    rated_kva: float
    load_policy: LoadPolicyConfig = field(default_factory=LoadPolicyConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    source: str = "<config>"

    def bus(self, name: str) -> BusConfig:
        return next(b for b in self.buses if b.name == name)


class _Reader:
    """Reads one table, collecting errors instead of stopping at the first."""

    def __init__(self, errors: list[str], source: str, table: dict[str, Any], where: str) -> None:
        self.errors, self.source, self.t, self.where = errors, source, table, where

    def error(self, msg: str) -> None:
        self.errors.append(f"{self.source}: {self.where}: {msg}" if self.where else f"{self.source}: {msg}")

    def known(self, keys: set[str]) -> None:
        for k in self.t:
            if k not in keys:
                near = difflib.get_close_matches(k, sorted(keys), n=1)
                hint = f"; did you mean `{near[0]}`?" if near else f"; known keys here: {', '.join(sorted(keys))}"
                self.error(f"unknown key `{k}`{hint}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., example: str = "",
            check: Any = None, hint: str = "") -> Any:
        if key not in self.t:
            if default is ...:
                self.error(f"`{key}` is missing; add e.g. `{example}`" if example else f"`{key}` is missing")
                return None
            return default
        v = self.t[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
            what = {str: "a string in quotes", int: "a whole number", float: "a number",
                    bool: "true or false", list: "a list [ … ]", dict: "a table"}
            want = " or ".join(what.get(k, k.__name__) for k in kinds)
            self.error(f"`{key}` = {v!r} should be {want}" + (f", e.g. `{example}`" if example else ""))
            return None if default is ... else default
        if check is not None and not check(v):
            self.error(f"`{key}` = {v!r} {hint}" + (f", e.g. `{example}`" if example else ""))
            return None if default is ... else default
        return v


def load_config(path: str | Path) -> StationConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from exc
    return parse_config(data, str(p))


def parse_config(data: dict[str, Any], source: str = "<config>") -> StationConfig:
    errors: list[str] = []
    top = _Reader(errors, source, data, "")
    top.known({"station", "bus", "pile", "meter", "transformer", "load_policy", "watchdog",
               "store", "status", "cloud"})

    st = _Reader(errors, source, data.get("station", {}) if isinstance(data.get("station"), dict) else {}, "[station]")
    if "station" not in data:
        top.error("[station] is missing; add `[station]` with `id = \"ST-0001\"` (the station id the cloud knows)")
    st.known({"id", "name", "timezone"})
    sid = st.get("id", str, example='id = "ST-0001"', check=lambda v: SID_RE.match(v),
                 hint="may hold only letters, digits, _ and -, 1 to 64 of them")
    tz = st.get("timezone", str, "Asia/Shanghai", example='timezone = "Asia/Shanghai"')
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            st.error(f"`timezone` = {tz!r} is not a known time zone; write e.g. `timezone = \"Asia/Shanghai\"`")
    station = StationSection(id=sid or "", name=st.get("name", str, ""), timezone=tz or "Asia/Shanghai")

    buses = _buses(errors, source, data.get("bus"), top)
    names = {b.name for b in buses}
    piles = _piles(errors, source, data.get("pile"), names, buses, top)
    slow = {b.name for b in buses if b.serial and b.baud <= SLOW_SERIAL_MAX_BAUD}
    meter = _meter(errors, source, data.get("meter"), names, slow)
    if meter and any(p.bus == meter.bus and p.unit == meter.unit for p in piles):
        errors.append(f"{source}: [meter]: `unit` = {meter.unit} is also a pile's unit on bus "
                      f"{meter.bus!r}; every device on a line needs its own unit id")

    tr = _Reader(errors, source, _table(data, "transformer"), "[transformer]")
    tr.known({"rated_kva"})
    from edge.loadctl import RATED_KVA_RANGE

    rated = tr.get("rated_kva", float, example="rated_kva = 400", check=RATED_KVA_RANGE.holds,
                   hint="must be the transformer's rating in kVA, above 0")
    if "transformer" not in data:
        top.error("[transformer] is missing; add `[transformer]` with `rated_kva = 400` (from the transformer's nameplate)")

    lp = _Reader(errors, source, _table(data, "load_policy"), "[load_policy]")
    from edge.loadctl import ACCEPTANCE_KEYS, RANGES, Policy, PolicyError

    numeric = ("cap_above_pct", "block_above_pct", "cap_power_pct", "hysteresis_pct", "share_target_pct",
               "dwell_s", "emergency_above_pct", "meter_tolerance_pct", "meter_implausible_s",
               "orderly_margin_pct", "orderly_replan_pct", "orderly_replan_s",
               "orderly_ramp_s", "orderly_sustain_s", "orderly_shortfall_pct", "orderly_shortfall_min_w",
               "orderly_move_pct", "orderly_move_min_w")
    lp.known({"mode", "pile_sessions", "cap_above_pct", "block_above_pct", "cap_power_pct", "hysteresis_pct",
              "share_target_pct", "dwell_s", "emergency_above_pct", "meter_tolerance_pct", "meter_implausible_s",
              "orderly_margin_pct", "orderly_replan_pct", "orderly_replan_s",
              "orderly_ramp_s", "orderly_sustain_s", "orderly_shortfall_pct", "orderly_shortfall_min_w",
              "orderly_move_pct", "orderly_move_min_w"})
    defaults = LoadPolicyConfig()

    def number(key: str) -> float:
        r = RANGES[key]
        return lp.get(key, float, getattr(defaults, key), example=f"{key} = {r.example:g}", check=r.holds,
                      hint=f"must be in {r.text()}")

    policy = LoadPolicyConfig(
        mode=lp.get("mode", str, "threshold", example='mode = "threshold"',
                    check=lambda v: v in ("threshold", "share"), hint='must be "threshold" or "share"'),
        pile_sessions=lp.get("pile_sessions", str, "wait", example='pile_sessions = "wait"',
                             check=lambda v: v in ("wait", "stop"), hint='must be "wait" or "stop"'),
        **{key: number(key) for key in numeric},
    )
    if policy.cap_above_pct >= policy.block_above_pct:
        lp.error(f"`cap_above_pct` ({policy.cap_above_pct:g}) must be below `block_above_pct` "
                 f"({policy.block_above_pct:g}); the customer's rule is 50 and 80")
    else:
        # The same rules load control applies when it starts: what passes here runs there.
        try:
            Policy(mode=policy.mode, cap_above_pct=policy.cap_above_pct, block_above_pct=policy.block_above_pct,
                   cap_power_pct=policy.cap_power_pct, hysteresis_pct=policy.hysteresis_pct,
                   share_target_pct=min(policy.share_target_pct, policy.block_above_pct), dwell_s=policy.dwell_s,
                   emergency_above_pct=policy.emergency_above_pct, pile_sessions=policy.pile_sessions,  # type: ignore[arg-type]
                   meter_tolerance_pct=policy.meter_tolerance_pct, meter_implausible_s=policy.meter_implausible_s,
                   orderly_margin_pct=policy.orderly_margin_pct, orderly_replan_pct=policy.orderly_replan_pct,
                   orderly_replan_s=policy.orderly_replan_s,
                   **{k: getattr(policy, k) for k in ACCEPTANCE_KEYS})
        except PolicyError as exc:
            for problem in exc.problems:
                if not problem.startswith("cap_above_pct"):  # said above already
                    lp.error(problem)

    pct = {"check": lambda v: 0 <= v <= 100, "hint": "must be a percentage 0..100"}
    wd = _Reader(errors, source, _table(data, "watchdog"), "[watchdog]")
    wd.known({"timeout_s", "fallback_power_pct", "heartbeat_s"})
    watchdog = WatchdogConfig(
        timeout_s=wd.get("timeout_s", int, 30, example="timeout_s = 30", check=lambda v: 0 <= v <= 3600,
                         hint="must be 0 (off) .. 3600 seconds"),
        fallback_power_pct=wd.get("fallback_power_pct", float, 50.0, example="fallback_power_pct = 50", **pct),
        heartbeat_s=wd.get("heartbeat_s", float, 5.0, example="heartbeat_s = 5",
                           check=lambda v: 0.2 <= v <= 600, hint="must be 0.2 .. 600 seconds"),
    )
    if watchdog.timeout_s and watchdog.heartbeat_s * 2 > watchdog.timeout_s:
        wd.error(f"`heartbeat_s` ({watchdog.heartbeat_s:g}) must be at most half of `timeout_s` "
                 f"({watchdog.timeout_s}) so that one lost heartbeat does not trip the piles' watchdog")

    so = _Reader(errors, source, _table(data, "store"), "[store]")
    so.known({"path", "max_mb"})
    store = StoreConfig(
        path=so.get("path", str, StoreConfig.path, example='path = "/var/lib/juchong/station.db"'),
        max_mb=so.get("max_mb", float, 512.0, example="max_mb = 512", check=lambda v: v >= 8,
                      hint="must be at least 8 (MB)"),
    )
    sa = _Reader(errors, source, _table(data, "status"), "[status]")
    sa.known({"listen", "pairing_from"})
    pairing_from = sa.get("pairing_from", list, list(StatusConfig.pairing_from),
                          example='pairing_from = ["127.0.0.0/8", "192.168.1.0/24"]',
                          check=lambda v: all(_is_network(n) for n in v),
                          hint="must be a list of networks (address/prefix) of clients allowed to make pairing codes")
    status = StatusConfig(listen=sa.get("listen", str, "127.0.0.1:8081", example='listen = "127.0.0.1:8081"',
                                        check=_is_hostport, hint="must be host:port"),
                          pairing_from=tuple(pairing_from))
    cl = _Reader(errors, source, _table(data, "cloud"), "[cloud]")
    cl.known({"broker", "credentials_dir", "telemetry_s"})
    cloud = CloudConfig(
        broker=cl.get("broker", str, None, example='broker = "mqtts://cloud.example.com:8883"',
                      check=lambda v: re.match(r"^mqtts?://[^:/]+(:\d+)?$", v), hint="must look like mqtts://host:port"),
        credentials_dir=cl.get("credentials_dir", str, CloudConfig.credentials_dir),
        telemetry_s=cl.get("telemetry_s", float, 5.0, check=lambda v: 1 <= v <= 300, hint="must be 1..300 seconds"),
    )

    if errors:
        raise ConfigError(errors)
    return StationConfig(station=station, buses=tuple(buses), piles=tuple(piles), meter=meter,
                         rated_kva=float(rated), load_policy=policy, watchdog=watchdog, store=store,
                         status=status, cloud=cloud, source=source)


def device_warnings(cfg: StationConfig) -> list[str]:
    """What `check-config` warns about but does not refuse: a serial port that this user
    cannot open now (the adapter may be plugged in later), in the operating system's words."""
    out = []
    for b in cfg.buses:
        if not b.serial:
            continue
        assert b.port is not None
        try:
            os.stat(b.port)
        except OSError as exc:
            out.append(f'[[bus]] "{b.name}": port {b.port}: {exc}; check the name '
                       "(ls /dev/serial/by-id/) and that the adapter is plugged in")
            continue
        if not os.access(b.port, os.R_OK | os.W_OK):
            err = OSError(errno.EACCES, os.strerror(errno.EACCES), b.port)
            out.append(f'[[bus]] "{b.name}": port {b.port}: {err} (as this user); the gateway\'s '
                       "user needs read and write access to it (group dialout)")
    return out


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    v = data.get(key, {})
    return v if isinstance(v, dict) else {}


def _is_network(v: Any) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def _is_hostport(v: str) -> bool:
    host, _, port = v.rpartition(":")
    return bool(host) and port.isascii() and port.isdigit() and 0 < int(port) < 65536


def _buses(errors: list[str], source: str, raw: Any, top: _Reader) -> list[BusConfig]:
    if raw is None:
        top.error('no [[bus]]; add one, e.g. `[[bus]]` `name = "rs485-1"` `port = "/dev/ttyUSB0"` `baud = 9600`')
        return []
    if not isinstance(raw, list):
        top.error("`bus` must be written as [[bus]] tables (one per RS-485 port or TCP gateway)")
        return []
    out: list[BusConfig] = []
    for i, t in enumerate(raw):
        where = f"[[bus]] #{i + 1}" + (f" (name \"{t.get('name')}\")" if isinstance(t, dict) and "name" in t else "")
        r = _Reader(errors, source, t if isinstance(t, dict) else {}, where)
        r.known({"name", "port", "host", "baud", "parity", "stopbits", "timeout_s", "retries", "pause_ms",
                 "lost_after", "poll_period_s"})
        name = r.get("name", str, example='name = "rs485-1"')
        if name and any(b.name == name for b in out):
            r.error(f"`name` = {name!r} is used by another [[bus]]; each bus needs its own name")
        port = r.get("port", str, None, example='port = "/dev/ttyUSB0"')
        host = r.get("host", str, None, example='host = "192.168.1.50:502"')
        tcp_port = 502
        if (port is None) == (host is None):
            r.error('give either `port` (serial device, e.g. "/dev/ttyUSB0") or `host` ("ip:port" of a Modbus TCP gateway), not both')
        if host is not None:
            h, _, pstr = host.rpartition(":")
            if h and pstr.isascii() and pstr.isdigit() and 0 < int(pstr) < 65536:
                host, tcp_port = h, int(pstr)
            elif ":" not in host:
                pass
            else:
                r.error(f"`host` = {host!r} should be ip:port, e.g. `host = \"192.168.1.50:502\"`")
        baud = r.get("baud", int, 9600, example="baud = 9600",
                     check=lambda v: v in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
                     hint="is not a standard baud rate; write one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200")
        parity = r.get("parity", str, "N", example='parity = "N"', check=lambda v: v in ("N", "E", "O"),
                       hint='must be "N" (none), "E" (even) or "O" (odd)')
        out.append(BusConfig(
            name=name or f"bus{i + 1}", port=port, host=host, tcp_port=tcp_port, baud=baud, parity=parity,
            stopbits=r.get("stopbits", int, 1, check=lambda v: v in (1, 2), hint="must be 1 or 2"),
            timeout_s=r.get("timeout_s", float, 0.5, example="timeout_s = 0.5", check=lambda v: 0.02 <= v <= 10,
                            hint="must be 0.02 .. 10 seconds"),
            retries=r.get("retries", int, 1, check=lambda v: 0 <= v <= 5, hint="must be 0..5"),
            pause_ms=r.get("pause_ms", float, 0.0, check=lambda v: 0 <= v <= 1000, hint="must be 0..1000"),
            lost_after=r.get("lost_after", int, 3, check=lambda v: 1 <= v <= 100, hint="must be 1..100"),
            poll_period_s=r.get("poll_period_s", float, 1.0, example="poll_period_s = 1",
                                check=lambda v: 0.1 <= v <= 60, hint="must be 0.1 .. 60 seconds"),
        ))
    return out


def _piles(errors: list[str], source: str, raw: Any, bus_names: set[str], buses: list[BusConfig],
           top: _Reader) -> list[PileConfig]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        top.error("`pile` must be written as [[pile]] tables, one per pile")
        return []
    out: list[PileConfig] = []
    for i, t in enumerate(raw):
        where = f"[[pile]] #{i + 1}" + (f" (id \"{t.get('id')}\")" if isinstance(t, dict) and "id" in t else "")
        r = _Reader(errors, source, t if isinstance(t, dict) else {}, where)
        r.known({"id", "bus", "unit", "profile", "free_vend", "free_vend_guns", "priority"})
        pid = r.get("id", str, example='id = "P1"', check=lambda v: PILE_ID_RE.match(v),
                    hint="may hold only letters, digits and _, up to 32 (it becomes part of gun ids like P1-2)")
        if pid and any(p.id == pid for p in out):
            r.error(f"`id` = {pid!r} is used by another [[pile]]; each pile needs its own id")
        bus = r.get("bus", str, buses[0].name if len(buses) == 1 else ..., example='bus = "rs485-1"')
        if bus is not None and bus not in bus_names:
            r.error(f"`bus` = {bus!r} names no [[bus]]; write one of: {', '.join(sorted(bus_names)) or '(none defined)'}")
        unit = r.get("unit", int, example="unit = 1", check=lambda v: 1 <= v <= 247,
                     hint="is out of range; write a Modbus unit id 1..247")
        if unit and bus and any(p.bus == bus and p.unit == unit for p in out):
            r.error(f"`unit` = {unit} is already used by another pile on bus {bus!r}")
        profile = r.get("profile", str, "jc-ref-v1", example='profile = "jc-ref-v1"')
        if profile:
            try:
                prof = load_profile(profile)
                if prof.kind != "pile":
                    r.error(f"`profile` = {profile!r} describes a {prof.kind}, not a pile")
            except ProfileError as exc:
                r.error(f"`profile`: {exc}")
        guns = r.get("free_vend_guns", list, [], example="free_vend_guns = [1]")
        if guns and not all(isinstance(g, int) and g >= 1 for g in guns):
            r.error("`free_vend_guns` must list gun numbers from 1, e.g. `free_vend_guns = [1]`")
            guns = []
        out.append(PileConfig(id=pid or f"P{i + 1}", bus=bus or "", unit=unit or 0, profile=profile or "jc-ref-v1",
                              free_vend=r.get("free_vend", bool, False), free_vend_guns=tuple(guns),
                              priority=r.get("priority", int, 0, check=lambda v: -100 <= v <= 100,
                                             hint="must be -100..100")))
    return out


def _meter(errors: list[str], source: str, raw: Any, bus_names: set[str],
           slow_buses: set[str]) -> MeterConfig | None:
    if raw is None:
        return None
    r = _Reader(errors, source, raw if isinstance(raw, dict) else {}, "[meter]")
    r.known({"bus", "unit", "profile", "timeout_s", "fast_period_s"})
    bus = r.get("bus", str, example='bus = "rs485-1"')
    if bus is not None and bus not in bus_names:
        r.error(f"`bus` = {bus!r} names no [[bus]]; write one of: {', '.join(sorted(bus_names)) or '(none defined)'}")
    profile = r.get("profile", str, "arcm300t")
    try:
        prof = load_profile(profile)
        if prof.kind != "meter":
            r.error(f"`profile` = {profile!r} describes a {prof.kind}, not a meter")
    except ProfileError as exc:
        r.error(f"`profile`: {exc}")
    return MeterConfig(
        bus=bus or "", unit=r.get("unit", int, 1, example="unit = 1", check=lambda v: 1 <= v <= 247,
                                  hint="is out of range; write a Modbus unit id 1..247"),
        profile=profile,
        timeout_s=r.get("timeout_s", float, 3.0, example="timeout_s = 3", check=lambda v: 0.5 <= v <= 60,
                        hint="must be 0.5 .. 60 seconds"),
        fast_period_s=r.get("fast_period_s", float, FAST_PERIOD_S["slow_serial" if bus in slow_buses else "other"],
                            check=lambda v: 0.05 <= v <= 10, hint="must be 0.05 .. 10 seconds"),
    )
