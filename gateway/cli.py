"""`notification-gateway` / `python -m gateway`: serve (the default), publish, listen.

notification-gateway                      # run the gateway (flags mirror GATEWAY_* vars)
notification-gateway publish --user alice --type demo.hello --data '{"x":1}'
notification-gateway listen --user alice  # print every frame that arrives, one per line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from gateway.types.cli import add_types_command, run_types_command

__all__ = ["main"]


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    from gateway.config import Settings

    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = "GATEWAY_" + name.upper()
        # The setting's docstring, as the docs' configuration reference shows it in full.
        about = " ".join((info.description or "").split()).replace("%", "%%")
        if info.annotation is bool:
            parser.add_argument(
                flag, action="store_const", const=True, dest=name, help=f"{about} (env {env})"
            )
        else:
            parser.add_argument(
                flag,
                dest=name,
                metavar="VALUE",
                help=f"{about} (env {env}; default {info.default})",
            )


def _seconds(text: str) -> float:
    """A duration flag: a finite number of seconds that fits a timedelta (a usage error
    otherwise, where `nan` or `1e300` were a traceback)."""
    try:
        seconds = float(text)
        timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notification-gateway",
        description=__doc__,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve_flags(parser)  # `python -m gateway --http-port 9000` serves too
    commands = parser.add_subparsers(dest="command")
    _serve_flags(commands.add_parser("serve", help="run the gateway (the default)"))

    pub = commands.add_parser("publish", help="publish one notification over gRPC")
    pub.add_argument("--grpc", default="127.0.0.1:50051", help="gateway gRPC address")
    target = pub.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", action="append", dest="users", help="repeat for several")
    target.add_argument("--topic")
    target.add_argument("--everyone", action="store_true")
    pub.add_argument("--type", required=True, help="e.g. order.shipped")
    pub.add_argument("--title", default="")
    pub.add_argument("--body", default="")
    pub.add_argument("--data", default=None, help="a JSON object")
    pub.add_argument("--id", default="", help="idempotency key (generated when omitted)")
    pub.add_argument("--priority", default="", choices=["", "low", "normal", "high", "urgent"])
    pub.add_argument("--ttl", type=_seconds, default=None, help="seconds it may be replayed")
    pub.add_argument("--token", default=None, help="publish token, if the gateway wants one")

    listen = commands.add_parser("listen", help="connect as a user and print what arrives")
    listen.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    listen.add_argument("--user", required=True)
    listen.add_argument("--topics", default="", help="comma-separated")
    listen.add_argument("--since", default=None, help="resume after this cursor")
    listen.add_argument("--token", default=None, help="JWT, if the gateway wants one")

    add_types_command(commands)  # the type registry's tools (issue 16)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "publish":
        return _publish(args)
    if args.command == "listen":
        return asyncio.run(_listen(args))
    if args.command == "types":
        return run_types_command(args)
    return _serve(args)


#: Settings whose values never appear in an error message.
_SECRET_FIELDS = frozenset({"jwt_secret", "publish_tokens"})


def _serve(args: argparse.Namespace) -> int:
    """Run the gateway. Each configuration error is one JSON log line
    `configuration error: <field>: <rule>`, and the exit code is 2."""
    import logging

    from gateway.config import ConfigError, Settings, unknown_environment
    from gateway.logs import setup_logging
    from gateway.serve import run

    setup_logging("INFO")  # before the settings, so their errors are JSON lines too
    log = logging.getLogger("gateway")
    for name in unknown_environment():
        log.warning(f"unknown environment variable {name} ignored: no such setting")
    flags = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    try:
        settings = Settings(**flags)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            rule = error["msg"].removeprefix("Value error, ")
            got = error.get("input")
            if (
                where in Settings.model_fields
                and where not in _SECRET_FIELDS
                and str(got) not in rule
            ):
                rule += f" (got {got!r})"
            log.error(f"configuration error: {where}: {rule}", extra={"field": where})
        return 2
    logging.getLogger().setLevel(settings.log_level)
    try:
        if settings.workers > 1:  # several processes on these ports (issue 15)
            from gateway.workers import supervise

            return supervise(settings)
        run(settings)
    except ConfigError as exc:
        log.error(f"configuration error: {exc}", extra={"field": exc.field})
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        log.warning("interrupted while starting")
        return 130
    return 0


def _publish(args: argparse.Namespace) -> int:
    import grpc

    from gateway.client import Publisher

    data: dict[str, Any] | None = None
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except json.JSONDecodeError as exc:
            print(f"--data: not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(data, dict):
            print("--data: must be a JSON object", file=sys.stderr)
            return 2
    ttl = None if args.ttl is None else timedelta(seconds=args.ttl)
    try:
        publisher = Publisher(args.grpc, token=args.token)
    except ValueError as exc:
        print(f"--grpc: {exc}", file=sys.stderr)
        return 2
    with publisher:
        try:
            response = publisher.publish(
                users=args.users or (),
                topic=args.topic,
                everyone=args.everyone,
                type=args.type,
                title=args.title,
                body=args.body,
                data=data,
                id=args.id,
                priority=args.priority,
                ttl=ttl,
            )
        except grpc.RpcError as exc:
            print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(
        json.dumps({"id": response.id, "cursor": response.cursor, "delivered": response.delivered})
    )
    return 0


async def _listen(args: argparse.Namespace) -> int:
    """Prints every event as a JSON line until Ctrl-C; survives drops and gateway restarts.

    stdout: the gateway's frames (welcome, resumed, notifications, ...) and a
    `{"event": "resync", ...}` line when a resume was incomplete; stderr: connection
    state changes, so a reconnect is visible without disturbing the frames.
    """
    import dataclasses
    import signal

    from gateway.client import Resync, StateChange, Subscriber, SubscriberRefused, SubscriberStopped

    def show(frame: dict[str, Any]) -> None:
        print(json.dumps(frame, separators=(",", ":")), flush=True)

    def state(change: StateChange) -> None:
        line = {k: v for k, v in dataclasses.asdict(change).items() if v not in (None, "")}
        if "retry_in" in line:
            line["retry_in"] = round(line["retry_in"], 2)
        print(json.dumps(line, separators=(",", ":")), file=sys.stderr, flush=True)

    topics = [t for t in args.topics.split(",") if t]
    try:
        subscriber = Subscriber(
            args.url,
            args.user,
            topics,
            token=args.token,
            since=args.since,
            on_event=show,
            on_state=state,
        )
    except ValueError as exc:
        print(f"--url: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: closing.add(loop.create_task(subscriber.close())))
    try:
        async for item in subscriber:
            if isinstance(item, Resync):
                show({"event": "resync", "since": item.since, "replayed": item.replayed})
            else:
                show(item.frame)
    except SubscriberRefused as exc:
        print(f"refused: HTTP {exc.status} {exc.body}", file=sys.stderr)
        return 1
    except SubscriberStopped as exc:
        show({"closed": exc.code, "reason": exc.reason})
        return 0 if exc.code in (1000, 4009) else 1
    finally:
        await subscriber.close()
    return 0
