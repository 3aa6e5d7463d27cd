"""The committed gateway/api/v1 code must be what scripts/gen-proto makes from proto/."""

from __future__ import annotations

from pathlib import Path

import pytest
from grpc_tools import protoc

from tests.support.helpers import ROOT

GENERATED = ["gateway_pb2.py", "gateway_pb2.pyi", "gateway_pb2_grpc.py"]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    include = str(Path(protoc.__file__).parent / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{include}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(ROOT / "proto/gateway/api/v1/gateway.proto"),
        ]
    )
    assert status == 0
    for name in GENERATED:
        fresh = (tmp_path / "gateway/api/v1" / name).read_text()
        committed = (ROOT / "gateway/api/v1" / name).read_text()
        if fresh != committed:
            pytest.fail(f"gateway/api/v1/{name} is stale: run scripts/gen-proto and commit")


def test_scripts_gen_proto_uses_the_same_protoc_invocation() -> None:
    script = (ROOT / "scripts/gen-proto").read_text()
    assert "-I proto" in script and "--pyi_out=." in script
