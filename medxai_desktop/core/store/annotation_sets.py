"""The store as plain records for the exchange formats, and imports from them.

Out: ``AnnotationSet`` of every image plus the latest revision of every reviewed box (kind
"reviewed": accepted, edited, added -- rejected and never-reviewed boxes are not truth) and/or
every proposal (kind "proposal"). In: reference boxes from a file become reviewed boxes (a box
without proposal whose revision 1 is "added", action "import"), all in the caller's one
transaction.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import Connection, and_, select

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord

from .audit import append_audit
from .catalog import add_image, image_info, reviewer_id
from .errors import StoreError
from .review import add_box, latest_rows
from .schema import box_revisions, boxes, images
from .views import IMPORT, REJECTED, REVIEWED_STATES, ImportSummary


def _image_keys(connection: Connection) -> tuple[list, dict[int, str]]:
    infos = image_info(connection)
    counts = Counter(i.key for i in infos)
    keys = {}
    for info in infos:  # two files of the same name in different folders: name them by path
        unique = counts[info.key] == 1 or info.path is None
        keys[info.id] = info.key if unique else info.path
    return infos, keys


def export_annotations(connection: Connection, reviewed: bool, proposals: bool) -> AnnotationSet:
    infos, keys = _image_keys(connection)
    result = AnnotationSet(images=[
        ImageRecord(keys[i.id], i.width, i.height, None if i.path is None else Path(i.path),
                    i.study_uid, i.series_uid, i.sop_uid) for i in infos])
    rows = latest_rows(connection)
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


def import_annotations(connection: Connection, annotations: AnnotationSet, reviewer: str,
                       source: str) -> ImportSummary:
    if not source:
        raise StoreError("say where imported annotations come from (source)")
    reviewer_id(connection, reviewer)  # a bad reviewer fails before anything is written
    ids, added, matched = {}, 0, 0
    for record in annotations.images:
        ids[record.key], new = add_image(connection, record)
        added, matched = added + new, matched + (not new)
    seen: dict[int, set] = {}
    box_ids, duplicates, proposals, rejected = [], 0, 0, 0
    for n, record in enumerate(annotations.boxes):
        if record.kind == "proposal":
            proposals += 1
            continue
        if record.state == REJECTED:
            rejected += 1
            continue
        image_id = ids.get(record.image_key) or _image_by_key(connection, record.image_key)
        if image_id is None:
            raise StoreError(f"box {n + 1} ({record.label}) refers to image {record.image_key!r}, "
                             "which is neither in the annotation set nor in the store")
        if image_id not in seen:
            seen[image_id] = _imported_boxes(connection, image_id, source)
        b = record.box
        fingerprint = (record.label, b.x0, b.y0, b.x1, b.y1)
        if fingerprint in seen[image_id]:
            duplicates += 1
            continue
        seen[image_id].add(fingerprint)
        comment = f"imported from {source}" + (f" (annotator: {record.reviewer})" if record.reviewer else "")
        revision = add_box(connection, image_id, b, record.label, reviewer, comment,
                           origin="import", source=source, action=IMPORT)
        box_ids.append(revision.box_id)
    summary = ImportSummary(images_added=added, images_matched=matched, boxes_added=len(box_ids),
                            duplicates_skipped=duplicates, proposals_skipped=proposals,
                            rejected_skipped=rejected, box_ids=tuple(box_ids))
    append_audit(connection, reviewer.strip(), "annotations.import", "import", None,
                 {"source": source, "images_added": added, "images_matched": matched,
                  "boxes_added": len(box_ids), "duplicates_skipped": duplicates,
                  "proposals_skipped": proposals, "rejected_skipped": rejected})
    return summary


def _image_by_key(connection: Connection, key: str) -> int | None:
    found = connection.execute(select(images.c.id).where(images.c.key == key).limit(2)).all()
    return found[0].id if len(found) == 1 else None


def _imported_boxes(connection: Connection, image_id: int, source: str) -> set:
    """(label, x0, y0, x1, y1) of boxes imported before from the same source onto this image."""
    query = (select(box_revisions.c.label, box_revisions.c.x0, box_revisions.c.y0,
                    box_revisions.c.x1, box_revisions.c.y1)
             .join(boxes, box_revisions.c.box_id == boxes.c.id)
             .where(and_(boxes.c.image_id == image_id, boxes.c.origin == "import",
                         boxes.c.source == source, box_revisions.c.revision == 1)))
    return {tuple(r) for r in connection.execute(query)}

