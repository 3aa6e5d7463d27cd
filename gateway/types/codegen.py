"""Client types generated from a registry: TypeScript for frontends, Python for backends.

Both generators are kept tools, not ours: json-schema-to-typescript (npm, run as its
`json2ts` CLI) writes the TypeScript interfaces, datamodel-code-generator (PyPI) the pydantic
models. What is ours is the one combined schema they read (each type and shared schema under
`$defs`, named in PascalCase, every registry `$ref` rewritten to point there) and the small
parts they cannot know: the type map `NotificationClient<Types>` takes, and typed publish
helpers for `Publisher` / `AsyncPublisher` whose targets are the kinds the type allows.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from gateway.types.entry import BASE_URI, Snapshot, TypeEntry

__all__ = ["CodegenError", "combined_schema", "python_module", "typescript_module"]

_ALL_KINDS = frozenset({"users", "topic", "everyone"})


class CodegenError(Exception):
    """A generator that is missing or failed."""


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._-]+", name) if part)


def _names(snapshot: Snapshot) -> dict[str, str]:
    """Registry name -> a unique PascalCase name (`order.shipped` -> `OrderShipped`)."""
    taken: dict[str, str] = {}
    used: set[str] = set()
    for name in [*sorted(snapshot.types), *sorted(snapshot.shared)]:
        candidate, n = pascal(name), 2
        while candidate in used:
            candidate, n = f"{pascal(name)}{n}", n + 1
        used.add(candidate)
        taken[name] = candidate
    return taken


def combined_schema(
    snapshot: Snapshot, map_title: str, *, keep_formats: bool = True
) -> dict[str, Any]:
    """One schema document: every registry schema under `$defs`, and a root object whose
    properties are the notification types (titled `map_title`)."""
    names = _names(snapshot)
    defs: dict[str, Any] = {}
    for name, schema in snapshot.schemas().items():
        rewritten = _rewrite_refs(copy.deepcopy(schema), name, names)
        if not keep_formats:
            _drop_formats(rewritten)
        if isinstance(rewritten, dict):
            rewritten.setdefault("title", names[name])
            entry = snapshot.types.get(name)
            if entry is not None and entry.description:
                rewritten.setdefault("description", entry.description)
        defs[names[name]] = rewritten
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": map_title,
        "type": "object",
        "additionalProperties": False,
        "required": sorted(snapshot.types),
        "properties": {name: {"$ref": f"#/$defs/{names[name]}"} for name in sorted(snapshot.types)},
        "$defs": defs,
    }


def _rewrite_refs(schema: Any, own: str, names: dict[str, str]) -> Any:
    _rewrite(schema, BASE_URI + own, names)
    return schema


def _rewrite(node: Any, base: str, names: dict[str, str]) -> None:
    """Every `$ref` (the loader checked each resolves) pointed into the combined `$defs`.
    Plain data under `enum`/`const`/`examples` never holds a `$ref` key that matters to the
    generators, so the whole tree is walked."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            uri, _, fragment = urljoin(base, ref).partition("#")
            node["$ref"] = f"#/$defs/{names[uri[len(BASE_URI) :]]}{fragment}"
        for value in node.values():
            _rewrite(value, base, names)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, base, names)


def _drop_formats(node: Any) -> None:
    """Python: `date-time` and `uuid` become datetime and UUID; others stay `str`, exactly
    as published (pydantic's URL type would normalise what it sends, and its email type
    needs a package the gateway does not). The gateway checks every format on publish."""
    if isinstance(node, dict):
        if node.get("format") not in (None, "date-time", "uuid") and isinstance(
            node["format"], str
        ):
            del node["format"]
        for value in node.values():
            _drop_formats(value)
    elif isinstance(node, list):
        for value in node:
            _drop_formats(value)


# --- TypeScript --------------------------------------------------------------------------


def typescript_module(snapshot: Snapshot, json2ts: str | None = None) -> str:
    """The interfaces json2ts writes, then `RegisteredTypes`: the map for
    `new NotificationClient<RegisteredTypes>(...)` (a mapped type alias: the client's
    `Record<string, unknown>` constraint wants an index signature no interface has)."""
    document = combined_schema(snapshot, "RegisteredTypesMap")
    command = _json2ts_command(json2ts)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "registry.json"
        source.write_text(json.dumps(document))
        try:
            done = subprocess.run(
                [
                    *command,
                    "--input",
                    str(source),
                    "--additionalProperties",
                    "false",
                    "--format",
                    "false",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CodegenError(f"json-schema-to-typescript did not run: {exc}") from None
    if done.returncode != 0:
        raise CodegenError(f"json-schema-to-typescript failed: {done.stderr.strip()[:500]}")
    names = _names(snapshot)
    lines = [
        done.stdout.rstrip(),
        "",
        "/** Each registered notification type mapped to its `data`: pass it to",
        " *  `new NotificationClient<RegisteredTypes>(...)`. */",
        "export type RegisteredTypes = { [K in keyof RegisteredTypesMap]: RegisteredTypesMap[K] };",
        "/** A registered type's name. */",
        "export type RegisteredType = keyof RegisteredTypes;",
        "/** The hash of the registry these types were generated from (`GET /types`). */",
        f"export const REGISTRY_HASH = {json.dumps(snapshot.hash)};",
    ]
    deprecated = [names[n] for n, e in sorted(snapshot.types.items()) if e.deprecated is not False]
    if deprecated:
        lines.append(f"// deprecated types: {', '.join(deprecated)}")
    return "\n".join(lines) + "\n"


def _json2ts_command(given: str | None) -> list[str]:
    if given:
        return [given]
    found = shutil.which("json2ts")
    if found:
        return [found]
    npx = shutil.which("npx")
    if npx:
        return [npx, "--yes", "json-schema-to-typescript@16", "json2ts"]
    raise CodegenError(
        "json-schema-to-typescript is needed for --typescript: npm install -g "
        "json-schema-to-typescript, or pass --json2ts PATH (GATEWAY_JSON2TS)"
    )


# --- Python ------------------------------------------------------------------------------


def python_module(snapshot: Snapshot) -> str:
    """Pydantic models (datamodel-code-generator) and one typed publish helper per type."""
    try:
        from datamodel_code_generator import InputFileType, LiteralType, PythonVersion, generate
        from datamodel_code_generator.enums import DataModelType
    except ImportError:
        raise CodegenError(
            "datamodel-code-generator is needed for --python: "
            "pip install 'notification-gateway[codegen]'"
        ) from None
    document = combined_schema(snapshot, "RegisteredTypesMap", keep_formats=False)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "models.py"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "default formatters will change"
            try:
                generate(
                    json.dumps(document),
                    input_file_type=InputFileType.JsonSchema,
                    output=output,
                    output_model_type=DataModelType.PydanticV2BaseModel,
                    target_python_version=PythonVersion.PY_311,
                    use_title_as_name=True,
                    disable_timestamp=True,
                    use_annotated=True,
                    field_constraints=True,
                    use_standard_collections=True,
                    use_union_operator=True,
                    enum_field_as_literal=LiteralType.All,
                    use_double_quotes=True,
                )
            except Exception as exc:  # a third-party generator's own errors, whatever they are
                raise CodegenError(f"datamodel-code-generator failed: {exc}") from None
        models = output.read_text()
    return models.rstrip() + "\n\n" + _helpers(snapshot) + "\n"


_HELPER_HEAD = """
# --- publish helpers (notification-gateway types codegen) -------------------------------
from collections.abc import Sequence  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Literal  # noqa: E402, F811

from gateway.api.v1 import gateway_pb2 as _pb  # noqa: E402
from gateway.client import AsyncPublisher, Publisher  # noqa: E402

#: The hash of the registry these models were generated from (`GET /types`).
REGISTRY_HASH = {hash}
"""


def _helpers(snapshot: Snapshot) -> str:
    names = _names(snapshot)
    parts = [_HELPER_HEAD.format(hash=json.dumps(snapshot.hash)).strip()]
    for name in sorted(snapshot.types):
        entry = snapshot.types[name]
        model = names[name]
        function = "publish_" + re.sub(r"[^a-z0-9]+", "_", name)
        targets, passed = _target_parameters(entry)
        common = (
            f"    data: {model},\n    *,\n{targets}"
            '    title: str = "",\n    body: str = "",\n    id: str = "",\n'
            "    priority: Literal['', 'low', 'normal', 'high', 'urgent'] = '',\n"
            "    ttl: timedelta | None = None,\n"
        )
        call = (
            f'type={name!r}, data=data.model_dump(mode="json", by_alias=True, exclude_none=True), '
            f"{passed}title=title, body=body, id=id, priority=priority, ttl=ttl"
        )
        about = entry.description.replace('"""', "'''") or name
        parts.append(
            f"\n\ndef {function}(\n    publisher: Publisher,\n{common}    timeout: float = 10.0,\n"
            f") -> _pb.PublishResponse:\n"
            f'    """Publish {name!r}: {about}"""\n'
            f"    return publisher.publish(timeout=timeout, {call})\n"
            f"\n\nasync def {function}_async(\n    publisher: AsyncPublisher,\n{common}"
            f") -> _pb.PublishResponse:\n"
            f'    """Publish {name!r} (asyncio): {about}"""\n'
            f"    return await publisher.publish({call})\n"
        )
    return "".join(parts)


def _target_parameters(entry: TypeEntry) -> tuple[str, str]:
    """Keyword parameters for the target kinds the type allows, and how they are passed."""
    kinds = entry.targets or _ALL_KINDS
    params, passed = "", ""
    if kinds == {"users"}:  # the only way to address it: required
        return "    users: Sequence[str],\n", "users=users, "
    if "users" in kinds:
        params += "    users: Sequence[str] = (),\n"
        passed += "users=users, "
    if "topic" in kinds:
        params += "    topic: str | None = None,\n"
        passed += "topic=topic, "
    if "everyone" in kinds:
        params += "    everyone: bool = False,\n"
        passed += "everyone=everyone, "
    return params, passed
