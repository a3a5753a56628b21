"""The gateway's local SQLite store: outbox, sessions, events and alarms, minute samples,
the offline card list, settings, the pairing codes made here. See docs/store.md.

    store = Store.open("/var/lib/juchong/station.db", cap_bytes=200 * 2**20)
    if store.startup_alarm:
        ...  # raise it as an alarm event
    seq = store.outbox.append("meter_minute", {...}, ts_ms)
"""

from .cards import Card, Cards
from .events import Alarm, Alarms, EventRow, Events
from .lock import StoreError, StoreLocked
from .migrations import LATEST as SCHEMA_VERSION
from .migrations import SchemaTooNew
from .outbox import MINOR_EVENT_KINDS, Outbox, OutboxRecord
from .pairing import PairingCodeRow, PairingCodes
from .prune import PruneReport
from .samples import MinuteSample, Samples
from .sessions import SessionRow, Sessions, SessionState
from .settings import Settings, TariffEntry
from .store import RecoveryReport, Store, StoreAlarm, open_store

__all__ = [
    "MINOR_EVENT_KINDS",
    "SCHEMA_VERSION",
    "Alarm",
    "Alarms",
    "Card",
    "Cards",
    "EventRow",
    "Events",
    "MinuteSample",
    "Outbox",
    "OutboxRecord",
    "PairingCodeRow",
    "PairingCodes",
    "PruneReport",
    "RecoveryReport",
    "Samples",
    "SchemaTooNew",
    "SessionRow",
    "SessionState",
    "Sessions",
    "Settings",
    "TariffEntry",
    "Store",
    "StoreAlarm",
    "StoreError",
    "StoreLocked",
    "open_store",
]
