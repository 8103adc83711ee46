"""Hostile PACS peers on 127.0.0.1 for tests/test_pacs_hostile.py: a DIMSE SCP (pynetdicom) and
a DICOMweb server (http.server in a thread) that answer a retrieve with another patient's
instance, a C-FIND with thousands of matches, a WADO-RS stream that never ends, one part that
never ends, a trickle of a byte at a time, a part that is not DICOM.

Every endless answer is bounded on the server's side too (``CAP_SECONDS``, a number of parts
or bytes far above the limit under test), so that a client without limits fails its test in
seconds instead of hanging it.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

HOSTILE_AET, OUR_AET = "HOSTILE", "MEDXAI"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
CAP_SECONDS = 8.0          # no endless answer lasts longer than this
CAP_PARTS = 400            # nor has more parts
CAP_BYTES = 8 << 20        # nor more bytes in one part
CAP_MATCHES = 3000         # nor more C-FIND / QIDO-RS matches
BOUNDARY = "hostile-boundary"


def instance(study_uid: str, series_uid: str | None = None, sop_uid: str | None = None,
             patient: str = "Asked^Patient") -> Dataset:
    """pydicom's CT_small with the given UIDs and patient."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    ds.PatientName, ds.PatientID = patient, patient.upper()[:16]
    return ds


def file_bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Scenario:
    """What the peer sends; tests set ``mode`` and read what happened."""

    def __init__(self):
        self.mode = "good"
        self.study_uid = generate_uid()
        self.foreign_study_uid = generate_uid()
        self.stopping = threading.Event()
        self.store_port = 0                      # where C-MOVE sends (the test's free port)
        self.stranger_established: bool | None = None
        self.listen_lines: list[str] = []

    def good(self) -> Dataset:
        return instance(self.study_uid)

    def foreign(self) -> Dataset:
        return instance(self.foreign_study_uid, patient="Other^Patient")


# -- DIMSE ----------------------------------------------------------------------------------

class HostileScp:
    """C-FIND, C-GET and C-MOVE SCP; modes: good, foreign, only_foreign, many_matches, stall,
    stranger."""

    def __init__(self):
        from pynetdicom import AE, StoragePresentationContexts, evt
        from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelFind,
                                          StudyRootQueryRetrieveInformationModelGet,
                                          StudyRootQueryRetrieveInformationModelMove)

        self.scenario = Scenario()
        ae = AE(ae_title=HOSTILE_AET)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for context in StoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, scp_role=True, scu_role=False)
        for model in (StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
                      StudyRootQueryRetrieveInformationModelMove):
            ae.add_supported_context(model)
        ae.requested_contexts = StoragePresentationContexts[:120]   # for C-MOVE's C-STOREs
        handlers = [(evt.EVT_C_FIND, self._find), (evt.EVT_C_GET, self._get), (evt.EVT_C_MOVE, self._move)]
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = self.server.server_address[1]

    def stop(self) -> None:
        self.scenario.stopping.set()
        self.server.shutdown()

    def _find(self, event):
        ident = event.identifier
        if "SOPClassesInStudy" in ident:   # the retrieve asks which classes the study holds
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID = ident.StudyInstanceUID
            answer.SOPClassesInStudy = [CT_IMAGE_STORAGE]
            yield 0xFF00, answer
            return
        count = CAP_MATCHES if self.scenario.mode == "many_matches" else 1
        for n in range(count):
            if event.is_cancelled or self.scenario.stopping.is_set():
                yield 0xFE00, None
                return
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID = generate_uid()
            answer.PatientName, answer.PatientID = f"Match^{n}", f"M{n}"
            yield 0xFF00, answer

    def _datasets(self):
        scenario = self.scenario
        if scenario.mode == "foreign":
            return [scenario.good(), scenario.foreign()]
        if scenario.mode == "only_foreign":
            return [scenario.foreign()]
        return [scenario.good(), scenario.good()]

    def _send(self, event, datasets):
        yield len(datasets)
        for n, ds in enumerate(datasets):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            if n == 1 and self.scenario.mode == "stall":   # one instance, then nothing
                self.scenario.stopping.wait(CAP_SECONDS)
            yield 0xFF00, ds

    def _get(self, event):
        yield from self._send(event, self._datasets())

    def _move(self, event):
        store_port = self.scenario.store_port
        yield "127.0.0.1", store_port
        if self.scenario.mode == "stranger":
            self.scenario.listen_lines = _listening_lines(store_port)
            self.scenario.stranger_established = _store_as_stranger(store_port, self.scenario.good())
        yield from self._send(event, self._datasets())


def _store_as_stranger(port: int, ds: Dataset) -> bool:
    """Associates with our storage SCP as an AE title it does not know and sends an instance of
    the study being retrieved; whether the association was accepted."""
    from pynetdicom import AE

    ae = AE(ae_title="STRANGER")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 3
    ae.add_requested_context(CT_IMAGE_STORAGE, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=OUR_AET)
    established = assoc.is_established
    if established:
        assoc.send_c_store(ds)
        assoc.release()
    return established


def _listening_lines(port: int) -> list[str]:
    """The /proc/net/tcp rows of sockets listening on ``port`` (local address as hex)."""
    try:
        rows = open("/proc/net/tcp").read().splitlines()[1:]
    except OSError:
        return []
    return [row.split()[1] for row in rows
            if row.split()[3] == "0A" and int(row.split()[1].split(":")[1], 16) == port]


# -- DICOMweb -------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    scenario: Scenario

    def log_message(self, *args) -> None:   # quiet
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path)
        if path.path.rstrip("/").endswith("/studies") and "/studies/" not in path.path:
            self._qido(parse_qs(path.query))
            return
        mode = self.scenario.mode
        self.send_response(200)
        self.send_header("Content-Type", f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
        self.end_headers()
        try:
            getattr(self, f"_wado_{mode}", self._wado_parts)()
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up, as it should

    def _part(self, data: bytes) -> None:
        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n")

    def _end(self) -> None:
        self.wfile.write(f"--{BOUNDARY}--\r\n".encode())

    def _wado_parts(self) -> None:
        scenario = self.scenario
        datasets = [scenario.good(), scenario.foreign()] if scenario.mode == "foreign" else [scenario.good()]
        for ds in datasets:
            self._part(file_bytes(ds))
        self._end()

    def _wado_no_preamble(self) -> None:
        """A data set as some servers send it: no preamble, no file meta (explicit VR LE)."""
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_dataset

        buffer = DicomBytesIO()
        buffer.is_little_endian, buffer.is_implicit_VR = True, False
        write_dataset(buffer, Dataset(self.scenario.good()))
        self._part(buffer.getvalue())
        self._end()

    def _wado_not_dicom(self) -> None:
        self._part(b"<html><body>Service temporarily unavailable</body></html>\n" * 20)
        self._end()

    def _wado_endless_parts(self) -> None:
        ends = time.monotonic() + CAP_SECONDS
        for _ in range(CAP_PARTS):
            if time.monotonic() > ends or self.scenario.stopping.is_set():
                break
            self._part(file_bytes(self.scenario.good()))
        self._end()

    def _wado_endless_part(self) -> None:
        head = file_bytes(self.scenario.good())[:1024]
        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + head)
        block, sent, ends = b"\0" * (1 << 18), 0, time.monotonic() + CAP_SECONDS
        while sent < CAP_BYTES and time.monotonic() < ends and not self.scenario.stopping.is_set():
            self.wfile.write(block)
            sent += len(block)

    def _wado_trickle(self) -> None:
        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        self.wfile.flush()
        ends = time.monotonic() + CAP_SECONDS
        while time.monotonic() < ends and not self.scenario.stopping.wait(0.25):
            self.wfile.write(b"\0")
            self.wfile.flush()

    def _qido(self, query: dict) -> None:
        limit = int(query.get("limit", ["100000"])[0])
        offset = int(query.get("offset", ["0"])[0])
        count = max(0, min(limit, CAP_MATCHES - offset)) if self.scenario.mode == "many_matches" else 1
        body = json.dumps([{"0020000D": {"vr": "UI", "Value": [generate_uid()]},
                            "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"Match^{offset + n}"}]}}
                           for n in range(count)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HostileWeb:
    def __init__(self):
        self.scenario = Scenario()
        handler = type("Handler", (_Handler,), {"scenario": self.scenario})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="hostile-web")
        self.thread.start()

    def stop(self) -> None:
        self.scenario.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
