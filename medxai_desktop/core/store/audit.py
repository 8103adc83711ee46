"""The audit log: appended to inside each edit's own transaction; there is no way here to
change or remove an entry (and the database refuses it too, by trigger)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from .imports import visible
from .schema import audit_log, utcnow
from .views import AuditEntry


def audit_values(actor: str | None, action: str, entity: str, entity_id: int | None,
                 details: dict[str, Any] | None = None, import_id: int | None = None) -> dict:
    """The row of one entry (an unfinished import's, with ``import_id``: shown once it is
    committed)."""
    values = dict(at=utcnow(), actor=actor, action=action, entity=entity, entity_id=entity_id,
                  details=details or {})
    if import_id is not None:  # (not named otherwise: migrate.py writes to older schemas too)
        values["import_id"] = import_id
    return values


def append_audit(connection: Connection, actor: str | None, action: str, entity: str,
                 entity_id: int | None, details: dict[str, Any] | None = None) -> None:
    connection.execute(insert(audit_log).values(**audit_values(actor, action, entity, entity_id, details)))


def read_audit(connection: Connection, *, entity: str | None = None, entity_id: int | None = None,
               actor: str | None = None, action: str | None = None,
               since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Entries oldest first (by id: the order they were committed in one database)."""
    query = select(audit_log).where(visible(audit_log)).order_by(audit_log.c.id)
    for column, value in (("entity", entity), ("entity_id", entity_id), ("actor", actor),
                          ("action", action)):
        if value is not None:
            query = query.where(audit_log.c[column] == value)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if limit is not None:
        query = query.order_by(None).order_by(audit_log.c.id.desc()).limit(limit)
    rows = connection.execute(query).mappings().all()
    entries = [AuditEntry(r["id"], r["at"], r["actor"], r["action"], r["entity"], r["entity_id"],
                          dict(r["details"] or {})) for r in rows]
    return sorted(entries, key=lambda e: e.id)
