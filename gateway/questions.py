"""The replicas' questions to each other: presence, Disconnect, the operators' figures.

`NotificationService` asks them of every live replica (through `log.peers`, when the log
is shared) and answers the others' (`answer`, its `LogListener` part); alone, they stay
local. They live apart from publishing and connections because they read the hub and
the log's peers only, and the service's file is about the publish path and the
connection life cycle. A base class, not a collaborator: the questions are the service's
own (the gRPC edge and the admin page call `service.presence`), and they share its hub,
log, metrics and `accepting` flag.
"""

from __future__ import annotations

from typing import Any

from gateway.connection.connection import Connection
from gateway.figures import replica_figures
from gateway.hub import Hub
from gateway.log.base import BackendUnavailable, NotificationLog
from gateway.metrics import Metrics

__all__ = ["ReplicaQuestions", "Unavailable"]


class Unavailable(RuntimeError):
    """The gateway cannot accept work now (draining, or the log is unreachable)."""


class ReplicaQuestions:
    """Presence and Disconnect over every replica, and this replica's answers."""

    hub: Hub
    log: NotificationLog
    metrics: Metrics
    accepting: bool

    async def presence(self, user_ids: list[str], topic: str | None) -> tuple[dict[str, int], int]:
        """Connection counts per user (of `user_ids`, or of `topic`'s followers) and in all,
        on every live replica. Raises `Unavailable` if the other replicas cannot be asked."""
        counts, total = self._local_presence(user_ids, topic)
        if self.log.peers is None:
            return counts, total
        args = {"user_ids": user_ids, "topic": topic}
        for reply in await self._ask("presence", args):
            for user_id, n in reply.get("counts", {}).items():
                counts[user_id] = counts.get(user_id, 0) + int(n)
            total += int(reply.get("total", 0))
        return counts, total

    async def disconnect(self, user_id: str, code: int, reason: str) -> int:
        """Close every connection of `user_id` on every live replica; returns how many."""
        closed = self._local_disconnect(user_id, code, reason)
        if self.log.peers is None:
            return closed
        args = {"user_id": user_id, "code": code, "reason": reason}
        return closed + sum(int(r.get("closed", 0)) for r in await self._ask("disconnect", args))

    async def _ask(self, op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        peers = self.log.peers
        if peers is None:
            return []
        try:
            return await peers.ask(op, args)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from None

    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """This replica's part of another replica's question (`_ask`)."""
        if op == "presence":
            counts, total = self._local_presence(list(args["user_ids"]), args["topic"])
            return {"counts": counts, "total": total}
        if op == "disconnect":
            closed = self._local_disconnect(args["user_id"], int(args["code"]), args["reason"])
            return {"closed": closed}
        if op == "figures":
            return self.figures()
        return {}

    # -- the operators' page (issue 19): each replica's figures, asked like presence --

    async def every_replica_figures(self) -> list[dict[str, Any]]:
        """This replica's `figures()` first, then each other live replica's."""
        return [self.figures(), *await self._ask("figures", {})]

    def figures(self) -> dict[str, Any]:
        """This replica's figures for the operators' page (`gateway.figures`)."""
        return replica_figures(self.metrics, len(self.hub), self.log, self.accepting)

    def _local_presence(self, user_ids: list[str], topic: str | None) -> tuple[dict[str, int], int]:
        if user_ids:
            counts = {uid: self.hub.user_count(uid, topic) for uid in dict.fromkeys(user_ids)}
            return counts, sum(counts.values())
        if topic is not None:
            counts = self.hub.topic_users(topic)
            return counts, sum(counts.values())
        return {}, len(self.hub)

    def _local_disconnect(self, user_id: str, code: int, reason: str) -> int:
        return self._close(self.hub.connections_of(user_id), code, reason)

    def close_all_local(self, code: int, reason: str) -> int:
        """Close every connection on this replica (a gap in the shared log: resume)."""
        return self._close(self.hub.connections(), code, reason)

    def _close(self, conns: list[Connection], code: int, reason: str) -> int:
        for conn in conns:
            conn.close(code, reason)  # it leaves the hub (and the log's interest) itself
        return len(conns)
