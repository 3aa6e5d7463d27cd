"""Which channels a replica holds, which it is subscribed to, and which may go: no I/O.

A channel is held while at least one `hold` has not been matched by a `release` (each
connection holds its addresses' channels). A channel nobody holds stays subscribed for
`linger` seconds (a reconnecting user finds it in place), at most `max_lingering` of
them, oldest first: `expired` says which to unsubscribe now.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Interest"]


class Interest:
    __slots__ = ("_lingering", "_max_lingering", "linger", "refs", "subscribed")

    def __init__(self, linger: float, max_lingering: int) -> None:
        self.linger = linger
        self._max_lingering = max_lingering
        #: channel -> how many holds it has.
        self.refs: dict[bytes, int] = {}
        #: Channels subscribed (or being subscribed) on the current connection.
        self.subscribed: set[bytes] = set()
        #: channel -> when its last holder released it, oldest first.
        self._lingering: dict[bytes, float] = {}

    def hold(self, channels: Iterable[bytes]) -> list[bytes]:
        """One more hold of each channel; those that need subscribing (now marked so)."""
        refs = self.refs
        new = []
        for channel in channels:
            held = refs.get(channel, 0)
            refs[channel] = held + 1
            if not held:
                self._lingering.pop(channel, None)
                if channel not in self.subscribed:
                    self.subscribed.add(channel)
                    new.append(channel)
        return new

    def release(self, channels: Iterable[bytes], now: float) -> None:
        refs = self.refs
        for channel in channels:
            held = refs.get(channel, 0) - 1
            if held > 0:
                refs[channel] = held
                continue
            refs.pop(channel, None)
            if channel in self.subscribed:
                self._lingering[channel] = now

    def expired(self, now: float) -> list[bytes]:
        """Lingering channels to unsubscribe now (no longer marked subscribed)."""
        lingering = self._lingering
        horizon = now - self.linger
        excess = len(lingering) - self._max_lingering
        gone: list[bytes] = []
        for channel, since in lingering.items():
            if since > horizon and len(gone) >= excess:
                break
            gone.append(channel)
        for channel in gone:
            del lingering[channel]
            self.subscribed.discard(channel)
        return gone

    def reconnected(self) -> list[bytes]:
        """A new connection: what to subscribe (every held channel; lingering ones go)."""
        self._lingering.clear()
        self.subscribed = set(self.refs)
        return list(self.refs)

    def disconnected(self) -> None:
        self._lingering.clear()
        self.subscribed = set()
