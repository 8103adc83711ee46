"""Which plugins the user enabled: a small JSON file in the user's config folder.

``$MEDXAI_PLUGIN_STATE`` names another file (tests, or a department-wide setting). The file
holds ``{"enabled": ["occlusion", ...], "checked": {"name": {"fingerprint": ..., "error": ...}}}``;
a missing file means nothing is enabled. ``checked`` remembers the result of importing each
plugin in a child process (:mod:`.check`) for the plugin's files as they were then, so later
commands neither import a broken plugin nor check a good one again.
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


def _read_state() -> dict:
    path = state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"enabled": [], "checked": {}}
    except OSError as exc:
        raise InputFileError(path, f"cannot read the plugin settings ({exc.strerror or exc})") from None
    try:
        data = parse_json(text) if text.strip() else {}
    except ValueError as exc:  # JSONDecodeError included
        raise InputFileError(path, f"plugin settings are not valid JSON ({exc})") from None
    names = data.get("enabled", []) if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputFileError(path, 'plugin settings must be {"enabled": ["name", ...]}')
    checked = data.get("checked")
    checked = {name: entry for name, entry in checked.items() if isinstance(entry, dict)
               and isinstance(entry.get("fingerprint"), str) and isinstance(entry.get("error"), str)} \
        if isinstance(checked, dict) else {}   # a damaged record only means checking again
    return {"enabled": sorted(set(names)), "checked": checked}


def _write_state(state: dict) -> None:
    # Written beside it, then renamed: a crash never leaves half a file.
    state = {key: value for key, value in state.items() if value or key == "enabled"}
    atomic_write_text(state_path(), json.dumps(state, indent=2) + "\n")


def enabled_names() -> set[str]:
    return set(_read_state()["enabled"])


def set_enabled(name: str, enabled: bool) -> None:
    state = _read_state()
    names = set(state["enabled"])
    state["enabled"] = sorted(names | {name} if enabled else names - {name})
    _write_state(state)


def recorded_check(name: str, fingerprint: str) -> str | None:
    """The error recorded ('' for none) when ``name`` was checked with these files, else None."""
    try:
        entry = _read_state()["checked"].get(name)
    except InputFileError:
        return None
    return entry["error"] if entry is not None and entry["fingerprint"] == fingerprint else None


def record_check(name: str, fingerprint: str, error: str | None) -> None:
    """Remember ``error`` ('' for none) for these files; None forgets. Writes only a change."""
    state = _read_state()
    entry = None if error is None else {"fingerprint": fingerprint, "error": error}
    if state["checked"].get(name) == entry:
        return
    if entry is None:
        del state["checked"][name]
    else:
        state["checked"][name] = entry
    _write_state(state)
