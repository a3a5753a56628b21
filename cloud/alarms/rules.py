"""What a station's record means as an alarm: pure decisions, no I/O.

`judge_event` turns one `event` record into an action on the alarm with its key: raise it,
clear it, or nothing. Severities, lowest first: info, warning, major, critical."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "major", "critical")
RANK = {name: i + 1 for i, name in enumerate(SEVERITIES)}

# Kinds an operator can filter on, with their severity when raised by a record.
KIND_SEVERITY = {
    "fault": "major",  # a gun reports faults (fault_raised … fault_cleared)
    "meter_lost": "major",  # the transformer meter stopped answering: load control failsafe
    "meter_implausible": "major",  # the meter answers but contradicts the guns
    "pile_lost": "major",  # a pile stopped answering on its bus
    "load": "warning",  # load level above normal or sessions shed; rises with the level
    "seq_conflict": "warning",  # the gateway renumbered records the cloud already held otherwise
    "start_refused": "info",  # a start the gateway refused (load, no tariff, …)
    "clock_skew": "warning",  # the gateway's wall clock jumped
    "gateway": "warning",  # an alarm from the gateway's own list (telemetry)
    "offline": "major",  # the station is offline (will, or liveness timeout)
    "driver_report": "warning",  # a driver reported a broken gun (cloud/community)
}
# Stay active until acknowledged: they report a moment, not a condition that ends.
# A driver's report too: nothing the station sends clears it, the operator's resolution does.
ONE_SHOT = frozenset({"seq_conflict", "start_refused", "clock_skew", "driver_report"})
LOAD_SEVERITY = {"capped": "warning", "blocked": "major", "failsafe": "critical"}
# The gateway's own alarm keys (edge/loadctl, edge/cache) that stop or limit charging.
GATEWAY_SEVERITY = {
    "meter_missing": "major", "meter_stale": "major", "meter_implausible": "major",
    "rated_kva_invalid": "major", "load_above_rated": "major", "load_above_emergency": "critical",
    "base_load_above_target": "major", "store_corrupt": "critical",
}  # fmt: skip


@dataclass(frozen=True)
class Action:
    op: str  # raise | clear
    key: str
    kind: str
    gun: str | None = None
    severity: str = "warning"
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def rank(severity: str) -> int:
    return RANK.get(severity, 0)


def judge_event(kind: str, gun: str | None, detail: dict[str, Any]) -> Action | None:
    """The alarm action of one `event` record (None: the record raises nothing)."""
    detail = detail if isinstance(detail, dict) else {}
    if kind in ("fault_raised", "fault_cleared"):
        op = "raise" if kind == "fault_raised" else "clear"
        return Action(op, f"fault:{gun or '-'}", "fault", gun, KIND_SEVERITY["fault"],
                      _faults_message(detail), detail)
    if kind == "meter_lost":
        return Action("raise", "meter_lost", "meter_lost", None, "major",
                      str(detail.get("error") or "meter lost"), detail)
    if kind == "meter_implausible":
        return Action("raise", "meter_implausible", "meter_implausible", None, "major",
                      str(detail.get("reason") or "meter implausible"), detail)
    if kind == "meter_back":
        after = detail.get("after")
        key = "meter_implausible" if after == "meter_implausible" else "meter_lost"
        return Action("clear", key, key, None, "major", "", detail)
    if kind in ("pile_lost", "pile_back"):
        pile = detail.get("pile") or (gun.rsplit("-", 1)[0] if gun else "-")
        op = "raise" if kind == "pile_lost" else "clear"
        return Action(op, f"pile_lost:{pile}", "pile_lost", None, "major",
                      f"pile {pile} lost" + (f": {detail['reason']}" if detail.get("reason") else ""), detail)
    if kind == "load_level":
        level = detail.get("level")
        shed = bool(detail.get("shed"))
        if level in (None, "normal") and not shed:
            return Action("clear", "load", "load", None, "warning", "", detail)
        severity = LOAD_SEVERITY.get(str(level), "warning")
        if shed and rank(severity) < rank("major"):
            severity = "major"
        pct = detail.get("load_pct")
        message = f"load level {level}" + (f" ({pct} %)" if pct is not None else "") + (", shedding" if shed else "")
        return Action("raise", "load", "load", None, severity, message, detail)
    if kind == "seq_conflict":
        return Action("raise", "seq_conflict", "seq_conflict", None, "warning", "seq conflict", detail)
    if kind == "start_refused":
        return Action("raise", f"start_refused:{gun or '-'}", "start_refused", gun, "info",
                      f"start refused: {detail.get('reason', '?')}", detail)
    if kind == "clock_skew":
        return Action("raise", "clock_skew", "clock_skew", None, "warning",
                      f"clock jumped {detail.get('jump_s', '?')} s", detail)
    return None


def gateway_severity(key: str) -> str:
    return GATEWAY_SEVERITY.get(key, "warning")


def _faults_message(detail: dict[str, Any]) -> str:
    faults = detail.get("faults")
    if isinstance(faults, list) and faults:
        return "faults: " + ", ".join(str(f) for f in faults[:10])
    return "fault"
