"""Errors of PACS operations: each names the node and the reason, in one line."""
from __future__ import annotations

from medxai_desktop.core.errors import MedXAIError


class PacsError(MedXAIError):
    """A PACS operation failed; ``node`` is the node's name, ``reason`` what went wrong."""

    def __init__(self, node: str, reason: str):
        self.node, self.reason = node, reason
        super().__init__(f"PACS {node}: {reason}")


class PacsConnectionError(PacsError):
    """The node cannot be reached: refused, no answer within the timeout, unknown host."""


class PacsRejected(PacsError):
    """The node refused us: association rejected (e.g. unknown calling AE title)."""


class PacsAuthError(PacsError):
    """HTTP 401/403: the credentials are wrong or missing."""


class PacsNotFound(PacsError):
    """The study, series or instance asked for does not exist on the node."""


class NodeConfigError(MedXAIError):
    """The node configuration (file or ad-hoc spec) cannot be used."""
