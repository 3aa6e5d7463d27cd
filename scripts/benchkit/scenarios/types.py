"""Scenario `types`: the per-user load against a gateway with a 50-type registry in strict
mode, and against the same gateway without one, in the same run (`--servers gateway,types`).

Every notification is a `bench.event`, checked against its schema (12 properties, one
nested array) on the `types` server. Figures as `peruser`; the runner prints the registry's
share of the plain gateway's notifications/s (the target is >= 0.9).
"""

from __future__ import annotations

import argparse

from .. import Metrics
from ..load import Bench
from ..servers import Server
from . import peruser

#: With the registry as a share of without, per-user notifications/s, that the issue asks for.
TARGET = 0.9


def title(a: argparse.Namespace) -> str:
    return (
        f"types: {a.users} users, {a.user_notifications} notifications one user each, "
        "a 50-type registry in strict mode vs none"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    return await peruser.run(bench, server)
