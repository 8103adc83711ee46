"""Engines for SQLite and PostgreSQL, and the one-transaction-per-call helpers.

SQLite settings, set on every connection:
- ``journal_mode=WAL``: readers never block the writer nor the writer the readers, and a
  crash (killed process, power loss) leaves the database consistent: a transaction is either
  in the log completely or not at all.
- ``synchronous=FULL``: the WAL is fsynced at every commit, so a commit that returned is on
  disk even after a power cut or an OS crash. NORMAL would survive a killed process too, but
  could lose the last commits on power loss -- and losing a radiologist's saved edit is what we
  must not do. Edits come at human pace, so the fsync per commit (~ms) costs nothing visible.
- ``foreign_keys=ON`` (off by default in SQLite) and a busy timeout of 30 s: a second process
  waits for the writer instead of failing at once.
- Write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two
  writers queue on the busy timeout instead of failing on a lock upgrade.

WAL needs a local disk: a SQLite file on a network share is not safe; share a PostgreSQL
database instead.

A review database holds reviewer names, image paths and the audit log: a new SQLite file is
created readable by its owner only (0600; SQLite gives its -wal and -shm files the same mode),
in a folder created 0700. The default database and the default data folder are tightened so
when they exist with looser modes; a database the user names elsewhere keeps the mode it has
(it may be shared on purpose).
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from .errors import StoreError
from .locations import default_data_dir, mask_url

BUSY_TIMEOUT_S = 30.0
_WRITE = "medxai_write"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``), or StoreError."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {mask_url(str(url))!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if parsed.drivername in ("postgresql", "postgres"):  # psycopg (3) is the driver we ship
        parsed, backend = parsed.set(drivername="postgresql+psycopg"), "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {backend!r} in {mask_url(str(url))}: "
                         "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
    try:
        if backend == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise StoreError(f"{mask_url(str(url))}: give a SQLite file (an in-memory database "
                                 "would vanish and cannot be shared between connections)")
            _private_sqlite_file(Path(database).expanduser())
            engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"no driver for {mask_url(str(url))}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot create the folder of {mask_url(str(url))}: {exc}") from None
    return engine


_PRIVATE_FILE, _PRIVATE_FOLDER = 0o600, 0o700


def _private_sqlite_file(path: Path) -> None:
    """Create the folder (0700) and the empty database file (0600) that SQLite then fills."""
    folder = path.parent
    ours = os.path.abspath(folder) == os.path.abspath(default_data_dir())
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=_PRIVATE_FOLDER, exist_ok=True)
        ours = True
    if ours:
        _tighten(folder, _PRIVATE_FOLDER)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE))
        os.chmod(path, _PRIVATE_FILE)   # whatever the umask
        return
    except FileExistsError:
        pass
    if ours:
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            _tighten(file, _PRIVATE_FILE)


def _tighten(path: Path, mode: int) -> None:
    """Remove the group's and others' access from a file or folder of ours (POSIX)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if os.name == "posix" and current & ~mode:
            os.chmod(path, current & mode)
    except FileNotFoundError:
        pass


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Transactions are ours (BEGIN below), not the sqlite3 module's implicit ones.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection):
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that writes: committed when the block ends, rolled back on any error."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One consistent snapshot for reads that span several queries."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def insert_ignoring_duplicates(connection: Connection, table, values: dict, *unique_columns: str):
    """INSERT ... ON CONFLICT DO NOTHING (idempotent get-or-create under concurrency)."""
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(
        index_elements=list(unique_columns))
    connection.execute(statement)


def upsert(connection: Connection, table, values: dict, key: str) -> None:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[key], set_={k: v for k, v in values.items() if k != key})
    connection.execute(statement)


def describe_error(exc: BaseException) -> str:
    """One line: the driver's message without SQLAlchemy's SQL echo and links."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_error(url: str, exc: SQLAlchemyError) -> StoreError:
    return StoreError(f"cannot open database {mask_url(url)}: {describe_error(exc)}")
