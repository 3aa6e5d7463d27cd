"""Questions to every replica over Redis pub/sub: presence counts and Disconnect.

Each replica subscribes to `<prefix>:control` (questions) and `<prefix>:control:<replica>`
(answers to its own questions). `ask` publishes a question; PUBLISH answers how many
replicas are subscribed, so the asker knows how many answers to wait for (itself
excluded), and waits at most `ANSWER_WAIT` seconds. Nothing is kept per connection in
Redis, so a replica that dies stops being counted at once: its subscription ends with its
TCP connection. One whose host vanished without closing it costs each question the full
wait until Redis drops it, and is not counted meanwhile (it does not answer).

Pub/sub is fine here: a lost question is a failed call the caller retries; notifications
never travel this way (they go through the stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Any

from gateway.log.base import NO_LISTENER, BackendUnavailable, LogListener, Peers
from gateway.log.redis_client import CONNECTION_ERRORS, connect
from gateway.metrics import BackendStats
from gateway.tasks import cancel_and_wait

__all__ = ["ANSWER_WAIT", "RedisPeers"]

log = logging.getLogger("gateway.redis")

#: How long a question waits for the other replicas' answers (seconds).
ANSWER_WAIT = 1.0
#: How often an idle replica counts the replicas subscribed (the `replicas` gauge).
_CENSUS_EVERY = 5.0


class _Question:
    __slots__ = ("answers", "enough", "expected")

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.expected: int | None = None
        self.enough = asyncio.Event()

    def add(self, answer: dict[str, Any]) -> None:
        self.answers.append(answer)
        self.check()

    def check(self) -> None:
        if self.expected is not None and len(self.answers) >= self.expected:
            self.enough.set()


class RedisPeers(Peers):
    def __init__(self, url: str, prefix: str, replica: str, stats: BackendStats) -> None:
        self._listener = NO_LISTENER
        self._client = connect(url, read_timeout=2.0, name=f"gateway-{replica}-c")
        self._channel = f"{prefix}:control"
        self._inbox = f"{prefix}:control:{replica}"
        self._replica = replica
        self._stats = stats
        self._questions: dict[str, _Question] = {}
        self._listening = False
        #: Set by close(): redis-py's `get_message` can swallow the task's cancellation
        #: (seen: a start that failed then hung in its cleanup), so the loop checks this too.
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[Any]] = set()

    async def start(self, listener: LogListener) -> None:
        """Listen for questions; `listener` answers them."""
        self._listener = listener
        self._task = asyncio.create_task(self._listen(), name="redis-control")

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._task)  # not task.cancel(): see gateway/tasks.py
        await self._client.aclose()

    async def ask(self, op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._listening:
            raise BackendUnavailable("Redis is unreachable: the control channel is down")
        qid = os.urandom(8).hex()
        question = self._questions[qid] = _Question()
        message = {"q": qid, "op": op, "args": args, "from": self._replica, "reply": self._inbox}
        try:
            try:
                receivers = int(await self._client.publish(self._channel, json.dumps(message)))
            except CONNECTION_ERRORS as exc:
                self._stats.errors += 1
                raise BackendUnavailable(f"Redis is unreachable: {exc}") from None
            self._stats.replicas = receivers
            question.expected = max(0, receivers - 1)  # every subscriber but this replica
            question.check()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANSWER_WAIT):
                    await question.enough.wait()
            return question.answers
        finally:
            del self._questions[qid]

    async def _listen(self) -> None:
        """Subscribe and answer, forever: any error of the connection (a `RedisError`, an
        `OSError`, or the `RuntimeError` uvloop raises for a write to a transport it has
        closed: redis-py's pool hands out a connection that was reset while idle, as its
        read side holds an error rather than EOF) ends only this subscription; the next
        one follows with backoff. One warning when it goes down, one line when back."""
        backoff = 0.1
        while not self._closing:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel, self._inbox)
                if not self._listening:
                    self._listening = True
                    if backoff > 0.1:
                        log.info("control channel listening again")
                backoff = 0.1
                census = 0.0
                while not self._closing:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._received(message["channel"], message["data"])
                    if time.monotonic() - census > _CENSUS_EVERY:
                        census = time.monotonic()
                        counts = await self._client.pubsub_numsub(self._channel)
                        self._stats.replicas = int(counts[0][1]) if counts else 0
            except Exception as exc:  # any error of the connection: see the docstring
                if self._closing:
                    return
                self._stats.errors += 1
                if self._listening or backoff == 0.1:
                    log.warning(
                        "control channel lost, resubscribing: %s", exc or type(exc).__name__
                    )
                self._listening = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _received(self, channel: bytes, data: bytes) -> None:
        try:
            message = json.loads(data)
            if channel.decode() == self._inbox:
                question = self._questions.get(message["a"])
                if question is not None:
                    question.add(message["answer"])
                return
            if message["from"] == self._replica:
                return
            answer = self._listener.answer(message["op"], message["args"])
            reply = json.dumps({"a": message["q"], "answer": answer})
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignored a malformed control message: %s", exc)
            return
        task = asyncio.create_task(self._reply(message["reply"], reply))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _reply(self, channel: str, reply: str) -> None:
        try:
            await self._client.publish(channel, reply)
        except CONNECTION_ERRORS:
            self._stats.errors += 1
