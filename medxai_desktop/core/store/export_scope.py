"""What an export of the store's boxes includes: the reference is signed-off work only.

A reviewed box (accepted, edited, added) is reference ("truth") only once its image's review is
signed off; an image nobody reviewed is no negative. So a reference export ("reviewed") holds

- every signed-off image with its reviewed boxes; one without any is a true negative and stays;
- every image not reviewed here whose reviewed boxes all came from an import and none of whose
  boxes was revised here since (an edit, a verdict, an undo is this store's work, whatever the
  image's status says): reference boxes read from a file, signed off where they were made (an
  import's images without boxes are not told apart from images only listed, so they are left
  out until signed off here);

and leaves out images in review (or with reviewed boxes of this store's own not signed off)
and images never reviewed (listed, opened, scrolled past). "both" is the same images with their
reviewed boxes and the AI's proposals on them, to compare the two; "proposals" is every image
with the proposals stored for it (an image without proposals is no AI negative: it may never
have been explained). ``ExportScope`` counts each group, for the export dialog and the CLI.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, select

from medxai_desktop.core.exchange.records import AnnotationSet

from .annotation_sets import export_annotations
from .catalog import image_info
from .errors import StoreError
from .review import latest_rows
from .schema import image_status
from .views import IMPORT, IN_REVIEW, REVIEWED_STATES, SIGNED_OFF

WHICH = ("reviewed", "proposals", "both")


def _n(count: int, what: str) -> str:
    plural = what + ("es" if what.endswith(("x", "s")) else "s")
    return f"{count} {what if count == 1 else plural}"


@dataclass(frozen=True)
class ExportScope:
    """The images of a reference export and those left out, counted."""
    image_ids: frozenset[int]   # the images a "reviewed" or "both" export includes
    signed_off: int             # signed-off images (included)
    negatives: int              # of them, without a reviewed box: true negatives
    imported: int               # not reviewed here, with imported reference boxes only (included)
    in_review: int              # left out: reviewed, not signed off
    unreviewed: int             # left out: never reviewed (listed or opened only)
    reviewed_boxes: int         # the reviewed boxes of the included images
    proposals_included: int     # the proposals on the included images ("both")
    proposals: int              # every stored proposal ("proposals")
    images: int                 # every image in the store

    def describe(self, which: str = "reviewed") -> str:
        """One line: what an export of ``which`` boxes includes, and what it leaves out."""
        if which == "proposals":
            return (f"{_n(self.proposals, 'AI proposal')} on all {_n(self.images, 'image')} "
                    "(an image without proposals is not a negative)")
        parts = [f"{_n(self.signed_off, 'signed-off image')} ({self.negatives} without boxes)"]
        if self.imported:
            parts.append(f"{_n(self.imported, 'image')} with imported reference boxes")
        text = f"{', '.join(parts)}: {_n(self.reviewed_boxes, 'reviewed box')}"
        if which == "both":
            text += f" and {_n(self.proposals_included, 'AI proposal')}"
        left = [f"{_n(count, 'image')} {why}" for count, why in (
            (self.in_review, "in review"), (self.unreviewed, "not reviewed")) if count]
        return text + (f"; not included: {', '.join(left)}" if left else "")


def _status_of_images(connection: Connection) -> dict[int, str]:
    return dict(connection.execute(select(image_status.c.image_id, image_status.c.status)).all())


def reference_scope(connection: Connection) -> ExportScope:
    """Which images a reference export includes (see the module's docstring), counted."""
    statuses = _status_of_images(connection)
    origins: dict[int, list[str]] = defaultdict(list)   # image id -> origin of each reviewed box
    proposals: dict[int, int] = defaultdict(int)
    revised_here: set[int] = set()   # images with a box revised in this store (not by an import)
    for row in latest_rows(connection):
        if row.revision is not None and row.state in REVIEWED_STATES:
            origins[row.image_id].append(row.origin)
        if row.revision is not None and row.action != IMPORT:
            revised_here.add(row.image_id)
        if row.proposal_id is not None:
            proposals[row.image_id] += 1
    groups: dict[str, list[int]] = defaultdict(list)
    infos = image_info(connection)
    for info in infos:
        status, kinds = statuses.get(info.id), set(origins.get(info.id, ()))
        if status == SIGNED_OFF:
            groups["signed_off"].append(info.id)
        elif status != IN_REVIEW and kinds == {"import"} and info.id not in revised_here:
            groups["imported"].append(info.id)
        else:
            # a reviewed box here that is no import's own is a revision here too
            own_work = status == IN_REVIEW or info.id in revised_here
            groups["in_review" if own_work else "unreviewed"].append(info.id)
    included = frozenset(groups["signed_off"] + groups["imported"])
    return ExportScope(
        included, len(groups["signed_off"]), sum(1 for i in groups["signed_off"] if not origins.get(i)),
        len(groups["imported"]), len(groups["in_review"]), len(groups["unreviewed"]),
        sum(len(origins.get(i, ())) for i in included), sum(proposals[i] for i in included),
        sum(proposals.values()), len(infos))


def export_set(connection: Connection, which: str) -> tuple[AnnotationSet, ExportScope]:
    """The records an export of ``which`` boxes writes, and its scope (one snapshot)."""
    if which not in WHICH:
        raise StoreError(f"export which boxes: {' / '.join(WHICH)}, not {which!r}")
    scope = reference_scope(connection)
    if which == "proposals":
        return export_annotations(connection, reviewed=False, proposals=True), scope
    return export_annotations(connection, reviewed=True, proposals=which == "both",
                              image_ids=scope.image_ids), scope
