"""Passwords and bearer tokens of DICOMweb nodes: never in a settings file in plain text.

Looked up in this order: ``$MEDXAI_PACS_PASSWORD_<NAME>`` (the node's name in upper case,
other characters as ``_``), ``$MEDXAI_PACS_PASSWORD``, the OS keyring (when the ``keyring``
package and a backend are there; service "MedXAI Desktop PACS", user ``<node>:<username>``),
then the front end's prompt (the CLI asks on the terminal, the app in a dialog).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable

from .errors import PacsAuthError
from .nodes import Node

PASSWORD_ENV = "MEDXAI_PACS_PASSWORD"
KEYRING_SERVICE = "MedXAI Desktop PACS"

PromptFn = Callable[[Node], "str | None"]


def env_name(node: Node) -> str:
    return f"{PASSWORD_ENV}_{re.sub(r'[^A-Z0-9]', '_', node.name.upper())}"


def _keyring():
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 (not installed or no usable backend)
        return None
    try:
        return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring
    except Exception:  # noqa: BLE001
        return None


def _keyring_user(node: Node) -> str:
    return f"{node.name}:{node.username or ''}"


def find_password(node: Node, prompt: PromptFn | None = None) -> str | None:
    """The node's password or token, or None when the node needs none."""
    if node.auth == "none":
        return None
    for name in (env_name(node), PASSWORD_ENV):
        if os.environ.get(name):
            return os.environ[name]
    ring = _keyring()
    if ring is not None:
        try:
            stored = ring.get_password(KEYRING_SERVICE, _keyring_user(node))
        except Exception:  # noqa: BLE001 (a locked or broken keyring is as good as none)
            stored = None
        if stored:
            return stored
    answer = prompt(node) if prompt is not None else None
    if answer:
        return answer
    raise PacsAuthError(node.name, f"{node.auth} authentication needs a password: set {env_name(node)} "
                                   "or keep it in the OS keyring (medxai pacs password NODE)")


def keyring_available() -> bool:
    return _keyring() is not None


def store_password(node: Node, password: str) -> None:
    """Keep the password in the OS keyring; PacsAuthError where there is none."""
    ring = _keyring()
    if ring is None:
        raise PacsAuthError(node.name, f"no OS keyring here; give the password in {env_name(node)} "
                                       "or at the prompt")
    ring.set_password(KEYRING_SERVICE, _keyring_user(node), password)
