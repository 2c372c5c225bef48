"""Generate the AdminService stubs from proto/admin.proto (done by `make setup`).

The stubs are build output, not source: they live in eod/admin/generated/ (ignored by
git) and are regenerated when missing or older than the proto.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from eod.config import PROJECT_DIR

PROTO = PROJECT_DIR / "proto" / "admin.proto"
OUT = PROJECT_DIR / "eod" / "admin" / "generated"


def ensure_generated() -> None:
    target = OUT / "admin_pb2_grpc.py"
    if target.exists() and target.stat().st_mtime >= PROTO.stat().st_mtime:
        return
    from grpc_tools import protoc

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "__init__.py").write_text('"""Generated from proto/admin.proto."""\n')
    # Mapping the proto to eod/admin/generated makes the stubs import each other by
    # their package path (eod.admin.generated.admin_pb2).
    include = f"-Ieod/admin/generated={PROTO.parent}"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            include,
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={PROJECT_DIR}",
            f"--grpc_python_out={PROJECT_DIR}",
            str(Path("eod/admin/generated") / "admin.proto"),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    importlib.invalidate_caches()


def stubs():
    """(admin_pb2, admin_pb2_grpc), generating them first if needed."""
    ensure_generated()
    pb2 = importlib.import_module("eod.admin.generated.admin_pb2")
    pb2_grpc = importlib.import_module("eod.admin.generated.admin_pb2_grpc")
    return pb2, pb2_grpc


if __name__ == "__main__":
    ensure_generated()
