"""The cloud's data model (SQLAlchemy 2, typed). Money in integer fen, times in epoch ms."""

from cloud.models.base import Base, now_ms
from cloud.models.commands import CommandLog
from cloud.models.records import (
    ChargingSession,
    MeterMinuteRow,
    RawRecord,
    SeqConflict,
    StationEvent,
)
from cloud.models.security import ApiToken, IssuedCert, ProvisioningToken
from cloud.models.station import Gun, Pile, Station, StationGunCount, StationSeq, StationState

__all__ = [
    "ApiToken", "Base", "ChargingSession", "CommandLog", "Gun", "IssuedCert", "MeterMinuteRow", "Pile",
    "ProvisioningToken", "RawRecord", "SeqConflict", "Station", "StationEvent", "StationGunCount", "StationSeq", "StationState",
    "now_ms",
]  # fmt: skip

# Domain packages keep their own models; importing them registers their tables on Base.metadata
# (Alembic's target). Module imports, so that importing a domain model first also works.
import cloud.alarms.models  # noqa: E402, F401  (alarms)
import cloud.audit.models  # noqa: E402, F401  (console: the audit log)
import cloud.charging.models  # noqa: E402, F401  (charging: ratings, prepaid starts)
import cloud.community.models  # noqa: E402, F401  (community: reviews, posts, gun reports)
import cloud.drivers.models  # noqa: E402, F401
import cloud.jobs.models  # noqa: E402, F401
import cloud.ledger.models  # noqa: E402, F401
import cloud.occupancy.models  # noqa: E402, F401  (the occupancy forecast per station)
import cloud.operators.models  # noqa: E402, F401  (console: operators, sessions)
import cloud.orders.models  # noqa: E402, F401
import cloud.recommend.models  # noqa: E402, F401  (recommendations: the operators' weights)
import cloud.reports.models  # noqa: E402, F401
import cloud.reservations.models  # noqa: E402, F401  (reservations of guns)
import cloud.settlement.models  # noqa: E402, F401  (console: settlement)
import cloud.sharing.models  # noqa: E402, F401  (private pile sharing)
import cloud.swap.models  # noqa: E402, F401  (battery-swap stations)
import cloud.tariffs.models  # noqa: E402, F401
import cloud.wallet.models  # noqa: E402, F401
