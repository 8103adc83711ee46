"""PACS node configuration and passwords (no server needed)."""
from __future__ import annotations

import json

import pytest

from medxai_desktop.core.pacs import (Node, NodeConfigError, PacsAuthError, find_password, load_nodes,
                                      parse_ad_hoc, resolve_node, save_nodes)
from medxai_desktop.core.pacs.query import Query


def test_ad_hoc_dimse_and_dicomweb_nodes():
    node = parse_ad_hoc("ORTHANC@pacs.example:4242", calling_ae="ME")
    assert (node.kind, node.ae_title, node.host, node.port, node.calling_ae) == ("dimse", "ORTHANC", "pacs.example", 4242, "ME")
    web = parse_ad_hoc("https://alice@pacs.example/dicom-web/")
    assert (web.kind, web.url, web.auth, web.username) == ("dicomweb", "https://pacs.example/dicom-web", "basic", "alice")
    with pytest.raises(NodeConfigError, match="holds a password"):
        parse_ad_hoc("https://alice:secret@pacs.example/dicom-web")
    with pytest.raises(NodeConfigError, match="not a node name"):
        parse_ad_hoc("ORTHANC@pacs.example")


def test_nodes_file_round_trip_without_passwords(tmp_path):
    path = tmp_path / "nodes.json"
    nodes = {"main": Node("main", ae_title="PACS", host="10.0.0.5", port=104, store_port=11113),
             "web": Node("web", url="https://pacs/dicom-web", auth="bearer")}
    save_nodes(nodes, path)
    assert "password" not in path.read_text()
    assert load_nodes(path) == nodes
    assert resolve_node("main", path) == nodes["main"]
    assert resolve_node("X@h:1", path).ae_title == "X"
    with pytest.raises(NodeConfigError, match="unknown PACS node 'nope' .known: main, web"):
        resolve_node("nope", path)


@pytest.mark.parametrize("entry, message", [
    ({"url": "https://p/dw", "auth": "basic", "username": "a", "password": "x"}, "passwords are never kept"),
    ({"ae_title": "A", "host": "h"}, "needs host and port"),
    ({"ae_title": "A" * 17, "host": "h", "port": 1}, "not an AE title"),
    ({"ae_title": "A", "host": "h", "port": 1, "colour": "red"}, "unknown key"),
    ({"url": "ftp://p"}, "url must be http"),
    ({"url": "https://p/dw", "auth": "basic"}, "needs a username"),
])
def test_bad_node_entries_are_one_line_errors(tmp_path, entry, message):
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"nodes": {"n": entry}}))
    with pytest.raises(NodeConfigError, match=message):
        load_nodes(path)


def test_password_from_environment_then_prompt(monkeypatch):
    node = Node("my-pacs", url="https://p/dw", auth="basic", username="a")
    monkeypatch.delenv("MEDXAI_PACS_PASSWORD", raising=False)
    monkeypatch.setenv("MEDXAI_PACS_PASSWORD_MY_PACS", "from-env")
    assert find_password(node) == "from-env"
    monkeypatch.delenv("MEDXAI_PACS_PASSWORD_MY_PACS")
    monkeypatch.setattr("medxai_desktop.core.pacs.credentials._keyring", lambda: None)
    assert find_password(node, prompt=lambda n: "typed") == "typed"
    with pytest.raises(PacsAuthError, match="MEDXAI_PACS_PASSWORD_MY_PACS"):
        find_password(node)
    assert find_password(Node("open", url="https://p/dw")) is None


def test_query_filters():
    q = Query(patient_name="Doe*", date_from="2020-01-01", modality="CT", description="chest*")
    assert q.filters() == {"PatientName": "Doe*", "StudyDate": "20200101-", "ModalitiesInStudy": "CT",
                           "StudyDescription": "chest*"}
    assert Query(level="series", modality="MR").filters() == {"Modality": "MR"}
    with pytest.raises(ValueError, match="YYYYMMDD"):
        Query(date_to="yesterday")
    with pytest.raises(ValueError, match="not a DICOM UID"):
        Query(study_uid="../etc")
