"""`notification-gateway types ...`: check a registry, diff two, generate client types.

    types check DIR                      load and check (what the gateway does at start)
    types diff OLD NEW                   list changes; exit 1 when any breaks compatibility
    types codegen [--registry DIR] --typescript FILE --python FILE

Exit codes: 0 fine, 1 breaking changes (diff), 2 a registry that does not load (naming the
file and JSON pointer) or a generator that cannot run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway.types.diff import diff
from gateway.types.entry import Snapshot
from gateway.types.loader import RegistryError, load_registry

__all__ = ["add_types_command", "run_types_command"]


def add_types_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    types = commands.add_parser("types", help="check, diff and generate code from a type registry")
    actions = types.add_subparsers(dest="types_command", required=True)
    check = actions.add_parser("check", help="load a registry directory and report problems")
    check.add_argument("directory", type=Path)
    compare = actions.add_parser(
        "diff", help="changes from OLD to NEW; exit 1 when any breaks what is deployed"
    )
    compare.add_argument("old", type=Path)
    compare.add_argument("new", type=Path)
    codegen = actions.add_parser("codegen", help="TypeScript and Python types from a registry")
    codegen.add_argument(
        "--registry",
        type=Path,
        default=os.environ.get("GATEWAY_TYPES"),
        help="registry directory (default: $GATEWAY_TYPES)",
    )
    codegen.add_argument("--typescript", type=Path, help="write the TypeScript type map here")
    codegen.add_argument("--python", type=Path, help="write Python models and helpers here")
    codegen.add_argument(
        "--json2ts",
        default=os.environ.get("GATEWAY_JSON2TS"),
        help="the json-schema-to-typescript CLI (default: json2ts on PATH, else npx)",
    )


def run_types_command(args: argparse.Namespace) -> int:
    try:
        if args.types_command == "check":
            snapshot = load_registry(args.directory)
            print(
                f"ok: {len(snapshot.types)} types, {len(snapshot.shared)} shared, {snapshot.hash}"
            )
            return 0
        if args.types_command == "diff":
            return _diff(load_registry(args.old), load_registry(args.new))
        return _codegen(args)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _diff(old: Snapshot, new: Snapshot) -> int:
    changes = diff(old, new)
    for change in changes:
        print(change)
    breaking = sum(change.breaking for change in changes)
    print(f"{len(changes)} change(s), {breaking} breaking ({old.hash} -> {new.hash})")
    return 1 if breaking else 0


def _codegen(args: argparse.Namespace) -> int:
    from gateway.types.codegen import CodegenError, python_module, typescript_module

    if args.registry is None:
        print("error: give --registry DIR (or set GATEWAY_TYPES)", file=sys.stderr)
        return 2
    if args.typescript is None and args.python is None:
        print("error: give --typescript FILE and/or --python FILE", file=sys.stderr)
        return 2
    snapshot = load_registry(args.registry)
    try:
        if args.typescript is not None:
            args.typescript.write_text(typescript_module(snapshot, args.json2ts))
        if args.python is not None:
            args.python.write_text(python_module(snapshot))
    except CodegenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
