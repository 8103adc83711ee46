"""The site secret behind every pseudonym: 32 random bytes, set once per site.

It lives in one file, readable by its owner only (``medxai deid secret init`` makes it; ``medxai
deid secret import FILE`` installs a site's existing secret so every workstation gives a patient
the same pseudonym). ``MEDXAI_DEID_SECRET_FILE`` names another file (e.g. on a managed share).
The secret is only ever an HMAC key: no output, log or database row contains it; only its
fingerprint (an HMAC of a constant, not reversible) is ever shown.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from platformdirs import user_config_dir

from medxai_desktop.core.errors import InputFileError

SECRET_BYTES = 32
APP_NAME = "MedXAI Desktop"   # core.store.locations.APP_NAME (not imported: no store here)
ENV_FILE = "MEDXAI_DEID_SECRET_FILE"


class SecretError(InputFileError):
    """No usable site secret (missing, unreadable, malformed or readable by others)."""


def secret_path() -> Path:
    env = os.environ.get(ENV_FILE)
    return Path(env) if env else Path(user_config_dir(APP_NAME, appauthor=False)) / "deid_secret.key"


def _parse(text: str, path: Path) -> bytes:
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        raise SecretError(path, f"not a site secret (expected {SECRET_BYTES * 2} hex digits)") from None
    if len(value) < SECRET_BYTES:
        raise SecretError(path, f"the site secret is too short ({len(value)} bytes, at least {SECRET_BYTES})")
    return value


def load_secret(path: Path | None = None) -> bytes:
    """The site secret; SecretError with the reason and the way to fix it otherwise."""
    path = path or secret_path()
    if not path.is_file():
        raise SecretError(path, "no de-identification site secret; set it once with "
                          "`medxai deid secret init` (or `medxai deid secret import FILE` for your site's)")
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(path, f"the site secret is readable by other users; run `chmod 600 {path}`")
    try:
        return _parse(path.read_text(encoding="ascii"), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(path, f"cannot read the site secret ({exc})") from None


def fingerprint(secret: bytes) -> str:
    """A short, non-reversible name of a secret, to compare two workstations' settings."""
    return hmac.new(secret, b"medxai fingerprint", hashlib.sha256).hexdigest()[:16]


def _write(value: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value.hex() + "\n")


def init_secret(path: Path | None = None) -> bytes:
    """Create a new random site secret; refuses to replace one (every pseudonym would change)."""
    path = path or secret_path()
    if path.exists():
        raise SecretError(path, f"a site secret is already set (fingerprint "
                          f"{fingerprint(load_secret(path))}); replacing it would change every pseudonym")
    value = secrets.token_bytes(SECRET_BYTES)
    _write(value, path)
    return value


def import_secret(source: Path, path: Path | None = None) -> bytes:
    """Install the site's existing secret (hex in ``source``) on this workstation."""
    path = path or secret_path()
    try:
        value = _parse(Path(source).read_text(encoding="ascii"), Path(source))
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(source, f"cannot read ({exc})") from None
    if path.exists():
        if hmac.compare_digest(load_secret(path), value):
            return value
        raise SecretError(path, f"another site secret is already set (fingerprint "
                          f"{fingerprint(load_secret(path))}); remove it first if you mean to replace it")
    _write(value, path)
    return value
