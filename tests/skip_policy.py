"""Which skips a run may have (imported by conftest.py as pytest hooks).

A test skips when what it needs is not here: PostgreSQL, Orthanc, dcmtk, dicom3tools,
pydicom-data, ../shared/data. On a developer's machine that is a loud skip; in CI (``CI=true``)
or with ``MEDXAI_REQUIRE_ALL=1`` it is a FAILURE with the reason, so that a green run means
every test ran. Skips that say the test does not apply to this platform (no MPS in this torch,
CUDA present, no fork) begin with :data:`NOT_APPLICABLE` and stay skips.

Tests marked ``bundle`` check the PyInstaller bundle: they are deselected unless ``--bundle`` is
given, which scripts/test does after packaging/build, so they never check a missing or stale one.
"""
from __future__ import annotations

import os

import pytest

NOT_APPLICABLE = "not applicable here:"


def require_all() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes") or \
        os.environ.get("MEDXAI_REQUIRE_ALL", "").strip() == "1"


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_addoption(parser):
    parser.addoption("--bundle", action="store_true", default=False,
                     help="run the tests marked 'bundle' (they check build/bundle: run after packaging/build)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--bundle"):
        return
    kept = [item for item in items if item.get_closest_marker("bundle") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not require_all():
        return
    reason = skip_reason(report)
    if reason.startswith(NOT_APPLICABLE):
        return
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} would have been SKIPPED, which this run forbids (CI=true or "
                       f"MEDXAI_REQUIRE_ALL=1: everything the suite needs must be here): {reason}")
