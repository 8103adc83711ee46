"""Plugins: model architectures, explainers and exporters from outside the code base.

Found through the ``medxai_desktop.plugins`` entry-point group and drop-in ``plugins/``
folders (:mod:`.discovery`), declared without being imported (:mod:`.declaration`), enabled
by the user (:mod:`.state`), and loaded into the built-in registries on first use
(:mod:`.loader`). Importing this package imports no plugin and no torch.
"""
from .declaration import GROUP, KINDS, PluginInfo
from .discovery import bundled_plugins_dir, plugin_folders, user_plugins_dir
from .export_format import ExportFormat
from .loader import (
    PluginError,
    PluginStatus,
    disable,
    enable,
    load_enabled,
    load_plugin,
    missing_hint,
    plugins,
    reset,
    statuses,
    unload_plugin,
)
from .state import enabled_names, state_path

from medxai_desktop.core import registry_hooks  # noqa: E402

registry_hooks.install(load_enabled, missing_hint)

__all__ = [
    "GROUP", "KINDS", "ExportFormat", "PluginError", "PluginInfo", "PluginStatus", "bundled_plugins_dir",
    "disable", "enable", "enabled_names", "load_enabled", "load_plugin", "missing_hint", "plugin_folders",
    "plugins", "reset", "state_path", "statuses", "unload_plugin", "user_plugins_dir",
]
