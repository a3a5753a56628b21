"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The column types of cloud.models.base, spelled out so that this file never changes.
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_certs",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_cn", sa.String(length=64), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("not_before", BIGINT, nullable=False),
        sa.Column("not_after", BIGINT, nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("issued_at", BIGINT, nullable=False),
        sa.Column("revoked_at", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_issued_certs")),
    )
    with op.batch_alter_table("issued_certs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issued_certs_subject_cn"), ["subject_cn"], unique=False
        )

    op.create_table(
        "stations",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_stations")),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", JSONDOC, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.String(length=32), nullable=True),
        sa.Column("detail", JSONDOC, nullable=True),
        sa.Column("replied_at", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_commands_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commands_sid"), ["sid"], unique=False)

    op.create_table(
        "events",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("ts", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=True),
        sa.Column("detail", JSONDOC, nullable=False),
        sa.PrimaryKeyConstraint("sid", "seq", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_sid_ts", ["sid", "ts"], unique=False)

    op.create_table(
        "guns",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun_id", sa.String(length=36), nullable=False),
        sa.Column("pile_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("state_ts", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_guns_sid_stations")),
        sa.PrimaryKeyConstraint("sid", "gun_id", name=op.f("pk_guns")),
    )
    op.create_table(
        "meter_minutes",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("ts", BIGINT, nullable=False),
        sa.Column("p_avg_w", BIGINT, nullable=False),
        sa.Column("p_max_w", BIGINT, nullable=False),
        sa.Column("load_pct_max", sa.Float(), nullable=False),
        sa.Column("energy_import_wh", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("sid", "seq", name=op.f("pk_meter_minutes")),
    )
    with op.batch_alter_table("meter_minutes", schema=None) as batch_op:
        batch_op.create_index("ix_meter_minutes_sid_ts", ["sid", "ts"], unique=False)

    op.create_table(
        "piles",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("pile_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_piles_sid_stations")),
        sa.PrimaryKeyConstraint("sid", "pile_id", name=op.f("pk_piles")),
    )
    op.create_table(
        "provisioning_tokens",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("used_at", BIGINT, nullable=True),
        sa.Column("cert_serial", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["sid"], ["stations.sid"], name=op.f("fk_provisioning_tokens_sid_stations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_provisioning_tokens_token_sha256")),
    )
    with op.batch_alter_table("provisioning_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisioning_tokens_sid"), ["sid"], unique=False)

    op.create_table(
        "raw_records",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ts", BIGINT, nullable=False),
        sa.Column("payload", JSONDOC, nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag_reason", sa.String(length=32), nullable=True),
        sa.Column("received_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("sid", "seq", name=op.f("pk_raw_records")),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("auth", sa.String(length=80), nullable=True),
        sa.Column("limit_mode", sa.String(length=16), nullable=True),
        sa.Column("limit_value", BIGINT, nullable=True),
        sa.Column("power_cap_w", BIGINT, nullable=True),
        sa.Column("energy_start_wh", BIGINT, nullable=True),
        sa.Column("energy_wh", BIGINT, nullable=True),
        sa.Column("energy_stop_wh", BIGINT, nullable=True),
        sa.Column("power_w", BIGINT, nullable=True),
        sa.Column("voltage_v", sa.Float(), nullable=True),
        sa.Column("current_a", sa.Float(), nullable=True),
        sa.Column("soc", BIGINT, nullable=True),
        sa.Column("cost_fen", BIGINT, nullable=True),
        sa.Column("started_at", BIGINT, nullable=True),
        sa.Column("ended_at", BIGINT, nullable=True),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("signature_ok", sa.Boolean(), nullable=True),
        sa.Column("started_seq", BIGINT, nullable=True),
        sa.Column("progress_seq", BIGINT, nullable=True),
        sa.Column("ended_seq", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_sessions_sid_stations")),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_sid"), ["sid"], unique=False)

    op.create_table(
        "station_seq",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("acked_seq", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["sid"], ["stations.sid"], name=op.f("fk_station_seq_sid_stations")
        ),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_station_seq")),
    )
    op.create_table(
        "station_state",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("state_ts", BIGINT, nullable=True),
        sa.Column("fw", sa.String(length=64), nullable=True),
        sa.Column("cfg_rev", sa.String(length=64), nullable=True),
        sa.Column("last_seen", BIGINT, nullable=True),
        sa.Column("telemetry", JSONDOC, nullable=True),
        sa.Column("telemetry_ts", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(
            ["sid"], ["stations.sid"], name=op.f("fk_station_state_sid_stations")
        ),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_station_state")),
    )


def downgrade() -> None:
    op.drop_table("station_state")
    op.drop_table("station_seq")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_sid"))
        batch_op.drop_index(batch_op.f("ix_sessions_order_id"))

    op.drop_table("sessions")
    op.drop_table("raw_records")
    with op.batch_alter_table("provisioning_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisioning_tokens_sid"))

    op.drop_table("provisioning_tokens")
    op.drop_table("piles")
    with op.batch_alter_table("meter_minutes", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_minutes_sid_ts")

    op.drop_table("meter_minutes")
    op.drop_table("guns")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_sid_ts")

    op.drop_table("events")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_sid"))

    op.drop_table("commands")
    op.drop_table("stations")
    with op.batch_alter_table("issued_certs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_certs_subject_cn"))

    op.drop_table("issued_certs")
