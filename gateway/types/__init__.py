"""The type registry (issue 16): a JSON Schema per notification type, checked at the door.

`load_registry(dir)` reads and checks a `GATEWAY_TYPES` directory into a `Snapshot`;
`TypeRegistry` applies one in a mode (`off`, `registered`, `strict`) and is what the
service checks each publish against.
"""

from gateway.types.entry import SharedSchema, Snapshot, TypeEntry
from gateway.types.loader import RegistryError, load_registry
from gateway.types.registry import Mode, TypeRegistry, TypesStats

__all__ = [
    "Mode",
    "RegistryError",
    "SharedSchema",
    "Snapshot",
    "TypeEntry",
    "TypeRegistry",
    "TypesStats",
    "load_registry",
]
