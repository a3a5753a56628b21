"""The canonical states of a charging gun, shared by drivers, load control and sessions.

Every pile profile maps its own state codes onto these names; nothing above the drivers
sees a vendor's numbers.
"""

from __future__ import annotations

from enum import StrEnum


class GunState(StrEnum):
    AVAILABLE = "available"  # nothing plugged
    PLUGGED = "plugged"  # connected, not charging
    CHARGING = "charging"
    SUSPENDED_EV = "suspended_ev"  # the car paused
    SUSPENDED_EVSE = "suspended_evse"  # the pile paused (limit 0 or below minimum)
    FINISHING = "finishing"  # done, still plugged
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"  # out of service, or its link is lost
    FAULTED = "faulted"

    @property
    def has_vehicle(self) -> bool:
        return self in _WITH_VEHICLE

    @property
    def in_session(self) -> bool:
        """A session is running (energy may flow, or is paused within the session)."""
        return self in _IN_SESSION


_WITH_VEHICLE = frozenset(
    {
        GunState.PLUGGED,
        GunState.CHARGING,
        GunState.SUSPENDED_EV,
        GunState.SUSPENDED_EVSE,
        GunState.FINISHING,
    }
)
_IN_SESSION = frozenset({GunState.CHARGING, GunState.SUSPENDED_EV, GunState.SUSPENDED_EVSE})


class StopReason(StrEnum):
    """Why a session ended, as the station ↔ cloud protocol names it (spec/mqtt-v1.md)."""

    REMOTE = "remote"
    LOCAL = "local"
    UNPLUGGED = "unplugged"
    EV_FULL = "ev_full"
    FAULT = "fault"
    LIMIT = "limit"
    BALANCE = "balance"
    POWER_LOSS = "power_loss"
    GATEWAY_RESTART = "gateway_restart"
