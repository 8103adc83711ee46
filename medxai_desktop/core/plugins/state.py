"""Which plugins the user enabled: a small JSON file in the user's config folder.

``$MEDXAI_PLUGIN_STATE`` names another file (tests, or a department-wide setting). The file
holds ``{"enabled": ["occlusion", ...]}``; a missing file means nothing is enabled.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs import user_config_dir

from medxai_desktop.core.json_input import parse_json
from medxai_desktop.core.atomic_files import atomic_write_text
from medxai_desktop.core.errors import InputFileError

from .discovery import APP_NAME

STATE_VARIABLE = "MEDXAI_PLUGIN_STATE"


def state_path() -> Path:
    """e.g. ~/.config/MedXAI Desktop/plugins.json (Linux)."""
    if os.environ.get(STATE_VARIABLE):
        return Path(os.environ[STATE_VARIABLE]).expanduser()
    return Path(user_config_dir(APP_NAME, appauthor=False)) / "plugins.json"


def enabled_names() -> set[str]:
    path = state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise InputFileError(path, f"cannot read the plugin settings ({exc.strerror or exc})") from None
    try:
        data = parse_json(text) if text.strip() else {}
    except ValueError as exc:  # JSONDecodeError included
        raise InputFileError(path, f"plugin settings are not valid JSON ({exc})") from None
    names = data.get("enabled", []) if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputFileError(path, 'plugin settings must be {"enabled": ["name", ...]}')
    return set(names)


def set_enabled(name: str, enabled: bool) -> None:
    names = enabled_names()
    names = names | {name} if enabled else names - {name}
    path = state_path()
    # Written beside it, then renamed: a crash never leaves half a file.
    atomic_write_text(path, json.dumps({"enabled": sorted(names)}, indent=2) + "\n")
