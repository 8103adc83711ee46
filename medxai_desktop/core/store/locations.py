"""Where the review store lives by default, and how its URL is shown to people."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir
from sqlalchemy.engine import make_url

APP_NAME = "MedXAI Desktop"
DB_FILE_NAME = "reviews.sqlite3"


def default_data_dir() -> Path:
    """The user's data folder, e.g. ~/.local/share/MedXAI Desktop on Linux,
    ~/Library/Application Support/MedXAI Desktop on macOS, %LOCALAPPDATA%\\MedXAI Desktop on Windows."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


DB_ENV = "MEDXAI_DB"


def default_db_url() -> str:
    """``$MEDXAI_DB`` when set (the app and the CLI alike), else
    ``sqlite:///<user data folder>/reviews.sqlite3``."""
    return os.environ.get(DB_ENV, "").strip() or f"sqlite:///{default_data_dir() / DB_FILE_NAME}"


def default_cache_dir() -> Path:
    """Where heatmaps are cached as .npz files keyed by their provenance (recomputable data)."""
    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "maps"


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL when it does not exist (opening it would create it),
    else None."""
    if not url.startswith("sqlite:///"):
        return None
    database = make_url(url).database
    if database and not Path(database).expanduser().exists():
        return Path(database)
    return None


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and ``info()``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show it without anything after a '@'-less scheme
        text = str(url)
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return text
