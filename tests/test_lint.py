"""Static checks: no undefined names, unused imports or variables (ruff's pyflakes rules)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_pyflakes_rules_pass():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it is in the dev extras)")
    run = subprocess.run([ruff, "check", "--select", "F", "--no-cache", "medxai_desktop", "tests",
                          "benchmarks", "experiments"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_core_never_imports_qt():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "medxai_desktop" / "core").rglob("*.py")
                 if any(line.lstrip().startswith(("import PySide6", "from PySide6", "import PyQt", "from PyQt"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []
