"""Batched imports: an ``imports`` table, and an ``import_id`` on the rows an import writes
(reviewers, studies, series, images, boxes, audit_log), so that an import can commit in short
batches yet stay invisible until its last, small transaction marks it committed. The history
tables stay append-only, except for the rows of an import that was never committed (deleted
when it is cleaned up); a committed import is final.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the values at this revision (migrations must not import schema.py).
IMPORT_STATES = ("pending", "committed", "failed")
MARKED_TABLES = ("reviewers", "studies", "series", "images", "boxes", "audit_log")

# When a row of a history table may be deleted: it belongs to an import never committed.
_UNFINISHED = {
    "box_revisions": "SELECT 1 FROM boxes JOIN imports ON imports.id = boxes.import_id "
                     "WHERE boxes.id = OLD.box_id AND imports.state <> 'committed'",
    "audit_log": "SELECT 1 FROM imports WHERE imports.id = OLD.import_id "
                 "AND imports.state <> 'committed'",
}


def _message(table: str) -> str:
    return f"{table} is append-only: rows are never updated or deleted"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state IN (" + ", ".join(repr(s) for s in IMPORT_STATES) + ")",
                           name=op.f("ck_imports_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")))
    op.create_index(op.f("ix_imports_state"), "imports", ["state"])
    for table in MARKED_TABLES:
        fk = f"fk_{table}_import_id_imports"
        if _sqlite():  # SQLite adds a column with its reference, but no constraint later
            op.execute(f"ALTER TABLE {table} ADD COLUMN import_id INTEGER "
                       f"CONSTRAINT {fk} REFERENCES imports (id)")
        else:
            op.add_column(table, sa.Column("import_id", sa.Integer()))
            op.create_foreign_key(op.f(fk), table, "imports", ["import_id"], ["id"])
        op.create_index(op.f(f"ix_{table}_import_id"), table, ["import_id"])
    for table, unfinished in _UNFINISHED.items():
        _append_only_but_unfinished_imports(table, unfinished)
    _committed_imports_are_final()


def _append_only_but_unfinished_imports(table: str, unfinished: str) -> None:
    if _sqlite():
        op.execute(f"DROP TRIGGER {table}_no_delete")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"WHEN NOT EXISTS ({unfinished}) "
                   f"BEGIN SELECT RAISE(ABORT, '{_message(table)}'); END")
    else:  # the same function serves the row triggers (UPDATE, DELETE) and TRUNCATE
        op.execute(f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN "
                   f"IF TG_OP = 'DELETE' THEN IF EXISTS ({unfinished}) THEN RETURN OLD; END IF; END IF; "
                   f"RAISE EXCEPTION '{_message(table)}'; END $$")


def _committed_imports_are_final() -> None:
    message = "a committed import is final: it is never changed back or deleted"
    if _sqlite():
        op.execute("CREATE TRIGGER imports_final_update BEFORE UPDATE OF state ON imports "
                   "WHEN OLD.state = 'committed' AND NEW.state <> 'committed' "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        op.execute("CREATE TRIGGER imports_final_delete BEFORE DELETE ON imports "
                   f"WHEN OLD.state = 'committed' BEGIN SELECT RAISE(ABORT, '{message}'); END")
    else:
        op.execute("CREATE FUNCTION imports_final() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF OLD.state = 'committed' AND (TG_OP = 'DELETE' OR NEW.state <> 'committed') "
                   f"THEN RAISE EXCEPTION '{message}'; END IF; "
                   "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$")
        op.execute("CREATE TRIGGER imports_final BEFORE UPDATE OR DELETE ON imports "
                   "FOR EACH ROW EXECUTE FUNCTION imports_final()")


def downgrade() -> None:
    """Back to 0001 (the rows of unfinished imports should be cleaned up first: open the store)."""
    if _sqlite():
        for table in _UNFINISHED:
            op.execute(f"DROP TRIGGER {table}_no_delete")
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{_message(table)}'); END")
        for name in ("imports_final_update", "imports_final_delete"):
            op.execute(f"DROP TRIGGER {name}")
    else:
        for table in _UNFINISHED:
            op.execute(f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
                       f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_message(table)}'; END $$")
        op.execute("DROP FUNCTION imports_final() CASCADE")
    for table in MARKED_TABLES:
        op.drop_index(op.f(f"ix_{table}_import_id"), table_name=table)
        if not _sqlite():
            op.drop_constraint(op.f(f"fk_{table}_import_id_imports"), table, type_="foreignkey")
        op.execute(f"ALTER TABLE {table} DROP COLUMN import_id")  # SQLite >= 3.35
    op.drop_index(op.f("ix_imports_state"), table_name="imports")
    op.drop_table("imports")
