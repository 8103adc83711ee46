"""The tables of the review store (SQLAlchemy Core). Migrations create them; this module is
what the repository queries and what the migration test compares the database against."""
from __future__ import annotations

from datetime import datetime, timezone

import os
from urllib.parse import quote, unquote_to_bytes

from sqlalchemy import (JSON, CheckConstraint, Column, DateTime, Float, ForeignKey, Index,
                        Integer, MetaData, String, Table, Text, UniqueConstraint)
from sqlalchemy.types import TypeDecorator

from medxai_desktop.core.measurements import KINDS as MEASUREMENT_KINDS
from medxai_desktop.core.text_limits import LABEL_MAX, UID_MAX, printable, text_problem

from .errors import StoreError
from .views import (BOX_STATES, IMPORT_STATES, MEASUREMENT_ACTIONS, MEASUREMENT_STATES, REVIEW_STATUSES,
                    REVISION_ACTIONS)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

BOX_ORIGINS = ("proposal", "drawn", "import")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL
    (timestamptz) alike."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware time")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Chars(TypeDecorator):
    """A text column of at most ``length`` characters. Every value bound to it is checked before
    the database sees it, the same on SQLite and PostgreSQL (a NUL byte, or too long: ValueError);
    bytes that were not UTF-8 (a file name's) are written as ``\\xff`` escapes."""
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if not isinstance(value, str):
            return value
        problem = text_problem(value, self.impl.length)
        if problem:
            raise ValueError(f"a text that {problem}")
        return printable(value)


class LongText(Chars):
    """Text without a length limit (but no NUL byte either)."""
    impl = Text
    cache_ok = True


class FilePath(LongText):
    """A file's path, given back as it was: a path whose name holds bytes that are not UTF-8 is
    kept as ``file:`` and its bytes percent-encoded (an absolute path never starts so)."""
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, str) and printable(value) != value:
            value = "file:" + quote(os.fsencode(value), safe="/\\:")
        return super().process_bind_param(value, dialect)

    def process_result_value(self, value, dialect):
        if isinstance(value, str) and value.startswith("file:"):
            return os.fsdecode(unquote_to_bytes(value[len("file:"):]))
        return value


def check_text(what: str, field: str, column: Column, value: object) -> None:
    """StoreError naming ``what`` (the file, the record) and ``field`` unless ``value`` fits
    ``column``: what the column would refuse anyway, said where it is known what it is."""
    if isinstance(value, str) and isinstance(column.type, Chars):
        problem = text_problem(value, column.type.impl.length)
        if problem:
            raise StoreError(f"{what}: {field} {problem}")


def check_values(table: Table, values: dict, what: str) -> dict:
    """``values`` for a row of ``table``, each text checked (``check_text``)."""
    for name, value in values.items():
        if name in table.c:
            check_text(what, name, table.c[name], value)
    return values


SHA256_HEX = 64  # a content, card or cache key: sha256 in hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _geometry() -> list[Column]:
    return [Column(name, Float, nullable=False) for name in ("x0", "y0", "x1", "y1")]


def _created() -> Column:
    return Column("created_at", UTCDateTime, nullable=False, default=utcnow)


def _import_id() -> Column:
    """The import that wrote the row; its rows stay invisible until the import is committed
    (``imports.py``). NULL: written by anything else, or adopted by a later writer."""
    return Column("import_id", ForeignKey("imports.id"), index=True)


# One row per annotation import: it writes its rows in short batches, marked with its id, and
# becomes visible at once when its state turns "committed" (see imports.py).
imports = Table(
    "imports", metadata,
    Column("id", Integer, primary_key=True),
    Column("state", Chars(16), nullable=False, index=True),
    Column("source", LongText, nullable=False),
    Column("host", Chars(255), nullable=False),   # who runs it: a pending import whose
    Column("pid", Integer, nullable=False),         # process is gone is cleaned up
    Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    Column("heartbeat_at", UTCDateTime, nullable=False, default=utcnow),
    Column("finished_at", UTCDateTime),
    CheckConstraint(_in("state", IMPORT_STATES), name="state"),
)

reviewers = Table(
    "reviewers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Chars(LABEL_MAX), nullable=False, unique=True),
    _created(),
    _import_id(),
)

studies = Table(
    "studies", metadata,
    Column("id", Integer, primary_key=True),
    Column("study_uid", Chars(UID_MAX), nullable=False, unique=True),
    Column("description", LongText),
    _created(),
    _import_id(),
)

series = Table(
    "series", metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), index=True),
    Column("series_uid", Chars(UID_MAX), nullable=False, unique=True),
    Column("modality", Chars(16)),
    Column("description", LongText),
    _created(),
    _import_id(),
)

images = Table(
    "images", metadata,
    Column("id", Integer, primary_key=True),
    # sha256 of (content hash, path, frame) -- or of (key, path) for an image known only by
    # name: what makes add_image idempotent, enforced across processes by UNIQUE.
    Column("identity", Chars(SHA256_HEX), nullable=False, unique=True),
    Column("key", LongText, nullable=False, index=True),   # how annotation formats name it
    Column("path", FilePath),
    Column("frame", Integer, nullable=False, default=0),
    Column("series_id", ForeignKey("series.id"), index=True),
    Column("sop_uid", Chars(UID_MAX)),
    Column("content_hash", Chars(SHA256_HEX), index=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    _created(),
    _import_id(),
)

models = Table(
    "models", metadata,
    Column("id", Integer, primary_key=True),
    Column("card_hash", Chars(SHA256_HEX), nullable=False),
    Column("checkpoint_hash", Chars(SHA256_HEX), nullable=False, default=""),  # "" = none (random init)
    Column("arch", Chars(100), nullable=False),
    Column("card", JSON, nullable=False),
    _created(),
    UniqueConstraint("card_hash", "checkpoint_hash"),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", ForeignKey("models.id"), nullable=False, index=True),
    Column("method", Chars(100), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("device", Chars(50)),
    Column("versions", JSON, nullable=False),
    Column("seconds", Float),
    _created(),
)

explanations = Table(
    "explanations", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id"), nullable=False, index=True),
    Column("image_id", ForeignKey("images.id"), nullable=False, index=True),
    Column("target_class", Integer, nullable=False),
    Column("target_name", Chars(LABEL_MAX)),
    Column("cache_key", Chars(SHA256_HEX), nullable=False, index=True),
    Column("map_path", FilePath),
    _created(),
)

box_proposals = Table(
    "box_proposals", metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id"), nullable=False, index=True),
    Column("run_id", ForeignKey("runs.id"), nullable=False, index=True),
    *_geometry(),
    Column("label", Chars(LABEL_MAX), nullable=False),
    Column("score", Float),
    Column("method", Chars(100), nullable=False),
    Column("parameters", JSON, nullable=False),
    _created(),
)

boxes = Table(
    "boxes", metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id"), nullable=False, index=True),
    Column("proposal_id", ForeignKey("box_proposals.id"), unique=True),  # NULL: drawn or imported
    Column("origin", Chars(16), nullable=False),
    Column("source", LongText),
    _created(),
    _import_id(),
    CheckConstraint(_in("origin", BOX_ORIGINS), name="origin"),
)

box_revisions = Table(
    "box_revisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("box_id", ForeignKey("boxes.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    *_geometry(),
    Column("label", Chars(LABEL_MAX), nullable=False),
    Column("state", Chars(16), nullable=False),
    Column("action", Chars(16), nullable=False),
    Column("target_revision", Integer),
    Column("reviewer_id", ForeignKey("reviewers.id"), nullable=False, index=True),
    Column("comment", LongText),
    _created(),
    UniqueConstraint("box_id", "revision"),  # two writers of the same revision: one fails
    CheckConstraint("revision >= 1", name="revision_positive"),
    CheckConstraint(_in("state", BOX_STATES), name="state"),
    CheckConstraint(_in("action", REVISION_ACTIONS), name="action"),
)

image_status = Table(
    "image_status", metadata,
    Column("image_id", ForeignKey("images.id"), primary_key=True),
    Column("status", Chars(16), nullable=False),
    Column("reviewer_id", ForeignKey("reviewers.id")),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    CheckConstraint(_in("status", REVIEW_STATUSES), name="status"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, default=utcnow),
    Column("actor", Chars(LABEL_MAX)),          # reviewer name; NULL = the application itself
    Column("action", Chars(50), nullable=False),
    Column("entity", Chars(50), nullable=False),
    Column("entity_id", Integer),
    Column("details", JSON, nullable=False),
    _import_id(),
    Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
)

# Rows of these tables are never updated or deleted (database triggers refuse it); the one
# exception: the rows of an import that was never committed are deleted when it is cleaned up.
APPEND_ONLY_TABLES = ("audit_log", "box_proposals", "box_revisions", "measurement_revisions")
# The tables an import writes to, in the order its rows are deleted when it fails.
IMPORTED_TABLES = ("audit_log", "box_revisions", "boxes", "images", "series", "studies", "reviewers")

# PACS (core/pacs): where each retrieved instance came from (node and UIDs; an image's row is
# found by its SOP Instance UID), and what was sent where, when and by whom (the SR's SOP
# Instance UID is derived from the boxes' revisions, so a revision sent once is not sent again).
pacs_instances = Table(
    "pacs_instances", metadata,
    Column("id", Integer, primary_key=True),
    Column("node", Chars(LABEL_MAX), nullable=False),
    Column("study_uid", Chars(UID_MAX), nullable=False, index=True),
    Column("series_uid", Chars(UID_MAX)),
    Column("sop_uid", Chars(UID_MAX), nullable=False, index=True),
    Column("path", FilePath),
    Column("retrieved_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("node", "sop_uid"),
)

pacs_sent = Table(
    "pacs_sent", metadata,
    Column("id", Integer, primary_key=True),
    Column("node", Chars(LABEL_MAX), nullable=False),
    Column("destination", LongText, nullable=False),   # AET@host:port or the URL
    Column("kind", Chars(16), nullable=False),         # "sr" (reviewed boxes) or "file"
    Column("sop_uid", Chars(UID_MAX), nullable=False),  # the instance sent
    Column("source_uids", JSON, nullable=False),     # the images an SR refers to
    Column("sent_by", Chars(LABEL_MAX)),
    Column("sent_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("node", "sop_uid"),
)

# Measurements on images (core/measurements.py), reviewed like drawn boxes: each change
# is a new revision (migration 0004) holding the shape, what was measured on it and the pixel
# spacing it used, so an undo restores the numbers with the shape and an export needs no pixels.
measurements = Table(
    "measurements", metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id"), nullable=False, index=True),
    Column("kind", Chars(16), nullable=False),
    _created(),
    CheckConstraint(_in("kind", MEASUREMENT_KINDS), name="kind"),
)

measurement_revisions = Table(
    "measurement_revisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("measurement_id", ForeignKey("measurements.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("points", JSON, nullable=False),         # [[x, y], [x, y]] in image pixels
    Column("measured", JSON, nullable=False),       # Measurement.values(): length, or area and statistics
    Column("value_unit", Chars(32)),                # the statistics' modality unit ("HU"); NULL: unknown
    Column("row_spacing", Float),                   # mm; NULL: no pixel spacing (lengths in pixels)
    Column("column_spacing", Float),
    Column("spacing_source", Chars(64)),            # PixelSpacing, ImagerPixelSpacing, ...
    Column("state", Chars(16), nullable=False),
    Column("action", Chars(16), nullable=False),
    Column("target_revision", Integer),
    Column("reviewer_id", ForeignKey("reviewers.id"), nullable=False, index=True),
    _created(),
    UniqueConstraint("measurement_id", "revision"),
    CheckConstraint("revision >= 1", name="revision_positive"),
    CheckConstraint(_in("state", MEASUREMENT_STATES), name="state"),
    CheckConstraint(_in("action", MEASUREMENT_ACTIONS), name="action"),
    CheckConstraint("(row_spacing IS NULL) = (column_spacing IS NULL)", name="spacing_pair"),
)
