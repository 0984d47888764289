"""Event stores: where the server keeps its events.

Every event store derives from `EventStore` and has the same four methods:
`add_event(key, event)`, `get_events(from_=None, to=None)`,
`key_exists(key)` and `close()`, plus a `from_config(config, **options)`
static method that builds it from a section of the configuration file.

The stores hold one sequence of events, each a key (a `str`, unique in the
store) and its data (`bytes`), in the order they were added. `get_events`
returns them as a list of `(key, event)` pairs read when it is called: it
has a `len()`, may be iterated over many times, and stays valid after the
store is closed. `EventStore` itself only documents the methods: they (and
its `from_config`) raise `NotImplementedError`, and its `close` does nothing.

- `LMDBEventStore`, `PostgresEventStore` and `InMemoryEventStore` are the
  Rewind storage engine (the store's default stream).
- `SQLiteEventStore`, `LogEventStore`, `RotatedEventStore` and
  `SyncedRotationEventStores` read and write the file formats of the original
  Rewind, so existing data keeps working.

Appends of several events. A store may have one more method,
`add_events(events)`, that adds a list of `(key, event)` pairs all or
nothing: when it raises, none of the events is in the store. Every store of
this package has it (`SQLiteEventStore` writes them in one transaction,
`LogEventStore` in one write that is cut off the file again if it fails,
the engine's stores in one append; `RotatedEventStore` uses the
`add_events` of its current file's store, and `SyncedRotationEventStores`
that of each of its stores, so they are all or nothing as far as those
are).

When the server appends several events at once to a store built in
Python, it first checks the whole append (the stream, the expected
version, ids that are new, valid UTF-8 and 1 to 255 bytes long), so an
append that breaks a rule writes nothing; then it calls `add_events` if the
store has it. A store without it, such as a class of your own that only has
`add_event`, gets the events one `add_event` at a time: if one fails, the
events before it stay in the store and the append is reported as failed.
An append of one event always calls `add_event`. A class that derives from
one of this package's stores and overrides `add_event` should override
`add_events` too, or set `add_events = None` to get one `add_event` per
event.

The package's modules: `base` (the `EventStore` class and the errors),
`native` (`InMemoryEventStore`, `LMDBEventStore`, `PostgresEventStore`), `sqlite`, `logfile`,
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
from rewind.server.eventstores.native import (
    InMemoryEventStore,
    LMDBEventStore,
    PostgresEventStore,
)
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
    "PostgresEventStore",
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
    PostgresEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
):
    _class.__module__ = __name__
del _class
