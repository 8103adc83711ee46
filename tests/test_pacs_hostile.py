"""core/pacs against hostile peers (tests/hostile_peers.py, on 127.0.0.1): instances of another
study, a stranger storing to our C-MOVE listener, thousands of matches, endless and trickling
WADO-RS answers, a part that is not DICOM, a full disk. Each ends in seconds with one line
naming the node and, for a limit, the limit; nothing of another study and nothing partial is
left in the cache."""
from __future__ import annotations

import time
import tracemalloc

import pytest

from medxai_desktop.core import pacs
from medxai_desktop.core.pacs import InstanceCache, Node, Query
from tests import hostile_peers as hp
from tests.orthanc_server import free_port


@pytest.fixture
def scp():
    peer = hp.HostileScp()
    yield peer
    peer.stop()


@pytest.fixture
def web():
    peer = hp.HostileWeb()
    yield peer
    peer.stop()


def dimse_node(scp) -> Node:
    port = free_port()
    scp.scenario.store_port = port
    return Node("hostile", ae_title=hp.HOSTILE_AET, host="127.0.0.1", port=scp.port, calling_ae=hp.OUR_AET,
                store_port=port, timeout=5)


def web_node(web, timeout: float = 5) -> Node:
    return Node("hostile-web", url=web.url, timeout=timeout)


@pytest.fixture
def limit(monkeypatch):
    """Sets limits for the test, as the environment does (the node's own are tested below)."""
    def set_limits(**values) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"MEDXAI_PACS_{name.upper()}", str(value))
    return set_limits


def _files(cache: InstanceCache) -> list[str]:
    return sorted(p.name for p in cache.root.rglob("*") if p.is_file())


@pytest.fixture(params=["get", "move", "wado"])
def via(request):
    return request.param


@pytest.fixture
def peer_node(via, request):
    """(peer, node) for the ``via`` of the test: the DIMSE SCP or the DICOMweb server."""
    peer = request.getfixturevalue("web" if via == "wado" else "scp")
    return peer, (web_node(peer) if via == "wado" else dimse_node(peer))


# -- defect 1: instances that were not asked for ----------------------------------------------

def test_an_instance_of_another_study_is_refused_counted_and_named(via, peer_node, tmp_path):
    peer, node = peer_node
    peer.scenario.mode = "foreign"
    cache = InstanceCache(tmp_path)
    result = pacs.retrieve(node, peer.scenario.study_uid, via=via, cache=cache)
    assert len(result.fetched) == 1
    [(refused_uid, why)] = result.refused
    assert f"study {peer.scenario.foreign_study_uid} is not the study asked for" == why
    assert "REFUSED 1 instance(s)" in result.summary()
    assert _files(cache) == [f"{result.fetched[0]}.dcm"]    # nothing of the other patient anywhere
    assert refused_uid not in result.fetched


def test_only_instances_of_another_study_is_an_error(scp, tmp_path):
    scp.scenario.mode = "only_foreign"
    cache = InstanceCache(tmp_path)
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile: refused all 1 instance\(s\) sent for study "):
        pacs.retrieve(dimse_node(scp), scp.scenario.study_uid, via="get", cache=cache)
    assert _files(cache) == []


def test_c_move_listener_is_on_loopback_for_the_node_only(scp, tmp_path):
    scp.scenario.mode = "stranger"
    cache = InstanceCache(tmp_path)
    result = pacs.retrieve(dimse_node(scp), scp.scenario.study_uid, via="move", cache=cache)
    assert scp.scenario.stranger_established is False      # another AE title cannot store to us
    assert len(result.fetched) == 2 and len(_files(cache)) == 2
    if scp.scenario.listen_lines:                           # Linux: /proc/net/tcp
        assert {line.split(":")[0] for line in scp.scenario.listen_lines} == {"0100007F"}   # 127.0.0.1


def test_cli_names_the_refused_instances(scp, tmp_path, capsys, monkeypatch):
    from medxai_desktop.cli import main

    scp.scenario.mode = "foreign"
    node = dimse_node(scp)
    spec = f"{node.ae_title}@127.0.0.1:{node.port}"
    code = main(["--db", f"sqlite:///{tmp_path / 'r.sqlite3'}", "pacs", "retrieve", spec, "--study",
                 scp.scenario.study_uid, "--out", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0 and "REFUSED 1 instance(s)" in out
    [line] = [line for line in out.splitlines() if line.startswith("refused ")]
    assert line.endswith(f": study {scp.scenario.foreign_study_uid} is not the study asked for")


# -- defect 4: limits ---------------------------------------------------------------------------

def _retrieve_fails(node: Node, study_uid: str, cache: InstanceCache, pattern: str, within: float) -> None:
    """The retrieve ends with a PacsError matching ``pattern`` in less than ``within`` seconds."""
    started = time.monotonic()
    with pytest.raises(pacs.PacsError, match=pattern):
        pacs.retrieve(node, study_uid, cache=cache)
    assert time.monotonic() - started < within


def test_c_find_stops_at_max_matches(limit, scp):
    limit(max_matches=100)
    scp.scenario.mode = "many_matches"
    started = time.monotonic()
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile: C-FIND: more than 100 matches \(limit max_matches;"):
        pacs.find(dimse_node(scp), Query())
    assert time.monotonic() - started < 5


def test_qido_stops_at_max_matches(limit, web):
    limit(max_matches=100)
    web.scenario.mode = "many_matches"
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile-web: QIDO-RS: more than 100 matches \(limit max_matches;"):
        pacs.find(web_node(web), Query())


def test_endless_wado_stream_stops_at_max_instances(limit, web, tmp_path):
    limit(max_instances=20)
    web.scenario.mode = "endless_parts"
    cache = InstanceCache(tmp_path)
    _retrieve_fails(web_node(web), web.scenario.study_uid, cache,
                    r"^PACS hostile-web: more than 20 instances sent \(limit max_instances;", hp.CAP_SECONDS)
    files = _files(cache)
    assert len(files) == 20 and all(name.endswith(".dcm") and not name.startswith(".") for name in files)


def test_c_get_stops_at_max_instances(limit, scp, tmp_path):
    limit(max_instances=1)
    cache = InstanceCache(tmp_path)
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile: more than 1 instances sent \(limit max_instances;"):
        pacs.retrieve(dimse_node(scp), scp.scenario.study_uid, cache=cache)
    assert len(_files(cache)) == 1


def test_endless_wado_part_is_streamed_and_stops_at_max_instance_mb(limit, web, tmp_path):
    limit(max_instance_mb=2)
    web.scenario.mode = "endless_part"
    cache = InstanceCache(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(pacs.PacsError, match=r"^PACS hostile-web: WADO-RS part 1 is larger than 2 MB "
                                                 r"\(limit max_instance_mb;"):
            pacs.retrieve(web_node(web), web.scenario.study_uid, cache=cache)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"peak {peak / 2**20:.2f} MiB")
    assert peak < 6 << 20, f"peak {peak / 2**20:.1f} MiB: the part was buffered"
    assert _files(cache) == []       # the temporary file is gone


def test_trickling_wado_answer_stops_at_stall_seconds(limit, web, tmp_path):
    limit(stall_seconds=1.5)
    web.scenario.mode = "trickle"
    cache = InstanceCache(tmp_path)
    _retrieve_fails(web_node(web, timeout=2), web.scenario.study_uid, cache,
                    r"^PACS hostile-web: WADO-RS of study .*: no progress for 1.5 s \(limit stall_seconds;", 4)
    assert _files(cache) == []


def test_stalled_c_get_stops_at_stall_seconds(limit, scp, tmp_path):
    limit(stall_seconds=1)
    scp.scenario.mode = "stall"
    cache = InstanceCache(tmp_path)
    _retrieve_fails(dimse_node(scp), scp.scenario.study_uid, cache,
                    r"^PACS hostile: C-GET: no progress for 1 s \(limit stall_seconds;", 4)
    assert len(_files(cache)) == 1 and _files(cache)[0].endswith(".dcm")   # the whole one before the stall


def test_a_wado_part_that_is_not_dicom_is_one_line(web, tmp_path):
    web.scenario.mode = "not_dicom"
    cache = InstanceCache(tmp_path)
    with pytest.raises(pacs.PacsError) as caught:
        pacs.retrieve(web_node(web), web.scenario.study_uid, cache=cache)
    assert str(caught.value).startswith("PACS hostile-web: WADO-RS part 1 is not a DICOM instance")
    assert "\n" not in str(caught.value) and _files(cache) == []


@pytest.mark.parametrize("via", ["get", "move", "wado"])
def test_free_disk_margin_is_kept(limit, via, peer_node, tmp_path):
    peer, node = peer_node
    limit(min_free_mb=10 ** 12)    # an exabyte must stay free
    cache = InstanceCache(tmp_path)
    with pytest.raises(pacs.PacsError, match=rf"^PACS {node.name}: only \d+ MB free in .*, 1e\+12 MB must stay "
                                             r"free \(limit min_free_mb; set \$MEDXAI_PACS_MIN_FREE_MB"):
        pacs.retrieve(node, peer.scenario.study_uid, via=via, cache=cache)
    assert _files(cache) == []


def test_limits_come_from_defaults_environment_and_node(monkeypatch, tmp_path):
    import json

    from medxai_desktop.core.pacs import NodeConfigError, load_nodes, save_nodes
    from medxai_desktop.core.pacs.limits import Limits, limits_for

    node = Node("n", url="http://127.0.0.1:1/dicom-web")
    assert limits_for(node) == Limits()
    monkeypatch.setenv("MEDXAI_PACS_MAX_MATCHES", "50")
    assert limits_for(node).max_matches == 50
    assert limits_for(Node("n", url="http://127.0.0.1:1/x", limits={"max_matches": 7})).max_matches == 7
    path = tmp_path / "nodes.json"
    kept = {"m": Node("m", ae_title="A", host="h", port=1, store_port=2, listen_address="10.0.0.7",
                      limits={"stall_seconds": 300, "max_instances": 5})}
    save_nodes(kept, path)
    assert load_nodes(path) == kept and limits_for(load_nodes(path)["m"]).stall_seconds == 300
    path.write_text(json.dumps({"nodes": {"bad": {"url": "http://127.0.0.1:1/x", "limits": {"max_bytes": 1}}}}))
    with pytest.raises(NodeConfigError, match="unknown limit"):
        load_nodes(path)
    path.write_text(json.dumps({"nodes": {"bad": {"url": "http://127.0.0.1:1/x", "limits": {"stall_seconds": -1}}}}))
    with pytest.raises(NodeConfigError, match="stall_seconds must be a positive number"):
        load_nodes(path)
    path.write_text(json.dumps({"nodes": {"bad": {"ae_title": "A", "host": "h", "port": 1,
                                                  "listen_address": "everywhere"}}}))
    with pytest.raises(NodeConfigError, match="listen_address 'everywhere' is not an IP address"):
        load_nodes(path)


def test_cli_keeps_the_listen_address(tmp_path, capsys):
    from medxai_desktop.cli import main
    from medxai_desktop.core.pacs import load_nodes

    nodes = tmp_path / "nodes.json"
    assert main(["pacs", "--nodes", str(nodes), "nodes", "add", "main", "PACS@127.0.0.1:104", "--store-port",
                 "11113", "--listen-address", "0.0.0.0"]) == 0
    assert load_nodes(nodes)["main"].listen_address == "0.0.0.0"
    assert main(["pacs", "--nodes", str(nodes), "nodes", "add", "other", "PACS@127.0.0.1:104"]) == 0
    assert load_nodes(nodes)["other"].listen_address == "127.0.0.1"
    capsys.readouterr()


def test_an_instance_of_another_series_is_refused(web, tmp_path):
    cache = InstanceCache(tmp_path)
    asked_series = "1.2.3.4.5"
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile-web: refused all 1 instance\(s\) sent for study .*: "
                                             r"series [0-9.]+ is not the series asked for"):
        pacs.retrieve(web_node(web), web.scenario.study_uid, asked_series, cache=cache)
    assert _files(cache) == []


class _CStore:
    """What pynetdicom hands a C-STORE handler: the request and the encoded data set."""

    def __init__(self, affected: str, ds):
        from types import SimpleNamespace

        self.request, self._data = SimpleNamespace(AffectedSOPInstanceUID=affected), hp.file_bytes(ds)

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        return self._data


def test_c_store_checks_instance_and_its_request(tmp_path):
    from medxai_desktop.core.pacs.receiver import Asked, Receiver

    study, series = "1.2.3", "1.2.3.1"
    ds = hp.instance(study, series, "1.2.3.1.1")
    receiver = Receiver("peer", InstanceCache(tmp_path), Asked(study, series, frozenset({"1.2.3.1.1"})), set(), 0)
    assert receiver(_CStore("1.2.3.1.9", ds)) != 0                   # the request names another instance
    assert receiver(_CStore("1.2.3.1.2", hp.instance(study, series, "1.2.3.1.2"))) != 0   # not asked for
    assert receiver(_CStore("1.2.3.1.1", ds)) == 0
    assert [why for _, why in receiver.refused] == ["its SOP Instance UID 1.2.3.1.1 is not the C-STORE's",
                                                    "not one of the instances asked for"]
    assert receiver.written == ["1.2.3.1.1"] and _files(InstanceCache(tmp_path)) == ["1.2.3.1.1.dcm"]


def test_c_get_stops_at_max_instance_mb(limit, scp, tmp_path):
    limit(max_instance_mb=0.01)      # CT_small is 39 kB
    cache = InstanceCache(tmp_path)
    with pytest.raises(pacs.PacsError, match=r"^PACS hostile: C-STORE of [0-9.]+ is larger than 0.01 MB "
                                             r"\(limit max_instance_mb;"):
        pacs.retrieve(dimse_node(scp), scp.scenario.study_uid, cache=cache)
    assert _files(cache) == []


def test_multipart_reader_with_boundaries_split_anywhere():
    from medxai_desktop.core.pacs.multipart import DATA, END, START, MultipartError, events

    parts = [b"first\r\n--not-the-boundary", b"", b"x" * 1000 + b"\r\n-"]
    body = b"preamble\r\n" + b"".join(b"--B\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in parts)
    body += b"--B--\r\nepilogue"
    for size in (1, 2, 7, 64, len(body)):
        got, current = [], None
        for kind, data in events((body[i:i + size] for i in range(0, len(body), size)), b"B"):
            if kind == START:
                current = b""
            elif kind == DATA:
                current += data
            else:
                assert kind == END
                got.append(current)
        assert got == parts, size
    with pytest.raises(MultipartError, match="ended inside a part"):
        list(events([b"--B\r\n\r\nhalf a part"], b"B"))


def test_dimse_bytes_past_the_size_limit_stop_before_the_instance_is_complete(limit, tmp_path):
    from medxai_desktop.core.pacs.limits import MAX_PDU, limits_for
    from medxai_desktop.core.pacs.receiver import Asked, Receiver

    limit(max_instance_mb=1)
    receiver = Receiver("peer", InstanceCache(tmp_path), Asked("1.2.3"), set(), 0,
                        limits=limits_for(Node("peer", url="http://127.0.0.1:1/x")))
    for _ in range(16):
        receiver.received(MAX_PDU // 16)       # one PDU's worth: still within the slack
    assert receiver.error is None and not receiver.stop_requested()
    receiver.received((1 << 20) + 1)           # past the limit, the instance still incomplete
    assert receiver.stop_requested()
    assert str(receiver.error).startswith("PACS peer: an instance being received is larger than 1 MB "
                                          "(limit max_instance_mb;")


def test_a_wado_part_without_preamble_is_written_as_a_dicom_file(web, tmp_path):
    import pydicom

    web.scenario.mode = "no_preamble"
    cache = InstanceCache(tmp_path)
    [sop_uid] = pacs.retrieve(web_node(web), web.scenario.study_uid, cache=cache).fetched
    path = cache.path(web.scenario.study_uid, sop_uid)
    assert path.read_bytes()[128:132] == b"DICM" and _files(cache) == [path.name]
    assert pydicom.dcmread(path).PatientName == "Asked^Patient"
