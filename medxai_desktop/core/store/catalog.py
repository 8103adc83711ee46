"""What reviews refer to: reviewers, studies/series/images, models, runs, explanations and
box proposals. Functions over an open connection; the repository gives each its transaction."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Connection, and_, insert, select, update

from medxai_desktop.core.boxes import BoxProposal
from medxai_desktop.core.exchange.records import ImageRecord
from medxai_desktop.core.text_limits import printable

from .audit import append_audit
from .database import insert_ignoring_duplicates
from .errors import StoreError, UnknownEntity
from .imports import adopt, visible
from .schema import (box_proposals, boxes, check_text, check_values, explanations, images, models,
                     reviewers, runs, series, studies, utcnow)
from .views import ExplanationInfo, ImageInfo


def reviewer_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StoreError(f"a reviewer must be named, got {name!r}")
    check_text("reviewer", "name", reviewers.c.name, name.strip())
    return name.strip()


def reviewer_id(connection: Connection, name: str, import_id: int | None = None) -> int:
    """The reviewer's id, creating the reviewer on first use (marked as ``import_id``'s)."""
    name = reviewer_name(name)
    insert_ignoring_duplicates(connection, reviewers, {"name": name, "created_at": utcnow(),
                                                       "import_id": import_id}, "name")
    return _found(connection, reviewers, reviewers.c.name == name, import_id)


def _found(connection: Connection, table, where, import_id: int | None) -> int:
    """The id of the one row ``where`` selects, adopted if an unfinished import (not
    ``import_id``) wrote it."""
    row = connection.execute(select(table.c.id, table.c.import_id).where(where)).one()
    if row.import_id is not None and row.import_id != import_id:
        _adopt(connection, table, row.id, import_id)
    return row.id


def _adopt(connection: Connection, table, row_id: int, import_id: int | None) -> None:
    """An image with its series and study, a series with its study, or another row."""
    adopt(connection, table, row_id, import_id)
    parent = {images: ("series_id", series), series: ("study_id", studies)}.get(table)
    if parent is not None:
        column, parent_table = parent
        parent_id = connection.execute(select(table.c[column]).where(table.c.id == row_id)).scalar()
        if parent_id is not None:
            _adopt(connection, parent_table, parent_id, import_id)


def require(connection: Connection, table, entity: str, entity_id: int,
            import_id: int | None = None) -> None:
    """UnknownEntity unless the row exists and is visible (or ``import_id``'s own)."""
    query = select(table.c.id).where(table.c.id == entity_id)
    if "import_id" in table.c:
        query = query.where(visible(table, import_id))
    if connection.execute(query).first() is None:
        raise UnknownEntity(entity, entity_id)


# -- images -----------------------------------------------------------------------------------

def _sha(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()  # a file name's bytes too


def _uid_row(connection: Connection, table, uid_column: str, uid: str | None,
             import_id: int | None, **values) -> int | None:
    if not uid:
        return None
    insert_ignoring_duplicates(connection, table, {uid_column: uid, "created_at": utcnow(),
                                                   "import_id": import_id, **values}, uid_column)
    return _found(connection, table, table.c[uid_column] == uid, import_id)


def _series_id(connection: Connection, import_id: int | None, study_uid, series_uid,
               study_description=None, series_description=None, modality=None) -> int | None:
    study = _uid_row(connection, studies, "study_uid", study_uid, import_id,
                     description=study_description)
    return _uid_row(connection, series, "series_uid", series_uid, import_id, study_id=study,
                    description=series_description, modality=modality)


def image_values(image: Any, context: str = "") -> dict[str, Any]:
    """Columns of an image from a MedicalImage (pixels known) or an ImageRecord (a name);
    StoreError naming the image (after ``context``: where it comes from) and the field when a
    text does not fit the schema."""
    if isinstance(image, ImageRecord):
        path = None if image.path is None else str(Path(image.path).resolve())
        values = dict(identity=_sha("record", image.key, path), key=image.key, path=path, frame=0,
                      content_hash=None, width=int(image.width), height=int(image.height),
                      sop_uid=image.sop_uid, _series=(image.study_uid, image.series_uid))
    elif hasattr(image, "content_hash") and hasattr(image, "source"):  # a MedicalImage
        source = Path(image.source)
        path = str(source.resolve())
        name = printable(source.name)  # the file's name, its bytes that are not UTF-8 as \xff
        key = name if getattr(image, "n_frames", 1) <= 1 else f"{name}[{image.frame}]"
        height, width = image.shape
        values = dict(identity=_sha("pixels", image.content_hash, path, image.frame), key=key,
                      path=path, frame=int(image.frame), content_hash=image.content_hash,
                      width=int(width), height=int(height), sop_uid=image.sop_uid,
                      _series=(image.study_uid, image.series_uid, image.study_description,
                               image.series_description, image.modality))
    else:
        raise TypeError(f"add_image takes a MedicalImage or an ImageRecord, got {type(image).__name__}")
    what = f"{context}image {printable(values['key'])!r}" + (
        f" ({printable(values['path'])})" if values["path"] else "")
    fields = {**values, **dict(zip(_SERIES_FIELDS, values["_series"]))}
    for name, column in _IMAGE_TEXT.items():
        check_text(what, name, column, fields.get(name))
    return values


_SERIES_FIELDS = ("study_uid", "series_uid", "study_description", "series_description", "modality")
_IMAGE_TEXT = {"key": images.c.key, "path": images.c.path, "sop_uid": images.c.sop_uid,
               "study_uid": studies.c.study_uid, "series_uid": series.c.series_uid,
               "study_description": studies.c.description,
               "series_description": series.c.description, "modality": series.c.modality}


def add_image(connection: Connection, image: Any, import_id: int | None = None,
              context: str = "") -> tuple[int, bool]:
    """(image id, whether it was new). Idempotent: a MedicalImage on its content hash + path +
    frame; an ImageRecord on its path (else its key) -- matching an image already added by
    pixels when the path (or the key, if unique) is the same. A new image is marked as
    ``import_id``'s; one an unfinished import wrote is adopted."""
    values = image_values(image, context)
    series_args = values.pop("_series")
    existing = connection.execute(select(images.c.id, images.c.import_id)
                                  .where(images.c.identity == values["identity"])).first()
    if existing is None and values["content_hash"] is None:
        existing = _match_record(connection, values)
    if existing is not None:
        if existing.import_id is not None and existing.import_id != import_id:
            _adopt(connection, images, existing.id, import_id)
        return existing.id, False
    if values["content_hash"] is not None:  # adopt an image known so far by name only
        named = connection.execute(select(images.c.id).where(and_(  # (imported) at the same path
            images.c.path == values["path"], images.c.frame == values["frame"],
            images.c.content_hash.is_(None)))).first()
        if named is not None:
            connection.execute(update(images).where(images.c.id == named.id).values(
                identity=values["identity"], content_hash=values["content_hash"],
                width=values["width"], height=values["height"], key=values["key"],
                sop_uid=values["sop_uid"], series_id=_series_id(connection, None, *series_args)))
            adopt(connection, images, named.id)
            return named.id, False
    values["series_id"] = _series_id(connection, import_id, *series_args)
    values["created_at"] = utcnow()
    values["import_id"] = import_id
    insert_ignoring_duplicates(connection, images, values, "identity")
    return _found(connection, images, images.c.identity == values["identity"], import_id), True


def _match_record(connection: Connection, values: dict):
    """The image an ImageRecord names by its path (else its unique key), or None."""
    query = select(images.c.id, images.c.import_id)
    if values["path"] is not None:
        query = query.where(images.c.path == values["path"]).order_by(images.c.frame)
    else:
        query = query.where(images.c.key == values["key"])
    found = connection.execute(query.limit(2)).all()
    if len(found) == 1 or (found and values["path"] is not None):
        return found[0]
    return None


def image_info(connection: Connection, image_id: int | None = None) -> list[ImageInfo]:
    query = (select(images, series.c.series_uid, studies.c.study_uid)
             .select_from(images.outerjoin(series, images.c.series_id == series.c.id)
                          .outerjoin(studies, series.c.study_id == studies.c.id))
             .where(visible(images)).order_by(images.c.id))
    if image_id is not None:
        query = query.where(images.c.id == image_id)
    return [ImageInfo(r.id, r.key, r.width, r.height, r.path, r.frame, r.content_hash,
                      r.study_uid, r.series_uid, r.sop_uid) for r in connection.execute(query)]


# -- models, runs, explanations ------------------------------------------------------------------

def add_model(connection: Connection, model: Any, checkpoint_hash: str | None = None) -> tuple[int, bool]:
    """A ModelCard or a LoadedModel; idempotent on (card hash, checkpoint hash)."""
    card = getattr(model, "card", model)
    if not hasattr(card, "card_hash") or not hasattr(card, "to_dict"):
        raise TypeError(f"add_model takes a ModelCard or a LoadedModel, got {type(model).__name__}")
    checkpoint = checkpoint_hash or getattr(model, "checkpoint_sha256", None) or card.sha256 or ""
    key = and_(models.c.card_hash == card.card_hash, models.c.checkpoint_hash == checkpoint)
    existing = connection.execute(select(models.c.id).where(key)).first()
    if existing is not None:
        return existing.id, False
    connection.execute(insert(models).values(**check_values(models, dict(
        card_hash=card.card_hash, checkpoint_hash=checkpoint, arch=card.arch, card=card.to_dict(),
        created_at=utcnow()), f"model card {printable(str(card.arch))!r}")))
    return connection.execute(select(models.c.id).where(key)).scalar_one(), True


def record_run(connection: Connection, model_id: int, method: str, parameters: dict | None,
               device: str | None, versions: dict | None, seconds: float | None,
               created_at=None) -> int:
    require(connection, models, "model", model_id)
    if not method:
        raise StoreError("a run needs the name of its method")
    result = connection.execute(insert(runs).values(**check_values(runs, dict(
        model_id=model_id, method=method, parameters=_jsonable(parameters or {}),
        device=None if device is None else str(device), versions=_jsonable(versions or {}),
        seconds=seconds, created_at=created_at or utcnow()), f"run of model {model_id}")))
    return result.inserted_primary_key[0]


def add_explanation(connection: Connection, run_id: int, image_id: int, target_class: int,
                    target_name: str | None, cache_key: str, map_path: str | None) -> int:
    require(connection, runs, "run", run_id)
    require(connection, images, "image", image_id)
    result = connection.execute(insert(explanations).values(**check_values(explanations, dict(
        run_id=run_id, image_id=image_id, target_class=int(target_class), target_name=target_name,
        cache_key=cache_key, map_path=map_path, created_at=utcnow()),
        f"explanation of image {image_id}")))
    return result.inserted_primary_key[0]


def explanation_info(connection: Connection, image_id: int | None = None,
                     explanation_id: int | None = None) -> list[ExplanationInfo]:
    query = (select(explanations, runs.c.method)
             .join(runs, explanations.c.run_id == runs.c.id).order_by(explanations.c.id))
    if image_id is not None:
        query = query.where(explanations.c.image_id == image_id)
    if explanation_id is not None:
        query = query.where(explanations.c.id == explanation_id)
    return [ExplanationInfo(r.id, r.run_id, r.image_id, r.method, r.target_class, r.target_name,
                            r.cache_key, r.map_path) for r in connection.execute(query)]


# -- proposals ------------------------------------------------------------------------------------

def add_proposals(connection: Connection, image_id: int, run_id: int,
                  proposals: Iterable[BoxProposal]) -> list[int]:
    """Each proposal becomes an immutable proposal row and a box (revision 0) to review."""
    require(connection, images, "image", image_id)
    require(connection, runs, "run", run_id)
    box_ids = []
    for n, proposal in enumerate(proposals):
        if not isinstance(proposal, BoxProposal):
            raise TypeError(f"add_proposals takes BoxProposal objects, got {type(proposal).__name__}")
        if not proposal.label:
            raise StoreError("a proposal needs a label")
        b = proposal.box
        now = utcnow()
        proposal_id = connection.execute(insert(box_proposals).values(**check_values(box_proposals, dict(
            image_id=image_id, run_id=run_id, x0=b.x0, y0=b.y0, x1=b.x1, y1=b.y1,
            label=proposal.label, score=None if proposal.score is None else float(proposal.score),
            method=proposal.method, parameters=_jsonable(proposal.parameters), created_at=now,
        ), f"proposal {n + 1} on image {image_id}"))).inserted_primary_key[0]
        box_ids.append(connection.execute(insert(boxes).values(
            image_id=image_id, proposal_id=proposal_id, origin="proposal", created_at=now,
        )).inserted_primary_key[0])
    append_audit(connection, None, "proposals.add", "image", image_id,
                 {"run_id": run_id, "box_ids": box_ids})
    return box_ids


def _jsonable(value: Any) -> Any:
    """Plain JSON values (tuples -> lists, numpy scalars -> numbers, paths -> strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)
