"""What the frozen application must contain beyond what PyInstaller finds by itself.

Read by ``medxai.spec`` at build time and by ``tests/test_packaging.py`` without building.
Plain Python: it imports neither PyInstaller nor torch (it only locates installed packages).

* torchvision >= 0.29 ships its compiled operators as ``_C_stable.so`` and ``image_stable.so``
  (loaded with ``torch.ops.load_library``, not imported) and the libraries they link in
  ``torchvision.libs/``; PyInstaller's hook collects none of them, and a bundle without them
  fails at start with "operator torchvision::nms does not exist". They keep their layout
  (``torchvision/`` and ``torchvision.libs/`` side by side) because image_stable.so finds its
  libraries through RUNPATH ``$ORIGIN/../torchvision.libs``.
* Drop-in plugins are imported by path at run time, so PyInstaller never sees their imports:
  every module a bundled plugin imports is added as a hidden import.
* pydicom finds the pylibjpeg decoders (JPEG, JPEG-LS, JPEG 2000, RLE) through entry points,
  and provenance records library versions: both read package metadata, which is copied.
* The Alembic migrations are read as files (``script_location``), so they are data.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Executables in the one-folder bundle: both are the same launcher, which looks at its own name.
GUI_NAME = "medxai-desktop"
CLI_NAME = "medxai"

# Distributions whose metadata must be in the bundle (importlib.metadata at run time).
METADATA = [
    "medxai-desktop", "torch", "torchvision", "numpy", "scipy",   # provenance.library_versions
    "pydicom", "highdicom",
    "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",  # decoder entry points
]

# Modules loaded by name at run time (entry points, string lookups), invisible to the analysis.
HIDDEN_IMPORTS = [
    "libjpeg", "openjpeg", "rle",                                  # pylibjpeg decoder plugins
    "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql.psycopg", "psycopg",
    "alembic.runtime.migration", "alembic.ddl.sqlite", "alembic.ddl.postgresql",
    "matplotlib.backends.backend_agg",
]

# Large packages the application never uses. triton (about 1 GB) serves only torch.compile,
# which MedXAI does not call; the rest are development tools pulled in by optional imports.
EXCLUDES = [
    "triton", "torch.utils.tensorboard", "tensorboard", "tkinter", "_tkinter", "IPython",
    "jupyter_client", "ipykernel", "notebook", "pytest", "pytestqt", "sphinx", "black", "ruff",
    "pydicom_data",
]


def package_dir(name: str) -> Path | None:
    """Where an installed top-level package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def torchvision_native_binaries() -> list[tuple[str, str]]:
    """(source, destination folder) of torchvision's operator libraries and what they link."""
    tv = package_dir("torchvision")
    if tv is None:
        raise RuntimeError("torchvision is not installed in this environment")
    found: list[tuple[str, str]] = []
    for pattern in ("_C_stable*", "image_stable*", "video_stable*"):
        for path in sorted(tv.glob(pattern)):
            if path.suffix in (".so", ".pyd", ".dll", ".dylib") or ".so." in path.name:
                found.append((str(path), "torchvision"))
    for libs in (tv.parent / "torchvision.libs", tv / ".dylibs"):   # auditwheel / delocate
        if libs.is_dir():
            rel = "torchvision.libs" if libs.name == "torchvision.libs" else "torchvision/.dylibs"
            found.extend((str(p), rel) for p in sorted(libs.iterdir()) if p.is_file())
    return found


def has_torchvision_ops(binaries: list[tuple[str, str]]) -> bool:
    """True when the operator library (``_C_stable``, or the older ``_C`` extension that the
    PyInstaller hook collects itself) will be in the bundle."""
    if any(Path(src).name.startswith("_C_stable") for src, _ in binaries):
        return True
    tv = package_dir("torchvision")
    return tv is not None and any(tv.glob("_C.*"))


def plugin_modules(plugins_dir: Path = REPO / "plugins") -> list[Path]:
    """The drop-in plugin files: ``*.py`` and packages' ``__init__.py``."""
    if not plugins_dir.is_dir():
        return []
    files = sorted(p for p in plugins_dir.glob("*.py") if not p.name.startswith("_"))
    packages = sorted(p / "__init__.py" for p in plugins_dir.iterdir() if (p / "__init__.py").is_file())
    return files + packages


def plugin_imports(plugins_dir: Path = REPO / "plugins") -> list[str]:
    """Every absolute module a bundled plugin imports (hidden imports for the analysis)."""
    names: set[str] = set()
    for path in plugin_modules(plugins_dir):
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return sorted(n for n in names if n != "__future__" and n.split(".")[0] not in sys.stdlib_module_names)


def data_files(repo: Path = REPO) -> list[tuple[str, str]]:
    """(source, destination folder) of the resources, example plugins and migrations."""
    out: list[tuple[str, str]] = []
    resources = repo / "resources"
    for path in sorted(resources.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out.append((str(path), str(Path("resources") / path.parent.relative_to(resources))))
    plugins = repo / "plugins"
    for path in sorted(plugins.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".md", ".json", ".toml"):
            out.append((str(path), str(Path("plugins") / path.parent.relative_to(plugins))))
    migrations = repo / "medxai_desktop" / "core" / "store" / "migrations"
    for path in sorted(migrations.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".mako"):
            out.append((str(path), str(Path("medxai_desktop/core/store/migrations")
                                       / path.parent.relative_to(migrations))))
    return out
