"""C-GET and C-MOVE into the instance cache, instance by instance, with progress and cancel.

C-GET (the default) brings the instances back on our own association, so no firewall or PACS
set-up is needed beyond our AE title. C-MOVE has the PACS open a second association to our
storage SCP (``Node.store_port``, on ``Node.listen_address``: loopback unless set), which the
PACS must know under our AE title; that SCP listens only while the retrieve runs and accepts
associations only from the node's AE title. Either way each instance is checked and written
whole (:class:`~.receiver.Receiver`) as its C-STORE arrives, from the bytes received (not
decoded and encoded again); a retrieve with no instance and no MiB for ``stall_seconds`` is
aborted.
"""
from __future__ import annotations

import contextlib
import threading

from medxai_desktop.core.jobs import Cancelled

from .dimse import association, check_status, identifier, make_ae, no_delay
from .errors import PacsConnectionError, PacsError
from .limits import watching
from .nodes import Node
from .receiver import Receiver

GET_MODEL = "1.2.840.10008.5.1.4.1.2.2.3"     # Study Root Query/Retrieve - GET
MOVE_MODEL = "1.2.840.10008.5.1.4.1.2.2.2"    # Study Root Query/Retrieve - MOVE
# What we accept each instance in, most wanted first: as stored, so nothing is transcoded.
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2",
)
SUBOPERATIONS_FAILED = (0xA701, 0xA702)   # what the PACS answers when we refused its instances
MAX_CONTEXTS = 120   # 128 presentation contexts at most, one for the retrieve model


def storage_contexts(sop_classes: list[str]):
    """Requested contexts for C-GET: one per (class, transfer syntax) while 127 allow, the
    uncompressed ones first for every class."""
    from pynetdicom import StoragePresentationContexts, build_context

    classes = list(dict.fromkeys(sop_classes)) or [c.abstract_syntax for c in StoragePresentationContexts]
    contexts, pairs = [], [(c, ts) for ts in TRANSFER_SYNTAXES for c in classes]
    for sop_class, syntax in pairs[:MAX_CONTEXTS]:
        contexts.append(build_context(sop_class, syntax))
    return contexts


def _retrieve_identifier(study_uid: str, series_uid: str | None, sop_uids: list[str] | None):
    if sop_uids:
        filters = {"StudyInstanceUID": study_uid, "SOPInstanceUID": sop_uids}
        if series_uid:
            filters["SeriesInstanceUID"] = series_uid
        return identifier("IMAGE", filters, ())
    if series_uid:
        return identifier("SERIES", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}, ())
    return identifier("STUDY", {"StudyInstanceUID": study_uid}, ())


def _follow(node: Node, assoc, responses, receiver: Receiver, what: str, server=None) -> None:
    """Read the C-GET/C-MOVE responses to the end; errors for what went wrong. A cancel aborts
    the association at the next response (one per instance); a stall or a broken limit aborts
    it (and those of our C-MOVE ``server``) at once, from a watcher thread."""
    def stop() -> None:
        receiver.fail(receiver.clock.error(node.name, what))   # unless another error came first
        for other in [assoc, *(server.active_associations if server is not None else ())]:
            other.abort()
        # pynetdicom waits for the next response up to the whole DIMSE timeout even after an
        # abort: an empty message ends that wait now.
        with contextlib.suppress(AttributeError):
            assoc.dimse.msg_queue.put((None, None))

    receiver.clock.progressed()
    try:
        with watching(lambda: receiver.error is not None or receiver.clock.stalled(), stop):
            _read_responses(node, assoc, responses, receiver, what)
    except PacsError:
        receiver.raise_error()   # the reason of an abort of ours, not "aborted"
        raise
    receiver.raise_error()
    if receiver.was_cancelled:
        raise Cancelled(f"{what} cancelled")


def _read_responses(node: Node, assoc, responses, receiver: Receiver, what: str) -> None:
    for status, _ in responses:
        if receiver.stop_requested():
            assoc.abort()
            break
        code = check_status(node, status, what)
        remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        done = sum(int(status.get(k, 0) or 0) for k in (
            "NumberOfCompletedSuboperations", "NumberOfFailedSuboperations", "NumberOfWarningSuboperations"))
        if remaining + done:
            receiver.total = max(receiver.total, remaining + done + len(receiver.skip))
        if code in (0xFF00, 0xFF01):
            continue
        if code == 0xFE00:
            raise Cancelled(f"{what} cancelled")
        if code not in (0x0000, 0xB000) and not (receiver.refused and code in SUBOPERATIONS_FAILED):
            raise PacsError(node.name, f"{what} failed with status 0x{code:04X}"
                                       f"{' (' + str(status.ErrorComment) + ')' if 'ErrorComment' in status else ''}")


def c_get(node: Node, study_uid: str, series_uid: str | None, sop_uids: list[str] | None,
          sop_classes: list[str], receiver: Receiver) -> None:
    from pynetdicom import build_role, evt

    ae = make_ae(node)
    ae.add_requested_context(GET_MODEL)
    contexts = storage_contexts(sop_classes)
    ae.requested_contexts = [*ae.requested_contexts, *contexts]
    roles = [build_role(c, scp_role=True) for c in dict.fromkeys(cx.abstract_syntax for cx in contexts)]
    handlers = [(evt.EVT_C_STORE, receiver), (evt.EVT_DATA_RECV, _bytes_to(receiver))]
    with association(node, ae, ext_neg=roles, evt_handlers=handlers) as assoc:
        _follow(node, assoc, assoc.send_c_get(_retrieve_identifier(study_uid, series_uid, sop_uids), GET_MODEL),
                receiver, "C-GET")


def c_move(node: Node, study_uid: str, series_uid: str | None, sop_uids: list[str] | None,
           receiver: Receiver) -> None:
    from pynetdicom import ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
    from pynetdicom.transport import ThreadedAssociationServer

    if not node.store_port:
        raise PacsError(node.name, "C-MOVE needs our storage port (store_port in the node's configuration), "
                                   "registered on the PACS with our AE title")
    server_ae = make_ae(node)
    server_ae.require_calling_aet = [node.ae_title]   # only the node may store to us
    for context in StoragePresentationContexts:
        server_ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    try:
        server = server_ae.make_server((node.listen_address, node.store_port),
                                       server_class=ThreadedAssociationServer, evt_handlers=[(evt.EVT_CONN_OPEN, no_delay),
                                                     (evt.EVT_C_STORE, receiver),
                                                     (evt.EVT_DATA_RECV, _bytes_to(receiver))])
    except OSError as exc:
        raise PacsConnectionError(node.name, f"cannot listen on {node.listen_address} port {node.store_port} "
                                             f"for C-MOVE: {exc.strerror or exc}") from None
    server_ae._servers.append(server)   # as start_server does (shutdown() removes it)
    # Our own thread with a short poll, so that shutdown() returns at once (not after 0.5 s).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                     name="medxai-move-scp").start()
    try:
        ae = make_ae(node)
        ae.add_requested_context(MOVE_MODEL)
        with association(node, ae) as assoc:
            responses = assoc.send_c_move(_retrieve_identifier(study_uid, series_uid, sop_uids),
                                          node.calling_ae, MOVE_MODEL)
            _follow(node, assoc, responses, receiver, "C-MOVE", server)
    finally:
        server.shutdown()
        for stray in server.active_associations:   # a peer that goes on storing after the end
            stray.abort()


def _bytes_to(receiver: Receiver):
    """EVT_DATA_RECV: each PDU received, for the stall timeout and the instance size limit."""
    def received(event) -> None:
        receiver.received(len(event.data))
    return received
