"""The store as plain records for the exchange formats, and imports from them.

Out: ``AnnotationSet`` of every image plus the latest revision of every reviewed box (kind
"reviewed": accepted, edited, added -- rejected and never-reviewed boxes are not truth) and/or
every proposal (kind "proposal"). In: reference boxes from a file become reviewed boxes (a box
without proposal whose revision 1 is "added", action "import"), written in short transactions
and shown to readers all at once, or not at all (``imports.py``).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, select

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.text_limits import printable

from . import imports
from .audit import append_audit
from .catalog import add_image, image_info, reviewer_id, reviewer_name
from .errors import StoreError
from .imports import visible
from .review import import_boxes, latest_rows
from .schema import box_revisions, boxes, check_text, image_status, images, reviewers
from .schema import imports as imports_table
from .views import REJECTED, REVIEWED_STATES, SIGNED_OFF, ImportSummary


def _image_keys(connection: Connection) -> tuple[list, dict[int, str]]:
    infos = image_info(connection)
    counts = Counter(i.key for i in infos)
    keys = {}
    for info in infos:  # two files of the same name in different folders: name them by path
        unique = counts[info.key] == 1 or info.path is None
        keys[info.id] = info.key if unique else info.path
    return infos, keys


def export_annotations(connection: Connection, reviewed: bool, proposals: bool,
                       image_ids: frozenset[int] | None = None) -> AnnotationSet:
    """Every image (``image_ids``: those only) with its reviewed boxes and/or its proposals."""
    infos, keys = _image_keys(connection)
    signed = _sign_offs(connection) if reviewed else {}
    result = AnnotationSet(images=[
        ImageRecord(keys[i.id], i.width, i.height, None if i.path is None else Path(i.path),
                    i.study_uid, i.series_uid, i.sop_uid, signed.get(i.id)) for i in infos
        if image_ids is None or i.id in image_ids])
    rows = [r for r in latest_rows(connection) if image_ids is None or r.image_id in image_ids]
    if reviewed:
        for r in rows:
            if r.revision is not None and r.state in REVIEWED_STATES:
                result.boxes.append(BoxRecord(
                    keys[r.image_id], r.label, Box(r.x0, r.y0, r.x1, r.y1), kind="reviewed",
                    method="import" if r.origin == "import" else None, reviewer=r.reviewer,
                    state=r.state, revision=r.revision,
                    proposal_id=None if r.proposal_id is None else str(r.proposal_id),
                    extra={"box_id": r.box_id, "origin": r.origin, "source": r.source,
                           "reviewed_at": r.created_at.isoformat()}))
    if proposals:
        for r in rows:
            if r.proposal_id is not None:
                result.boxes.append(BoxRecord(
                    keys[r.image_id], r.p_label, Box(r.p_x0, r.p_y0, r.p_x1, r.p_y1),
                    kind="proposal", score=r.score, method=r.method,
                    proposal_id=str(r.proposal_id),
                    extra={"box_id": r.box_id, "run_id": r.run_id,
                           "parameters": dict(r.parameters or {})}))
    result.labels = sorted({b.label for b in result.boxes})
    return result


def _sign_offs(connection: Connection) -> dict[int, tuple[str, str]]:
    """Image id -> (reviewer, ISO time) of the sign-off of each signed-off image."""
    query = (select(image_status.c.image_id, reviewers.c.name, image_status.c.updated_at)
             .join(reviewers, reviewers.c.id == image_status.c.reviewer_id)
             .where(image_status.c.status == SIGNED_OFF))
    return {image_id: (name, at.isoformat()) for image_id, name, at in connection.execute(query)}


def import_annotations(engine: Engine, annotations: AnnotationSet, reviewer: str,
                       source: str) -> ImportSummary:
    """The set's images and reviewed boxes, written in short transactions (``imports.py``) and
    shown all at once when the last one commits; on any error nothing of it is kept."""
    if not source:
        raise StoreError("say where imported annotations come from (source)")
    source = printable(source)  # a file's name: its bytes that are not UTF-8 as \xff
    check_text("import", "source", imports_table.c.source, source)
    job = _Import(reviewer_name(reviewer), source)  # a bad reviewer fails before anything is written
    with imports.importing(engine, source) as import_id:
        job.import_id = import_id
        imports.run_in_batches(engine, import_id, job.items(annotations), job.step, job.flush)
        summary = job.summary()
        with imports.committing(engine, import_id) as c:
            append_audit(c, job.reviewer, "annotations.import", "import", import_id,
                         {"source": source, "images_added": summary.images_added,
                          "images_matched": summary.images_matched,
                          "boxes_added": summary.boxes_added,
                          "duplicates_skipped": summary.duplicates_skipped,
                          "proposals_skipped": summary.proposals_skipped,
                          "rejected_skipped": summary.rejected_skipped})
    return summary


class _Import:
    """One import's progress: its images first, then its boxes, one item per step; boxes are
    written in bulk (``flush``), at most FLUSH_BOXES at a time."""
    FLUSH_BOXES = 500

    def __init__(self, reviewer: str, source: str):
        self.reviewer, self.source = reviewer, source
        self.import_id: int | None = None
        self.reviewer_row: int | None = None
        self.ids: dict[str, int] = {}
        self.seen: dict[int, set] = {}
        self.queued: list[tuple[int, Box, str, str]] = []
        self.box_ids: list[int] = []
        self.counts = Counter()

    def items(self, annotations: AnnotationSet):
        yield from annotations.images
        yield from enumerate(annotations.boxes)

    def step(self, connection: Connection, item) -> None:
        if isinstance(item, ImageRecord):
            self.ids[item.key], new = add_image(connection, item, self.import_id, f"{self.source}: ")
            self.counts["added" if new else "matched"] += 1
            return
        self._box(connection, *item)
        if len(self.queued) >= self.FLUSH_BOXES:
            self.flush(connection)

    def _box(self, connection: Connection, n: int, record: BoxRecord) -> None:
        if record.kind == "proposal" or record.state == REJECTED:
            self.counts["proposals" if record.kind == "proposal" else "rejected"] += 1
            return
        image_id = self.ids.get(record.image_key) or _image_by_key(connection, record.image_key)
        if image_id is None:
            raise StoreError(f"box {n + 1} ({record.label}) refers to image {record.image_key!r}, "
                             "which is neither in the annotation set nor in the store")
        if image_id not in self.seen:
            self.seen[image_id] = _imported_boxes(connection, image_id, self.source)
        b = record.box
        fingerprint = (record.label, b.x0, b.y0, b.x1, b.y1)
        if fingerprint in self.seen[image_id]:
            self.counts["duplicates"] += 1
            return
        self.seen[image_id].add(fingerprint)
        comment = f"imported from {self.source}" + (
            f" (annotator: {record.reviewer})" if record.reviewer else "")
        where = f"{self.source}: box {n + 1}"
        check_text(where, "label", box_revisions.c.label, record.label)
        check_text(where, "annotator", box_revisions.c.comment, comment)
        self.queued.append((image_id, b, record.label, comment))

    def flush(self, connection: Connection) -> None:
        """The queued boxes, written in the batch's transaction."""
        if self.queued and self.reviewer_row is None:
            self.reviewer_row = reviewer_id(connection, self.reviewer, self.import_id)
        self.box_ids += import_boxes(connection, self.queued, self.reviewer, self.reviewer_row,
                                     self.source, self.import_id)
        self.queued = []

    def summary(self) -> ImportSummary:
        c = self.counts
        return ImportSummary(images_added=c["added"], images_matched=c["matched"],
                             boxes_added=len(self.box_ids), duplicates_skipped=c["duplicates"],
                             proposals_skipped=c["proposals"], rejected_skipped=c["rejected"],
                             box_ids=tuple(self.box_ids))


def _image_by_key(connection: Connection, key: str) -> int | None:
    found = connection.execute(select(images.c.id).where(images.c.key == key, visible(images))
                               .limit(2)).all()
    return found[0].id if len(found) == 1 else None


def _imported_boxes(connection: Connection, image_id: int, source: str) -> set:
    """(label, x0, y0, x1, y1) of boxes imported before from the same source onto this image."""
    query = (select(box_revisions.c.label, box_revisions.c.x0, box_revisions.c.y0,
                    box_revisions.c.x1, box_revisions.c.y1)
             .join(boxes, box_revisions.c.box_id == boxes.c.id)
             .where(and_(boxes.c.image_id == image_id, boxes.c.origin == "import",
                         boxes.c.source == source, box_revisions.c.revision == 1, visible(boxes))))
    return {tuple(r) for r in connection.execute(query)}

