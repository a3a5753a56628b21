"""The session state machine on its own: Gun records, explicit times, no registers, no
physics, no clock."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware_sim.errors import SimError
from firmware_sim.ev import EV, EVSpec
from firmware_sim.pile.gun import FAULT_BITS, CmdResult, Gun, GunState, StopReason, fault_mask
from firmware_sim.pile.sessions import Command, SessionMachine
from firmware_sim.pile.spec import Timing

TIMING = Timing(start_delay_s=1.0, limit_delay_s=0.5)
ESTOP = fault_mask(["emergency_stop"])


def new_gun(number: int = 1) -> Gun:
    return Gun(number=number, power_limit_w=7000, limit_active_w=7000, temperature_c=25.0)


def ev(name: str = "car") -> EV:
    return EV.arriving(EVSpec(name=name))


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def sm(log: list[str]) -> SessionMachine:
    return SessionMachine("P", TIMING, fallback_stop_after_s=10.0, log=log.append)


def start_session(sm: SessionMachine, gun: Gun, now: float = 0.0, tag: int = 0) -> None:
    gun.session_tag_reg = tag
    assert sm.command(gun, Command.START, now) is CmdResult.ACCEPTED
    sm.start_if_due(gun, now + TIMING.start_delay_s)
    assert gun.in_session


def test_plug_shows_plugged_and_a_second_ev_is_refused(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    assert gun.state is GunState.PLUGGED
    with pytest.raises(SimError) as err:
        sm.plug(gun, ev("other"))
    assert err.value.status == 409 and "P-1 already has an EV" in err.value.message


def test_start_opens_the_session_only_after_the_start_delay(sm: SessionMachine,
                                                            log: list[str]) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    gun.session_tag_reg = 0xDEADBEEF
    assert sm.command(gun, Command.START, now=100.0) is CmdResult.ACCEPTED
    assert gun.pending_start == (101.0, 0xDEADBEEF)
    sm.start_if_due(gun, 100.999)
    assert not gun.in_session and gun.state is GunState.PLUGGED
    gun.session_tag_reg = 5  # the tag latched is the one written with the start
    sm.start_if_due(gun, 101.0)
    assert gun.in_session and gun.state is GunState.CHARGING
    assert (gun.session_counter, gun.session_tag, gun.stop_reason) == (1, 0xDEADBEEF,
                                                                        StopReason.NONE)
    assert gun.pending_start is None
    assert log[-1] == f"P-1: session 1 started (tag {0xDEADBEEF})"


def test_a_new_session_resets_the_session_figures(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    gun.session_energy_wh, gun.session_seconds, gun.energy_total_wh = 500.0, 60.0, 500.0
    sm.command(gun, Command.STOP, 5.0)
    sm.unplug(gun)
    sm.plug(gun, ev())
    start_session(sm, gun, now=10.0)
    assert (gun.session_energy_wh, gun.session_seconds) == (0.0, 0.0)
    assert gun.energy_total_wh == 500.0  # the lifetime register is not the machine's business
    assert gun.session_counter == 2


def test_second_start_is_busy_while_pending_and_a_stop_cancels_it(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    assert sm.command(gun, Command.START, 0.0) is CmdResult.ACCEPTED
    assert sm.command(gun, Command.START, 0.5) is CmdResult.BUSY
    assert sm.command(gun, Command.STOP, 0.6) is CmdResult.ACCEPTED
    sm.start_if_due(gun, 5.0)
    assert not gun.in_session and gun.session_counter == 0


def test_stop_leaves_finishing_until_unplugged(sm: SessionMachine, log: list[str]) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    gun.power_w, gun.currents_a = 7000.0, [30.4, 0.0, 0.0]
    assert sm.command(gun, Command.STOP, 2.0) is CmdResult.ACCEPTED
    assert (gun.state, gun.stop_reason) == (GunState.FINISHING, StopReason.REMOTE)
    assert (gun.power_w, gun.currents_a) == (0.0, [0.0, 0.0, 0.0])
    assert log[-1].startswith("P-1: session 1 stopped: remote")
    assert sm.command(gun, Command.START, 3.0) is CmdResult.BUSY
    assert sm.command(gun, Command.STOP, 3.0) is CmdResult.ACCEPTED  # nothing to stop: still 1
    sm.unplug(gun)
    assert gun.state is GunState.AVAILABLE
    assert sm.command(gun, Command.START, 4.0) is CmdResult.NOT_PLUGGED


@pytest.mark.parametrize(("event", "reason"), [
    ("unplug", StopReason.EV_UNPLUGGED),
    ("button", StopReason.LOCAL),
    ("fault", StopReason.FAULT),
    ("power", StopReason.POWER_LOSS),
])
def test_events_at_the_pile_end_the_session_with_their_reason(
    sm: SessionMachine, event: str, reason: StopReason
) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    if event == "unplug":
        sm.unplug(gun)
    elif event == "button":
        sm.press_stop_button(gun)
    elif event == "fault":
        sm.raise_fault(gun, ESTOP, "emergency_stop", powered=True)
    else:
        sm.power_loss(gun)
    assert not gun.in_session and gun.stop_reason is reason


def test_fault_latches_until_the_cause_is_gone_and_a_reset(sm: SessionMachine,
                                                           log: list[str]) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    sm.raise_fault(gun, ESTOP, "emergency_stop", powered=True)
    assert gun.state is GunState.FAULTED and log[-1] == "P-1: fault emergency_stop raised"
    assert sm.command(gun, Command.START, 5.0) is CmdResult.FAULTED
    assert sm.command(gun, Command.RESERVE, 5.0) is CmdResult.FAULTED
    assert sm.command(gun, Command.RESET_FAULT, 5.0) is CmdResult.FAULTED  # cause present
    sm.clear_fault(gun, ESTOP)
    assert gun.state is GunState.FAULTED  # latched
    assert sm.command(gun, Command.RESET_FAULT, 6.0) is CmdResult.ACCEPTED
    assert gun.state is GunState.PLUGGED  # not finishing: ready for a new start
    assert log[-1] == "P-1: faults reset"
    assert sm.command(gun, Command.START, 7.0) is CmdResult.ACCEPTED


def test_fault_while_unpowered_only_records_the_cause(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.raise_fault(gun, ESTOP, "emergency_stop", powered=False)
    assert (gun.fault_causes, gun.faults, gun.state) == (ESTOP, 0, GunState.AVAILABLE)


def test_fault_cancels_a_pending_start_and_a_reservation(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    gun.session_tag_reg = 9
    sm.command(gun, Command.RESERVE, 0.0)
    sm.command(gun, Command.START, 0.0)
    sm.raise_fault(gun, ESTOP, "emergency_stop", powered=True)
    assert gun.pending_start is None and gun.reserved_tag is None
    sm.start_if_due(gun, 10.0)
    assert not gun.in_session


def test_reservation_admits_only_its_tag(sm: SessionMachine) -> None:
    gun = new_gun()
    gun.session_tag_reg = 7
    assert sm.command(gun, Command.RESERVE, 0.0) is CmdResult.ACCEPTED
    assert gun.state is GunState.RESERVED
    sm.plug(gun, ev())
    assert gun.state is GunState.RESERVED
    gun.session_tag_reg = 8
    assert sm.command(gun, Command.RESERVE, 0.0) is CmdResult.RESERVED_OTHER
    assert sm.command(gun, Command.START, 0.0) is CmdResult.RESERVED_OTHER
    assert sm.card_start(gun, 0.0) is CmdResult.RESERVED_OTHER  # a card start has no tag
    gun.session_tag_reg = 7
    start_session(sm, gun, tag=7)
    assert gun.reserved_tag is None  # the session took the reservation


def test_cancel_reservation_also_when_there_is_none(sm: SessionMachine) -> None:
    gun = new_gun()
    assert sm.command(gun, Command.CANCEL_RESERVATION, 0.0) is CmdResult.ACCEPTED
    gun.session_tag_reg = 3
    sm.command(gun, Command.RESERVE, 0.0)
    assert sm.command(gun, Command.CANCEL_RESERVATION, 0.0) is CmdResult.ACCEPTED
    assert gun.state is GunState.AVAILABLE


def test_card_start_has_tag_zero(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    gun.session_tag_reg = 44
    assert sm.card_start(gun, 3.0) is CmdResult.ACCEPTED
    assert gun.pending_start == (4.0, 0)


def test_unavailable_gun_refuses_start_and_cannot_be_taken_out_while_charging(
    sm: SessionMachine,
) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    sm.set_available(gun, False)
    assert gun.state is GunState.UNAVAILABLE
    assert sm.command(gun, Command.START, 0.0) is CmdResult.UNAVAILABLE
    sm.set_available(gun, True)
    start_session(sm, gun)
    with pytest.raises(SimError) as err:
        sm.set_available(gun, False)
    assert err.value.status == 409 and gun.in_session


def test_start_that_falls_due_without_ev_does_not_open(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    sm.command(gun, Command.START, 0.0)
    gun.ev = None  # the EV went away without the pile noticing
    sm.start_if_due(gun, 1.0)
    assert not gun.in_session and gun.pending_start is None


def test_fallback_stop_after_a_paused_spell(sm: SessionMachine, log: list[str]) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    gun.state = GunState.SUSPENDED_EVSE  # the fallback power holds it
    sm.fallback_stop(gun, watchdog_expired=True, now=20.0)
    assert gun.paused_by_fallback_since == 20.0
    sm.fallback_stop(gun, watchdog_expired=True, now=29.9)
    assert gun.in_session
    sm.fallback_stop(gun, watchdog_expired=True, now=30.0)
    assert not gun.in_session and gun.stop_reason is StopReason.FALLBACK
    assert "stopped: fallback" in log[-1]


def test_fallback_timer_restarts_when_the_watchdog_is_fed(sm: SessionMachine) -> None:
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    gun.state = GunState.SUSPENDED_EVSE
    sm.fallback_stop(gun, True, 20.0)
    sm.fallback_stop(gun, False, 25.0)
    assert gun.paused_by_fallback_since is None
    sm.fallback_stop(gun, True, 26.0)
    sm.fallback_stop(gun, True, 35.0)
    assert gun.in_session


def test_without_fallback_stop_a_paused_session_runs_on() -> None:
    sm = SessionMachine("P", TIMING)  # fallback_stop_after_s 0: never
    gun = new_gun()
    sm.plug(gun, ev())
    start_session(sm, gun)
    gun.state = GunState.SUSPENDED_EVSE
    for now in (10.0, 1e6):
        sm.fallback_stop(gun, True, now)
    assert gun.in_session


def test_session_counter_wraps(sm: SessionMachine) -> None:
    gun = new_gun()
    gun.session_counter = 0xFFFF
    sm.plug(gun, ev())
    start_session(sm, gun)
    assert gun.session_counter == 0


def test_command_values_the_register_accepts() -> None:
    from firmware_sim.pile.sessions import COMMAND_VALUES

    assert COMMAND_VALUES == {0, 1, 2, 3, 4, 6}


# --- every sequence of events -----------------------------------------------------------------


def expected_idle_state(gun: Gun) -> GunState:
    """The spec's states for a gun out of session, written out independently of settle()."""
    if gun.faults:
        return GunState.FAULTED
    if gun.unavailable:
        return GunState.UNAVAILABLE
    if gun.reserved_tag is not None:
        return GunState.RESERVED
    if gun.ev is None:
        return GunState.AVAILABLE
    return GunState.FINISHING if gun.finished_with_ev else GunState.PLUGGED


class Sessions(RuleBasedStateMachine):
    """Random events and commands on one gun; the rules the spec states must hold after each."""

    def __init__(self) -> None:
        super().__init__()
        self.sm = SessionMachine("P", TIMING, fallback_stop_after_s=5.0)
        self.gun = new_gun()
        self.now = 0.0
        self.sessions_begun = 0
        self.was_in_session = False
        self.latched_causes = 0  # raised on a powered pile and not cleared since

    def _track(self) -> None:
        if self.gun.in_session and not self.was_in_session:
            self.sessions_begun += 1
        if self.was_in_session and not self.gun.in_session:
            assert self.gun.stop_reason is not StopReason.NONE
            assert self.gun.power_w == 0.0
        self.was_in_session = self.gun.in_session

    @rule(tag=st.sampled_from([0, 1, 7]), command=st.sampled_from(list(Command)))
    def command(self, tag: int, command: Command) -> None:
        gun = self.gun
        before_ok = (gun.ev is not None and gun.state is not GunState.FAULTED
                     and not gun.unavailable and not gun.in_session and not gun.pending_start)
        gun.session_tag_reg = tag
        causes = gun.fault_causes
        result = self.sm.command(gun, command, self.now)
        if command is Command.START and result is CmdResult.ACCEPTED:
            assert before_ok and gun.pending_start == (self.now + 1.0, tag)
        if command in (Command.STOP, Command.CANCEL_RESERVATION):
            assert result is CmdResult.ACCEPTED
        if command is Command.STOP:
            assert not gun.in_session and gun.pending_start is None
        if command is Command.RESET_FAULT:
            assert result is (CmdResult.FAULTED if causes else CmdResult.ACCEPTED)
            if not causes:
                assert gun.faults == 0
        self._track()

    @rule()
    def card_start(self) -> None:
        self.sm.card_start(self.gun, self.now)
        self._track()

    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 3.0]), expired=st.booleans())
    def time_passes(self, dt: float, expired: bool) -> None:
        self.now += dt
        self.sm.fallback_stop(self.gun, expired, self.now)
        self._track()
        self.sm.start_if_due(self.gun, self.now)
        self._track()

    @precondition(lambda self: self.gun.in_session)
    @rule(state=st.sampled_from([GunState.CHARGING, GunState.SUSPENDED_EV,
                                 GunState.SUSPENDED_EVSE]))
    def physics_says(self, state: GunState) -> None:
        self.gun.state = state
        self.gun.power_w = 1000.0 if state is GunState.CHARGING else 0.0

    @rule()
    def plug_or_unplug(self) -> None:
        if self.gun.ev is None:
            self.sm.plug(self.gun, ev())
        else:
            self.sm.unplug(self.gun)
        self._track()

    @rule(fault=st.sampled_from(list(FAULT_BITS)), powered=st.booleans())
    def raise_fault(self, fault: str, powered: bool) -> None:
        self.sm.raise_fault(self.gun, fault_mask([fault]), fault, powered)
        if powered:
            self.latched_causes |= fault_mask([fault])
        self._track()

    @rule(fault=st.sampled_from(list(FAULT_BITS)))
    def clear_fault(self, fault: str) -> None:
        self.sm.clear_fault(self.gun, fault_mask([fault]))
        self.latched_causes &= ~fault_mask([fault])

    @rule(available=st.booleans())
    def set_available(self, available: bool) -> None:
        try:
            self.sm.set_available(self.gun, available)
        except SimError:
            assert not available and (self.gun.in_session or self.gun.pending_start)

    @rule()
    def button(self) -> None:
        self.sm.press_stop_button(self.gun)
        self._track()

    @rule()
    def power_loss(self) -> None:
        self.sm.power_loss(self.gun)
        self._track()

    @invariant()
    def a_session_needs_an_ev_and_no_fault(self) -> None:
        gun = self.gun
        if gun.in_session:
            assert gun.ev is not None and not gun.faults and not gun.unavailable
            assert gun.pending_start is None and gun.reserved_tag is None

    @invariant()
    def out_of_session_the_state_follows_the_spec(self) -> None:
        if not self.gun.in_session:
            assert self.gun.state is expected_idle_state(self.gun)

    @invariant()
    def a_fault_raised_while_powered_stays_latched_while_its_cause_lasts(self) -> None:
        assert self.gun.faults & self.latched_causes == self.latched_causes

    @invariant()
    def the_counter_counts_every_session(self) -> None:
        assert self.gun.session_counter == self.sessions_begun


Sessions.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSessions = Sessions.TestCase
