"""Command handling and the session state machine of a pile's guns.

What a command or an event at the pile does to a gun: the result a command answers with,
when a session opens and ends (and why), and the state a gun shows when it is not in a
session. No registers and no physics: the pile hands in the gun and the time; while a
session runs, its state (2, 3 or 4) follows the electrical model.

Behaviour the spec leaves open, decided here (and documented in docs/simulator.md):
- A start is accepted at once (last_cmd_result 1); the session opens (session_counter +1,
  session_tag latched, session_energy/seconds reset, state 2) when current starts to flow,
  `start_delay_s` later. A second start meanwhile is "busy" (4); a stop cancels it.
- Stop is always "accepted" (1), also when there is nothing to stop, so that a gateway
  retrying a stop whose reply got lost sees success.
- After a session ends with the EV still plugged the gun shows 5 (finishing) until the EV
  is unplugged; a start there is "busy" (4). A fault reset (6) with the EV plugged returns
  the gun to 1, ready for a new start.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from ..errors import SimError
from ..ev import EV
from .gun import CmdResult, Gun, GunState, StopReason
from .spec import Timing

_MAX_U16 = 0xFFFF


class Command(IntEnum):
    START = 1
    STOP = 2
    RESERVE = 3
    CANCEL_RESERVATION = 4
    RESET_FAULT = 6


# What the command register accepts: 0 is a no-op, so that a block write of a gun's holding
# registers can set limits and tag without a command.
COMMAND_VALUES = frozenset({0} | {c.value for c in Command})


class SessionMachine:
    """The transitions of the guns of one pile; `now` is real time (protocol timing)."""

    def __init__(
        self,
        pile_id: str,
        timing: Timing,
        fallback_stop_after_s: float = 0.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.pile_id = pile_id
        self.timing = timing
        self.fallback_stop_after_s = fallback_stop_after_s
        self._log = log or (lambda _msg: None)

    def gun_id(self, gun: Gun) -> str:
        return f"{self.pile_id}-{gun.number}"

    # --- commands written over Modbus -----------------------------------------------------

    def command(self, gun: Gun, command: Command, now: float) -> CmdResult:
        if command is Command.START:
            result = self.start_check(gun, tag=gun.session_tag_reg)
            if result is CmdResult.ACCEPTED:
                gun.pending_start = (now + self.timing.start_delay_s, gun.session_tag_reg)
            return result
        if command is Command.STOP:
            if gun.in_session:
                self.end_session(gun, StopReason.REMOTE)
            gun.pending_start = None
            return CmdResult.ACCEPTED
        if command is Command.RESERVE:
            if gun.state is GunState.FAULTED:
                return CmdResult.FAULTED
            if gun.unavailable:
                return CmdResult.UNAVAILABLE
            if gun.in_session or gun.pending_start or gun.state is GunState.FINISHING:
                return CmdResult.BUSY
            if gun.reserved_tag is not None and gun.reserved_tag != gun.session_tag_reg:
                return CmdResult.RESERVED_OTHER
            gun.reserved_tag = gun.session_tag_reg
            self.settle(gun)
            return CmdResult.ACCEPTED
        if command is Command.CANCEL_RESERVATION:
            gun.reserved_tag = None  # cancelling nothing is a success too
            self.settle(gun)
            return CmdResult.ACCEPTED
        # RESET_FAULT
        if gun.fault_causes:
            return CmdResult.FAULTED  # the cause is still there: the latch holds
        if gun.faults:
            gun.faults = 0
            gun.finished_with_ev = False  # back to "plugged", ready for a new start
            self.settle(gun)
            self._log(f"{self.gun_id(gun)}: faults reset")
        return CmdResult.ACCEPTED

    def start_check(self, gun: Gun, tag: int | None) -> CmdResult:
        """What a start would answer now; `tag` None is a start at the pile (no tag)."""
        if gun.state is GunState.FAULTED:
            return CmdResult.FAULTED
        if gun.unavailable:
            return CmdResult.UNAVAILABLE
        if gun.in_session or gun.pending_start or gun.state is GunState.FINISHING:
            return CmdResult.BUSY
        if gun.reserved_tag is not None and gun.reserved_tag != tag:
            return CmdResult.RESERVED_OTHER
        if gun.ev is None:
            return CmdResult.NOT_PLUGGED
        return CmdResult.ACCEPTED

    # --- things that happen at the pile ---------------------------------------------------

    def plug(self, gun: Gun, ev: EV) -> None:
        if gun.ev is not None:
            raise SimError(409, f"{self.gun_id(gun)} already has an EV plugged in; unplug it first")
        gun.ev = ev
        gun.finished_with_ev = False
        self._log(f"{self.gun_id(gun)}: EV {ev.spec.name} plugged in at {ev.soc:.0f}% SoC")
        self.settle(gun)

    def unplug(self, gun: Gun) -> None:
        if gun.ev is None:
            raise SimError(409, f"{self.gun_id(gun)} has no EV plugged in")
        if gun.in_session:
            self.end_session(gun, StopReason.EV_UNPLUGGED)
        gun.pending_start = None
        name = gun.ev.spec.name
        gun.ev = None
        gun.finished_with_ev = False
        gun.zero_measurements()
        self.settle(gun)
        self._log(f"{self.gun_id(gun)}: EV {name} unplugged")

    def set_ev_suspended(self, gun: Gun, suspended: bool) -> None:
        if gun.ev is None:
            raise SimError(409, f"{self.gun_id(gun)} has no EV plugged in")
        gun.ev.suspended = suspended

    def press_stop_button(self, gun: Gun) -> None:
        """The driver stops the session at the pile (stop reason 2)."""
        if gun.in_session:
            self.end_session(gun, StopReason.LOCAL)
        gun.pending_start = None

    def card_start(self, gun: Gun, now: float) -> CmdResult:
        """A session started at the pile itself (card, free mode): session_tag 0."""
        result = self.start_check(gun, tag=None)
        if result is CmdResult.ACCEPTED:
            gun.pending_start = (now + self.timing.start_delay_s, 0)
        return result

    def set_available(self, gun: Gun, available: bool) -> None:
        if not available and (gun.in_session or gun.pending_start):
            raise SimError(409, f"{self.gun_id(gun)} is charging; stop the session first")
        gun.unavailable = not available
        self.settle(gun)

    def raise_fault(self, gun: Gun, mask: int, name: str, powered: bool) -> None:
        gun.fault_causes |= mask
        if not powered:
            return  # latches at the next boot, as the pile sees the cause then
        gun.faults |= mask
        if gun.in_session:
            self.end_session(gun, StopReason.FAULT)
        gun.pending_start = None
        gun.reserved_tag = None
        self.settle(gun)
        self._log(f"{self.gun_id(gun)}: fault {name} raised")

    @staticmethod
    def clear_fault(gun: Gun, mask: int) -> None:
        """The cause goes away; the bit stays latched until a reset command (6)."""
        gun.fault_causes &= ~mask

    def power_loss(self, gun: Gun) -> None:
        if gun.in_session:
            self.end_session(gun, StopReason.POWER_LOSS)
        gun.pending_start = None
        gun.zero_measurements()

    # --- time -----------------------------------------------------------------------------

    def start_if_due(self, gun: Gun, now: float) -> None:
        """A start accepted `start_delay_s` ago opens its session, if it still can."""
        if gun.pending_start and now >= gun.pending_start[0]:
            tag = gun.pending_start[1]
            gun.pending_start = None
            if gun.ev is not None and not gun.faults and not gun.unavailable:
                self.begin_session(gun, tag)

    def fallback_stop(self, gun: Gun, watchdog_expired: bool, now: float) -> None:
        """A session paused by the fallback power ends after `fallback_stop_after_s`."""
        paused = gun.in_session and gun.state is GunState.SUSPENDED_EVSE
        if not (watchdog_expired and paused and self.fallback_stop_after_s > 0):
            gun.paused_by_fallback_since = None
            return
        if gun.paused_by_fallback_since is None:
            gun.paused_by_fallback_since = now
        elif now - gun.paused_by_fallback_since >= self.fallback_stop_after_s:
            self.end_session(gun, StopReason.FALLBACK)

    # --- sessions -------------------------------------------------------------------------

    def begin_session(self, gun: Gun, tag: int) -> None:
        gun.in_session = True
        gun.session_counter = (gun.session_counter + 1) & _MAX_U16  # wraps 65535 -> 0
        gun.session_tag = tag
        gun.session_energy_wh = 0.0
        gun.session_seconds = 0.0
        gun.stop_reason = StopReason.NONE
        gun.reserved_tag = None
        gun.finished_with_ev = False
        gun.state = GunState.CHARGING
        self._log(f"{self.gun_id(gun)}: session {gun.session_counter} started (tag {tag})")

    def end_session(self, gun: Gun, reason: StopReason) -> None:
        gun.in_session = False
        gun.stop_reason = reason
        gun.finished_with_ev = gun.ev is not None
        gun.paused_by_fallback_since = None
        gun.zero_measurements()
        self.settle(gun)
        self._log(
            f"{self.gun_id(gun)}: session {gun.session_counter} stopped: {reason.name.lower()}, "
            f"{gun.session_energy_wh / 1000:.2f} kWh in {gun.session_seconds / 60:.1f} min"
        )

    @staticmethod
    def settle(gun: Gun) -> None:
        """The state of a gun that is not in a session."""
        if gun.in_session:
            return
        if gun.faults:
            gun.state = GunState.FAULTED
        elif gun.unavailable:
            gun.state = GunState.UNAVAILABLE
        elif gun.reserved_tag is not None:
            gun.state = GunState.RESERVED
        elif gun.ev is not None:
            gun.state = GunState.FINISHING if gun.finished_with_ev else GunState.PLUGGED
        else:
            gun.state = GunState.AVAILABLE
