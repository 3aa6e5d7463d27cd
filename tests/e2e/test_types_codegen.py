"""`notification-gateway types codegen`: the TypeScript map checked by tsc (with
`@ts-expect-error` cases), and the Python models and publish helpers checked by mypy and
used against a live gateway."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from gateway.app import Gateway
from gateway.client import AsyncPublisher
from tests.support.gateway import StartGateway
from tests.support.helpers import ROOT

EXAMPLES = ROOT / "examples" / "types"
JS = ROOT / "clients/js"
JSON2TS = JS / "node_modules/.bin/json2ts"
TSC = JS / "node_modules/.bin/tsc"


def _codegen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "types", "codegen", "--registry", str(EXAMPLES), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not JSON2TS.exists(), reason="npm ci in clients/js installs json2ts")
def test_typescript_map_narrows_and_refuses_wrong_fields(tmp_path: Path) -> None:
    generated = tmp_path / "types.ts"
    done = _codegen("--typescript", str(generated), "--json2ts", str(JSON2TS))
    assert done.returncode == 0, done.stderr
    text = generated.read_text()
    assert '"order.shipped": OrderShipped' in text
    assert "export type RegisteredTypes" in text
    client = (JS / "src/index.js").as_posix()
    (tmp_path / "use.ts").write_text(
        textwrap.dedent(
            f"""\
            import {{ NotificationClient }} from "{client}";
            import type {{ RegisteredTypes, RegisteredType }} from "./types.js";

            const client = new NotificationClient<RegisteredTypes>("ws://127.0.0.1:8080/ws", {{
              userId: "alice",
            }});
            function use(value: number | string): void {{ void value; }}
            client.on("notification", (n) => {{
              if (n.type === "order.shipped") {{
                use(n.data.order_id);
                use(n.data.carrier);
                // @ts-expect-error: a typo of a registered field
                use(n.data.ordr);
                // @ts-expect-error: not one of the carriers the schema allows
                if (n.data.carrier === "owl") use(1);
              }} else if (n.type === "order.created") {{
                use(n.data.total.amount);
                use(n.data.items[0].sku);
                // @ts-expect-error: `eta` belongs to order.shipped
                use(n.data.eta);
              }}
              // @ts-expect-error: not a registered type
              if (n.type === "order.shiped") use(1);
            }});
            const known: RegisteredType = "account.password_changed";
            // @ts-expect-error: not a registered type
            const unknown: RegisteredType = "order.shiped";
            void known; void unknown;
            """
        )
    )
    (tmp_path / "tsconfig.json").write_text(
        json.dumps(
            {
                "extends": (JS / "tsconfig.json").as_posix(),
                "compilerOptions": {"noEmit": True, "rootDir": "/", "noUnusedLocals": False},
                "include": ["use.ts", "types.ts"],
            }
        )
    )
    checked = subprocess.run(
        [str(TSC), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # and the expectations bite: without the directives, tsc finds exactly those errors
    source = (tmp_path / "use.ts").read_text()
    expected = source.count("// @ts-expect-error")
    bare = source.replace("// @ts-expect-error", "// expected")
    (tmp_path / "use.ts").write_text(bare)
    failed = subprocess.run(
        [str(TSC), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.stdout.count("error TS") == expected == 5, failed.stdout


@pytest.fixture(scope="module")
def generated_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("datamodel_code_generator")
    directory = tmp_path_factory.mktemp("codegen")
    done = _codegen("--python", str(directory / "registered_types.py"))
    assert done.returncode == 0, done.stderr
    return directory


def _mypy(directory: Path, source: str) -> subprocess.CompletedProcess[str]:
    (directory / "call_site.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "call_site.py"],
        cwd=directory,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


_CALL_SITE = """\
from datetime import UTC, datetime

from gateway.client import AsyncPublisher, Publisher
from registered_types import (
    OrderShipped,
    SystemMaintenance,
    publish_order_shipped,
    publish_system_maintenance_async,
)


def ship(publisher: Publisher) -> str:
    data = OrderShipped(order_id=42, carrier="dhl", eta=datetime.now(UTC))
    return publish_order_shipped(publisher, data, users=["alice"]).cursor


async def announce(publisher: AsyncPublisher) -> str:
    data = SystemMaintenance(starts_at=datetime.now(UTC), minutes=30)
    response = await publish_system_maintenance_async(publisher, data, topic="ops")
    return response.cursor
"""


def test_generated_python_type_checks_at_the_call_site(generated_python: Path) -> None:
    done = _mypy(generated_python, _CALL_SITE)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('OrderShipped(order_id="42", carrier="dhl", eta=datetime.now(UTC))', "arg-type"),
        ('OrderShipped(order_id=42, carrier="owl", eta=datetime.now(UTC))', "arg-type"),
        ('OrderShipped(ordr=42, carrier="dhl", eta=datetime.now(UTC))', "call-arg"),
        (  # order.shipped goes to users only: the helper has no `everyone`
            'publish_order_shipped(Publisher("x:1"), OrderShipped(order_id=1, carrier="dhl", '
            "eta=datetime.now(UTC)), everyone=True)",
            "call-arg",
        ),
    ],
    ids=["wrong-type", "not-in-enum", "typo", "target-kind"],
)
def test_generated_python_refuses_wrong_call_sites(
    generated_python: Path, line: str, error: str
) -> None:
    source = (
        "from datetime import UTC, datetime\n\nfrom gateway.client import Publisher\n"
        "from registered_types import OrderShipped, publish_order_shipped\n\n"
        f"value = {line}\n"
    )
    done = _mypy(generated_python, source)
    assert done.returncode == 1, done.stdout
    assert f"[{error}]" in done.stdout, done.stdout


def _load(directory: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "registered_types", directory / "registered_types.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["registered_types"] = module  # as an import would: pydantic resolves names there
    spec.loader.exec_module(module)
    return module


async def test_generated_helpers_publish_to_a_live_gateway(
    generated_python: Path, start_gateway: StartGateway, tmp_path: Path
) -> None:
    registry = tmp_path / "types"
    shutil.copytree(EXAMPLES, registry)
    gateway: Gateway = await start_gateway(types=registry, types_mode="strict")
    module = _load(generated_python)
    assert (gateway.types.snapshot.hash if gateway.types else None) == module.REGISTRY_HASH
    async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as publisher:
        shipped = module.OrderShipped(order_id=42, carrier="dhl", eta=datetime.now(UTC))
        response = await module.publish_order_shipped_async(publisher, shipped, users=["alice"])
        assert response.cursor
        created = module.OrderCreated(
            order_id=7,
            total=module.Money(amount=1999, currency="EUR"),
            items=[module.Item(sku="ABC-1", qty=2)],
        )
        response = await module.publish_order_created_async(publisher, created, users=["alice"])
        assert response.cursor
    await asyncio.sleep(0)
