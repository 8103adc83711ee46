"""Fixtures for the review-store tests: one database URL per backend (SQLite and PostgreSQL).

PostgreSQL is a real server, started once per test session from Debian's binaries
(``initdb``/``pg_ctl`` on PATH or under /usr/lib/postgresql/<version>/bin; installed with
apt-get if missing and we are root). As root the server runs as the ``postgres`` OS user
(initdb refuses root). It listens on 127.0.0.1 on a free port, with its socket in its own temp
folder, and every test gets a fresh database. When it cannot be installed or started, the
PostgreSQL variants are SKIPPED with the exact error -- never silently.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The torch stack is imported here, on the main thread, before any test window starts loading it
# on its model worker (app: the window paints first, then torch loads there). torchvision's
# modules import each other in a circle, which is not safe from two threads at once; the app
# itself touches them on the GUI thread only once a model is loaded.
import torchvision  # noqa: E402,F401

import medxai_desktop.core.explain.registry  # noqa: E402,F401
import medxai_desktop.core.models  # noqa: E402,F401

from .skip_policy import (  # noqa: E402,F401 -- pytest hooks: skips are failures in CI
    pytest_addoption, pytest_collection_modifyitems, pytest_runtest_makereport)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_configure(config):
    config.addinivalue_line("markers", "postgresql: runs against the session's PostgreSQL server")
    config.addinivalue_line("markers", "bundle: checks the built bundle; runs only with --bundle (after packaging/build)")


# -- the PostgreSQL server -----------------------------------------------------------------------

def _version_of(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_of)
    folders = [f for f in folders if Path(f, "initdb").exists() and Path(f, "pg_ctl").exists()]
    return Path(folders[-1]) if folders else None


def _install_postgres() -> str:
    """apt-get install postgresql (Debian); returns what went wrong, or ''."""
    if not shutil.which("apt-get"):
        return "initdb/pg_ctl not found and apt-get is not available to install PostgreSQL"
    if os.geteuid() != 0:
        return "initdb/pg_ctl not found; installing PostgreSQL with apt-get needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{shlex.join(command)} failed: {exc}"
        if done.returncode != 0:
            return f"{shlex.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-800:]}"
    return ""


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="medxai-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, and there is no 'postgres' OS user to run "
                                   "initdb and the server as (initdb refuses root)") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = _as_postgres_user([str(self.bin_dir / args[0]), *args[1:]])
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise RuntimeError(f"{shlex.join(command)} exited {done.returncode}: "
                               f"{(done.stderr or done.stdout).strip()[-1500:]} {log}".strip())

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self.start_again()

    def start_again(self) -> None:
        """Start the server on its data folder (after ``halt``)."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")

    def halt(self) -> None:
        """Stop the server at once (as a crash would: no checkpoint), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)

    def stop(self) -> None:
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, password: str = "") -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return name


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        problem = _install_postgres()
        bin_dir = _postgres_bin()
        if bin_dir is None:
            message = f"PostgreSQL store tests SKIPPED: {problem or 'installed, but initdb is still not found'}"
            print(f"\n*** {message}", file=sys.stderr)
            pytest.skip(message)
    try:
        server = PostgresServer(bin_dir)
        server.start()
    except Exception as exc:  # noqa: BLE001 -- any failure to start: skip, saying exactly why
        message = f"PostgreSQL store tests SKIPPED: cannot start a server from {bin_dir}: {exc}"
        print(f"\n*** {message}", file=sys.stderr)
        pytest.skip(message)
    yield server
    server.stop()


# -- per-test databases --------------------------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.new_database(), password="not-a-secret-pw")


@pytest.fixture
def store(db_url, tmp_path):
    from medxai_desktop.core.store import ReviewStore

    with ReviewStore(db_url, cache_dir=tmp_path / "maps") as opened:
        yield opened


# -- dcmtk ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def dsrdump() -> str:
    exe = shutil.which("dsrdump")
    if exe:
        return exe
    why = "apt-get not found"
    if shutil.which("apt-get"):
        if os.geteuid() != 0:
            why = "not root, cannot apt-get install dcmtk"
        else:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            try:
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
                done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dcmtk"],
                                      env=env, capture_output=True, text=True, timeout=900)
                why = f"apt-get install dcmtk failed, exit {done.returncode}: {(done.stderr or done.stdout)[-300:]}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = f"apt-get install dcmtk failed: {exc}"
            exe = shutil.which("dsrdump")
            if exe:
                return exe
    pytest.skip(f"!!! DICOM SR NOT VALIDATED WITH DCMTK: dsrdump missing and could not be installed ({why})")
