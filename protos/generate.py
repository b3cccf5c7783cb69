"""Regenerate the committed Python modules in generated/ from protos/.

Usage: python protos/generate.py [OUT_DIR]   (default: generated/)

protoc writes imports under the proto package root (`from vcon.v1 import ...`),
which would shadow the `vcon` distribution on PyPI. The modules are therefore
placed under the project-specific root `vconstore_proto` and their import
lines rewritten to match. Only import lines are touched; serialized descriptors keep the wire names
(`vcon.v1.Vcon`, file `vcon/v1/vcon.proto`), so reflection and grpcurl show
the real package.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from google.rpc import status_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PYTHON_ROOT = "vconstore_proto"
# Proto packages of ours; imports of google/... stay as they are.
OUR_TOP_PACKAGES = ("vcon",)

_OURS = "|".join(OUR_TOP_PACKAGES)
_IMPORT_FROM = re.compile(rf"^from ({_OURS})(\.| )", re.M)
_IMPORT_PLAIN = re.compile(rf"^import ({_OURS})\.", re.M)


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def _rewrite_module(text: str) -> str:
    text = _IMPORT_FROM.sub(rf"from {PYTHON_ROOT}.\1\2", text)
    return _IMPORT_PLAIN.sub(rf"import {PYTHON_ROOT}.\1.", text)


def generate(out_dir: Path) -> None:
    """Write the generated package `vconstore_proto` into out_dir."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    # google/rpc/*.proto ship inside googleapis-common-protos (imported, not generated).
    googleapis = str(Path(status_pb2.__file__).resolve().parent.parent.parent)
    # protoc finds the mypy plugins (protoc-gen-mypy*) on PATH: use this venv's.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"-I{googleapis}",
            f"--python_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_out={raw}",
            f"--mypy_grpc_out={raw}",
            *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        target = out_dir / PYTHON_ROOT
        if target.exists():
            shutil.rmtree(target)
        for src in sorted(raw.rglob("*")):
            if src.is_dir():
                continue
            rel = src.relative_to(raw)
            dst = target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text(encoding="utf-8")
            dst.write_text(_rewrite_module(text), encoding="utf-8")
        for package_dir in [target, *[p for p in target.rglob("*") if p.is_dir()]]:
            init = package_dir / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
        (target / "py.typed").write_text("", encoding="utf-8")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "generated")
