"""The store's PACS records: where each retrieved instance came from, and the sent-log.

Functions over a :class:`~.repository.ReviewStore` (its engine), one transaction each.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .audit import append_audit
from .database import insert_ignoring_duplicates, read_transaction, write_transaction
from .schema import pacs_instances, pacs_sent


@dataclass(frozen=True)
class PacsSource:
    node: str
    study_uid: str
    series_uid: str | None
    sop_uid: str
    path: str | None
    retrieved_at: datetime


@dataclass(frozen=True)
class SentRecord:
    node: str
    destination: str
    kind: str
    sop_uid: str
    source_uids: list[str]
    sent_by: str | None
    sent_at: datetime


def record_retrieved(store, node: str, instances: Iterable[tuple[str, str | None, str, str]]) -> int:
    """Remember (study UID, series UID, SOP Instance UID, path) of instances retrieved from
    ``node`` (once per node and instance); how many were new."""
    count = select(func.count()).select_from(pacs_instances)
    with write_transaction(store.engine) as connection:
        before = connection.execute(count).scalar_one()
        for study_uid, series_uid, sop_uid, path in instances:
            insert_ignoring_duplicates(connection, pacs_instances, {
                "node": node, "study_uid": study_uid, "series_uid": series_uid, "sop_uid": sop_uid,
                "path": path}, "node", "sop_uid")
        added = connection.execute(count).scalar_one() - before
        if added:
            append_audit(connection, None, "pacs.retrieve", "pacs_instances", None,
                         {"node": node, "instances": added})
    return added


def sources_of(store, sop_uid: str) -> list[PacsSource]:
    """The nodes an instance was retrieved from (oldest first)."""
    with read_transaction(store.engine) as connection:
        rows = connection.execute(select(pacs_instances).where(pacs_instances.c.sop_uid == sop_uid)
                                  .order_by(pacs_instances.c.id)).mappings().all()
    return [PacsSource(r["node"], r["study_uid"], r["series_uid"], r["sop_uid"], r["path"], r["retrieved_at"])
            for r in rows]


def already_sent(store, node: str, sop_uids: Iterable[str]) -> set[str]:
    """Those of ``sop_uids`` that the sent-log holds for ``node``."""
    wanted = list(sop_uids)
    with read_transaction(store.engine) as connection:
        rows = connection.execute(select(pacs_sent.c.sop_uid).where(
            pacs_sent.c.node == node, pacs_sent.c.sop_uid.in_(wanted))).all()
    return {r[0] for r in rows}


def record_sent(store, node: str, destination: str, kind: str, sop_uid: str,
                source_uids: list[str], sent_by: str | None) -> None:
    """Log one instance sent (the first send of an instance to a node is the one kept)."""
    with write_transaction(store.engine) as connection:
        insert_ignoring_duplicates(connection, pacs_sent, {
            "node": node, "destination": destination, "kind": kind, "sop_uid": sop_uid,
            "source_uids": list(source_uids), "sent_by": sent_by}, "node", "sop_uid")
        append_audit(connection, sent_by, "pacs.send", "pacs_sent", None,
                     {"node": node, "destination": destination, "kind": kind, "sop_uid": sop_uid})


def sent_log(store, node: str | None = None) -> list[SentRecord]:
    """What was sent (to ``node``, or anywhere), oldest first."""
    query = select(pacs_sent).order_by(pacs_sent.c.id)
    if node is not None:
        query = query.where(pacs_sent.c.node == node)
    with read_transaction(store.engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [SentRecord(r["node"], r["destination"], r["kind"], r["sop_uid"], list(r["source_uids"]),
                       r["sent_by"], r["sent_at"]) for r in rows]
