"""PACS: nodes, verify, find, retrieve into a local cache, send back (DIMSE with pynetdicom,
DICOMweb with dicomweb-client). Plain Python: the CLI and the app call these functions."""
from .cache import InstanceCache, default_cache_root
from .credentials import find_password, keyring_available, store_password
from .errors import (NodeConfigError, PacsAuthError, PacsConnectionError, PacsError, PacsNotFound,
                     PacsRejected)
from .nodes import Node, load_nodes, nodes_file, parse_ad_hoc, resolve_node, save_nodes
from .operations import find, send_files, verify
from .query import LEVELS, Match, Query
from .retrieve import VIAS, RetrieveResult, default_via, retrieve

__all__ = [
    "LEVELS", "VIAS", "InstanceCache", "Match", "Node", "NodeConfigError", "PacsAuthError",
    "PacsConnectionError", "PacsError", "PacsNotFound", "PacsRejected", "Query", "RetrieveResult",
    "default_cache_root", "default_via", "find", "find_password", "keyring_available", "load_nodes",
    "nodes_file", "parse_ad_hoc", "resolve_node", "retrieve", "save_nodes", "send_files",
    "store_password", "verify",
]
