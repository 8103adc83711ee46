"""The review store: SQLAlchemy schema, Alembic migrations and the ``ReviewStore`` API.

Proposals are immutable; every human change to a box is a new revision (reviewer, time,
state); undo and redo are new revisions too; the audit log is append-only. SQLite (WAL) in
the user's data folder by default, the same code on PostgreSQL for a shared database.
"""
from .errors import (ChangeNotInEffect, DatabaseUnavailable, NothingToRedo, NothingToUndo, RevisionConflict,
                     StoreError, UnknownEntity)
from .export_scope import ExportScope
from .locations import default_cache_dir, default_data_dir, default_db_url, mask_url, missing_sqlite_file
from .map_cache import MapNotCached, has_map, load_map, map_path, save_map
from .repository import ReviewStore
from .views import (ACCEPTED, ADDED, BOX_STATES, EDITED, IN_REVIEW, PROPOSED, REJECTED, REMOVED,
                    REVIEW_STATUSES, SIGNED_OFF, UNREAD, AuditEntry, BoxView, ExplanationInfo,
                    ImageInfo, ImageStatus, ImportSummary, Revision)

__all__ = [
    "ACCEPTED", "ADDED", "BOX_STATES", "EDITED", "IN_REVIEW", "PROPOSED", "REJECTED", "REMOVED",
    "REVIEW_STATUSES", "SIGNED_OFF", "UNREAD", "AuditEntry", "BoxView", "ChangeNotInEffect",
    "DatabaseUnavailable", "ExplanationInfo", "ExportScope",
    "ImageInfo", "ImageStatus", "ImportSummary", "MapNotCached", "NothingToRedo", "NothingToUndo",
    "ReviewStore", "Revision", "RevisionConflict", "StoreError", "UnknownEntity",
    "default_cache_dir", "default_data_dir", "default_db_url", "has_map", "load_map",
    "map_path", "mask_url", "missing_sqlite_file", "save_map",
]
