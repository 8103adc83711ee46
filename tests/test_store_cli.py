"""`medxai --db URL db upgrade|info`, run as a user would (a subprocess)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from medxai_desktop.core.store.migrate import head_revision
from medxai_desktop.core.store.schema import metadata


def medxai(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medxai_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env=None if env is None else dict(os.environ, **env))


def test_db_upgrade_then_info(db_url):
    first = medxai("--db", db_url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"upgraded from empty to {head_revision()}" in first.stdout
    again = medxai("--db", db_url, "db", "upgrade")
    assert again.returncode == 0 and f"already at {head_revision()}" in again.stdout
    info = medxai("--db", db_url, "db", "info")
    assert info.returncode == 0, info.stderr
    assert f"schema    {head_revision()}" in info.stdout
    lines = {line.split()[0]: line.split()[1] for line in info.stdout.splitlines() if line.startswith("  ")}
    assert lines["audit_log"] == "1" and lines["box_revisions"] == "0"
    assert len(lines) == len(metadata.tables)
    assert "not-a-secret-pw" not in info.stdout + first.stdout


def test_default_database_is_in_the_user_data_folder(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    done = medxai("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    expected = tmp_path / "data" / "MedXAI Desktop" / "reviews.sqlite3"
    assert expected.is_file() and str(expected) in done.stdout
    info = medxai("db", "info", env=env)
    assert info.returncode == 0 and str(expected) in info.stdout


@pytest.mark.parametrize("url", ["nonsense", "mysql://u:pw@host/db", "sqlite://",
                                 "postgresql+psycopg://u:hunter2@127.0.0.1:1/db"])
def test_bad_url_exits_2_with_one_line(url):
    done = medxai("--db", url, "db", "info")
    assert done.returncode == 2
    assert done.stderr.startswith("medxai: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


def test_info_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "nothing-here.sqlite3"
    done = medxai("--db", f"sqlite:///{path}", "db", "info")
    assert done.returncode == 2 and "db upgrade" in done.stderr
    assert not path.exists()


def test_other_subcommands_still_parse_with_a_global_db_option(tmp_path):
    done = medxai("--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "explain", "--help")
    assert done.returncode == 0 and "--methods" in done.stdout
    assert not Path(tmp_path / "x.sqlite3").exists()
