"""Long imports in short transactions, all-or-nothing to every reader.

An import first adds a row to ``imports`` (state "pending", with its host, process id and a
heartbeat), then writes its rows -- marked with that import's id -- in batches of about
``BATCH_SECONDS``, each its own transaction, so SQLite's write lock (and PostgreSQL's row
locks) are never held for long and a reviewer's edit goes in between two batches. Until the
last, small transaction turns the import "committed", every query that lists rows skips the
rows of unfinished imports (``visible``). When the import fails -- any exception, Ctrl-C -- it is
marked "failed" and its rows are deleted, in batches too (``abandon``); when its process was
killed, whoever opens the store next finds the pending import of a process that is gone (or
whose heartbeat is ``STALE_AFTER`` old) and does the same (``clean_abandoned``).

A row an unfinished import wrote and somebody else then uses (the same image opened in the app,
the same reviewer or study in another import) is adopted: its mark is cleared, so cleaning the
import up never deletes what others refer to.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
from datetime import timedelta
from typing import Callable, Iterable, Iterator, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, insert, inspect, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from .database import read_transaction, write_transaction
from .errors import StoreError
from .schema import IMPORTED_TABLES, box_revisions, boxes, imports, metadata, utcnow
from .views import COMMITTED, FAILED, PENDING

BATCH_SECONDS = 0.5      # a batch stops taking more rows after this long
# SQLite only: the pause after each batch, longer than the longest sleep (100 ms) of SQLite's
# busy handler, so a writer waiting for the lock always gets it before the next batch.
SQLITE_PAUSE_S = 0.12
STALE_AFTER = timedelta(minutes=10)  # a pending import not heard of for this long is dead
DELETE_BATCH = 2000      # rows deleted per transaction when an import is cleaned up
HOST = socket.gethostname()[:255]

T = TypeVar("T")
_running: set[tuple[str, int]] = set()   # (database, import id) of the imports this process runs now


# -- what readers see -------------------------------------------------------------------------

def unfinished():
    """The ids of imports not committed (yet, or ever)."""
    return select(imports.c.id).where(imports.c.state != COMMITTED)


def visible(table, own: int | None = None):
    """Rows of ``table`` that are no unfinished import's (but those of ``own``, the import
    asking)."""
    shown = or_(table.c.import_id.is_(None), table.c.import_id.not_in(unfinished()))
    return shown if own is None else or_(shown, table.c.import_id == own)


def adopt(connection: Connection, table, row_id: int, own: int | None = None) -> None:
    """The row is used by somebody else than the unfinished import that wrote it: it stays."""
    condition = and_(table.c.id == row_id, table.c.import_id.in_(unfinished()))
    if own is not None:
        condition = and_(condition, table.c.import_id != own)
    connection.execute(update(table).where(condition).values(import_id=None))


# -- an import's life -------------------------------------------------------------------------

@contextlib.contextmanager
def importing(engine: Engine, source: str) -> Iterator[int]:
    """A new pending import (its id); on any error in the block, its rows are removed again."""
    with write_transaction(engine) as c:
        now = utcnow()
        import_id = c.execute(insert(imports).values(
            state=PENDING, source=source, host=HOST, pid=os.getpid(), started_at=now,
            heartbeat_at=now)).inserted_primary_key[0]
    running = (str(engine.url), import_id)
    _running.add(running)
    try:
        yield import_id
    except BaseException:
        try:
            abandon(engine, import_id)
        except (SQLAlchemyError, StoreError):
            pass  # the server went away, say: the next import or open of the store removes it
        raise
    finally:
        _running.discard(running)


def run_in_batches(engine: Engine, import_id: int, items: Iterable[T],
                   step: Callable[[Connection, T], None],
                   finish: Callable[[Connection], None]) -> None:
    """``step(connection, item)`` for each item, in transactions of about BATCH_SECONDS;
    ``finish(connection)`` at the end of each."""
    items = iter(items)
    more = True
    while more:
        with write_transaction(engine) as c:
            _still_pending(c, import_id)
            deadline, more = time.monotonic() + BATCH_SECONDS, False
            for item in items:
                step(c, item)
                if time.monotonic() >= deadline:
                    more = True
                    break
            finish(c)
        if more:
            _pause(engine)


@contextlib.contextmanager
def committing(engine: Engine, import_id: int) -> Iterator[Connection]:
    """The last transaction of an import: it becomes visible, whole, when the block ends."""
    with write_transaction(engine) as c:
        done = c.execute(update(imports).where(imports.c.id == import_id, imports.c.state == PENDING)
                         .values(state=COMMITTED, finished_at=utcnow()))
        if done.rowcount != 1:
            raise _given_up(import_id)
        yield c


def _still_pending(connection: Connection, import_id: int) -> None:
    """The heartbeat; and the lock on the import's row that orders it with a clean-up."""
    done = connection.execute(update(imports).where(imports.c.id == import_id, imports.c.state == PENDING)
                              .values(heartbeat_at=utcnow()))
    if done.rowcount != 1:
        raise _given_up(import_id)


def _given_up(import_id: int) -> StoreError:
    minutes = int(STALE_AFTER.total_seconds() // 60)
    return StoreError(f"import {import_id} was given up by another process (no sign of life for "
                      f"{minutes} minutes): nothing of it is kept; import the file again")


def _pause(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        time.sleep(SQLITE_PAUSE_S)


# -- cleaning up ------------------------------------------------------------------------------

def abandon(engine: Engine, import_id: int, heartbeat=None) -> None:
    """Mark the import failed (unless it was committed; with ``heartbeat``, only if it has
    not beaten since) and delete its rows, a batch per transaction, its own row last."""
    with write_transaction(engine) as c:
        condition = and_(imports.c.id == import_id, imports.c.state == PENDING)
        if heartbeat is not None:
            condition = and_(condition, imports.c.heartbeat_at == heartbeat)
        c.execute(update(imports).where(condition).values(state=FAILED, finished_at=utcnow()))
    for name in IMPORTED_TABLES:
        while _delete_some(engine, import_id, name):
            _pause(engine)
    with write_transaction(engine) as c:
        c.execute(delete(imports).where(imports.c.id == import_id, imports.c.state == FAILED))


def _delete_some(engine: Engine, import_id: int, name: str) -> bool:
    """Delete up to DELETE_BATCH rows of the failed import from one table; True if more may be left."""
    table = metadata.tables[name]
    with write_transaction(engine) as c:
        state = c.execute(select(imports.c.state).where(imports.c.id == import_id)
                          .with_for_update()).scalar()
        if state != FAILED:
            return False
        if table is box_revisions:
            mine = box_revisions.c.box_id.in_(select(boxes.c.id).where(boxes.c.import_id == import_id))
        else:
            mine = table.c.import_id == import_id
        some = select(table.c.id).where(mine).limit(DELETE_BATCH)
        return c.execute(delete(table).where(table.c.id.in_(some))).rowcount == DELETE_BATCH


def _process_gone(host: str, pid: int) -> bool:
    if host != HOST or os.name != "posix":
        return False  # another machine's (or Windows'): only the heartbeat tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process
        return False
    return False


def _ours_left(engine: Engine, row) -> bool:
    """An import of this very process that is not running any more (its clean-up failed)."""
    return row.host == HOST and row.pid == os.getpid() and (str(engine.url), row.id) not in _running


def clean_abandoned(engine: Engine) -> int:
    """Remove the imports that failed, and those whose process is gone or silent for
    STALE_AFTER; returns how many. Done when the store is opened."""
    with read_transaction(engine) as c:
        if not inspect(c).has_table(imports.name):
            return 0  # a database not upgraded yet
        rows = c.execute(select(imports).where(imports.c.state != COMMITTED)).all()
    cleaned, now = 0, utcnow()
    for row in rows:
        dead = now - row.heartbeat_at > STALE_AFTER or _process_gone(row.host, row.pid) or _ours_left(engine, row)
        if row.state == FAILED or dead:
            abandon(engine, row.id, heartbeat=None if row.state == FAILED else row.heartbeat_at)
            cleaned += 1
    return cleaned
