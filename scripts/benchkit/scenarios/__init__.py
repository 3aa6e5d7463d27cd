"""The scenarios, one module each; every one runs against one server and returns metrics.

A scenario module holds `title(args)` (the heading printed before it runs) and
`run(bench, server)`. It opens its connections, measures, and leaves them open: the runner
closes them afterwards, whether the scenario succeeded or not.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from .. import Metrics
from ..load import Bench
from ..servers import Server
from . import broadcast, idle, peruser, receipts, slow, steady, types, unary


class Scenario(NamedTuple):
    title: Callable[[argparse.Namespace], str]
    run: Callable[[Bench, Server], Awaitable[Metrics]]


BY_NAME: dict[str, Scenario] = {
    "broadcast": Scenario(broadcast.title, broadcast.run),
    "steady": Scenario(steady.title, steady.run),
    "peruser": Scenario(peruser.title, peruser.run),
    "idle": Scenario(idle.title, idle.run),
    "slow": Scenario(slow.title, slow.run),
    "unary1": Scenario(unary.title1, unary.run1),
    "unary32": Scenario(unary.title32, unary.run32),
    "unaryprocs": Scenario(unary.title_procs, unary.run_procs),
    "receipts": Scenario(receipts.title, receipts.run),
    "types": Scenario(types.title, types.run),
}
