"""The simulated charging pile (spec/pile-modbus-map.md, "jc-ref-v1"), in its parts:

- spec.py: `PileSpec` (what a pile is) and `Timing` (protocol delays)
- gun.py: the `Gun` record and the values of its state, stop reason, command result and
  fault registers
- sessions.py: command handling and the session state machine (`SessionMachine`)
- limits.py: the communication watchdog and the power limit a gun obeys
- electrical.py, thermal.py: the electrical and thermal models
- register_view.py: the register map as the pile serves it (`WriteError`)
- pile.py: `Pile`, which wires them together

The names below are what the rest of the simulator and its tests import from here.
"""

from .gun import FAULT_BITS, CmdResult, Gun, GunState, StopReason, fault_mask, fault_names
from .pile import Pile
from .register_view import WriteError
from .sessions import Command
from .spec import PileSpec, Timing

__all__ = [
    "FAULT_BITS",
    "CmdResult",
    "Command",
    "Gun",
    "GunState",
    "Pile",
    "PileSpec",
    "StopReason",
    "Timing",
    "WriteError",
    "fault_mask",
    "fault_names",
]
