"""Rewind: an event store for CQRS and event-sourced systems, on LMDB,
speaking ZeroMQ.

Embedding the store::

    import rewind

    with rewind.Store("/srv/rewind-data") as store:
        store.append(b"cart-7", [b"added apple"], rewind.ExpectedVersion.NO_STREAM)
        for event in store.iter_stream(b"cart-7"):
            print(event.version, event.data)

The modules of the original Rewind 0.3.1 keep working unchanged:
`rewind.server.main` (the server and the `rewind` command),
`rewind.server.config`, `rewind.server.eventstores`, and `rewind.client`
(the original `rewind-client` API).
"""

from rewind._native import (
    Appended,
    BackendError,
    BindError,
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
    RangeOrderError,
    ReadOnlyError,
    RewindError,
    StorageError,
    StorageFullError,
    Store,
    StreamHead,
    UnknownIdError,
    WrongExpectedVersionError,
    __version__,
)

__all__ = [
    "Appended",
    "BackendError",
    "BindError",
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
    "RangeOrderError",
    "ReadOnlyError",
    "RewindError",
    "StorageError",
    "StorageFullError",
    "Store",
    "StreamHead",
    "UnknownIdError",
    "WrongExpectedVersionError",
    "__version__",
]
