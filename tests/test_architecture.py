"""Architecture checks on the source of ``medxai_desktop``: no import cycle (function-level
imports included), the layer rules, and the function/class size limits (tests/import_graph.py,
tests/code_size.py)."""
from __future__ import annotations

from tests import code_size
from tests.import_graph import cycles, import_graph, layer_violations


def test_no_import_cycle():
    loops = cycles(import_graph())
    assert not loops, "import cycles:\n" + "\n".join(", ".join(loop) for loop in loops)


def test_layer_rules():
    broken = layer_violations(import_graph())
    assert not broken, "layer violations:\n" + "\n".join(broken)


def test_no_oversized_function_or_class():
    found, stale = code_size.split_state()
    assert not found, (f"over {code_size.MAX_FUNCTION_LINES}-line functions / "
                       f"{code_size.MAX_CLASS_LINES}-line classes:\n" + "\n".join(found))
    assert not stale, "no longer oversized, remove from code_size.NOT_YET_SPLIT: " + ", ".join(stale)


def test_graph_sees_function_level_imports(tmp_path):
    package = tmp_path / "medxai_desktop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from medxai_desktop import b\n    return b\n")
    (package / "b.py").write_text("def g():\n    import medxai_desktop.a\n    return medxai_desktop.a\n")
    (package / "c.py").write_text("from . import a\n")
    graph = import_graph(package)
    assert graph["medxai_desktop.a"] == {"medxai_desktop.b": 2}
    assert graph["medxai_desktop.c"] == {"medxai_desktop.a": 1}
    assert cycles(graph) == [["medxai_desktop.a", "medxai_desktop.b"]]
    assert cycles({"x": {"y": 1}, "y": {}}) == []


def test_size_check_skips_only_migrations(tmp_path):
    root = tmp_path / "medxai_desktop"
    long_function = "def f():\n" + "    x = 1\n" * (code_size.MAX_FUNCTION_LINES + 5)
    for folder in ("core/store/migrations/versions", "core/store"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "m.py").write_text(long_function)
    found = code_size.oversized(root)
    assert len(found) == 1 and found[0].startswith("medxai_desktop/core/store/m.py:1 function f")
