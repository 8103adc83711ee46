"""PACS nodes: a name plus either a DIMSE address (AE title, host, port, our calling AE title,
optional TLS) or a DICOMweb URL (none, basic or bearer authentication).

Nodes live in one small JSON file (``pacs_nodes.json`` in the user's configuration folder, or
``$MEDXAI_PACS_NODES``) or are given ad hoc: ``AET@host:port`` or an ``http(s)://`` URL.
Passwords are never in that file (see :mod:`.credentials`): a ``password`` key is refused.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_config_dir

from medxai_desktop.core.atomic_files import atomic_write_text
from medxai_desktop.core.json_input import parse_json

from .errors import NodeConfigError
from .limits import check_limits

APP_NAME = "MedXAI Desktop"
NODES_ENV = "MEDXAI_PACS_NODES"
DEFAULT_CALLING_AE = "MEDXAI"
AUTH_KINDS = ("none", "basic", "bearer")
_AE_RE = re.compile(r"^[\x21-\x5b\x5d-\x7e][\x20-\x5b\x5d-\x7e]{0,15}$")   # PS3.5 AE: no backslash
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:/-]{0,99}$")


@dataclass(frozen=True)
class Node:
    """One PACS. DIMSE when ``ae_title`` is set, DICOMweb when ``url`` is."""
    name: str
    ae_title: str | None = None
    host: str | None = None
    port: int | None = None
    calling_ae: str = DEFAULT_CALLING_AE
    store_port: int | None = None        # our storage SCP's port, for C-MOVE
    listen_address: str = "127.0.0.1"    # the address our storage SCP binds (C-MOVE)
    tls: bool = False
    tls_ca: str | None = None            # CA bundle that signs the node's certificate
    tls_cert: str | None = None          # our client certificate and key, if the node asks
    tls_key: str | None = None
    url: str | None = None
    auth: str = "none"
    username: str | None = None
    timeout: float = 10.0                # seconds: connect, association, each response
    limits: dict | None = field(default=None, hash=False)   # over the defaults (see .limits)

    @property
    def kind(self) -> str:
        return "dimse" if self.ae_title else "dicomweb"

    def describe(self) -> str:
        if self.kind == "dimse":
            return f"{self.ae_title}@{self.host}:{self.port}{' (TLS)' if self.tls else ''}"
        return f"{self.url}{'' if self.auth == 'none' else f' ({self.auth})'}"

    def to_json(self) -> dict:
        defaults = Node("x")
        return {k: v for k, v in asdict(self).items()
                if k != "name" and v != getattr(defaults, k)}


def check_node(node: Node) -> Node:
    """``node`` when it is complete and consistent, else NodeConfigError naming the field."""
    where = f"PACS node {node.name!r}"
    if not _NAME_RE.match(node.name or ""):
        raise NodeConfigError(f"{where}: a name is letters, digits and _ . @ : / - (at most 100)")
    if bool(node.ae_title) == bool(node.url):
        raise NodeConfigError(f"{where}: give either ae_title, host and port (DIMSE) or url (DICOMweb)")
    for label, ae in (("ae_title", node.ae_title), ("calling_ae", node.calling_ae)):
        if ae is not None and not _AE_RE.match(ae):
            raise NodeConfigError(f"{where}: {label} {ae!r} is not an AE title (1-16 characters, no backslash)")
    if node.kind == "dimse":
        if not node.host or not _port_ok(node.port):
            raise NodeConfigError(f"{where}: a DIMSE node needs host and port (1-65535)")
    else:
        parts = urlsplit(node.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NodeConfigError(f"{where}: url must be http(s)://host/...")
        if parts.password is not None:
            raise NodeConfigError(f"{where}: the URL holds a password; give it in the environment, "
                                  "the keyring or at the prompt instead")
    if node.store_port is not None and not _port_ok(node.store_port):
        raise NodeConfigError(f"{where}: store_port must be 1-65535")
    if not _address_ok(node.listen_address):
        raise NodeConfigError(f"{where}: listen_address {node.listen_address!r} is not an IP address")
    try:
        check_limits(node.limits, where)
    except ValueError as exc:
        raise NodeConfigError(str(exc)) from None
    if node.auth not in AUTH_KINDS:
        raise NodeConfigError(f"{where}: auth must be one of {', '.join(AUTH_KINDS)}")
    if node.auth == "basic" and not node.username:
        raise NodeConfigError(f"{where}: basic authentication needs a username")
    if not (0 < float(node.timeout) <= 3600):
        raise NodeConfigError(f"{where}: timeout must be between 0 and 3600 seconds")
    return node


def _port_ok(port) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536


def _address_ok(address) -> bool:
    if not isinstance(address, str):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def parse_ad_hoc(spec: str, calling_ae: str | None = None) -> Node:
    """``AET@host:port`` (DIMSE) or ``http(s)://[user@]host[:port]/path`` (DICOMweb)."""
    spec = spec.strip()
    extra = {"calling_ae": calling_ae} if calling_ae else {}
    if spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if parts.password is not None:
            raise NodeConfigError(f"{parts.scheme}://{parts.hostname}: the URL holds a password; give it in "
                                  "MEDXAI_PACS_PASSWORD or at the prompt instead")
        user = parts.username
        url = spec.replace(f"{user}@", "", 1) if user else spec
        return check_node(Node(name=parts.hostname or spec, url=url.rstrip("/"),
                               auth="basic" if user else "none", username=user, **extra))
    match = re.match(r"^([^@]+)@(\[[^\]]+\]|[^:]+):(\d+)$", spec)
    if not match:
        raise NodeConfigError(f"{spec!r}: not a node name, AET@host:port or http(s):// URL")
    aet, host, port = match.groups()
    return check_node(Node(name=spec, ae_title=aet, host=host.strip("[]"), port=int(port), **extra))


def nodes_file() -> Path:
    """``$MEDXAI_PACS_NODES`` or ``pacs_nodes.json`` in the user's configuration folder."""
    env = os.environ.get(NODES_ENV, "").strip()
    return Path(env) if env else Path(user_config_dir(APP_NAME, appauthor=False)) / "pacs_nodes.json"


def load_nodes(path: str | Path | None = None) -> dict[str, Node]:
    """The nodes of the file (none when it does not exist), by name."""
    path = Path(path) if path else nodes_file()
    if not path.exists():
        return {}
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NodeConfigError(f"{path}: cannot read the PACS nodes ({exc})") from None
    entries = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise NodeConfigError(f'{path}: expected {{"nodes": {{"NAME": {{...}}, ...}}}}')
    return {name: _node_from_json(path, name, entry) for name, entry in entries.items()}


def _node_from_json(path: Path, name: str, entry) -> Node:
    known = {f.name for f in fields(Node)} - {"name"}
    if not isinstance(entry, dict):
        raise NodeConfigError(f"{path}: node {name!r} must be an object")
    if "password" in entry or "token" in entry:
        raise NodeConfigError(f"{path}: node {name!r} holds a password; passwords are never kept in this "
                              "file (use MEDXAI_PACS_PASSWORD_<NAME>, the OS keyring or the prompt)")
    unknown = sorted(set(entry) - known)
    if unknown:
        raise NodeConfigError(f"{path}: node {name!r}: unknown key(s) {', '.join(unknown)}")
    try:
        return check_node(Node(name=name, **entry))
    except (TypeError, ValueError) as exc:
        raise NodeConfigError(f"{path}: node {name!r}: {exc}") from None


def save_nodes(nodes: dict[str, Node], path: str | Path | None = None) -> Path:
    """Write the nodes (never a password) to the file, atomically."""
    import json

    path = Path(path) if path else nodes_file()
    body = {"nodes": {name: check_node(node).to_json() for name, node in sorted(nodes.items())}}
    return atomic_write_text(path, json.dumps(body, indent=2) + "\n")


def resolve_node(spec: str, path: str | Path | None = None, calling_ae: str | None = None) -> Node:
    """A node of the file by name, else an ad-hoc ``AET@host:port`` or URL."""
    nodes = load_nodes(path)
    if spec in nodes:
        node = nodes[spec]
        return replace(node, calling_ae=calling_ae) if calling_ae else node
    if "@" in spec or "://" in spec:
        return parse_ad_hoc(spec, calling_ae)
    known = ", ".join(sorted(nodes)) or f"none in {Path(path) if path else nodes_file()}"
    raise NodeConfigError(f"unknown PACS node {spec!r} (known: {known}); or give AET@host:port or a URL")
