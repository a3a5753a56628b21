"""per-station gun counts by state, kept by the database as guns change

`station_gun_counts` holds, per station, how many of its guns are in each state (a NULL
state counted as `unknown`) and, under state '' (the station's row), how many guns it has.
Triggers on `guns` keep it: the ingest writes gun states from telemetry (and adds guns it
has not seen), the archive adds guns; every writer goes through them, so the counts equal
`GROUP BY sid, state` over `guns` after every commit. The console's home map reads these
rows (about five per station) instead of grouping every gun.

Each trigger firing touches the station's '' row first: that row lock orders two
transactions changing guns of the same station (PostgreSQL), so they never wait on each
other's state rows in opposite orders. The gun rows themselves are locked before the
trigger runs, so writers that change several guns of a station lock the station's row first
(cloud/db.py `lock_stations`, docs/cloud.md "One lock order").

Revision ID: 0028_console10
Revises: 0032_notices
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_console10"
down_revision: str | None = "0032_notices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_add(row: str, sign: str) -> str:
    """SQLite trigger statements adding `sign`1 to the '' row and the state row of `row`
    (NEW or OLD); a missing row is made first (no UPSERT inside SQLite triggers)."""
    out = []
    for state in ("''", f"COALESCE({row}.state, 'unknown')"):
        if sign == "+":
            out.append(
                f"INSERT OR IGNORE INTO station_gun_counts (sid, state, n) VALUES ({row}.sid, {state}, 0);"
            )
        out.append(
            f"UPDATE station_gun_counts SET n = n {sign} 1 WHERE sid = {row}.sid AND state = {state};"
        )
    return "\n        ".join(out)


SQLITE = [
    f"""CREATE TRIGGER guns_count_insert AFTER INSERT ON guns
    BEGIN
        {_sqlite_add("NEW", "+")}
    END""",
    f"""CREATE TRIGGER guns_count_update AFTER UPDATE OF sid, state ON guns
    WHEN OLD.sid IS NOT NEW.sid OR OLD.state IS NOT NEW.state
    BEGIN
        {_sqlite_add("OLD", "-")}
        {_sqlite_add("NEW", "+")}
    END""",
    f"""CREATE TRIGGER guns_count_delete AFTER DELETE ON guns
    BEGIN
        {_sqlite_add("OLD", "-")}
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS guns_count_delete",
    "DROP TRIGGER IF EXISTS guns_count_update",
    "DROP TRIGGER IF EXISTS guns_count_insert",
]

POSTGRESQL = [
    """CREATE FUNCTION guns_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            UPDATE station_gun_counts SET n = n - 1 WHERE sid = OLD.sid AND state = '';
            UPDATE station_gun_counts SET n = n - 1 WHERE sid = OLD.sid AND state = COALESCE(OLD.state, 'unknown');
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO station_gun_counts AS c (sid, state, n) VALUES (NEW.sid, '', 1)
                ON CONFLICT (sid, state) DO UPDATE SET n = c.n + 1;
            INSERT INTO station_gun_counts AS c (sid, state, n) VALUES (NEW.sid, COALESCE(NEW.state, 'unknown'), 1)
                ON CONFLICT (sid, state) DO UPDATE SET n = c.n + 1;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER guns_count_insert AFTER INSERT OR DELETE ON guns
    FOR EACH ROW EXECUTE FUNCTION guns_count()""",
    """CREATE TRIGGER guns_count_update AFTER UPDATE OF sid, state ON guns
    FOR EACH ROW WHEN (OLD.sid IS DISTINCT FROM NEW.sid OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION guns_count()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS guns_count_update ON guns",
    "DROP TRIGGER IF EXISTS guns_count_insert ON guns",
    "DROP FUNCTION IF EXISTS guns_count()",
]

BACKFILL = [
    """INSERT INTO station_gun_counts (sid, state, n)
    SELECT sid, COALESCE(state, 'unknown'), COUNT(*) FROM guns GROUP BY sid, COALESCE(state, 'unknown')""",
    "INSERT INTO station_gun_counts (sid, state, n) SELECT sid, '', COUNT(*) FROM guns GROUP BY sid",
]


def upgrade() -> None:
    op.create_table(
        "station_gun_counts",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sid", "state", name=op.f("pk_station_gun_counts")),
    )
    for stmt in BACKFILL:
        op.execute(stmt)
    dialect = op.get_bind().dialect.name
    for stmt in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP:
        op.execute(stmt)
    op.drop_table("station_gun_counts")
