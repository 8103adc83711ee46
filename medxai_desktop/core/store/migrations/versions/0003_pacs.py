"""PACS: ``pacs_instances`` (the node and UIDs each retrieved instance came from) and
``pacs_sent`` (what was sent to which node, when and by whom).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacs_instances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("series_uid", sa.String(64)),
        sa.Column("sop_uid", sa.String(64), nullable=False),
        sa.Column("path", sa.Text()),
        sa.Column("retrieved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacs_instances")),
        sa.UniqueConstraint("node", "sop_uid", name=op.f("uq_pacs_instances_node_sop_uid")))
    op.create_index(op.f("ix_pacs_instances_study_uid"), "pacs_instances", ["study_uid"])
    op.create_index(op.f("ix_pacs_instances_sop_uid"), "pacs_instances", ["sop_uid"])
    op.create_table(
        "pacs_sent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sop_uid", sa.String(64), nullable=False),
        sa.Column("source_uids", sa.JSON(), nullable=False),
        sa.Column("sent_by", sa.String(200)),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacs_sent")),
        sa.UniqueConstraint("node", "sop_uid", name=op.f("uq_pacs_sent_node_sop_uid")))


def downgrade() -> None:
    op.drop_table("pacs_sent")
    op.drop_index(op.f("ix_pacs_instances_sop_uid"), table_name="pacs_instances")
    op.drop_index(op.f("ix_pacs_instances_study_uid"), table_name="pacs_instances")
    op.drop_table("pacs_instances")
