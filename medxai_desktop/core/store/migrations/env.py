"""Alembic environment of the review store. Run through ``medxai_desktop.core.store.migrate``,
which hands over an open connection (``config.attributes["connection"]``) inside a write
transaction; no alembic.ini is needed."""
from __future__ import annotations

from alembic import context

from medxai_desktop.core.store.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the store migrations through medxai_desktop.core.store.migrate.upgrade()")
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
