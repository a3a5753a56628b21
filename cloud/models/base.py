"""Declarative base: integer types, JSON, constraint names that migrations can rely on."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

# Timestamps are epoch ms and energy registers exceed 2^31: 64-bit everywhere. On SQLite,
# INTEGER already is 64-bit and only "INTEGER PRIMARY KEY" autoincrements.
BigInt = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {int: BigInt, dict[str, Any]: JsonDoc}


def now_ms() -> int:
    return int(time.time() * 1000)
