"""Battery-swap tables: which stations swap packs, their bays, the pack types, the packs
in stock and the drivers' bookings of swap slots. A charging station has no row here."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms

BAY_STATES = ("free", "swapping", "maintenance")
PACK_STATES = ("charging", "ready", "out")  # out: out of service (not counted as stock)
_LIVE_SQL = "state = 'booked'"


class SwapStation(Base):
    """A station of kind `swap` (a row here), keyed by the station archive's sid."""

    __tablename__ = "swap_stations"
    __table_args__ = (CheckConstraint("slot_minutes BETWEEN 5 AND 60", name="slot_minutes"),)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    slot_minutes: Mapped[int] = mapped_column(default=10)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class SwapBay(Base):
    __tablename__ = "swap_bays"
    __table_args__ = (CheckConstraint("state IN ('free', 'swapping', 'maintenance')", name="state"),)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("swap_stations.sid"), primary_key=True)
    bay_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="free")
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class PackType(Base):
    """A kind of pack (by battery model and capacity): a booking asks for one of a type."""

    __tablename__ = "swap_pack_types"
    __table_args__ = (CheckConstraint("kwh > 0 AND kwh <= 1000 AND charge_minutes BETWEEN 1 AND 1440",
                                      name="sizes"),)
    type_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kwh: Mapped[int]
    charge_minutes: Mapped[int] = mapped_column(default=60)  # a returned pack's time to ready


class SwapPack(Base):
    __tablename__ = "swap_packs"
    __table_args__ = (
        CheckConstraint("state IN ('charging', 'ready', 'out')", name="state"),
        CheckConstraint("soc_pct BETWEEN 0 AND 100", name="soc"),
        Index("ix_swap_packs_sid_type", "sid", "type_code"),
    )
    pack_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("swap_stations.sid"))
    type_code: Mapped[str] = mapped_column(String(32), ForeignKey("swap_pack_types.type_code"))
    state: Mapped[str] = mapped_column(String(16), default="ready")
    soc_pct: Mapped[int] = mapped_column(default=100)
    ready_at: Mapped[int | None]  # charging: the expected time it is ready
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class SwapBooking(Base):
    """A driver's booking of a swap slot for a pack type; the fee terms are copied from the
    station's reservation rules when booked, as for gun reservations."""

    __tablename__ = "swap_bookings"
    __table_args__ = (
        CheckConstraint("state IN ('booked', 'used', 'cancelled', 'expired')", name="state"),
        CheckConstraint("fee_state IN ('none', 'held', 'refunded', 'kept')", name="fee_state"),
        CheckConstraint("fee_fen >= 0 AND until > slot_start", name="amounts"),
        Index("ux_swap_bookings_live_driver", "driver_id", unique=True,
              sqlite_where=text(_LIVE_SQL), postgresql_where=text(_LIVE_SQL)),
        Index("ix_swap_bookings_sid_slot", "sid", "slot_start"),
        Index("ix_swap_bookings_state_until", "state", "until"),
    )
    booking_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("swap_stations.sid"))
    type_code: Mapped[str] = mapped_column(String(32), ForeignKey("swap_pack_types.type_code"))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    slot_start: Mapped[int]
    until: Mapped[int]  # the slot's end: a booking not used by then is a no-show
    state: Mapped[str] = mapped_column(String(16), default="booked")
    fee_fen: Mapped[int] = mapped_column(default=0)
    fee_state: Mapped[str] = mapped_column(String(16), default="none")
    refund_on_start: Mapped[bool] = mapped_column(Boolean, default=True)
    refund_on_cancel: Mapped[bool] = mapped_column(Boolean, default=True)
    keep_on_no_show: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_at: Mapped[int | None]
    no_show: Mapped[bool] = mapped_column(Boolean, default=False)
    bay_id: Mapped[str | None] = mapped_column(String(32))  # the bay the swap was done in
