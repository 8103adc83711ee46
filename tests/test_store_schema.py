"""The schema as the database holds it: migrations, constraints, triggers, SQLite settings."""
from __future__ import annotations

import multiprocessing
import os
import stat

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import ImageRecord
from medxai_desktop.core.store import ReviewStore, StoreError, default_data_dir, default_db_url
from medxai_desktop.core.store.database import make_engine
from medxai_desktop.core.store.migrate import head_revision, upgrade
from medxai_desktop.core.store.schema import APPEND_ONLY_TABLES, metadata


def test_migrations_build_exactly_the_declared_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
        assert differences == []
        assert upgrade(engine) == (head_revision(), head_revision())  # idempotent
        with engine.connect() as connection:
            upgrades = connection.execute(text(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'schema.upgrade'")).scalar_one()
        assert upgrades == 1
    finally:
        engine.dispose()


def _one_box(store) -> int:
    image_id = store.add_image(ImageRecord("a.png", 10, 10))
    model_id = store.add_model(_card())
    run_id = store.record_run(model_id, "crosseai")
    [box_id] = store.add_proposals(image_id, run_id, [BoxProposal(Box(1, 1, 5, 5), 0.5, "x", "crosseai")])
    store.accept(box_id, "ann", 0)
    return box_id


def _card():
    from medxai_desktop.core.models import ModelCard

    return ModelCard("resnet18", ["x", "y"], (224, 224), (0.5,) * 3, (0.25,) * 3, "layer4", None, None)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'forged'",
    "DELETE FROM audit_log",
    "UPDATE box_revisions SET state = 'rejected'",
    "DELETE FROM box_revisions",
    "UPDATE box_proposals SET score = 1.0",
    "DELETE FROM box_proposals",
])
def test_history_tables_refuse_update_and_delete(store, statement):
    _one_box(store)
    before = store.info()["counts"]
    table = statement.split()[1] if statement.startswith("UPDATE") else statement.split()[2]
    assert table in APPEND_ONLY_TABLES
    with pytest.raises(DBAPIError, match="append-only"):
        with store.engine.begin() as connection:
            connection.execute(text(statement))
    assert store.info()["counts"] == before
    assert [e.action for e in store.audit_log()][-1] == "box.edit"


def test_database_refuses_a_second_revision_with_the_same_number(store):
    box_id = _one_box(store)
    duplicate = text("INSERT INTO box_revisions (box_id, revision, x0, y0, x1, y1, label, state, "
                     "action, reviewer_id, created_at) VALUES (:box, 1, 0, 0, 1, 1, 'x', 'edited', "
                     "'edit', 1, CURRENT_TIMESTAMP)")
    with pytest.raises(IntegrityError):
        with store.engine.begin() as connection:
            connection.execute(duplicate, {"box": box_id})
    assert len(store.history(box_id)) == 1


def test_foreign_keys_and_checks_are_enforced(store):
    _one_box(store)
    with pytest.raises(IntegrityError):
        with store.engine.begin() as connection:
            connection.execute(text("INSERT INTO boxes (image_id, origin, created_at) "
                                    "VALUES (999, 'drawn', CURRENT_TIMESTAMP)"))
    with pytest.raises(IntegrityError):
        with store.engine.begin() as connection:
            connection.execute(text("INSERT INTO image_status (image_id, status, updated_at) "
                                    "VALUES (1, 'done', CURRENT_TIMESTAMP)"))


def test_sqlite_connections_are_set_for_durability(tmp_path):
    store = ReviewStore(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        with store.engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") >= 10000
    finally:
        store.close()
    assert (tmp_path / "r.sqlite3-wal").exists() or (tmp_path / "r.sqlite3").exists()


def _modes(*paths) -> list[str]:
    return [oct(stat.S_IMODE(os.stat(p).st_mode)) for p in paths]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_new_review_database_is_private_to_its_owner(tmp_path):
    """Issue 23 defect 9: the database (reviewer names, image paths, the audit log) was created
    0644 in a 0755 folder. Now: folder 0700, file 0600, and so its -wal and -shm files."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "data" / "reviews.sqlite3"
        store = ReviewStore(f"sqlite:///{path}")
        try:
            store.add_image(ImageRecord("a.png", 10, 10))
            assert _modes(path.parent, path, f"{path}-wal", f"{path}-shm") == ["0o700", "0o600", "0o600", "0o600"]
        finally:
            store.close()
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_default_database_and_data_folder_are_tightened_a_named_one_is_left(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MEDXAI_DB", raising=False)
    folder = default_data_dir()
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    url = default_db_url()
    ReviewStore(url).close()
    default = folder / "reviews.sqlite3"
    os.chmod(default, 0o644)
    ReviewStore(url).close()
    assert _modes(folder, default) == ["0o700", "0o600"]

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)
    ReviewStore(f"sqlite:///{shared / 'group.sqlite3'}").close()
    os.chmod(shared / "group.sqlite3", 0o640)   # shared with a group on purpose
    ReviewStore(f"sqlite:///{shared / 'group.sqlite3'}").close()
    assert _modes(shared, shared / "group.sqlite3") == ["0o750", "0o640"]


def _open_store(url: str, barrier) -> None:
    barrier.wait(timeout=60)
    ReviewStore(url).close()


def test_two_processes_opening_a_new_database_upgrade_it_once(db_url):
    """Both open (and so upgrade) the same empty database at the same moment."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [context.Process(target=_open_store, args=(db_url, barrier)) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0, 0]
    with ReviewStore(db_url) as store:
        assert [e.action for e in store.audit_log()] == ["schema.upgrade"]
        assert store.info()["schema_revision"] == head_revision()


def test_a_database_from_a_newer_version_is_refused_not_changed(db_url):
    ReviewStore(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StoreError, match="newer version"):
            ReviewStore(db_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    finally:
        engine.dispose()
