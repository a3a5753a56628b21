"""Who may see and change which area of the console (pure; docs/console.md "Roles").

An area is one entry of the console's navigation. "r" lets a role read an area, "w" also
change it; an area missing from a role's row is closed to it. Owners see only their own
stations' data everywhere: that scoping is `service.visible_sids`, applied by the services.
"""

from __future__ import annotations

ROLES = ("admin", "operator", "finance", "owner")
AREAS = ("home", "stations", "guns", "archives", "tariffs", "orders", "money", "settlement",
         "reports", "alarms", "community", "operators", "audit", "recommend")

_R, _W = "r", "w"
PERMISSIONS: dict[str, dict[str, str]] = {
    "admin": {area: _W for area in AREAS},
    # runs the stations day to day: stations, guns, orders, faults and the community
    "operator": {"home": _R, "stations": _W, "guns": _W, "archives": _R, "tariffs": _R,
                 "orders": _W, "alarms": _W, "community": _W},
    # money and reports; reads everything else but the operators
    "finance": {**{area: _R for area in AREAS if area not in ("operators", "recommend")},
                "money": _W, "settlement": _W, "reports": _W},
    # a station owner: reads its own stations' figures, acknowledges their alarms
    "owner": {"home": _R, "stations": _R, "guns": _R, "archives": _R, "orders": _R, "money": _R,
              "settlement": _R, "reports": _R, "alarms": _W},
}


def allowed(role: str, area: str, write: bool = False) -> bool:
    grant = PERMISSIONS.get(role, {}).get(area)
    return grant == _W if write else grant is not None


def areas_for(role: str) -> list[str]:
    return [a for a in AREAS if allowed(role, a)]
