"""Event stores: where the server keeps its events.

Every event store derives from `EventStore` and has the same four methods:
`add_event(key, event)`, `get_events(from_=None, to=None)`,
`key_exists(key)` and `close()`, plus a `from_config(config, **options)`
static method that builds it from a section of the configuration file.

The stores hold one sequence of events, each a key (a `str`, unique in the
store) and its data (`bytes`), in the order they were added.

- `LMDBEventStore` and `InMemoryEventStore` are the Rewind storage engine
  (the store's default stream).
- `SQLiteEventStore`, `LogEventStore`, `RotatedEventStore` and
  `SyncedRotationEventStores` read and write the file formats of the original
  Rewind, so existing data keeps working.

The package's modules: `base` (the `EventStore` class and the errors),
`native` (`InMemoryEventStore`, `LMDBEventStore`), `sqlite`, `logfile`,
`rotated` and `synced`. Every class keeps its original path,
`rewind.server.eventstores.NAME`, the one configuration files name.
"""

from rewind.server.eventstores._checksums import CHECKSUM_FILENAME
from rewind.server.eventstores.base import (
    CorruptionError,
    EventOrderError,
    EventStore,
    EventStoreError,
    EventTuple,
    Key,
)
from rewind.server.eventstores.logfile import LogEventStore
from rewind.server.eventstores.native import InMemoryEventStore, LMDBEventStore
from rewind.server.eventstores.rotated import RotatedEventStore
from rewind.server.eventstores.sqlite import SQLiteEventStore
from rewind.server.eventstores.synced import SyncedRotationEventStores

__all__ = [
    "CHECKSUM_FILENAME",
    "CorruptionError",
    "EventOrderError",
    "EventStore",
    "EventStoreError",
    "EventTuple",
    "InMemoryEventStore",
    "Key",
    "LMDBEventStore",
    "LogEventStore",
    "RotatedEventStore",
    "SQLiteEventStore",
    "SyncedRotationEventStores",
]

# The classes are defined in the modules above but belong to this one, as
# they did when it was one module: their reprs, pickles and documentation
# name `rewind.server.eventstores`.
for _class in (
    CorruptionError,
    EventOrderError,
    EventStore,
    EventStore.EventKeyAlreadyExistError,
    EventStore.EventKeyDoesNotExistError,
    EventStoreError,
    InMemoryEventStore,
    LMDBEventStore,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
):
    _class.__module__ = __name__
del _class
