"""Measurements: ``measurements`` (a length, rectangle or ellipse on an image) and
``measurement_revisions`` (each change a new row: the shape, what was measured on it, the pixel
spacing used, state, action, reviewer, time), append-only like ``box_revisions``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies of the values at this revision (migrations must not import schema.py).
KINDS = ("length", "rectangle", "ellipse")
STATES = ("added", "edited", "removed")
ACTIONS = ("add", "edit", "delete", "undo", "redo")
HISTORY = "measurement_revisions"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("kind", KINDS), name=op.f("ck_measurements_kind")),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_measurements_image_id_images")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")))
    op.create_index(op.f("ix_measurements_image_id"), "measurements", ["image_id"])
    op.create_table(
        HISTORY,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("measurement_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("measured", sa.JSON(), nullable=False),
        sa.Column("value_unit", sa.String(32)),
        sa.Column("row_spacing", sa.Float()),
        sa.Column("column_spacing", sa.Float()),
        sa.Column("spacing_source", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_revision", sa.Integer()),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_measurement_revisions_revision_positive")),
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_measurement_revisions_state")),
        sa.CheckConstraint(_in("action", ACTIONS), name=op.f("ck_measurement_revisions_action")),
        sa.CheckConstraint("(row_spacing IS NULL) = (column_spacing IS NULL)",
                           name=op.f("ck_measurement_revisions_spacing_pair")),
        sa.ForeignKeyConstraint(["measurement_id"], ["measurements.id"],
                                name=op.f("fk_measurement_revisions_measurement_id_measurements")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.id"],
                                name=op.f("fk_measurement_revisions_reviewer_id_reviewers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement_revisions")),
        sa.UniqueConstraint("measurement_id", "revision",
                            name=op.f("uq_measurement_revisions_measurement_id_revision")))
    op.create_index(op.f("ix_measurement_revisions_reviewer_id"), HISTORY, ["reviewer_id"])
    _forbid_update_and_delete(HISTORY)


def _forbid_update_and_delete(table: str) -> None:
    """History is never rewritten: the database itself refuses UPDATE and DELETE (as 0001 does
    for the box revisions)."""
    message = f"{table} is append-only: rows are never updated or deleted"
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    else:
        op.execute(f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(f"DROP FUNCTION IF EXISTS {HISTORY}_append_only() CASCADE")
    op.drop_table(HISTORY)   # SQLite drops a table's triggers with it
    op.drop_table("measurements")
