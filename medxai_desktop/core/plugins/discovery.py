"""Finding plugins without importing them: entry points and drop-in folders.

Folders, in this order: the ``plugins/`` folder shipped with the application (the source
tree's, or the frozen bundle's copy), the user's plugins folder (``plugins`` in the user data
folder), then every folder in ``$MEDXAI_PLUGIN_PATH`` (separated by ``os.pathsep``). Entry
points (group ``medxai_desktop.plugins``) come first. When two plugins share a name the first
one found is used and the other is listed with an error. A plugin named like a built-in
(:mod:`.builtin_names`) is listed with an error and never imported.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from platformdirs import user_data_dir

from .builtin_names import shadowed_builtin
from .declaration import GROUP, PluginInfo, entry_point_info, read_module_declaration

# The same folder name as medxai_desktop.core.store.locations.APP_NAME (not imported from
# there: that would load SQLAlchemy just to list plugins).
APP_NAME = "MedXAI Desktop"
PATH_VARIABLE = "MEDXAI_PLUGIN_PATH"


def bundled_plugins_dir() -> Path:
    """The application's own ``plugins/`` folder (source tree, or the frozen bundle's copy)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "plugins"
    return Path(__file__).resolve().parents[3] / "plugins"


def user_plugins_dir() -> Path:
    """Where a user drops their own plugins, e.g. ~/.local/share/MedXAI Desktop/plugins."""
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "plugins"


def plugin_folders() -> list[Path]:
    folders = [bundled_plugins_dir(), user_plugins_dir()]
    for part in os.environ.get(PATH_VARIABLE, "").split(os.pathsep):
        if part.strip():
            folders.append(Path(part.strip()).expanduser())
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in [f.resolve() for f in unique]:
            unique.append(folder)
    return unique


def folder_modules(folder: Path) -> list[Path]:
    """The drop-in modules of a folder: ``*.py`` files and packages, not ``_private`` ones."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_file() and entry.suffix == ".py":
            found.append(entry)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            found.append(entry / "__init__.py")
    return found


def entry_point_plugins() -> list[PluginInfo]:
    from importlib import metadata

    try:
        points = metadata.entry_points(group=GROUP)
    except Exception:  # noqa: BLE001 - a broken distribution must not stop the application
        return []
    return [entry_point_info(point) for point in points]


def _declaration(path: Path) -> PluginInfo:
    """A module's declaration; any failure of the reader marks that plugin broken, with the
    reason, and never stops the listing (every command and the app list plugins first)."""
    try:
        return read_module_declaration(path)
    except Exception as exc:  # noqa: BLE001 - one bad file must not take every command down
        stem = path.parent.name if path.name == "__init__.py" else path.stem
        return PluginInfo("", stem, "", str(path), path=path,
                          error=f"cannot read the declaration ({type(exc).__name__}: {str(exc)[:200]})")


def discover_plugins() -> list[PluginInfo]:
    """Every plugin found, in precedence order; nothing is imported."""
    found = entry_point_plugins()
    for folder in plugin_folders():
        found.extend(_declaration(path) for path in folder_modules(folder))
    seen: dict[str, PluginInfo] = {}
    result = []
    for info in found:
        builtin = "" if info.error else shadowed_builtin(info.name)
        if builtin:
            info = replace(info, error=f"name {info.name!r} is {builtin}; a plugin cannot replace a built-in "
                                       "(rename the plugin)")
        first = seen.get(info.name)
        if first is not None and not info.error:
            info = replace(info, error=f"name {info.name!r} is already used by {first.source}; ignored")
        elif first is None and not info.error:
            seen[info.name] = info
        result.append(info)
    return result
