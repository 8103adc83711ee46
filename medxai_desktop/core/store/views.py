"""What the store hands back: frozen plain records, never database rows or sessions."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medxai_desktop.core.boxes import Box

# Box states. A reviewer sets ACCEPTED / EDITED / REJECTED on a box, or ADDED for a box they
# drew (or imported). Undo can also restore the two states a box had before any review:
# PROPOSED (a proposal nobody reviewed) and REMOVED (a drawn box whose "added" was undone).
ACCEPTED, EDITED, REJECTED, ADDED = "accepted", "edited", "rejected", "added"
PROPOSED, REMOVED = "proposed", "removed"
BOX_STATES = (ACCEPTED, EDITED, REJECTED, ADDED, PROPOSED, REMOVED)
REVIEWED_STATES = (ACCEPTED, EDITED, ADDED)  # what counts as reference ("truth")

# Per-image review status.
UNREAD, IN_REVIEW, SIGNED_OFF = "unread", "in_review", "signed_off"
REVIEW_STATUSES = (UNREAD, IN_REVIEW, SIGNED_OFF)

# An import's rows are PENDING (invisible) until it is COMMITTED; a FAILED one is being removed.
PENDING, COMMITTED, FAILED = "pending", "committed", "failed"
IMPORT_STATES = (PENDING, COMMITTED, FAILED)

# How a revision came about. EDIT, ADD and IMPORT are normal changes (they clear the redo
# chain); UNDO and REDO restore an earlier state as a new revision.
EDIT, ADD, IMPORT, UNDO, REDO = "edit", "add", "import", "undo", "redo"
REVISION_ACTIONS = (EDIT, ADD, IMPORT, UNDO, REDO)

# Measurements (core/measurements.py) are revised like drawn boxes: ADDED when drawn,
# EDITED when moved, REMOVED when deleted (DELETE, a normal change) or their drawing undone.
DELETE = "delete"
MEASUREMENT_STATES = (ADDED, EDITED, REMOVED)
MEASUREMENT_ACTIONS = (ADD, EDIT, DELETE, UNDO, REDO)


@dataclass(frozen=True)
class Revision:
    id: int            # row id, unique across all boxes
    box_id: int
    revision: int      # 1, 2, ... per box
    box: Box
    label: str
    state: str
    reviewer: str
    created_at: datetime
    action: str = EDIT
    target_revision: int | None = None  # undo/redo: the revision undone / re-applied
    comment: str | None = None


@dataclass(frozen=True)
class BoxView:
    """A box as it stands now: its latest revision, or its proposal when nobody reviewed it."""
    box_id: int
    image_id: int
    box: Box
    label: str
    state: str
    revision: int                 # 0 = no revision yet (an unreviewed proposal)
    origin: str                   # "proposal", "drawn" or "import"
    proposal_id: int | None = None
    score: float | None = None    # the proposal's
    method: str | None = None     # the proposal's
    reviewer: str | None = None   # of the latest revision
    updated_at: datetime | None = None
    source: str | None = None     # import: where the box came from
    proposal_box: Box | None = None  # the proposal's own rectangle (None: drawn/imported)


@dataclass(frozen=True)
class ImageInfo:
    id: int
    key: str
    width: int
    height: int
    path: str | None = None
    frame: int = 0
    content_hash: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None


@dataclass(frozen=True)
class ImageStatus:
    image_id: int
    status: str
    reviewer: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    action: str
    entity: str
    entity_id: int | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplanationInfo:
    id: int
    run_id: int
    image_id: int
    method: str
    target_class: int
    target_name: str | None
    cache_key: str
    map_path: str | None


@dataclass(frozen=True)
class ImportSummary:
    images_added: int = 0
    images_matched: int = 0
    boxes_added: int = 0
    duplicates_skipped: int = 0
    proposals_skipped: int = 0     # kind "proposal": proposals come from runs, not files
    rejected_skipped: int = 0      # state "rejected": not reference
    box_ids: tuple[int, ...] = ()
