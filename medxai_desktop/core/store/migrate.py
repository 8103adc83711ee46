"""Create or upgrade the schema with the Alembic migrations shipped in this package."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from .database import write_transaction
from .errors import StoreError

# Any constant: PostgreSQL serialises concurrent upgrades of one database on this lock.
_UPGRADE_LOCK = 0x4D44_5853_544F_5245

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The schema revision of the database (None for an empty one)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database to ``revision`` in one transaction (SQLite: under the write lock;
    PostgreSQL: under an advisory lock), so concurrent upgrades run one after the other and
    a failed one leaves the database as it was. Returns (revision before, revision after)."""
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        before = current_revision(connection)
        config = _config()
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, revision)
        except CommandError as exc:  # e.g. a database written by a newer MedXAI Desktop
            raise StoreError(f"cannot upgrade the schema from revision {before!r}: {exc} "
                             "(a database from a newer version of MedXAI Desktop?)") from None
        after = current_revision(connection)
        if before != after:
            from .audit import append_audit  # the audit table exists from the first revision on
            append_audit(connection, None, "schema.upgrade", "schema", None,
                         {"from": before, "to": after})
    return before, after
