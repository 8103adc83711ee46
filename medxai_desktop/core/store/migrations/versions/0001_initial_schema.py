"""Initial schema: studies, series, images, models, runs, explanations, box proposals, boxes,
box revisions, reviewers, per-image review status and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the values at this revision (later revisions must not import schema.py).
BOX_STATES = ("accepted", "edited", "rejected", "added", "proposed", "removed")
REVISION_ACTIONS = ("edit", "add", "import", "undo", "redo")
REVIEW_STATUSES = ("unread", "in_review", "signed_off")
BOX_ORIGINS = ("proposal", "drawn", "import")
APPEND_ONLY_TABLES = ("audit_log", "box_proposals", "box_revisions")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _id():
    return sa.Column("id", sa.Integer(), primary_key=True)


def _created(name="created_at"):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _geometry():
    return [sa.Column(name, sa.Float(), nullable=False) for name in ("x0", "y0", "x1", "y1")]


def _fk(table, column, target):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def _table(name, *items):
    op.create_table(name, *items, sa.PrimaryKeyConstraint(
        "image_id" if name == "image_status" else "id", name=op.f(f"pk_{name}")))


def _index(table, *columns, name=None):
    op.create_index(name or op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    _table("reviewers", _id(),
           sa.Column("name", sa.String(200), nullable=False), _created(),
           sa.UniqueConstraint("name", name=op.f("uq_reviewers_name")))
    _table("studies", _id(),
           sa.Column("study_uid", sa.String(64), nullable=False),
           sa.Column("description", sa.Text()), _created(),
           sa.UniqueConstraint("study_uid", name=op.f("uq_studies_study_uid")))
    _table("series", _id(),
           sa.Column("study_id", sa.Integer()),
           sa.Column("series_uid", sa.String(64), nullable=False),
           sa.Column("modality", sa.String(16)),
           sa.Column("description", sa.Text()), _created(),
           _fk("series", "study_id", "studies"),
           sa.UniqueConstraint("series_uid", name=op.f("uq_series_series_uid")))
    _index("series", "study_id")
    _table("images", _id(),
           sa.Column("identity", sa.String(64), nullable=False),
           sa.Column("key", sa.Text(), nullable=False),
           sa.Column("path", sa.Text()),
           sa.Column("frame", sa.Integer(), nullable=False),
           sa.Column("series_id", sa.Integer()),
           sa.Column("sop_uid", sa.String(64)),
           sa.Column("content_hash", sa.String(64)),
           sa.Column("width", sa.Integer(), nullable=False),
           sa.Column("height", sa.Integer(), nullable=False), _created(),
           _fk("images", "series_id", "series"),
           sa.UniqueConstraint("identity", name=op.f("uq_images_identity")))
    for column in ("key", "series_id", "content_hash"):
        _index("images", column)
    _table("models", _id(),
           sa.Column("card_hash", sa.String(64), nullable=False),
           sa.Column("checkpoint_hash", sa.String(64), nullable=False),
           sa.Column("arch", sa.String(100), nullable=False),
           sa.Column("card", sa.JSON(), nullable=False), _created(),
           sa.UniqueConstraint("card_hash", "checkpoint_hash",
                               name=op.f("uq_models_card_hash_checkpoint_hash")))
    _table("runs", _id(),
           sa.Column("model_id", sa.Integer(), nullable=False),
           sa.Column("method", sa.String(100), nullable=False),
           sa.Column("parameters", sa.JSON(), nullable=False),
           sa.Column("device", sa.String(50)),
           sa.Column("versions", sa.JSON(), nullable=False),
           sa.Column("seconds", sa.Float()), _created(),
           _fk("runs", "model_id", "models"))
    _index("runs", "model_id")
    _table("explanations", _id(),
           sa.Column("run_id", sa.Integer(), nullable=False),
           sa.Column("image_id", sa.Integer(), nullable=False),
           sa.Column("target_class", sa.Integer(), nullable=False),
           sa.Column("target_name", sa.String(200)),
           sa.Column("cache_key", sa.String(64), nullable=False),
           sa.Column("map_path", sa.Text()), _created(),
           _fk("explanations", "run_id", "runs"), _fk("explanations", "image_id", "images"))
    for column in ("run_id", "image_id", "cache_key"):
        _index("explanations", column)
    _table("box_proposals", _id(),
           sa.Column("image_id", sa.Integer(), nullable=False),
           sa.Column("run_id", sa.Integer(), nullable=False),
           *_geometry(),
           sa.Column("label", sa.String(200), nullable=False),
           sa.Column("score", sa.Float()),
           sa.Column("method", sa.String(100), nullable=False),
           sa.Column("parameters", sa.JSON(), nullable=False), _created(),
           _fk("box_proposals", "image_id", "images"), _fk("box_proposals", "run_id", "runs"))
    for column in ("image_id", "run_id"):
        _index("box_proposals", column)
    _table("boxes", _id(),
           sa.Column("image_id", sa.Integer(), nullable=False),
           sa.Column("proposal_id", sa.Integer()),
           sa.Column("origin", sa.String(16), nullable=False),
           sa.Column("source", sa.Text()), _created(),
           sa.CheckConstraint(_in("origin", BOX_ORIGINS), name=op.f("ck_boxes_origin")),
           _fk("boxes", "image_id", "images"), _fk("boxes", "proposal_id", "box_proposals"),
           sa.UniqueConstraint("proposal_id", name=op.f("uq_boxes_proposal_id")))
    _index("boxes", "image_id")
    _table("box_revisions", _id(),
           sa.Column("box_id", sa.Integer(), nullable=False),
           sa.Column("revision", sa.Integer(), nullable=False),
           *_geometry(),
           sa.Column("label", sa.String(200), nullable=False),
           sa.Column("state", sa.String(16), nullable=False),
           sa.Column("action", sa.String(16), nullable=False),
           sa.Column("target_revision", sa.Integer()),
           sa.Column("reviewer_id", sa.Integer(), nullable=False),
           sa.Column("comment", sa.Text()), _created(),
           sa.CheckConstraint("revision >= 1", name=op.f("ck_box_revisions_revision_positive")),
           sa.CheckConstraint(_in("state", BOX_STATES), name=op.f("ck_box_revisions_state")),
           sa.CheckConstraint(_in("action", REVISION_ACTIONS), name=op.f("ck_box_revisions_action")),
           _fk("box_revisions", "box_id", "boxes"), _fk("box_revisions", "reviewer_id", "reviewers"),
           sa.UniqueConstraint("box_id", "revision", name=op.f("uq_box_revisions_box_id_revision")))
    _index("box_revisions", "reviewer_id")
    _table("image_status",
           sa.Column("image_id", sa.Integer(), nullable=False),
           sa.Column("status", sa.String(16), nullable=False),
           sa.Column("reviewer_id", sa.Integer()),
           _created("updated_at"),
           sa.CheckConstraint(_in("status", REVIEW_STATUSES), name=op.f("ck_image_status_status")),
           _fk("image_status", "image_id", "images"), _fk("image_status", "reviewer_id", "reviewers"))
    _table("audit_log", _id(),
           _created("at"),
           sa.Column("actor", sa.String(200)),
           sa.Column("action", sa.String(50), nullable=False),
           sa.Column("entity", sa.String(50), nullable=False),
           sa.Column("entity_id", sa.Integer()),
           sa.Column("details", sa.JSON(), nullable=False))
    _index("audit_log", "entity", "entity_id", name="ix_audit_log_entity_entity_id")
    for table in APPEND_ONLY_TABLES:
        _forbid_update_and_delete(table)


def _forbid_update_and_delete(table: str) -> None:
    """History is never rewritten: the database itself refuses UPDATE and DELETE."""
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
    bind = op.get_bind()
    for table in APPEND_ONLY_TABLES:
        if bind.dialect.name != "sqlite":
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE")
    for table in ("audit_log", "image_status", "box_revisions", "boxes", "box_proposals",
                  "explanations", "runs", "models", "images", "series", "studies", "reviewers"):
        op.drop_table(table)  # SQLite drops a table's triggers with it
