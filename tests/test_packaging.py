"""The PyInstaller bundle's collection logic, checked without building (packaging/bundle_contents.py,
medxai.spec, the launcher); and the built bundle's layout (build/bundle), marked ``bundle``: those run
only with --bundle, which scripts/test gives right after packaging/build."""
from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from .helpers import REPO

PACKAGING = REPO / "packaging"


def _contents():
    spec = importlib.util.spec_from_file_location("medxai_bundle_contents", PACKAGING / "bundle_contents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contents = _contents()


def test_torchvision_stable_operator_libraries_are_collected_in_their_layout():
    binaries = contents.torchvision_native_binaries()
    by_name = {Path(src).name: dest for src, dest in binaries}
    tv = Path(metadata.distribution("torchvision").locate_file("torchvision"))
    for library in tv.glob("*_stable*.so"):
        assert by_name[library.name] == "torchvision"
    assert "_C_stable.so" in by_name and "image_stable.so" in by_name   # torchvision 0.29 on Linux
    libs = tv.parent / "torchvision.libs"
    if libs.is_dir():
        assert {p.name for p in libs.iterdir()} <= {n for n, d in by_name.items() if d == "torchvision.libs"}
    assert contents.has_torchvision_ops(binaries)


def test_the_spec_uses_the_collection_lists_and_builds_both_executables():
    text = (PACKAGING / "medxai.spec").read_text()
    tree = ast.parse(text)   # valid Python
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls
    for needed in ("binaries=tv_binaries", "contents.data_files(", "contents.METADATA", "contents.HIDDEN_IMPORTS",
                   "contents.plugin_imports(", "excludes=contents.EXCLUDES", "name=contents.GUI_NAME",
                   "name=contents.CLI_NAME", "has_torchvision_ops"):
        assert needed in text
    assert (contents.GUI_NAME, contents.CLI_NAME) == ("medxai-desktop", "medxai")


def test_resources_plugins_and_migrations_are_data():
    files = {Path(src).relative_to(REPO).as_posix(): dest for src, dest in contents.data_files()}
    assert files["resources/models/brain_mri_resnet18.pt"] == "resources/models"
    assert files["resources/models/brain_mri_resnet18.json"] == "resources/models"
    assert files["resources/sample_study/glioma_1842.jpg"] == "resources/sample_study"
    for plugin in ("occlusion.py", "compact_cnn.py", "gsps_export.py", "README.md"):
        assert files[f"plugins/{plugin}"] == "plugins"
    assert files["medxai_desktop/core/store/migrations/env.py"] == "medxai_desktop/core/store/migrations"
    versions = [k for k in files if k.startswith("medxai_desktop/core/store/migrations/versions/")]
    assert versions and all(files[k] == "medxai_desktop/core/store/migrations/versions" for k in versions)
    assert not [k for k in files if "__pycache__" in k]


def test_every_module_the_example_plugins_import_is_a_hidden_import():
    names = contents.plugin_imports()
    for needed in ("highdicom", "pydicom.uid", "torchvision.transforms.functional", "torch",
                   "medxai_desktop.core.exchange._common", "medxai_desktop.core.plugins"):
        assert needed in names
    assert "os" not in names and "pathlib" not in names and "__future__" not in names


def test_metadata_read_at_run_time_is_copied():
    provenance = (REPO / "medxai_desktop" / "core" / "explain" / "provenance.py").read_text()
    dists = re.search(r"for dist in \(([^)]*)\)", provenance).group(1)
    for dist in re.findall(r'"([^"]+)"', dists):
        assert dist in contents.METADATA, f"provenance reads the version of {dist}"
    decoders = [d for d in metadata.distributions()
                if any(ep.group.startswith("pylibjpeg.") for ep in d.entry_points)]
    assert decoders
    for dist in decoders:
        assert dist.metadata["Name"] in contents.METADATA
        modules = {ep.value.split(":")[0].split(".")[0] for ep in dist.entry_points if ep.group.startswith("pylibjpeg.")}
        assert modules <= set(contents.HIDDEN_IMPORTS) | {"pylibjpeg"}


def test_excluded_packages_are_never_imported_by_the_application():
    imported = set()
    for path in list((REPO / "medxai_desktop").rglob("*.py")) + list((REPO / "plugins").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
    for excluded in contents.EXCLUDES:
        assert not {m for m in imported if m == excluded or m.startswith(excluded + ".")}, excluded
    assert "triton" in contents.EXCLUDES


def test_the_launcher_dispatches_on_its_own_name(tmp_path):
    for name, usage in (("medxai", "usage: medxai "), ("medxai-desktop", "usage: medxai-desktop")):
        link = tmp_path / f"{name}.py"
        link.symlink_to(PACKAGING / "launcher.py")
        done = subprocess.run([sys.executable, str(link), "--help"], check=False, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(usage)


def test_either_executable_runs_the_child_that_imports_a_plugin_first(tmp_path):
    """core.plugins.check starts ``<this executable> plugins _validate NAME`` in the bundle, and
    the GUI executable may be the one that starts it (the plugins dialog)."""
    for name in ("medxai", "medxai-desktop"):
        link = tmp_path / f"{name}.py"
        link.symlink_to(PACKAGING / "launcher.py")
        done = subprocess.run([sys.executable, str(link), "plugins", "_validate", "occlusion"], check=False,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=str(REPO), MEDXAI_PLUGIN_STATE=str(tmp_path / "p.json")))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "medxai-plugin-check: ok"


def test_scripts_build_the_bundle_and_smoke_test_it_after_pytest():
    script = (REPO / "scripts" / "test").read_text()
    order = [".venv/bin/python -m pytest \"$@\"", "bash packaging/build", "pytest --bundle -m bundle",
             "bash packaging/smoke"]
    assert [script.index(step) for step in order] == sorted(script.index(step) for step in order)
    smoke = (PACKAGING / "smoke").read_text()
    for check in ("--self-test", "--smoke-gui", "unshare -n", "MEDXAI_FORBID_NETWORK=1"):
        assert check in smoke
    for script_path in (PACKAGING / "build", PACKAGING / "smoke"):
        assert os.access(script_path, os.X_OK)
        assert subprocess.run(["bash", "-n", str(script_path)], check=False).returncode == 0


@pytest.mark.bundle
def test_a_built_bundle_holds_what_the_spec_promises():
    app = Path(os.environ.get("MEDXAI_BUNDLE_DIR", REPO / "build" / "bundle")) / "medxai-desktop"
    assert (app / "medxai").is_file(), f"no bundle at {app}: packaging/build makes one (scripts/test runs it first)"
    internal = app / "_internal"
    for path in ("torchvision/_C_stable.so", "torchvision/image_stable.so", "resources/models/brain_mri_resnet18.pt",
                 "plugins/occlusion.py", "medxai_desktop/core/store/migrations/env.py"):
        assert (internal / path).is_file(), path
    assert not (internal / "triton").exists()
    assert os.access(app / "medxai-desktop", os.X_OK)
