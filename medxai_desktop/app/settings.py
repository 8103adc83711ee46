"""What the desktop app remembers between runs (QSettings, organisation "MedXAI").

``AppSettings.user()`` is the real per-user file the application uses; ``AppSettings.at(path)``
is an INI file (tests, portable installs); ``AppSettings()`` keeps everything in memory, so a
window built without settings (tests, scripts, benchmarks) neither reads nor writes the user's.
Lists are stored as JSON text: INI-format QSettings returns a one-element list as a plain string.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "MedXAI"
APPLICATION = "MedXAI Desktop"
MAX_RECENT = 10


class _MemoryBackend:
    """The subset of QSettings used here, in a dict."""

    def __init__(self):
        self.values: dict[str, object] = {}

    def value(self, key: str, default=None):
        return self.values.get(key, default)

    def setValue(self, key: str, value) -> None:
        self.values[key] = value

    def remove(self, key: str) -> None:
        for name in [k for k in self.values if k == key or k.startswith(key + "/")]:
            del self.values[name]

    def sync(self) -> None:
        pass

    def fileName(self) -> str:
        return ""


class AppSettings:
    def __init__(self, backend: QSettings | None = None, *, propose_on_open: bool = False):
        self.backend = backend if backend is not None else _MemoryBackend()
        self._propose_on_open = propose_on_open    # the default of Review > Propose boxes when an image opens

    @classmethod
    def user(cls) -> AppSettings:
        return cls(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION),
                   propose_on_open=True)

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> AppSettings:
        return cls(QSettings(str(Path(path)), QSettings.Format.IniFormat))

    @property
    def path(self) -> str:
        return self.backend.fileName()

    def sync(self) -> None:
        self.backend.sync()

    # -- typed access -------------------------------------------------------------------------

    def _text(self, key: str, default: str = "") -> str:
        value = self.backend.value(key, default)
        return default if value is None else str(value)

    def _json(self, key: str, default):
        raw = self.backend.value(key)
        if raw is None or raw == "":
            return default
        try:
            value = json.loads(str(raw))
        except ValueError:
            return default
        return value if isinstance(value, type(default)) else default

    def _set_json(self, key: str, value) -> None:
        self.backend.setValue(key, json.dumps(value))

    # -- the reviewer ---------------------------------------------------------------------------

    @property
    def reviewer(self) -> str:
        return self._text("reviewer/name").strip()

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self.backend.setValue("reviewer/name", name.strip())

    # -- window layout --------------------------------------------------------------------------

    def save_window(self, window) -> None:
        self.backend.setValue("window/geometry", window.saveGeometry())
        self.backend.setValue("window/state", window.saveState())

    def restore_window(self, window) -> bool:
        """Geometry and dock/toolbar layout of a QMainWindow; False when none was saved."""
        geometry, state = self.backend.value("window/geometry"), self.backend.value("window/state")
        if not isinstance(geometry, QByteArray) or not isinstance(state, QByteArray):
            return False
        window.restoreGeometry(geometry)
        return window.restoreState(state)

    # -- recent files and folders -----------------------------------------------------------------

    def recent(self) -> list[str]:
        return [p for p in self._json("recent/paths", []) if isinstance(p, str)][:MAX_RECENT]

    def add_recent(self, path: str | os.PathLike[str]) -> list[str]:
        """Put ``path`` first (absolute, once), keep the latest MAX_RECENT; the new list."""
        text = str(Path(path).expanduser().absolute())
        paths = [text] + [p for p in self.recent() if p != text]
        self._set_json("recent/paths", paths[:MAX_RECENT])
        return paths[:MAX_RECENT]

    def clear_recent(self) -> None:
        self._set_json("recent/paths", [])

    def resume_point(self) -> dict | None:
        """{"study", "path", "frame"} of the image shown last (app/session_resume.py)."""
        return self._json("resume/image", {}) or None

    def set_resume_point(self, study: str, path: str, frame: int) -> None:
        self._set_json("resume/image", {"study": study, "path": path, "frame": int(frame)})

    def export_folder(self) -> str | None:
        """The folder the last export went to (the Export dialog starts there)."""
        return self._text("export/folder") or None

    def set_export_folder(self, folder) -> None:
        self.backend.setValue("export/folder", str(folder))

    def last_folder(self, purpose: str) -> str | None:
        """The folder last chosen for ``purpose`` ("report", "learn"...): its dialog starts there."""
        return self._text(f"folders/{purpose}") or None

    def set_last_folder(self, purpose: str, folder) -> None:
        self.backend.setValue(f"folders/{purpose}", str(folder))

    def cine(self) -> tuple[int, bool]:
        """(frames per second, loop) of cine (app/cine.py); (10, False) until chosen."""
        value = self._json("viewer/cine", {})
        fps = value.get("fps")
        return (int(fps) if isinstance(fps, int) and not isinstance(fps, bool) else 10), value.get("loop") is True

    def set_cine(self, fps: int, loop: bool) -> None:
        self._set_json("viewer/cine", {"fps": int(fps), "loop": bool(loop)})

    # -- explanation choices ---------------------------------------------------------------------

    def overlay_style(self) -> tuple[str, float, float] | None:
        """(colour map, opacity, threshold) last used, or None."""
        value = self._json("overlay/style", [])
        if len(value) != 3 or not isinstance(value[0], str):
            return None
        try:
            return value[0], float(value[1]), float(value[2])
        except (TypeError, ValueError):
            return None

    def set_overlay_style(self, colormap: str, opacity: float, threshold: float) -> None:
        self._set_json("overlay/style", [colormap, float(opacity), float(threshold)])

    def checked_methods(self) -> list[str] | None:
        if not self.backend.value("explain/methods"):
            return None
        return [m for m in self._json("explain/methods", []) if isinstance(m, str)]

    def set_checked_methods(self, methods) -> None:
        self._set_json("explain/methods", list(methods))

    # -- keyboard shortcuts ----------------------------------------------------------------------

    def shortcuts(self) -> dict[str, str]:
        """User-chosen key sequences by action id (portable text; "" = no key)."""
        value = self._json("shortcuts/keys", {})
        return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}

    def set_shortcuts(self, keys: dict[str, str]) -> None:
        self._set_json("shortcuts/keys", dict(keys))

    # -- review ----------------------------------------------------------------------------------

    def propose_on_open(self) -> bool:
        """Propose boxes when an unread image opens: on by default in the user's settings
        (``user()``); off by default elsewhere (a file of its own, memory: tests, scripts)."""
        return bool(self._json("review/propose_on_open", self._propose_on_open))

    def set_propose_on_open(self, on: bool) -> None:
        self._set_json("review/propose_on_open", bool(on))
