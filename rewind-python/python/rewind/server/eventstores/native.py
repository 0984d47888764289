"""The event stores over the Rewind storage engine: `InMemoryEventStore` and
`LMDBEventStore`, each one stream of a `rewind.Store`."""

from __future__ import annotations

import os
from typing import Any, Iterable, List, Optional, Tuple, Union

from rewind import _native
from rewind.server._storeconfig import ConfigurationError, check_config_options
from rewind.server.eventstores.base import (
    EventOrderError,
    EventStore,
    EventTuple,
    already_exists,
    event_pairs,
    key_arg,
    optional_key,
)


class _NativeEventStore(EventStore):
    """An event store over the Rewind storage engine: one stream of it."""

    _store: "_native.Store"
    _stream: bytes

    def __init__(self, store: "_native.Store", stream: Union[str, bytes]) -> None:
        self._store = store
        self._stream = stream.encode("utf-8") if isinstance(stream, str) else bytes(stream)

    @property
    def store(self) -> "_native.Store":
        """The underlying `rewind.Store`."""
        return self._store

    @property
    def stream(self) -> bytes:
        """The stream of the store that holds this event store's events."""
        return self._stream

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event and its key. Durable when this returns."""
        self.add_events([(key, event)])

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs in one append: all or none.
        Durable when this returns."""
        pairs = event_pairs(events)
        if not pairs:
            return
        try:
            self._store.append(self._stream, pairs)
        except _native.DuplicateIdError as e:
            raise already_exists(e.id.decode("utf-8", "surrogateescape")) from None

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> List[EventTuple]:
        """Query a slice of the events, in the order they were added: a list
        of `(key, event)` pairs, read at once (it stays valid after the store
        is closed)."""
        from_ = optional_key(from_, "from_")
        to = optional_key(to, "to")
        try:
            return self._store._query_pairs(self._stream, from_, to)
        except _native.UnknownIdError as e:
            unknown_from = from_ is not None and e.id == from_.encode("utf-8", "surrogateescape")
            which = "from_" if unknown_from else "to"
            raise EventStore.EventKeyDoesNotExistError(
                "{0}={1}".format(which, from_ if which == "from_" else to)
            ) from None
        except _native.RangeOrderError:
            raise EventOrderError(
                "'From' event came after 'To'. Keys: ({0}, {1})".format(from_, to)
            ) from None

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        return self._store.contains(key_arg(key))

    def count(self) -> int:
        """The number of events in the store."""
        head = self._store.stream_head(self._stream)
        return 0 if head is None else head.version + 1

    def close(self) -> None:
        """Close the store (appends then raise `rewind.ClosedError`)."""
        self._store.close()


class InMemoryEventStore(_NativeEventStore):
    """Stores events in memory; they are lost with the process."""

    def __init__(self) -> None:
        super().__init__(_native.Store.in_memory(), "default")

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "InMemoryEventStore":
        """Build from a configuration section (it takes no options)."""
        check_config_options("InMemoryEventStore", (), (), options)
        return InMemoryEventStore()


class LMDBEventStore(_NativeEventStore):
    """Stores events in the Rewind storage engine: an LMDB directory.

    The recommended store: durable, fast, and readable by other processes
    (`rewind.Store(path, read_only=True)`) while the server runs. Its events
    are the store's stream `stream`; the directory may hold other streams
    (written through the v2 protocol or `rewind.Store`).

    path             -- the directory (created if missing).
    stream           -- the stream that holds the events (default "default").
    map_size_limit   -- an upper bound on the store's size in bytes; None:
                        grow as long as the disk allows.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        stream: Union[str, bytes] = "default",
        map_size_limit: Optional[int] = None,
        initial_map_size: Optional[int] = None,
    ) -> None:
        self.path = os.fspath(path)
        store = _native.Store(
            self.path,
            map_size_limit=map_size_limit,
            initial_map_size=initial_map_size,
        )
        super().__init__(store, stream)

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "LMDBEventStore":
        """Build from a configuration section: `path` (required),
        `map-size-limit` and `initial-map-size` (sizes such as `4G`).

        The section is read by the core's one reader of LMDB store
        sections, the one the `rewind` binary uses: unknown options are
        logged as warnings."""
        try:
            path, initial_map_size, map_size_limit = _native._lmdb_store_options(
                [(str(k), str(v)) for k, v in options.items()]
            )
        except (_native.ConfigError, _native.InvalidArgumentError) as e:
            raise ConfigurationError(getattr(e, "reason", None) or str(e)) from None
        return LMDBEventStore(
            path, map_size_limit=map_size_limit, initial_map_size=initial_map_size
        )


class PostgresEventStore(_NativeEventStore):
    """Stores events in a PostgreSQL database, through the Rewind storage
    engine's PostgreSQL backend: several servers may share the database and
    its one gap-free log. Its events are the store's stream `stream`.

    dsn                  -- the connection string: libpq's `key=value` form
                            or a `postgresql://` URL (without a password in
                            it, `PGPASSWORD` is used).
    stream               -- the stream that holds the events (default
                            "default").
    max_idle_connections -- idle connections kept for reads (default 8).
    """

    def __init__(
        self,
        dsn: str,
        stream: Union[str, bytes] = "default",
        max_idle_connections: Optional[int] = None,
    ) -> None:
        store = _native.Store.postgres(dsn, max_idle_connections=max_idle_connections)
        super().__init__(store, stream)

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "PostgresEventStore":
        """Build from a configuration section: `dsn` (required) and
        `max-idle-connections`, read by the core's one reader of such
        sections, the one the `rewind` binary uses."""
        try:
            dsn, max_idle = _native._postgres_store_options(
                [(str(k), str(v)) for k, v in options.items()]
            )
        except (_native.ConfigError, _native.InvalidArgumentError) as e:
            raise ConfigurationError(getattr(e, "reason", None) or str(e)) from None
        return PostgresEventStore(dsn, max_idle_connections=max_idle)
