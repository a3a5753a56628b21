"""community: station reviews, posts and replies, photos, broken-gun reports, sensitive words, bans

Revision ID: 0023_community
Revises: 0024_swap
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0023_community"
down_revision: str | None = "0024_swap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_reviews",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("stars", BIGINT, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_community_reviews_stars")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_community_reviews_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_reviews")),
        sa.UniqueConstraint("order_id", name=op.f("uq_community_reviews_order_id")),
    )
    op.create_index("ix_community_reviews_sid_created_at", "community_reviews", ["sid", "created_at"])
    op.create_index(op.f("ix_community_reviews_driver_id"), "community_reviews", ["driver_id"])
    op.create_table(
        "community_posts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("parent_id", BIGINT, nullable=True),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_community_posts_sid_stations")),
        sa.ForeignKeyConstraint(["parent_id"], ["community_posts.id"],
                                name=op.f("fk_community_posts_parent_id_community_posts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_posts")),
    )
    op.create_index("ix_community_posts_sid_created_at", "community_posts", ["sid", "created_at"])
    op.create_index("ix_community_posts_parent_id", "community_posts", ["parent_id"])
    op.create_index(op.f("ix_community_posts_driver_id"), "community_posts", ["driver_id"])
    op.create_table(
        "community_photos",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("size", BIGINT, nullable=False),
        sa.Column("review_id", BIGINT, nullable=True),
        sa.Column("report_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["community_reviews.id"],
                                name=op.f("fk_community_photos_review_id_community_reviews")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_photos")),
    )
    op.create_index(op.f("ix_community_photos_driver_id"), "community_photos", ["driver_id"])
    op.create_index(op.f("ix_community_photos_review_id"), "community_photos", ["review_id"])
    op.create_table(
        "community_gun_reports",
        sa.Column("report_id", sa.String(length=40), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo_id", sa.String(length=32), nullable=True),
        sa.Column("alarm_id", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_community_gun_reports_sid_stations")),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_community_gun_reports_alarm_id_alarms")),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_community_gun_reports")),
    )
    op.create_index(op.f("ix_community_gun_reports_driver_id"), "community_gun_reports", ["driver_id"])
    op.create_index(op.f("ix_community_gun_reports_alarm_id"), "community_gun_reports", ["alarm_id"])
    op.create_table(
        "community_sensitive_words",
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_community_sensitive_words")),
    )
    op.create_table(
        "community_bans",
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("banned_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_community_bans")),
    )


def downgrade() -> None:
    op.drop_table("community_bans")
    op.drop_table("community_sensitive_words")
    op.drop_index(op.f("ix_community_gun_reports_alarm_id"), table_name="community_gun_reports")
    op.drop_index(op.f("ix_community_gun_reports_driver_id"), table_name="community_gun_reports")
    op.drop_table("community_gun_reports")
    op.drop_index(op.f("ix_community_photos_review_id"), table_name="community_photos")
    op.drop_index(op.f("ix_community_photos_driver_id"), table_name="community_photos")
    op.drop_table("community_photos")
    op.drop_index(op.f("ix_community_posts_driver_id"), table_name="community_posts")
    op.drop_index("ix_community_posts_parent_id", table_name="community_posts")
    op.drop_index("ix_community_posts_sid_created_at", table_name="community_posts")
    op.drop_table("community_posts")
    op.drop_index(op.f("ix_community_reviews_driver_id"), table_name="community_reviews")
    op.drop_index("ix_community_reviews_sid_created_at", table_name="community_reviews")
    op.drop_table("community_reviews")
