"""DIMSE with pynetdicom: associations that fail with one clear line, C-ECHO, C-FIND, C-STORE.

Every association uses the node's timeout for the TCP connect, the association answer and
each DIMSE response, so a closed port, an unreachable host or a silent peer end in a
:class:`PacsError` within that time.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn, check_cancelled, report

from .errors import PacsConnectionError, PacsError, PacsNotFound, PacsRejected
from .limits import MAX_PDU, breach, limits_for
from .nodes import Node
from .query import Match, Query, match_from_dataset

logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # our errors say it in one line
FIND_MODEL = "1.2.840.10008.5.1.4.1.2.2.1"     # Study Root Query/Retrieve - FIND
VERIFICATION = "1.2.840.10008.1.1"


def make_ae(node: Node):
    from pynetdicom import AE

    ae = AE(ae_title=node.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout
    ae.connection_timeout = node.timeout
    # Large P-DATA (few of them), yet bounded, so that an instance's bytes are counted as they
    # come (pynetdicom holds an instance in memory until it is complete).
    ae.maximum_pdu_size = MAX_PDU
    return ae


def _tls_args(node: Node):
    if not node.tls:
        return None
    context = ssl.create_default_context(cafile=node.tls_ca)
    if node.tls_cert:
        context.load_cert_chain(node.tls_cert, node.tls_key)
    return context, node.host


def no_delay(event) -> None:
    """EVT_CONN_OPEN: Nagle's algorithm off, so a request sent as command and data set is not
    held back ~40 ms waiting for the peer's delayed ACK."""
    with contextlib.suppress(AttributeError, OSError):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.contextmanager
def association(node: Node, ae, evt_handlers=(), **kwargs) -> Iterator:
    """An established association with ``node`` (released at the end, aborted on an error),
    or a PacsError saying why there is none."""
    from pynetdicom import evt

    started = time.monotonic()
    handlers = [(evt.EVT_CONN_OPEN, no_delay), *evt_handlers]
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title,
                             tls_args=_tls_args(node), evt_handlers=handlers, **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise PacsConnectionError(node.name, f"cannot connect to {node.describe()}: {exc}") from None
    if not assoc.is_established:
        raise _failure(node, assoc, time.monotonic() - started)
    try:
        yield assoc
    except BaseException:
        assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()


def _failure(node: Node, assoc, seconds: float) -> PacsError:
    answer = getattr(assoc.acceptor, "primitive", None)
    if assoc.is_rejected and answer is not None:
        return PacsRejected(node.name, f"association rejected by {node.describe()} "
                                       f"(calling AE title {node.calling_ae!r}): {answer.reason_str}"
                                       f" ({answer.result_str})")
    if answer is not None:   # accepted, but none of our presentation contexts
        return PacsRejected(node.name, f"{node.describe()} accepted none of the requested services")
    if seconds >= node.timeout * 0.9:
        return PacsConnectionError(node.name, f"no answer from {node.describe()} within {node.timeout:g} s")
    return PacsConnectionError(node.name, f"cannot connect to {node.describe()}: {_probe(node)}")


def _probe(node: Node) -> str:
    """Why a connection fails (refused, unknown host, a TLS certificate, ...), asked once more
    of the OS and, for a TLS node, of the TLS handshake."""
    try:
        with socket.create_connection((node.host, node.port), timeout=min(node.timeout, 2.0)) as sock:
            if node.tls:
                context, hostname = _tls_args(node)
                with context.wrap_socket(sock, server_hostname=hostname):
                    pass
            return ("the connection was closed without an answer"
                    + ("" if node.tls else " (does the node expect TLS?)"))
    except socket.timeout:
        return f"no answer within {node.timeout:g} s"
    except ssl.SSLError as exc:
        return f"TLS: {exc.reason or exc}" + (f" ({exc.verify_message})" if getattr(exc, "verify_message", None) else "")
    except OSError as exc:
        return exc.strerror or str(exc)


def check_status(node: Node, status, what: str) -> int:
    """The status code of a DIMSE response; PacsError when there is none (timeout, abort)."""
    code = getattr(status, "Status", None)
    if code is None:
        raise PacsConnectionError(node.name, f"{what}: no answer within {node.timeout:g} s, or the "
                                             "association was aborted")
    return int(code)


def echo(node: Node) -> float:
    """C-ECHO; the round trip in seconds."""
    ae = make_ae(node)
    ae.add_requested_context(VERIFICATION)
    started = time.perf_counter()
    with association(node, ae) as assoc:
        code = check_status(node, assoc.send_c_echo(), "C-ECHO")
    if code != 0:
        raise PacsError(node.name, f"C-ECHO answered status 0x{code:04X}")
    return time.perf_counter() - started


def identifier(level: str, filters: dict[str, str], return_keys: Iterable[str]):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in return_keys:
        setattr(ds, keyword, "")
    for keyword, value in filters.items():
        setattr(ds, keyword, value)
    return ds


def find_datasets(node: Node, level: str, filters: dict[str, str], return_keys: Iterable[str],
                  cancelled: CancelFn | None = None, limit: str = "max_matches") -> list:
    """C-FIND (Study Root) at ``level`` (STUDY, SERIES, IMAGE): the matching identifiers; more
    than the node's ``limit`` (max_matches, or max_instances for a study's instance list)
    aborts the search with a PacsError."""
    ae = make_ae(node)
    ae.add_requested_context(FIND_MODEL)
    most = getattr(limits_for(node), limit)
    found = []
    with association(node, ae) as assoc:
        for status, ds in assoc.send_c_find(identifier(level, filters, return_keys), FIND_MODEL):
            code = check_status(node, status, "C-FIND")
            if code in (0xFF00, 0xFF01):
                if len(found) == most:   # the association is aborted on the way out
                    raise breach(node.name, limit, f"C-FIND: more than {most} matches")
                found.append(ds)
                check_cancelled(cancelled, "search")
            elif code != 0:
                raise PacsError(node.name, f"C-FIND failed with status 0x{code:04X}"
                                           f"{_comment(status)}")
    return found


def _comment(status) -> str:
    text = str(status.get("ErrorComment", "") or "").strip()
    return f": {text}" if text else ""


def find(node: Node, query: Query, cancelled: CancelFn | None = None) -> list[Match]:
    datasets = find_datasets(node, query.level.upper(), query.filters(), query.return_keys(), cancelled)
    return [match_from_dataset(ds, query.level) for ds in datasets]


def instance_uids(node: Node, study_uid: str, series_uid: str | None = None) -> dict[str, str]:
    """SOP Instance UID -> SOP Class UID of every instance of the study (or series)."""
    filters = {"StudyInstanceUID": study_uid}
    if series_uid:
        filters["SeriesInstanceUID"] = series_uid
    found = find_datasets(node, "IMAGE", filters, ("SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID"),
                          limit="max_instances")
    return {str(ds.SOPInstanceUID): str(ds.get("SOPClassUID", "")) for ds in found if ds.get("SOPInstanceUID")}


def study_sop_classes(node: Node, study_uid: str) -> list[str]:
    """The SOP classes in a study (SOPClassesInStudy); PacsNotFound when there is no such study."""
    found = find_datasets(node, "STUDY", {"StudyInstanceUID": study_uid}, ("SOPClassesInStudy",))
    if not found:
        raise PacsNotFound(node.name, f"no study {study_uid}")
    classes = found[0].get("SOPClassesInStudy", []) or []
    return [str(c) for c in ([classes] if isinstance(classes, str) else classes) if str(c)]


def store_files(node: Node, paths: list[Path], progress: ProgressFn | None = None,
                cancelled: CancelFn | None = None) -> list[str]:
    """C-STORE each file on one association; the SOP Instance UIDs stored."""
    import pydicom

    headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in paths]
    ae = make_ae(node)
    for sop_class, syntax in sorted({(str(h.SOPClassUID), str(h.file_meta.TransferSyntaxUID)) for _, h in headers}):
        ae.add_requested_context(sop_class, list(dict.fromkeys([syntax, "1.2.840.10008.1.2.1",
                                                                "1.2.840.10008.1.2"])))
    stored = []
    with association(node, ae) as assoc:
        for n, (path, header) in enumerate(headers):
            check_cancelled(cancelled, "send")
            code = check_status(node, assoc.send_c_store(path), "C-STORE")
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise PacsError(node.name, f"C-STORE of {path.name} failed with status 0x{code:04X}")
            stored.append(str(header.SOPInstanceUID))
            report(progress, n + 1, len(headers), "send", f"sent {n + 1} of {len(headers)}")
    return stored
