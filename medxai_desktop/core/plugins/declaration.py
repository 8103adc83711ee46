"""What a plugin says about itself before any of its code runs.

A drop-in module (``plugins/occlusion.py``, or a package ``plugins/name/__init__.py``)
declares itself with one literal at module level, read with :mod:`ast` (never imported)::

    MEDXAI_PLUGIN = {"kind": "explainer", "name": "occlusion", "version": "1.0.0",
                     "description": "Occlusion sensitivity", "object": "OcclusionSensitivity"}

An installed package declares entry points in the group ``medxai_desktop.plugins``, named
``<kind>.<name>``; the version is its distribution's version::

    [project.entry-points."medxai_desktop.plugins"]
    "explainer.rise" = "my_package.rise:RISE"

``object`` (default ``plugin``) is the attribute loaded when the plugin is enabled: the thing
to register (an Explainer subclass, an Architecture, an ExportFormat) or a function without
arguments returning it.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from pathlib import Path

from medxai_desktop.core.user_files import UserFileError, read_user_bytes

GROUP = "medxai_desktop.plugins"
KINDS = ("architecture", "explainer", "exporter")
DECLARATION = "MEDXAI_PLUGIN"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_+\-]*$")


@dataclass(frozen=True)
class PluginInfo:
    kind: str                  # one of KINDS ("" when the declaration is unreadable)
    name: str                  # the registry name: ``--methods NAME``, ``--arch NAME``, ``export NAME``
    version: str
    source: str                # where it comes from, for people: a file, or "entry point ... (dist)"
    description: str = ""
    path: Path | None = None   # drop-in module file (or package __init__.py)
    entry_point: object = None  # importlib.metadata.EntryPoint for installed plugins
    obj: str = "plugin"        # attribute to load from the module
    error: str = ""            # why it cannot be loaded, known before importing (bad declaration)

    @property
    def origin(self) -> str:
        return "entry point" if self.entry_point is not None else "folder"


def check_fields(kind: object, name: object, version: object) -> str:
    """'' when kind, name and version are well formed, else the reason."""
    if kind not in KINDS:
        return f"kind must be one of {', '.join(KINDS)} (got {kind!r})"
    if not isinstance(name, str) or not _NAME.match(name):
        return f"name must be lower-case letters, digits, '_', '+', '-' (got {name!r})"
    if not isinstance(version, str) or not version.strip():
        return f"version must be a non-empty string (got {version!r})"
    return ""


def read_module_declaration(path: Path) -> PluginInfo:
    """The declaration of a drop-in module, read from its source text without importing it."""
    path = Path(path)
    stem = path.parent.name if path.name == "__init__.py" else path.stem
    fallback = PluginInfo("", stem, "", str(path), path=path)
    try:
        tree = ast.parse(read_user_bytes(path, "text"), filename=str(path))
    except UserFileError as exc:
        return _with_error(fallback, f"cannot read the declaration ({exc.reason})")
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # a too deeply nested file exhausts the parser: that plugin is broken, nothing else
        return _with_error(fallback, f"cannot read the declaration ({type(exc).__name__}: {str(exc)[:200]})")
    value = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else [])
        if any(isinstance(t, ast.Name) and t.id == DECLARATION for t in targets):
            value = node.value
    if value is None:
        return _with_error(fallback, f"no module-level {DECLARATION} = {{...}} declaration")
    try:
        declared = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _with_error(fallback, f"{DECLARATION} must be a literal dict (no names or calls)")
    if not isinstance(declared, dict):
        return _with_error(fallback, f"{DECLARATION} must be a dict")
    kind, name, version = declared.get("kind"), declared.get("name"), declared.get("version")
    problem = check_fields(kind, name, version)
    info = PluginInfo(kind if kind in KINDS else "", name if isinstance(name, str) and name else stem,
                      str(version or ""), str(path), str(declared.get("description", "")), path=path,
                      obj=str(declared.get("object", "plugin")))
    return _with_error(info, problem) if problem else info


def entry_point_info(entry_point) -> PluginInfo:
    """The declaration of an installed plugin: its entry point's name and distribution."""
    dist = getattr(entry_point, "dist", None)
    version = str(getattr(dist, "version", "") or "")
    dist_name = getattr(dist, "name", None) or "unknown distribution"
    kind, _, name = entry_point.name.partition(".")
    summary = ""
    if dist is not None:
        try:
            summary = dist.metadata.get("Summary") or ""
        except Exception:  # noqa: BLE001 - broken metadata only loses the description
            summary = ""
    info = PluginInfo(kind if kind in KINDS else "", name or entry_point.name, version,
                      f"entry point {entry_point.value} ({dist_name} {version})".strip(),
                      summary, entry_point=entry_point)
    problem = check_fields(kind, name, version or "?")
    if problem:
        problem = f"entry point {entry_point.name!r} must be named '<kind>.<name>': {problem}"
    return _with_error(info, problem) if problem else info


def _with_error(info: PluginInfo, error: str) -> PluginInfo:
    return replace(info, error=error)
