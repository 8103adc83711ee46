"""In CI (CI=true) or with MEDXAI_REQUIRE_ALL=1 a test that skips for want of infrastructure or
data fails with the reason; a skip that says the test does not apply to this platform stays a
skip; tests marked ``bundle`` run only with --bundle. Checked on a small suite of its own, run
by a real pytest with the project's hooks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

PROBE = '''
import pytest

def test_runs():
    assert True

def test_needs_orthanc():
    pytest.skip("!!! PACS tests SKIPPED: Orthanc is not installed")

@pytest.mark.skipif(True, reason="not applicable here: CUDA is present")
def test_without_cuda():
    pass

@pytest.mark.bundle
def test_bundle():
    assert False, "ran the bundle test"
'''
CONFTEST = '''
import pytest
from tests.skip_policy import pytest_addoption, pytest_collection_modifyitems, pytest_runtest_makereport

def pytest_configure(config):
    config.addinivalue_line("markers", "bundle: bundle")
'''


def _run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "MEDXAI_REQUIRE_ALL")}
    clean.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args, str(folder)],
                          cwd=folder, env=clean, capture_output=True, text=True, timeout=120)


@pytest.fixture
def probe(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_probe.py").write_text(PROBE)
    return tmp_path


def test_a_developer_run_skips_loudly_and_deselects_the_bundle_test(probe):
    done = _run(probe)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 skipped, 1 deselected" in done.stdout
    assert "Orthanc is not installed" in done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"MEDXAI_REQUIRE_ALL": "1"}])
def test_in_ci_a_missing_tool_fails_with_its_reason_and_a_platform_skip_stays(probe, env):
    done = _run(probe, **env)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 deselected" in done.stdout
    assert "test_needs_orthanc would have been SKIPPED" in done.stdout and "Orthanc is not installed" in done.stdout


def test_the_bundle_tests_run_only_when_asked(probe):
    done = _run(probe, "--bundle", "-m", "bundle")
    assert done.returncode == 1 and "ran the bundle test" in done.stdout
    assert "1 failed, 3 deselected" in done.stdout


def test_the_tool_check_names_what_is_missing_and_stops_ci(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "grep", "ls", "sort", "tail", "cat"):
        (bin_dir / tool).symlink_to(subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True, check=True).stdout.strip())
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    script = str(REPO / "scripts" / "check_test_tools")
    developer = subprocess.run([str(bin_dir / "bash"), script], env=env, capture_output=True, text=True, timeout=60)
    ci = subprocess.run([str(bin_dir / "bash"), script], env={**env, "CI": "true"}, capture_output=True, text=True,
                        timeout=60)
    assert developer.returncode == 0 and "dsrdump does not answer" in developer.stderr
    assert ci.returncode == 1 and "stopping before pytest" in ci.stderr
    for tool in ("dsrdump", "dciodvfy", "openssl"):    # initdb and Orthanc are also found by their full paths
        assert tool in ci.stderr
