"""The type registry the service checks every publish against (`check`), swapped on reload.

`NotificationService` is given one `TypeRegistry` (or None) in its constructor and calls
`check(item)` for each item of a publish before encoding it, so every edge gets the same
rules. The registry holds one immutable `Snapshot` at a time; `replace` swaps it with one
assignment on the event loop, so a batch in flight is checked against one registry or the
next, never a mix, and nothing else (connections, the log) notices.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.models import Invalid, PublishItem, data_of
from gateway.types.entry import Snapshot, TypeEntry
from gateway.types.paths import data_path

__all__ = ["Mode", "TypeRegistry", "TypesStats"]

Mode = Literal["off", "registered", "strict"]


def _counter(help_text: str) -> Any:
    return field(default=0, metadata={"help": help_text})


@dataclass
class TypesStats:
    """The registry's figures (exposed as `gateway_types_*`)."""

    refused: int = _counter(
        "Publishes refused by the type registry: data that breaks its type's schema, a target "
        "kind the type does not allow, or (strict mode) a type that is not registered."
    )
    unregistered: int = _counter(
        "Publishes of a type the registry does not know, let through in 'registered' mode."
    )
    deprecated: int = _counter(
        "Publishes of a type the registry marks deprecated (accepted): publishers still to move."
    )
    reloads: int = _counter("Registry reloads that replaced the registry (a changed hash).")
    reload_failures: int = _counter(
        "Registry reloads refused (a file that does not load, or a breaking change without "
        "GATEWAY_TYPES_ALLOW_BREAKING=1); the previous registry stays."
    )
    registered: int = field(
        default=0,
        metadata={"help": "Notification types in the registry now.", "type": "gauge"},
    )


class TypeRegistry:
    """The registry now in force and the mode it is applied in."""

    def __init__(self, snapshot: Snapshot, mode: Mode) -> None:
        self.mode: Mode = mode
        self.stats = TypesStats()
        self._snapshot = snapshot
        self._rules = _rules(snapshot, mode)
        self.stats.registered = len(snapshot.types)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def replace(self, snapshot: Snapshot) -> None:
        """Put `snapshot` in force: its rules are built first, then swapped in with one
        assignment (atomic on the loop: a batch is checked against one registry)."""
        rules = _rules(snapshot, self.mode)
        self._snapshot = snapshot
        self._rules = rules
        self.stats.registered = len(snapshot.types)

    def check(self, item: PublishItem) -> Invalid | PublishItem | None:
        """None when `item` passes as it is; `Invalid` naming the field when it breaks its
        type's rules; a copy of `item` with the type's default priority / ttl filled in when
        it left them unset and the type declares them."""
        notification = item.notification
        rule = self._rules.get(notification.type)
        if rule is None:
            return self._unregistered(notification.type)
        is_valid, targets, entry, plain = rule
        if targets is not None and item.target.kind not in targets:
            self.stats.refused += 1
            allowed = ", ".join(sorted(targets))
            return Invalid(
                "target",
                f"{entry.name!r} may be published to {allowed} only (got {item.target.kind})",
            )
        data = data_of(notification)  # parsed here when the edge carried its text
        if not is_valid(data):
            self.stats.refused += 1
            # the failing path only now: is_valid stops at the first failure and is cheaper
            error = next(iter(entry.validator.iter_errors(data)))
            return Invalid(data_path(error.instance_path), error.message)
        if plain:
            return None
        if entry.deprecated is not False:
            self.stats.deprecated += 1
        return _with_defaults(item, entry)

    def _unregistered(self, name: str) -> Invalid | None:
        if self.mode == "off":
            return None
        if self.mode == "registered":
            self.stats.unregistered += 1
            return None
        self.stats.refused += 1
        rule = f"{name!r} is not a registered type"
        close = difflib.get_close_matches(name, self._snapshot.types, n=1, cutoff=0.75)
        if close:
            rule += f" (did you mean {close[0]!r}?)"
        return Invalid("notification.type", rule)


#: Per type, what `check` needs, looked up once: the bound `is_valid`, the allowed target
#: kinds, the entry (for errors and defaults), and whether nothing is left to do once the
#: data is valid (no defaults, not deprecated: the usual type).
_Rule = tuple[Callable[[Any], bool], frozenset[str] | None, TypeEntry, bool]


def _rules(snapshot: Snapshot, mode: Mode) -> dict[str, _Rule]:
    if mode == "off":  # nothing is checked: every type takes the unregistered path
        return {}
    return {
        name: (entry.validator.is_valid, entry.targets, entry, _plain(entry))
        for name, entry in snapshot.types.items()
    }


def _plain(entry: TypeEntry) -> bool:
    return entry.priority is None and entry.ttl is None and entry.deprecated is False


def _with_defaults(item: PublishItem, entry: TypeEntry) -> PublishItem | None:
    notification = item.notification
    update: dict[str, Any] = {}
    # None: the request said PRIORITY_UNSPECIFIED (gateway.models.NotificationItem)
    if entry.priority is not None and notification.priority is None:
        update["priority"] = entry.priority
    if entry.ttl is not None and notification.ttl is None:
        update["ttl"] = entry.ttl
    if not update:
        return None
    return item._replace(notification=notification._replace(**update))
