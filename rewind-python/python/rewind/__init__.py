"""Rewind: an event store for CQRS and event-sourced systems, on LMDB,
speaking ZeroMQ.

Embedding the store, or talking to a server (the same methods: code moves
from one to the other by changing its constructor)::

    import rewind

    with rewind.Store("/srv/rewind-data") as store:  # or rewind.Client("tcp://host:9004")
        store.append(b"cart-7", [b"added apple"], rewind.ExpectedVersion.NO_STREAM)
        for event in store.iter_stream(b"cart-7"):
            print(event.version, event.data)

Events can carry a type and metadata (`rewind.NewEvent`); `append_multi`
appends to several streams atomically; `read_log` filters by stream prefix
and event types; `subscribe` follows the log live (yielding `Event`s and,
once caught up, `rewind.CAUGHT_UP`). `rewind.Client` speaks the native
protocol to a server; `rewind.curve_keypair()` makes CURVE keys for it.
`rewind.eventsourcing` is a persistence module for the `eventsourcing`
library, over a local store or a server.

The modules of the original Rewind 0.3.1 keep working unchanged:
`rewind.server.main` (the server and the `rewind` command),
`rewind.server.config`, `rewind.server.eventstores`, and `rewind.client`
(the original `rewind-client` API).
"""

from rewind._native import (
    CAUGHT_UP,
    Appended,
    BackendError,
    BindError,
    CaughtUp,
    Client,
    ClosedError,
    ConfigError,
    CorruptStoreError,
    DuplicateIdError,
    Event,
    EventIterator,
    ExpectedVersion,
    InternalError,
    InvalidArgumentError,
    NetworkError,
    NewEvent,
    RangeOrderError,
    ReadOnlyError,
    RewindError,
    StorageError,
    StorageFullError,
    Store,
    StoreInfo,
    StreamHead,
    StreamListing,
    Subscription,
    UnknownIdError,
    WrongExpectedVersionError,
    __version__,
    curve_keypair,
)

__all__ = [
    "CAUGHT_UP",
    "Appended",
    "BackendError",
    "BindError",
    "CaughtUp",
    "Client",
    "ClosedError",
    "ConfigError",
    "CorruptStoreError",
    "DuplicateIdError",
    "Event",
    "EventIterator",
    "ExpectedVersion",
    "InternalError",
    "InvalidArgumentError",
    "NetworkError",
    "NewEvent",
    "RangeOrderError",
    "ReadOnlyError",
    "RewindError",
    "StorageError",
    "StorageFullError",
    "Store",
    "StoreInfo",
    "StreamHead",
    "StreamListing",
    "Subscription",
    "UnknownIdError",
    "WrongExpectedVersionError",
    "__version__",
    "curve_keypair",
]
