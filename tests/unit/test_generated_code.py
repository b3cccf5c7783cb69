"""generated/ is committed; it must be exactly what protos/ generates today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate", ROOT / "protos" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_modules_match_the_protos(tmp_path: Path) -> None:
    _load_generator().generate(tmp_path)
    fresh = _tree(tmp_path / "vconstore_proto")
    committed = _tree(ROOT / "generated" / "vconstore_proto")
    assert sorted(fresh) == sorted(committed), "files differ: run `make protos` and commit"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"stale generated code in {changed}: run `make protos` and commit"


def test_generated_code_imports_under_the_project_root() -> None:
    from vconstore_proto.vcon.v1 import vcon_pb2, vcon_service_pb2

    # The wire names stay those of the proto package.
    assert vcon_pb2.Vcon.DESCRIPTOR.full_name == "vcon.v1.Vcon"
    assert vcon_service_pb2.DESCRIPTOR.services_by_name["VconService"].full_name == (
        "vcon.v1.VconService"
    )
    from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2

    assert ledger_service_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name == (
        "vcon.ledger.v1.LedgerService"
    )
    for path in (ROOT / "generated").rglob("*.py*"):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "from vcon." not in text and "import vcon." not in text, path
