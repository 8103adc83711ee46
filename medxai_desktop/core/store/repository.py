"""``ReviewStore``: the review store's API. Each public method is ONE transaction, but for
``import_annotations``: short ones, all-or-nothing to readers (``imports.py``)."""
from __future__ import annotations

import functools
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet

from . import annotation_sets, catalog, imports, migrate, review
from .audit import append_audit, read_audit
from .database import (describe_error, make_engine, open_error, read_transaction,
                       write_transaction)
from .errors import DatabaseUnavailable, RevisionConflict, StoreError, UnknownEntity
from .export_scope import ExportScope, export_set, reference_scope
from .locations import default_cache_dir, default_db_url, mask_url
from .map_cache import load_map, save_map
from .schema import boxes, metadata
from .views import (ACCEPTED, REJECTED, AuditEntry, BoxView, ExplanationInfo, ImageInfo,
                    ImageStatus, ImportSummary, Revision)

_OPEN_ATTEMPTS = 40   # about 40 s of retries at most, on top of the 30 s busy timeout


def _database_errors(method):
    """SQLAlchemy's errors become one-line StoreErrors (the store's own errors pass through); a
    lost or refused server connection becomes DatabaseUnavailable, naming the database."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            if _connection_lost(self.engine, exc):
                raise DatabaseUnavailable(method.__name__, mask_url(self.url), describe_error(exc)) from exc
            raise StoreError(f"{method.__name__}: {describe_error(exc)}") from exc
    return wrapper


def _connection_lost(engine, exc: SQLAlchemyError) -> bool:
    """The server went away or cannot be reached (a SQLite file's errors are other things)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    return engine.dialect.name != "sqlite" and isinstance(exc, (OperationalError, InterfaceError))


def _is_revision_clash(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return ("uq_box_revisions_box_id_revision" in text
            or "box_revisions.box_id, box_revisions.revision" in text)


class ReviewStore:
    """Images, models, runs, explanations, box proposals and their reviews in one database.

    ``url``: ``sqlite:///FILE`` (default: the user's data folder, see ``locations``) or
    ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``. The schema is created or upgraded on
    open unless ``upgrade=False``. ``cache_dir``: where heatmaps are cached (.npz by cache key).
    """

    def __init__(self, url: str | None = None, *, cache_dir: str | Path | None = None,
                 upgrade: bool = True):
        self.url = url or default_db_url()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.engine = make_engine(self.url)
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                if upgrade:
                    migrate.upgrade(self.engine)
                else:
                    with self.engine.connect():
                        pass
                break
            except OperationalError as exc:
                # SQLite answers "locked" at once, without its busy timeout, when a new file is
                # switched to WAL or its WAL index is rebuilt while another process opens it:
                # the open (an idempotent upgrade) is simply tried again.
                if "database is locked" in str(exc) and attempt + 1 < _OPEN_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                self.engine.dispose()
                raise open_error(self.url, exc) from None
            except SQLAlchemyError as exc:
                self.engine.dispose()
                raise open_error(self.url, exc) from None
        self._clean_abandoned_imports()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "ReviewStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReviewStore({mask_url(self.url)!r})"

    # -- what reviews refer to ----------------------------------------------------------------

    @_database_errors
    def add_image(self, image: Any) -> int:
        """A MedicalImage or an ImageRecord -> image id (the same id when added again)."""
        with write_transaction(self.engine) as c:
            image_id, new = catalog.add_image(c, image)
            if new:
                append_audit(c, None, "image.add", "image", image_id, {"key": catalog.image_values(image)["key"]})
            return image_id

    @_database_errors
    def images(self) -> list[ImageInfo]:
        with read_transaction(self.engine) as c:
            return catalog.image_info(c)

    @_database_errors
    def image(self, image_id: int) -> ImageInfo:
        with read_transaction(self.engine) as c:
            found = catalog.image_info(c, image_id)
        if not found:
            raise UnknownEntity("image", image_id)
        return found[0]

    @_database_errors
    def add_model(self, model: Any, checkpoint_hash: str | None = None) -> int:
        """A ModelCard or LoadedModel -> model id (idempotent on card hash + checkpoint hash)."""
        with write_transaction(self.engine) as c:
            model_id, new = catalog.add_model(c, model, checkpoint_hash)
            if new:
                append_audit(c, None, "model.add", "model", model_id, {"arch": getattr(model, "card", model).arch})
            return model_id

    @_database_errors
    def record_run(self, model_id: int, method: str, parameters: dict | None = None, *,
                   device: str | None = None, versions: dict | None = None,
                   seconds: float | None = None, created_at: datetime | None = None) -> int:
        with write_transaction(self.engine) as c:
            run_id = catalog.record_run(c, model_id, method, parameters, device, versions, seconds,
                                        created_at)
            append_audit(c, None, "run.record", "run", run_id, {"model_id": model_id, "method": method})
            return run_id

    @_database_errors
    def add_explanation(self, run_id: int, image_id: int, explanation: Any = None, *,
                        target_class: int | None = None, target_name: str | None = None,
                        cache_key: str | None = None, map_path: str | Path | None = None) -> int:
        """Metadata of one heatmap. Given an ``Explanation``, its map is written to the cache
        (``save_map`` under its provenance cache key) and its target and key are taken from it."""
        if explanation is not None:
            cache_key = explanation.cache_key
            map_path = save_map(self.cache_dir, cache_key, explanation.map)
            target_class, target_name = explanation.target_index, explanation.target_name
        if target_class is None or cache_key is None:
            raise StoreError("add_explanation needs an Explanation, or target_class and cache_key")
        with write_transaction(self.engine) as c:
            explanation_id = catalog.add_explanation(c, run_id, image_id, target_class, target_name,
                                                     cache_key, None if map_path is None else str(map_path))
            append_audit(c, None, "explanation.add", "explanation", explanation_id,
                         {"run_id": run_id, "image_id": image_id, "cache_key": cache_key})
            return explanation_id

    @_database_errors
    def record_explanation(self, image_id: int, model_id: int, explanation: Any) -> tuple[int, int]:
        """The run (method, parameters, device, versions, time from the explanation's provenance)
        and the explanation, in one transaction -> (run id, explanation id)."""
        p = explanation.provenance
        map_path = save_map(self.cache_dir, explanation.cache_key, explanation.map)
        created = datetime.fromisoformat(p["created"]) if p.get("created") else None
        with write_transaction(self.engine) as c:
            run_id = catalog.record_run(c, model_id, p.get("method", explanation.method),
                                        p.get("parameters"), p.get("model", {}).get("device"),
                                        p.get("versions"), p.get("seconds"), created)
            explanation_id = catalog.add_explanation(c, run_id, image_id, explanation.target_index,
                                                     explanation.target_name, explanation.cache_key,
                                                     str(map_path))
            append_audit(c, None, "explanation.add", "explanation", explanation_id,
                         {"run_id": run_id, "image_id": image_id, "cache_key": explanation.cache_key})
            return run_id, explanation_id

    @_database_errors
    def explanations(self, image_id: int | None = None) -> list[ExplanationInfo]:
        with read_transaction(self.engine) as c:
            return catalog.explanation_info(c, image_id)

    def load_explanation_map(self, explanation: ExplanationInfo) -> np.ndarray:
        """The cached heatmap (MapNotCached when the cache lost it: compute it again)."""
        return load_map(self.cache_dir, explanation.cache_key)

    @_database_errors
    def add_proposals(self, image_id: int, run_id: int, proposals: Iterable[BoxProposal]) -> list[int]:
        """Store immutable proposals -> the ids of their boxes (each at revision 0)."""
        with write_transaction(self.engine) as c:
            return catalog.add_proposals(c, image_id, run_id, list(proposals))

    # -- review ---------------------------------------------------------------------------------

    def _revise(self, box_id: int, expected: int | None, change) -> Revision:
        try:
            with write_transaction(self.engine) as c:
                return change(c)
        except IntegrityError as exc:
            if not _is_revision_clash(exc):
                raise
        # Another writer took the revision number first (the lock should prevent this).
        with read_transaction(self.engine) as c:
            raise RevisionConflict(box_id, -1 if expected is None else expected,
                                   review.latest_revision(c, box_id))

    @_database_errors
    def revise_box(self, box_id: int, *, reviewer: str, expected_revision: int,
                   box: Box | None = None, label: str | None = None, state: str | None = None,
                   comment: str | None = None) -> Revision:
        """A new revision of the box. ``expected_revision`` is the revision the caller last
        saw (0: the unreviewed proposal); if the box moved on since, RevisionConflict (carrying
        the current latest revision) and nothing is written."""
        return self._revise(box_id, expected_revision, lambda c: review.revise(
            c, box_id, reviewer, expected_revision, box, label, state, comment))

    def accept(self, box_id: int, reviewer: str, expected_revision: int,
               comment: str | None = None) -> Revision:
        return self.revise_box(box_id, reviewer=reviewer, expected_revision=expected_revision,
                               state=ACCEPTED, comment=comment)

    def reject(self, box_id: int, reviewer: str, expected_revision: int,
               comment: str | None = None) -> Revision:
        return self.revise_box(box_id, reviewer=reviewer, expected_revision=expected_revision,
                               state=REJECTED, comment=comment)

    @_database_errors
    def add_box(self, image_id: int, box: Box, label: str, reviewer: str,
                comment: str | None = None) -> Revision:
        """A box the reviewer drew: revision 1, state "added"; ``.box_id`` is the new box."""
        with write_transaction(self.engine) as c:
            return review.add_box(c, image_id, box, label, reviewer, comment)

    @_database_errors
    def undo(self, box_id: int, reviewer: str, expected_revision: int | None = None, *,
             target_revision: int | None = None) -> Revision:
        """Undo the box's change in effect, as a new revision restoring the state before it.
        ``expected_revision``: refused (RevisionConflict) unless it is the latest revision;
        ``target_revision``: refused (ChangeNotInEffect) unless it is the change in effect, so
        that an undo of one's own change never undoes somebody else's later one."""
        return self._revise(box_id, expected_revision, lambda c: review.undo(
            c, box_id, reviewer, expected_revision, target_revision))

    @_database_errors
    def redo(self, box_id: int, reviewer: str, expected_revision: int | None = None, *,
             target_revision: int | None = None) -> Revision:
        """Re-apply the last undone change, as a new revision (``target_revision``: only if it
        is that revision, else ChangeNotInEffect)."""
        return self._revise(box_id, expected_revision, lambda c: review.redo(
            c, box_id, reviewer, expected_revision, target_revision))

    @_database_errors
    def latest_boxes(self, image_id: int, include_removed: bool = False) -> list[BoxView]:
        with read_transaction(self.engine) as c:
            return review.latest_boxes(c, image_id, include_removed)

    @_database_errors
    def history(self, box_id: int) -> list[Revision]:
        """Every revision of the box, oldest first (empty: an unreviewed proposal)."""
        with read_transaction(self.engine) as c:
            catalog.require(c, boxes, "box", box_id)
            return review.history(c, box_id)

    @_database_errors
    def set_status(self, image_id: int, status: str, reviewer: str) -> ImageStatus:
        with write_transaction(self.engine) as c:
            return review.set_status(c, image_id, status, reviewer)

    @_database_errors
    def status(self, image_id: int) -> ImageStatus:
        with read_transaction(self.engine) as c:
            return review.get_status(c, image_id)

    @_database_errors
    def audit_log(self, *, entity: str | None = None, entity_id: int | None = None,
                  actor: str | None = None, action: str | None = None,
                  since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first (``limit``: the newest N). Read-only: the log is
        appended to by the edits themselves and can be neither changed nor deleted."""
        with read_transaction(self.engine) as c:
            return read_audit(c, entity=entity, entity_id=entity_id, actor=actor, action=action,
                              since=since, limit=limit)

    # -- exchange -------------------------------------------------------------------------------

    @_database_errors
    def export_set(self, which: str = "reviewed") -> tuple[AnnotationSet, ExportScope]:
        """What an export of ``which`` boxes writes, and its scope, from one snapshot:
        "reviewed" (the reference): signed-off images only, with their reviewed boxes (and
        images with imported reference boxes only); "both": the same images with their reviewed
        boxes and proposals; "proposals": every image with its proposals (``export_scope.py``)."""
        with read_transaction(self.engine) as c:
            return export_set(c, which)

    @_database_errors
    def export_scope(self) -> ExportScope:
        """The images a reference export includes and leaves out, counted (for the dialog)."""
        with read_transaction(self.engine) as c:
            return reference_scope(c)

    @_database_errors
    def reference_annotations(self) -> AnnotationSet:
        """Every image + the latest revision of every reviewed, non-rejected box (kind "reviewed")."""
        with read_transaction(self.engine) as c:
            return annotation_sets.export_annotations(c, reviewed=True, proposals=False)

    @_database_errors
    def proposals_annotations(self) -> AnnotationSet:
        """Every image + every proposal as it was made (kind "proposal")."""
        with read_transaction(self.engine) as c:
            return annotation_sets.export_annotations(c, reviewed=False, proposals=True)

    @_database_errors
    def both_annotations(self) -> AnnotationSet:
        """Reference and proposals together (from one snapshot)."""
        with read_transaction(self.engine) as c:
            return annotation_sets.export_annotations(c, reviewed=True, proposals=True)

    @_database_errors
    def import_annotations(self, annotation_set: AnnotationSet, reviewer: str, source: str) -> ImportSummary:
        """Reference boxes from a file, as reviewed boxes: written in short transactions (the
        exception to one transaction per call, so that edits go on meanwhile), visible all at
        once when the import is done; on any error, or if the process dies, nothing of it is
        kept."""
        self._clean_abandoned_imports()
        return annotation_sets.import_annotations(self.engine, annotation_set, reviewer, source)

    def _clean_abandoned_imports(self) -> None:
        try:  # what a killed or failed import left behind (readers never see it)
            imports.clean_abandoned(self.engine)
        except (SQLAlchemyError, StoreError):
            pass  # housekeeping: tried again at the next open or import

    # -- the database itself --------------------------------------------------------------------

    @_database_errors
    def info(self) -> dict[str, Any]:
        """Rows per table, schema revision (and the code's head), backend, URL (password masked)."""
        with read_transaction(self.engine) as c:
            present = set(inspect(c).get_table_names())
            counts = {name: c.execute(select(func.count()).select_from(table)).scalar_one()
                      for name, table in sorted(metadata.tables.items()) if name in present}
            revision = migrate.current_revision(c) if "alembic_version" in present else None
        return {"url": mask_url(self.url), "backend": self.engine.dialect.name,
                "schema_revision": revision, "head_revision": migrate.head_revision(),
                "counts": counts}

    def upgrade(self) -> tuple[str | None, str | None]:
        try:
            return migrate.upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise open_error(self.url, exc) from None
