"""core/pacs against a real Orthanc (tests/orthanc_server.py): echo, find with each filter,
C-GET, C-MOVE, WADO-RS, C-STORE, STOW-RS, and the faults (unknown AE title, closed port,
unreachable host, wrong credentials, an association cut mid-retrieve, an unknown study)."""
from __future__ import annotations

import time

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medxai_desktop.core import pacs
from medxai_desktop.core.pacs import InstanceCache, Node, Query
from tests import orthanc_server as orth


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    yield from orth.running_orthanc(tmp_path_factory)


@pytest.fixture
def node(orthanc) -> Node:
    return Node("test-orthanc", ae_title=orth.ORTHANC_AET, host="127.0.0.1", port=orthanc.dicom_port,
                calling_ae=orth.OUR_AET, store_port=orthanc.store_port, timeout=15)


@pytest.fixture
def web_node(orthanc, monkeypatch) -> Node:
    monkeypatch.setenv("MEDXAI_PACS_PASSWORD_TEST_WEB", orth.PASSWORD)
    return Node("test-web", url=f"{orthanc.url}/dicom-web", auth="basic", username=orth.USER, timeout=15)


@pytest.fixture(params=["dimse", "dicomweb"])
def any_node(request, node, web_node) -> Node:
    return node if request.param == "dimse" else web_node


def test_echo(any_node):
    assert 0 < pacs.verify(any_node) < 5


def _ct(orthanc):
    return orthanc.samples["CT_small.dcm"]


@pytest.mark.parametrize("filters", [
    lambda ds: {"patient_id": ds.PatientID},
    lambda ds: {"patient_name": str(ds.PatientName)[:6] + "*"},
    lambda ds: {"date_from": ds.StudyDate, "date_to": ds.StudyDate},
    lambda ds: {"date_from": ds.StudyDate},
    lambda ds: {"modality": ds.Modality},
    lambda ds: {"accession": "ACC-SYN"},
    lambda ds: {"description": "synthetic*"},
], ids=["patient_id", "name_wildcard", "date_range", "date_open_range", "modality", "accession", "description"])
def test_find_each_filter_at_study_level(any_node, orthanc, filters):
    query = Query(**filters(_ct(orthanc)))
    found = pacs.find(any_node, query)
    assert found, query
    for match in found:
        row = next(m for m in pacs.find(any_node, Query()) if m.study_uid == match.study_uid)
        assert row == match
    if "accession" in query.filters() or "StudyDescription" in query.filters():
        assert [m.study_uid for m in found] == [orthanc.study_uid]
        assert found[0].instances == 6 and found[0].patient_name == "Synthetic^Study"
    if query.patient_id:
        assert {m.patient_id for m in found} == {query.patient_id}
    if query.modality:
        assert all(query.modality in m.modalities.split("\\") for m in found)
    if query.date_from and query.date_to:
        assert {m.date for m in found} == {query.date_from}


def test_find_series_level(any_node, orthanc):
    found = pacs.find(any_node, Query(level="series", study_uid=orthanc.study_uid))
    assert len(found) == 2 and {m.instances for m in found} == {3}
    assert all(m.study_uid == orthanc.study_uid and m.series_uid for m in found)
    nothing = pacs.find(any_node, Query(patient_id="NOBODY-HERE"))
    assert nothing == []


def _assert_same_instance(path, source_path):
    got, want = pydicom.dcmread(path), pydicom.dcmread(source_path)
    assert got.SOPInstanceUID == want.SOPInstanceUID
    assert got.file_meta.TransferSyntaxUID == want.file_meta.TransferSyntaxUID  # not transcoded
    assert got.PixelData == want.PixelData


@pytest.mark.parametrize("via", ["get", "move", "wado"])
def test_retrieve_each_sample(orthanc, node, web_node, tmp_path, via):
    cache = InstanceCache(tmp_path)
    for name, ds in orthanc.samples.items():
        result = pacs.retrieve(web_node if via == "wado" else node, ds.StudyInstanceUID, via=via, cache=cache)
        assert result.fetched == (ds.SOPInstanceUID,) and result.reused == 0
        _assert_same_instance(cache.path(ds.StudyInstanceUID, ds.SOPInstanceUID), get_testdata_file(name))


@pytest.mark.parametrize("via", ["get", "move", "wado"])
def test_retrieve_series_then_study_fetches_only_what_is_missing(orthanc, node, web_node, tmp_path, via):
    chosen = web_node if via == "wado" else node
    cache, events = InstanceCache(tmp_path), []
    [series, _] = sorted(pacs.find(chosen, Query(level="series", study_uid=orthanc.study_uid)),
                         key=lambda m: m.series_number)
    first = pacs.retrieve(chosen, orthanc.study_uid, series.series_uid, via=via, cache=cache)
    assert len(first.fetched) == 3
    (cache.study_dir(orthanc.study_uid) / ".stale.dcm.abc.tmp").write_bytes(b"half")
    whole = pacs.retrieve(chosen, orthanc.study_uid, via=via, cache=cache, progress=events.append)
    assert len(whole.fetched) == 3 and whole.reused == 3
    assert events[-1].done == events[-1].total == 6
    again = pacs.retrieve(chosen, orthanc.study_uid, via=via, cache=cache)
    assert again.fetched == () and again.reused == 6
    assert sorted(p.name for p in cache.study_dir(orthanc.study_uid).iterdir()) == sorted(
        f"{pydicom.dcmread(f).SOPInstanceUID}.dcm" for f in orthanc.study_files)


def test_cancel_stops_a_retrieve_and_leaves_only_whole_instances(orthanc, node, tmp_path):
    from medxai_desktop.core.jobs import Cancelled

    cache, seen = InstanceCache(tmp_path), []
    with pytest.raises(Cancelled):
        pacs.retrieve(node, orthanc.study_uid, cache=cache, progress=seen.append,
                      cancelled=lambda: len(seen) >= 3)
    kept = sorted(cache.study_dir(orthanc.study_uid).iterdir())
    assert 1 <= len(kept) < 6 and all(p.suffix == ".dcm" and pydicom.dcmread(p).PixelData for p in kept)
    result = pacs.retrieve(node, orthanc.study_uid, cache=cache)
    assert result.reused == len(kept) and len(result.fetched) == 6 - len(kept)


def test_association_cut_mid_retrieve_leaves_whole_instances_and_resumes(orthanc, node, tmp_path):
    cache, seen = InstanceCache(tmp_path), []

    def progress(p):
        seen.append(p)
        if len(seen) == 3:      # Orthanc dies after the second instance is written
            orthanc.kill()

    try:
        with pytest.raises(pacs.PacsError, match="test-orthanc"):
            pacs.retrieve(node, orthanc.study_uid, cache=cache, progress=progress)
    finally:
        orthanc.start()
    kept = sorted(cache.study_dir(orthanc.study_uid).iterdir())
    assert 1 <= len(kept) < 6
    assert all(p.suffix == ".dcm" and pydicom.dcmread(p).PixelData for p in kept)
    result = pacs.retrieve(node, orthanc.study_uid, cache=cache)
    assert result.reused == len(kept) and len(result.fetched) == 6 - len(kept)


@pytest.mark.parametrize("via", ["get", "move", "wado"])
def test_unknown_study_is_named(node, web_node, tmp_path, via):
    with pytest.raises(pacs.PacsNotFound, match=r"PACS test-(orthanc|web): .*study 1\.2\.3\.4\.5\.6"):
        pacs.retrieve(web_node if via == "wado" else node, "1.2.3.4.5.6", via=via, cache=InstanceCache(tmp_path))
    assert not any(tmp_path.rglob("*.dcm"))


def test_unknown_calling_ae_title_is_rejected(node):
    from dataclasses import replace

    stranger = replace(node, calling_ae="STRANGER")
    with pytest.raises(pacs.PacsRejected, match=r"PACS test-orthanc: association rejected .*'STRANGER'.*"
                                                r"Calling AE title not recognised"):
        pacs.verify(stranger)


def test_closed_port_fails_at_once(node):
    from dataclasses import replace

    started = time.monotonic()
    with pytest.raises(pacs.PacsConnectionError, match="PACS test-orthanc: cannot connect .*refused"):
        pacs.verify(replace(node, port=orth.free_port()))
    assert time.monotonic() - started < 2


def test_unreachable_host_fails_within_the_timeout(node):
    from dataclasses import replace

    started = time.monotonic()
    with pytest.raises(pacs.PacsConnectionError, match="PACS test-orthanc: "):
        pacs.verify(replace(node, host="192.0.2.1", timeout=1.0))   # TEST-NET-1: never answers
    assert time.monotonic() - started < 1.0 + 2.5


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung PACS, a black-holing proxy)."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_peer_that_never_answers_fails_within_the_timeout(node, web_node, silent_port):
    from dataclasses import replace

    for silent, what in ((replace(node, port=silent_port, timeout=1.0), "no answer from ORTHANC@"),
                         (replace(web_node, url=f"http://127.0.0.1:{silent_port}/dicom-web", timeout=1.0),
                          "QIDO-RS: no answer from http://127.0.0.1")):
        started = time.monotonic()
        with pytest.raises(pacs.PacsConnectionError, match=f"PACS {silent.name}: {what}.* within 1 s"):
            pacs.verify(silent)
        assert 0.9 < time.monotonic() - started < 1.0 + 1.5


def test_wrong_credentials_are_named(web_node, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDXAI_PACS_PASSWORD_TEST_WEB", "wrong")
    with pytest.raises(pacs.PacsAuthError, match="PACS test-web: QIDO-RS: HTTP 401 unauthorized"):
        pacs.verify(web_node)
    with pytest.raises(pacs.PacsAuthError, match="HTTP 401"):
        pacs.retrieve(web_node, "1.2.3", cache=InstanceCache(tmp_path))


def test_send_files_by_c_store_and_stow(orthanc, any_node, tmp_path):
    study_uid, files = orth.synthetic_study(tmp_path / "new", 2, series=1, patient="Sent^Back",
                                          accession="ACC-SENT")
    assert pacs.send_files(any_node, files) == [pydicom.dcmread(f).SOPInstanceUID for f in files]
    [hit] = orthanc.rest("/tools/lookup", study_uid.encode(), "POST")
    assert orthanc.rest(f"/studies/{hit['ID']}/instances").__len__() == 2


def _orthanc_srs(orthanc, study_uid):
    [hit] = orthanc.rest("/tools/lookup", study_uid.encode(), "POST")
    return [i for i in orthanc.rest(f"/studies/{hit['ID']}/instances")
            if orthanc.rest(f"/instances/{i['ID']}/simplified-tags").get("Modality") == "SR"]


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_reviewed_boxes_go_back_as_one_sr_per_revision(orthanc, node, web_node, tmp_path, kind):
    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.exchange.dicom_sr import read_dicom_sr
    from medxai_desktop.core.exchange.records import ImageRecord
    from medxai_desktop.core.pacs.send_log import send_boxes
    from medxai_desktop.core.store import SIGNED_OFF, ReviewStore
    from medxai_desktop.core.store.pacs_log import record_retrieved, sent_log, sources_of

    source = orthanc.samples["MR_small.dcm" if kind == "dimse" else "CT_small.dcm"]
    target = node if kind == "dimse" else web_node
    cache = InstanceCache(tmp_path / "cache")
    pacs.retrieve(node, source.StudyInstanceUID, cache=cache)
    path = cache.path(source.StudyInstanceUID, source.SOPInstanceUID)
    with ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps") as store:
        record_retrieved(store, node.name, [(source.StudyInstanceUID, source.SeriesInstanceUID,
                                             source.SOPInstanceUID, str(path))])
        assert [s.node for s in sources_of(store, source.SOPInstanceUID)] == [node.name]
        image_id = store.add_image(ImageRecord("image.dcm", int(source.Columns), int(source.Rows), path=path,
                                               study_uid=source.StudyInstanceUID, sop_uid=source.SOPInstanceUID))
        added = store.add_box(image_id, Box(10, 12, 40, 30), "nodule", "dr-a")
        store.set_status(image_id, SIGNED_OFF, "dr-a")
        first = send_boxes(store, target, "dr-a")
        again = send_boxes(store, target, "dr-b")
        assert len(first.sent) == 1 and again.sent == () and len(again.already_sent) == 1
        [entry] = sent_log(store, target.name)
        assert (entry.kind, entry.sent_by, entry.source_uids) == ("sr", "dr-a", [source.SOPInstanceUID])
        [sr] = _orthanc_srs(orthanc, source.StudyInstanceUID)
        sr_file = tmp_path / "sr.dcm"
        sr_file.write_bytes(orthanc.rest(f"/instances/{sr['ID']}/file", raw=True))
        [box] = read_dicom_sr(sr_file).boxes
        assert box.image_key == source.SOPInstanceUID and (box.box.x0, box.box.y1) == (10, 30)
        store.revise_box(added.box_id, reviewer="dr-a", expected_revision=added.revision, box=Box(11, 12, 40, 30))
        revised = send_boxes(store, target, "dr-a")
        assert len(revised.sent) == 1 and len(_orthanc_srs(orthanc, source.StudyInstanceUID)) == 2
        # (each parametrisation sends about its own sample: MR by DIMSE, CT by DICOMweb)


# -- the command line ------------------------------------------------------------------------

def _medxai(capsys, *argv) -> tuple[int, str, str]:
    from medxai_desktop.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_nodes_echo_find_retrieve_send(orthanc, tmp_path, capsys, monkeypatch):
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    nodes = tmp_path / "nodes.json"
    spec = f"{orth.ORTHANC_AET}@127.0.0.1:{orthanc.dicom_port}"
    code, out, _ = _medxai(capsys, "pacs", "--nodes", nodes, "nodes", "add", "main", spec,
                           "--store-port", orthanc.store_port)
    assert code == 0 and "main: ORTHANC@127.0.0.1" in out and "password" not in nodes.read_text()
    code, out, _ = _medxai(capsys, "pacs", "--nodes", nodes, "echo", "main")
    assert code == 0 and "answered in" in out
    code, out, _ = _medxai(capsys, "pacs", "find", spec, "--accession", "ACC-SYN", "--json")
    assert code == 0 and [m["study_uid"] for m in __import__("json").loads(out)] == [orthanc.study_uid]
    code, out, _ = _medxai(capsys, "pacs", "find", spec, "--level", "series", "--study", orthanc.study_uid)
    assert code == 0 and len(out.strip().splitlines()) == 3
    code, out, _ = _medxai(capsys, "--db", db, "pacs", "--nodes", nodes, "retrieve", "main", "--study",
                           orthanc.study_uid, "--via", "move", "--out", tmp_path / "cache")
    assert code == 0 and "retrieved 6 instance(s) from main" in out
    from medxai_desktop.core.store import ReviewStore
    from medxai_desktop.core.store.pacs_log import sources_of

    first = sorted((tmp_path / "cache" / orthanc.study_uid).iterdir())[0]
    with ReviewStore(db) as store:
        [source] = sources_of(store, first.stem)
    assert (source.node, source.study_uid, source.path) == ("main", orthanc.study_uid, str(first))
    _, files = orth.synthetic_study(tmp_path / "new", 1, series=1, patient="Cli^Send", accession="ACC-CLI")
    code, out, _ = _medxai(capsys, "--db", db, "pacs", "send", spec, *files)
    assert code == 0 and "sent 1 instance(s)" in out


def test_cli_errors_are_one_line(orthanc, tmp_path, capsys, monkeypatch):
    code, _, err = _medxai(capsys, "pacs", "--nodes", tmp_path / "none.json", "echo", "nowhere")
    assert code == 2 and err.startswith("medxai: error: unknown PACS node 'nowhere'")
    monkeypatch.setenv("MEDXAI_PACS_PASSWORD", "wrong")
    url = f"http://{orth.USER}@127.0.0.1:{orthanc.http_port}/dicom-web"
    code, _, err = _medxai(capsys, "pacs", "echo", url)
    assert code == 2 and "HTTP 401 unauthorized" in err and len(err.strip().splitlines()) == 1
    code, _, err = _medxai(capsys, "pacs", "--calling-ae", "STRANGER", "echo",
                           f"{orth.ORTHANC_AET}@127.0.0.1:{orthanc.dicom_port}")
    assert code == 2 and "Calling AE title not recognised" in err


def test_cli_export_dicom_sr_send(orthanc, node, tmp_path, capsys):
    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.exchange.records import ImageRecord
    from medxai_desktop.core.store import SIGNED_OFF, ReviewStore

    source = orthanc.samples["CT_small.dcm"]
    cache = InstanceCache(tmp_path / "cache")
    pacs.retrieve(node, source.StudyInstanceUID, cache=cache)
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    with ReviewStore(db, cache_dir=tmp_path / "maps") as store:
        image_id = store.add_image(ImageRecord("ct.dcm", 128, 128, path=cache.path(source.StudyInstanceUID,
                                                                                   source.SOPInstanceUID)))
        store.add_box(image_id, Box(5, 5, 50, 60), "mass", "dr-c")
        store.set_status(image_id, SIGNED_OFF, "dr-c")
    spec = f"{orth.ORTHANC_AET}@127.0.0.1:{orthanc.dicom_port}"
    srs_before = len(_orthanc_srs(orthanc, source.StudyInstanceUID))
    code, out, _ = _medxai(capsys, "--db", db, "export", "dicom-sr", "--out", tmp_path / "sr", "--send", spec)
    assert code == 0 and "sent 1 instance(s)" in out
    code, out, _ = _medxai(capsys, "--db", db, "export", "dicom-sr", "--out", tmp_path / "sr", "--send", spec)
    assert code == 0 and "sent 0 instance(s)" in out and "1 already sent before" in out
    assert len(_orthanc_srs(orthanc, source.StudyInstanceUID)) == srs_before + 1
    code, _, err = _medxai(capsys, "--db", db, "export", "coco", "--out", tmp_path / "c.json", "--send", spec)
    assert code == 2 and "--send" in err


# -- DICOM TLS ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_orthanc(orthanc, tmp_path_factory):
    """A second Orthanc whose DICOM port speaks TLS only and asks for our certificate."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("!!! DICOM TLS test SKIPPED: no openssl to make its certificates")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = orth.OrthancServer(DicomTlsEnabled=True, DicomTlsCertificate=str(cert), DicomTlsPrivateKey=str(key),
                                DicomTlsTrustedCertificates=str(cert), DicomTlsRemoteCertificateRequired=True)
    try:
        server.start()
        server.cert, server.key = str(cert), str(key)
        yield server
    finally:
        server.stop()


def test_dicom_tls(tls_orthanc, tmp_path):
    from dataclasses import replace

    node = Node("tls-pacs", ae_title=orth.ORTHANC_AET, host="127.0.0.1", port=tls_orthanc.dicom_port,
                calling_ae=orth.OUR_AET, tls=True, tls_ca=tls_orthanc.cert, tls_cert=tls_orthanc.cert,
                tls_key=tls_orthanc.key, timeout=5)
    _, files = orth.synthetic_study(tmp_path / "study", 2, series=1, accession="ACC-TLS")
    assert len(pacs.send_files(node, files)) == 2
    [match] = pacs.find(node, Query(accession="ACC-TLS"))
    assert len(pacs.retrieve(node, match.study_uid, cache=InstanceCache(tmp_path / "cache")).fetched) == 2
    with pytest.raises(pacs.PacsConnectionError, match="TLS: CERTIFICATE_VERIFY_FAILED"):
        pacs.verify(replace(node, tls_ca=None))
    with pytest.raises(pacs.PacsConnectionError, match="does the node expect TLS"):
        pacs.verify(replace(node, tls=False))
